"""The kernel launcher every graded notebook runs through: student code never runs with privileges.

nbgrader's Execute step starts the student's kernel through the private kernelspec that `kernelspec()`
writes. Standalone on purpose (no package imports): it runs as `python sandbox.py CONFIG -- ARGV`
(stage 1, outside), and, copied into the sandbox, as `python sandbox.py --inside CONFIG -- ARGV` (stage 2).

Stage 1 (as the grader's user, cwd = the folder nbgrader will write the autograded notebook into):
copies what the kernel may read (the connection file, the assignment's data files; regular files only,
never through a link) into a private folder, and never lets the kernel see or write its cwd.
With bubblewrap it builds the sandbox from an allow-list: an empty root with only the system's /usr, a few
/etc files, the interpreter, the venv, course_lib/ with its weights (read-only), sized tmpfs for /tmp and
/home/student (the kernel's working folder), the kernel's socket folder, new PID/net/IPC/UTS/cgroup
namespaces, a new session, a cleared environment, --die-with-parent.
Stage 2 (inside, as root only when the grader is root): drops every capability, sets no_new_privs and
becomes an unprivileged uid of its own, then applies the resource limits and starts the kernel.
Without bubblewrap: the same cleared environment, throwaway folder and resource limits, nothing else.

Where it holds: Linux only (tested there). This launcher and the supervisor (supervise.py) use Linux's prctl,
/proc, setsid and rlimits (`resource`), and bubblewrap is Linux-only; autograde.py locks with `fcntl`. On macOS
`classgrade autograde` is refused (prctl and /proc are missing); on Windows `classgrade autograde` and `collect`
are refused with a message (they would fail at import: `fcntl`, `os.O_NOFOLLOW`), since there is no sandbox to
fall back to. Grade on Linux (WSL2 on Windows, with `apt-get install bubblewrap`). Plain nbgrader
(`nbgrader autograde`, `make autograde`) runs anywhere, with NO sandbox: student code runs as you, with your
files: trusted submissions only. `release`, `feedback`, `report` and `export` run no student code.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import stat
import sys

SANDBOX_DIR = "/classgrade"  # inside the sandbox: what stage 1 prepared (read-only)
HOME = "/home/student"  # inside the sandbox: the kernel's working folder (a sized tmpfs)
ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd", "group",
       "hosts", "alternatives", "mime.types", "fonts"]
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38


def _prctl(option: int, arg: int) -> None:
    if ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def limits(config: dict) -> None:
    """Resource limits of this process, inherited by the kernel and everything it starts."""
    import resource

    def cap(which: int, value: int | None) -> None:
        if value:
            hard = resource.getrlimit(which)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError) as error:  # macOS refuses RLIMIT_AS: say so, grade on
                print(f"classgrade sandbox: limit {which} not set: {error}", file=sys.stderr)

    cap(resource.RLIMIT_AS, config.get("memory_bytes"))
    cap(resource.RLIMIT_CPU, config.get("cpu_seconds"))
    cap(resource.RLIMIT_FSIZE, config.get("file_bytes"))
    cap(resource.RLIMIT_NOFILE, 1024)
    if config.get("uid") is not None:  # a uid of its own: the count is this submission's processes only
        cap(resource.RLIMIT_NPROC, config.get("max_processes"))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def copy_files(source: str, target: str, max_files: int = 200, max_bytes: int = 200 * 2**20) -> None:
    """Copy the regular files under `source` (no notebooks, never following a link) into `target`."""
    count, total = 0, 0
    for folder, dirs, files in os.walk(source, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d))]
        for name in files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if name.endswith(".ipynb") or not stat.S_ISREG(info.st_mode):
                continue
            count, total = count + 1, total + info.st_size
            if count > max_files or total > max_bytes:
                return
            dest = os.path.join(target, os.path.relpath(path, source))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as src, open(dest, "xb") as dst:
                shutil.copyfileobj(src, dst)


def _kernel_env(config: dict, home: str) -> dict:
    """The kernel's whole environment: nothing of the grader's (tokens, keys) reaches student code."""
    python_bin = os.path.dirname(config["python"])
    return {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": "/tmp",
            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
            "MPLCONFIGDIR": f"{home}/.matplotlib", "PYTHONNOUSERSITE": "1", "COURSE_GRADING": "1"}


def bwrap_argv(config: dict, private: str, argv: list[str]) -> list[str]:
    """bubblewrap around stage 2: an allow-list of read-only paths, sized tmpfs, new namespaces."""
    args = ["bwrap", "--tmpfs", "/", "--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = "/" + top
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    size = str(config["disk_bytes"])
    args += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
             "--perms", "1777", "--size", size, "--tmpfs", HOME]
    mounts = [(path, "--ro-bind") for path in config["readable"]  # the interpreter, the venv, course_lib, ...
              if os.path.exists(path) and not (path + "/").startswith("/usr/")] + [(config["sockets"], "--bind")]
    made = set()
    for path, how in mounts:  # the folders on the way, traversable (bwrap would copy a 0700 /root)
        parents = [p for p in _parents(path) if p not in made and p not in ("/", "/tmp", "/usr")]
        for parent in parents:
            args += ["--perms", "0755", "--dir", parent]
        made.update(parents)
        args += [how, path, path]
    args += ["--ro-bind", private, SANDBOX_DIR]
    args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             "--new-session", "--die-with-parent", "--clearenv"]
    if os.getuid() == 0:  # root: bwrap would keep root's capabilities; stage 2 needs these three to drop to a uid
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:  # a user: a user namespace, no capabilities at all
        args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    for key, value in _kernel_env(config, HOME).items():
        args += ["--setenv", key, value]
    return args + ["--chdir", HOME, "--", config["python"], f"{SANDBOX_DIR}/sandbox.py", "--inside",
                   f"{SANDBOX_DIR}/config.json", "--"] + argv


def _parents(path: str) -> list[str]:
    """'/a/b/c' -> ['/a', '/a/b']."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]


