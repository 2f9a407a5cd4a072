"""The kernel launcher every graded notebook runs through: resource limits, then bubblewrap where present.

Written into a private kernelspec (`kernelspec()`), so nbgrader's own Execute step starts the student's
kernel through it. Standalone on purpose (no package imports): it runs as `python sandbox.py CONFIG -- ARGV`.

Enforced everywhere (Linux, macOS): RLIMIT_AS (memory), RLIMIT_CPU (whole-notebook CPU seconds),
RLIMIT_FSIZE (largest file a student may write), RLIMIT_CORE = 0.
Enforced where `bwrap` (bubblewrap) runs: a read-only root, a private network namespace (--unshare-net),
private PID/IPC/UTS namespaces, tmpfs over /tmp, the home directory, the course repository (except the
paths the kernel needs: the venv, course_lib, checkpoints) and every scratch course, so the instructor's
solutions/, gradebook and hidden tests cannot be read; writes land only in the notebook's own folder
(a throwaway copy) or in tmpfs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys


def limits(config: dict) -> None:
    """Apply the resource limits to this process (inherited by bwrap and the kernel)."""
    import resource

    def cap(which: int, value: int | None) -> None:
        if value:
            soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError) as error:  # macOS refuses RLIMIT_AS: say so, grade on
                print(f"classgrade sandbox: limit {which} not set: {error}", file=sys.stderr)

    cap(resource.RLIMIT_AS, config.get("memory_bytes"))
    cap(resource.RLIMIT_CPU, config.get("cpu_seconds"))
    cap(resource.RLIMIT_FSIZE, config.get("file_bytes"))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def bwrap_argv(config: dict, argv: list[str]) -> list[str]:
    """bubblewrap around `argv`: everything read-only, secrets hidden under tmpfs, only `writable` writable."""
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
    for path in config.get("hide", []):  # the course repository, scratch courses, /tmp, home
        if os.path.isdir(path):
            args += ["--tmpfs", path]
    for path in config.get("readable", []):  # put back what the kernel needs (venv, course_lib)
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    for path in config.get("writable", []):  # the notebook's folder (a scratch copy), the kernel's sockets
        if os.path.exists(path):
            args += ["--bind", path, path]
    args += ["--setenv", "HOME", config.get("home", "/tmp"), "--chdir", os.getcwd(), "--"]
    return args + argv


def main() -> None:
    split = sys.argv.index("--")
    with open(sys.argv[1], encoding="utf-8") as f:
        config = json.load(f)
    argv = sys.argv[split + 1:]
    # the kernel's cwd (the autograded notebook folder) is only known now: make it writable in the sandbox
    config.setdefault("writable", []).append(os.getcwd())
    if "-f" in argv:  # the connection file (nbclient puts it in /tmp, which is hidden): that one file, read-only
        config.setdefault("readable", []).append(os.path.abspath(argv[argv.index("-f") + 1]))
    limits(config)
    if config.get("bwrap") and shutil.which("bwrap"):
        # ipykernel exits when its parent PID changes; inside a PID namespace it always looks changed.
        # bwrap --die-with-parent ends the kernel with its parent instead.
        os.environ.pop("JPY_PARENT_PID", None)
        argv = bwrap_argv(config, argv)
    os.execvp(argv[0], argv)


def kernelspec(folder: str, config: dict, python: str = sys.executable) -> str:
    """Write a kernelspec `classgrade-sandbox` under folder/kernels/ and its config; return the kernel's name."""
    name = "classgrade-sandbox"
    spec_dir = os.path.join(folder, "kernels", name)
    os.makedirs(spec_dir, exist_ok=True)
    config_path = os.path.join(spec_dir, "sandbox.json")
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    spec = {
        "argv": [python, os.path.abspath(__file__), config_path, "--",
                 python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (classgrade sandbox)",
        "language": "python",
        "interrupt_mode": "message",  # a signal would reach bwrap, not the kernel inside it
        "env": {"PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"},
    }
    with open(os.path.join(spec_dir, "kernel.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f)
    return name


if __name__ == "__main__":
    main()
