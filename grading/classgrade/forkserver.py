"""The grader's own processes for one submission, forked from a server that has done their imports once.

Each submission is graded by a supervised `nbgrader autograde` (worker.py). Started as a new process, it paid
the interpreter's start and about 1 s of imports (nbgrader, nbconvert, jupyter_client) before its kernel. One
server per worker process does those imports once, then forks every run from itself: `classgrade.supervise`
around the same command, as a process of its own, with the job's environment and folder. Only the grader's code
ever runs in the server and its forks: student code runs in kernels, which the sandbox launcher (sandbox.py)
starts as new processes, with the same sandbox, limits and supervision as before. The server is single-threaded
(forking it is safe), serves one run at a time, dies with whoever started it (PR_SET_PDEATHSIG) and is started
again if it is gone; `stop` ends it at the end of a grading run (autograde.py).

    python -m classgrade.forkserver      (started by `run`; reads one JSON job a line, answers `pid`, `exit`)
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PRELOAD = ("nbgrader.apps.nbgraderapp", "nbgrader.converters", "nbgrader.preprocessors", "nbconvert.exporters",
           "jupyter_client.manager", "jupyter_client.provisioning", "ipykernel.kernelspec", "nbformat",
           "sqlalchemy.dialects.sqlite", "sqlite3", "classgrade.execute", "classgrade.supervise")
_servers: dict[tuple, subprocess.Popen] = {}
_lock = threading.Lock()


def run(argv: list[str], env: dict, cwd: str, timeout: float) -> int:
    """`python -m classgrade.supervise ARGV` in `cwd` with `env`, forked from this process's server; its exit
    status. Raises subprocess.TimeoutExpired (the run killed) after `timeout` seconds, OSError if no server."""
    key = (sys.executable, env.get("PYTHONPATH", ""))
    with _lock:
        for attempt in range(2):  # a server found dead (its thread or parent gone) is started again, once
            server = _servers.get(key)
            if server is None or server.poll() is not None:
                server = _servers[key] = subprocess.Popen(
                    [sys.executable, "-m", "classgrade.forkserver"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, env=env, cwd=Path(__file__).parent.parent)
            try:
                server.stdin.write(json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode() + b"\n")
                server.stdin.flush()
                pid = int(_answer(server, "pid", time.monotonic() + 120))
                break
            except (OSError, subprocess.TimeoutExpired):
                server.kill()
                server.wait()
                if attempt:
                    raise
        try:
            return int(_answer(server, "exit", time.monotonic() + timeout))
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)  # the supervisor: its command and kernel die with it (PR_SET_PDEATHSIG)
            _answer(server, "exit", time.monotonic() + 60)
            raise


def stop() -> None:
    """End this process's servers (at the end of a grading run: nothing outlives it); the next run starts one."""
    with _lock:
        for server in _servers.values():
            try:
                server.stdin.close()  # the server ends at the end of its input
            except OSError:
                pass
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        _servers.clear()


def _answer(server: subprocess.Popen, word: str, deadline: float) -> str:
    """The value of the server's next line, which must start with `word` (read a byte at a time, unbuffered,
    so that select() never waits on a line already read into a buffer)."""
    fd, line = server.stdout.fileno(), b""
    while not line.endswith(b"\n"):
        if not select.select([fd], [], [], max(deadline - time.monotonic(), 0))[0]:
            raise subprocess.TimeoutExpired("classgrade.forkserver", deadline)
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    text = line.decode(errors="replace")
    if not text.startswith(f"{word} "):
        server.kill()
        raise OSError(f"classgrade's fork server stopped (said {text.strip()[:100]!r})")
    return text.split()[1]


def serve() -> None:
    """The server: the imports once, then a fork per job line, the supervisor's exit status answered."""
    from classgrade import supervise

    supervise._prctl(supervise.PR_SET_PDEATHSIG, signal.SIGKILL)
    for name in PRELOAD:
        importlib.import_module(name)
    if threading.active_count() != 1:  # a thread would make forking unsafe
        raise SystemExit(f"classgrade.forkserver: {threading.active_count()} threads after the imports")
    for line in sys.stdin.buffer:
        job = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                null = os.open(os.devnull, os.O_RDWR)  # as subprocess.run(stdout=DEVNULL): not the server's pipes
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.chdir(job["cwd"])
                os.environ.clear()
                os.environ.update(job["env"])
                code = supervise.main(job["argv"], fork=True)
            finally:
                os._exit(code)
        print(f"pid {pid}", flush=True)
        print(f"exit {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}", flush=True)


if __name__ == "__main__":
    serve()
