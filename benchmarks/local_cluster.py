"""A Dask cluster of separately started processes on this machine: one `dask scheduler`, N `dask worker`s.

It stands for several machines sharing the course folder (at the same path on each): what the README's
instructor section describes, here on 127.0.0.1 only, with ports chosen by the OS and no dashboard. Used by
benchmarks/grading_throughput.py (the synthetic class) and tests/test_class_grading_cluster.py (a worker
killed mid-run).

    with start_cluster(folder, n_workers=2) as cluster:
        autograde("tiny", course, settings, scheduler=cluster.address)

Each worker is started without a nanny, one thread, no memory management, PYTHONPATH=grading/ (the workers
import classgrade), so `kill_worker` ends a "machine" for good. `close()` ends every process it started and
their descendants; processes orphaned on the way (a fork bomb's children outside bubblewrap) are found too where
Linux allows it: while a cluster is open this process is a child subreaper, and reaps what ends under it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
GRADING = REPO / "grading"
# Dask serves HTTP (health, metrics) even without a dashboard, by default on 0.0.0.0:8787 (the scheduler) and
# 0.0.0.0:<random> (each worker): keep it on a free port of 127.0.0.1
NO_DASHBOARD = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]


def dask_command(role: str) -> list[str] | None:
    """The command that starts a Dask `scheduler` or `worker` with this interpreter; None without the CLI."""
    if importlib.util.find_spec("distributed") is None:
        return None
    if importlib.util.find_spec(f"distributed.cli.dask_{role}") is not None:
        return [sys.executable, "-m", f"distributed.cli.dask_{role}"]
    if importlib.util.find_spec("dask.__main__") is not None:  # newer layouts: `dask scheduler`, `dask worker`
        return [sys.executable, "-m", "dask", role]
    return None


def subreaper(on: bool) -> bool:
    """While on, orphans of our descendants are reparented to us (Linux only), so close() can find and end them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, int(on), 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


class Cluster:
    """The scheduler's address and the processes behind it (worker name -> Popen)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.address = ""
        self.scheduler: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self._logs: list = []

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        self._logs.append(log)
        path = os.pathsep.join(filter(None, [str(GRADING), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(argv, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # Ctrl-C reaches us, not them

    def log_tails(self, chars: int = 1500) -> str:
        return "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')[-chars:]}"
                         for p in sorted(self.folder.glob("*.log")))

    def worker_pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.workers.items()}

    def worker_addresses(self, client) -> dict[str, str]:
        """worker name -> its address, as the scheduler knows it (the keys of client.processing())."""
        return {info["name"]: address for address, info in client.scheduler_info(n_workers=-1)["workers"].items()}

    def _tree(self, pid: int) -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill_worker(self, name: str) -> int:
        """SIGKILL a worker and everything it started, as when its machine dies; how many processes ended."""
        proc = self.workers[name]
        try:
            os.kill(proc.pid, signal.SIGSTOP)  # no new children while we look
        except ProcessLookupError:
            return 0
        tree = self._tree(proc.pid)
        for p in tree:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        proc.wait(timeout=30)
        psutil.wait_procs(tree, timeout=30)
        return len(tree)

    def _mine(self) -> set[int]:
        return {proc.pid for proc in [*self.workers.values(), self.scheduler] if proc is not None}

    def _reap(self) -> None:
        """Collect the exit status of orphans that ended while reparented to us (else they stay zombies)."""
        for p in psutil.Process().children():
            try:
                if p.pid not in self._mine() and p.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(p.pid, os.WNOHANG)
            except (psutil.NoSuchProcess, ChildProcessError):
                pass

    def strays(self) -> int:
        """Processes still alive under the workers or orphaned to us (a finished run should leave none)."""
        self._reap()
        alive = 0
        for p in psutil.Process().children(recursive=True):
            try:
                alive += p.pid not in self._mine() and p.status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                pass
        return alive

    def close(self) -> None:
        """End the workers, then the scheduler (SIGTERM, SIGKILL after 5 s), then anything left they started."""
        mine = [*self.workers.values(), *([self.scheduler] if self.scheduler else [])]
        tree = [p for proc in mine if proc.poll() is None for p in self._tree(proc.pid)]
        for group in (list(self.workers.values()), [self.scheduler] if self.scheduler else []):
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        orphans = [p for p in psutil.Process().children(recursive=True)  # reparented to us (subreaper)
                   if p.pid not in self._mine()]
        leftover = {p.pid: p for p in [*tree, *orphans] if p.pid not in self._mine()}
        for p in leftover.values():
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(list(leftover.values()), timeout=10)
        self._reap()
        subreaper(False)
        for log in self._logs:
            log.close()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def hiding(folder: Path | str) -> list[str]:
    """A command prefix: what follows sees an empty tmpfs at `folder` (a mount namespace of its own)."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs tmpfs "$1" && shift && exec "$@"', "sh", str(folder)]


def private_tmp_works() -> bool:
    """A process may get a /tmp of its own here (a mount namespace: Linux, as root)."""
    import shutil

    if not shutil.which("unshare"):
        return False
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        try:
            return subprocess.run([*hiding(folder), "true"], capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


def start_cluster(folder: Path, n_workers: int, timeout: float = 90, hide: Path | None = None) -> Cluster:
    """A scheduler and `n_workers` single-threaded worker processes, all on 127.0.0.1, logs in `folder`.

    hide: a folder each worker sees empty (a tmpfs of its own), as separate machines that share only the course
    folder do not see the grading machine's temporary folder; see private_tmp_works().
    Returns once every worker has joined; raises RuntimeError (with the logs) otherwise, ending what it started.
    """
    scheduler_cmd, worker_cmd = dask_command("scheduler"), dask_command("worker")
    if scheduler_cmd is None or worker_cmd is None:
        raise RuntimeError("the Dask command line (distributed) is not installed")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    subreaper(True)
    scheduler_file = folder / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)
    cluster = Cluster(folder)
    try:
        cluster.scheduler = cluster._start("scheduler", scheduler_cmd + [
            "--host", "127.0.0.1", "--port", "0", *NO_DASHBOARD, "--scheduler-file", str(scheduler_file)])
        deadline = time.monotonic() + timeout
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            if cluster.scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Dask scheduler did not start")
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written in one go, but let it finish
        cluster.address = json.loads(scheduler_file.read_text())["address"]
        for i in range(n_workers):
            prefix = hiding(hide) if hide else []  # `exec`s all the way: the Popen's pid is the worker's
            cluster.workers[f"worker-{i}"] = cluster._start(f"worker-{i}", prefix + worker_cmd + [
                cluster.address, "--name", f"worker-{i}", "--nthreads", "1", "--no-nanny", *NO_DASHBOARD,
                "--host", "127.0.0.1", "--memory-limit", "0", "--death-timeout", "60"])
        from distributed import Client

        with Client(cluster.address, timeout=timeout) as client:
            client.wait_for_workers(n_workers, timeout=max(1.0, deadline - time.monotonic()))
        return cluster
    except Exception as error:
        tails = cluster.log_tails()
        cluster.close()
        raise RuntimeError(f"could not start a local Dask cluster ({error})\n{tails}") from error
