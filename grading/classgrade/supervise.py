"""Run one submission's `nbgrader autograde` as a supervised process tree: limits for the whole submission.

    python -m classgrade.supervise SPEC.json -- nbgrader autograde ...
    (or forked from classgrade's fork server: forkserver.py, which runs `python -m MODULE` commands forked too)

Resource limits (rlimits) hold per process; a submission can fork. This supervisor holds per submission:
- it is a child subreaper, so a daemon that leaves its parent stays in the tree it watches;
- every `poll` seconds it measures the tree below the command (the kernel and all it started): memory
  (PSS, so shared pages count once), the number of processes, the bytes in the watched folders (the kernel's
  writable ones outside a sized tmpfs) and the wall clock; the first cap crossed kills the whole tree;
- the command's output is read through a bounded buffer (its head and tail), never held whole;
- when the command ends, whatever is left of the tree is killed: nothing outlives a submission.
Where the machine gives this process a cgroup of its own, a cgroup would be exact; this is the portable
version (it polls, so a burst shorter than `poll` can overshoot before it is stopped). A JSON report goes to
SPEC["report"]: returncode, killed (the cap crossed, or None), peaks, seconds and the output's head and tail.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import runpy
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import deque

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
HEAD, TAIL = 8 * 1024, 32 * 1024


def _prctl(option: int, arg: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0)


def descendants(root: int) -> list[int]:
    """Every process below `root`, from /proc (parents read from /proc/PID/stat)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def memory(pid: int) -> int:
    """Proportional set size in bytes (resident size where smaps_rollup is missing)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(line.split()[1]) * 1024 for line in f if line.startswith(("Pss:", "SwapPss:")))
    except (OSError, ValueError):
        try:
            with open(f"/proc/{pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            return 0


def folder_bytes(folders: list[str], max_files: int = 20000) -> int:
    """Bytes under the folders (links not followed); too many files counts as over any cap."""
    total, count = 0, 0
    for folder in folders:
        for parent, dirs, files in os.walk(folder):
            for name in files + dirs:
                count += 1
                try:
                    total += os.lstat(os.path.join(parent, name)).st_size
                except OSError:
                    pass
            if count > max_files:
                return 2**62
    return total


class Output:
    """A pipe read to its end in a thread, keeping only its first HEAD and last TAIL bytes."""

    def __init__(self, pipe):
        self.head, self.tail, self.dropped = bytearray(), deque(), 0
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe) -> None:
        kept = 0
        for chunk in iter(lambda: pipe.read1(65536), b""):
            if len(self.head) < HEAD:
                take = HEAD - len(self.head)
                self.head += chunk[:take]
                chunk = chunk[take:]
            self.tail.append(chunk)
            kept += len(chunk)
            while kept - len(self.tail[0]) >= TAIL:
                kept -= len(self.tail[0])
                self.dropped += len(self.tail.popleft())

    def text(self) -> str:
        self.thread.join(timeout=5)
        middle = f"\n[... {self.dropped} bytes of output not kept ...]\n" if self.dropped else ""
        return (bytes(self.head).decode("utf-8", "replace") + middle
                + b"".join(self.tail).decode("utf-8", "replace"))


def kill_tree(root: int, keep: int | None = None) -> None:
    """SIGKILL everything below `root` until nothing is left (a fork bomb included), reaping as we go."""
    for _ in range(200):
        pids = descendants(root)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap(keep)
        time.sleep(0.02)


def reap(keep: int | None) -> None:
    """Collect the exit status of dead children (orphans come to us), except `keep`'s: Popen waits for it."""
    while True:
        try:
            found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if found is None or found.si_pid == keep:
            return
        os.waitpid(found.si_pid, 0)


class Forked:
    """`PYTHON -m MODULE ARGS...` run in a forked copy of this process, whose imports are done (forkserver.py);
    the parts of Popen's API the supervisor uses. The copy gets the same stdin, stdout and rlimits as Popen's."""

    def __init__(self, command: list[str], setup):
        if command[1:2] != ["-m"] or len(command) < 3:
            raise ValueError(f"a forked command must be `PYTHON -m MODULE ...`, not {command[:3]}")
        module, args = command[2], command[3:]
        read, write = os.pipe()
        sys.stdout.flush(), sys.stderr.flush()
        self.pid, self.returncode = os.fork(), None
        if self.pid == 0:  # the command
            code = 1
            try:
                os.close(read)
                setup()
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                os.dup2(write, 1), os.dup2(write, 2)
                sys.argv = [module, *args]
                runpy.run_module(module, run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
            except BaseException:  # noqa: B036 (the command's own failure, reported like a process's)
                traceback.print_exc()
            finally:
                sys.stdout.flush(), sys.stderr.flush()
                os._exit(code)
        os.close(write)
        self.stdout = os.fdopen(read, "rb")

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode


def _ending(pid: int):
    """A function that sleeps `seconds`, or less if process `pid` ends first (a pidfd; a plain sleep without)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return time.sleep
    return lambda seconds: select.select([fd], [], [], seconds)


def supervise(spec: dict, command: list[str], fork: bool = False) -> dict:
    """Run `command` (forked from this process when `fork`: a `PYTHON -m MODULE` one) under the caps of `spec`."""
    me = os.getpid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    soft = spec.get("command_memory_bytes")

    def child_setup() -> None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if soft:  # nbgrader holds what the kernel prints: a soft cap, raised again for the kernel by its launcher
            resource.setrlimit(resource.RLIMIT_AS, (soft, resource.getrlimit(resource.RLIMIT_AS)[1]))

    start = time.monotonic()
    proc = Forked(command, child_setup) if fork else subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=child_setup)
    output = Output(proc.stdout)
    killed, peak_memory, peak_processes = None, 0, 0
    ended = _ending(proc.pid)
    while proc.poll() is None:
        ended(spec.get("poll", 0.2))
        reap(proc.pid)
        tree = [pid for pid in descendants(me) if pid != proc.pid]
        used = sum(memory(pid) for pid in tree)
        peak_memory, peak_processes = max(peak_memory, used), max(peak_processes, len(tree))
        over = (f"memory of all its processes over {spec['memory_bytes'] // 2**20} MiB" if used > spec["memory_bytes"]
                else f"more than {spec['max_processes']} processes" if len(tree) > spec["max_processes"]
                else f"files written over {spec['disk_bytes'] // 2**20} MiB"
                if spec.get("watch") and folder_bytes(spec["watch"]) > spec["disk_bytes"] else None)
        if time.monotonic() - start > spec["timeout"]:
            killed = f"whole notebook over {spec['timeout']} s"
            kill_tree(me, proc.pid)  # nbgrader too
            break
        if over:  # the kernel's tree only: nbgrader sees a dead kernel and names the cell (execute.py)
            killed = killed or over
            kill_tree(proc.pid, proc.pid)
    returncode = proc.wait()
    kill_tree(me)  # daemons and anything else left behind
    return {"returncode": returncode, "killed": killed, "peak_memory": peak_memory,
            "peak_processes": peak_processes, "seconds": round(time.monotonic() - start, 2), "log": output.text()}


def main(argv: list[str], fork: bool = False) -> int:
    """`SPEC.json -- COMMAND...`: supervise the command, write the report to spec['report']."""
    split = argv.index("--")
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the worker (or the fork server) died: so does this submission
    report = supervise(spec, argv[split + 1:], fork)
    with open(spec["report"], "w", encoding="utf-8") as f:
        json.dump(report, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