def drop_privileges(uid: int | None) -> None:
    """Stage 2: no capabilities (bounding set included), no_new_privs, an unprivileged uid/gid of its own."""
    if os.getuid() == 0 and uid is not None:
        for cap in range(64):
            try:
                _prctl(PR_CAPBSET_DROP, cap)
            except OSError:
                pass
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # from root: permitted and effective capabilities are cleared
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    with open("/proc/self/status") as f:
        caps = {line.split(":")[0]: int(line.split(":")[1], 16) for line in f if line.startswith("Cap")}
    if os.getuid() == 0 or caps["CapEff"] or caps["CapPrm"] or caps["CapAmb"]:
        sys.exit(f"classgrade sandbox: privileges not dropped (uid {os.getuid()}, caps {caps}); not starting the kernel")


def _stamp(path: str | None, line: str) -> None:
    """Timing (opt-in, classgrade/timing.py): append one line of timestamps."""
    if path:
        import time

        with open(path, "a", encoding="utf-8") as f:
            f.write(line.format(time.time()))


def inside(config_path: str, argv: list[str]) -> None:
    """Stage 2, inside bubblewrap: drop privileges, apply the limits, copy the data files, start the kernel."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    drop_privileges(config.get("uid"))
    limits(config)
    copy_files(f"{SANDBOX_DIR}/data", HOME)
    _stamp(config.get("inside_file"), "{:.6f}")  # in the socket folder: the one the sandbox may write
    os.execv(argv[0], argv)


def outside(config_path: str, argv: list[str]) -> None:
    """Stage 1: prepare the kernel's private folder, then start bubblewrap (or, without it, the kernel)."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    _stamp(config.get("timing_file"), "sandbox {:.6f}\n")
    private = config["private"]  # made by the worker for this submission: nothing in it yet
    uid = config.get("uid")
    data = os.path.join(private, "data")
    os.makedirs(data)
    copy_files(os.getcwd(), data)  # the assignment's files nbgrader placed beside the notebook
    connection = os.path.join(private, "connection.json")
    if "-f" in argv:  # the connection file (holds the kernel's key): a private copy only the kernel's uid reads
        index = argv.index("-f") + 1
        shutil.copyfile(argv[index], connection)
        os.chmod(connection, 0o600)
        if uid is not None and config["bwrap"]:
            os.chown(connection, uid, uid)
        argv[index] = f"{SANDBOX_DIR}/connection.json" if config["bwrap"] else connection
    for procs in config.get("cgroup_procs", []):  # the submission's cgroup (cgroup.py): all that follows is in it
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    _prctl(PR_SET_PDEATHSIG, 9)  # the kernel dies with nbgrader
    null = os.open(os.devnull, os.O_RDWR)  # the kernel's raw stdout/stderr never reach the grader's log
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if config["bwrap"]:
        shutil.copy(os.path.abspath(__file__), os.path.join(private, "sandbox.py"))
        with open(os.path.join(private, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f)
        for path in (private, data):
            os.chmod(path, 0o755)
        argv = bwrap_argv(config, private, argv)
        os.execvp(argv[0], argv)
    work = os.path.join(private, "work")  # no bubblewrap: a throwaway folder, not nbgrader's output folder
    shutil.copytree(data, work)
    os.chdir(work)
    try:
        os.setsid()
    except OSError:
        pass
    limits(config)
    os.execve(argv[0], argv, _kernel_env(config, work))


def kernelspec(folder: str, config: dict) -> str:
    """Write a kernelspec `classgrade-sandbox` under folder/kernels/ and its config; return the kernel's name."""
    name = "classgrade-sandbox"
    spec_dir = os.path.join(folder, "kernels", name)
    os.makedirs(spec_dir, exist_ok=True)
    config_path = os.path.join(spec_dir, "sandbox.json")
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    python = config["python"]
    spec = {
        "argv": [python, os.path.abspath(__file__), config_path, "--",
                 python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (classgrade sandbox)",
        "language": "python",
        "interrupt_mode": "message",  # a signal would reach bwrap, not the kernel inside it
    }
    with open(os.path.join(spec_dir, "kernel.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f)
    return name


if __name__ == "__main__":
    split = sys.argv.index("--")
    if sys.argv[1] == "--inside":
        inside(sys.argv[2], sys.argv[split + 1:])
    else:
        outside(sys.argv[1], sys.argv[split + 1:])
