"""A cgroup for one submission's kernel, where the machine lets the grader make one: exact whole-tree limits.

The kernel launcher (sandbox.py, stage 1) writes its pid into `procs()` before it starts bubblewrap, so the
kernel and everything it forks are counted together: memory (tmpfs pages it writes included) and the number
of tasks. The kernel's OOM killer then stops a submission at its memory cap at once, where the supervisor's
polling (supervise.py, which runs everywhere) could be a fraction of a second late.
Offered here: cgroup v1 `memory` and `pids` hierarchies, or a cgroup v2 whose subtree already delegates both;
elsewhere (most users' desktops, macOS) `Cgroup.create` returns None and the supervisor's caps hold alone.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _own(controller: str) -> Path | None:
    """This process's cgroup folder for a v1 controller ('memory'), or the v2 one (controller '')."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") if controller else controllers == "":
            folder = ROOT / controller / path.lstrip("/") if controller else ROOT / path.lstrip("/")
            return folder if folder.is_dir() else None
    return None


class Cgroup:
    def __init__(self, folders: dict[str, Path]):
        self.folders = folders  # 'memory', 'pids' (v1) or 'v2' -> a folder made for this submission

    @classmethod
    def create(cls, memory_bytes: int, max_tasks: int) -> "Cgroup | None":
        """A new cgroup with these limits, or None where this machine gives none to this user."""
        name = f"classgrade-{uuid.uuid4().hex[:12]}"
        v2 = _own("")
        if v2 is not None and {"memory", "pids"} <= set(_read(v2 / "cgroup.subtree_control").split()):
            plan = {"v2": (v2 / name, {"memory.max": memory_bytes, "memory.swap.max": 0, "pids.max": max_tasks})}
        else:
            memory, pids = _own("memory"), _own("pids")
            if memory is None or pids is None:
                return None
            plan = {"memory": (memory / name, {"memory.limit_in_bytes": memory_bytes}),
                    "pids": (pids / name, {"pids.max": max_tasks})}
        made = cls({})
        try:
            for key, (folder, limits) in plan.items():
                folder.mkdir()
                made.folders[key] = folder
                for setting, value in limits.items():
                    if (folder / setting).exists():
                        (folder / setting).write_text(str(value))
        except OSError:
            made.remove()
            return None
        return made

    def procs(self) -> list[str]:
        """The files a process writes its pid into to join (stage 1 of the kernel launcher does)."""
        return [str(folder / "cgroup.procs") for folder in self.folders.values()]

    def oom_kills(self) -> int:
        """How many of its processes the kernel's OOM killer stopped at the memory cap."""
        for key, name in (("v2", "memory.events"), ("memory", "memory.oom_control")):
            if key in self.folders:
                for line in _read(self.folders[key] / name).splitlines():
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        return 0

    def remove(self) -> None:
        """Remove the folders (the supervisor has killed every process in them by then)."""
        for folder in self.folders.values():
            try:
                os.rmdir(folder)
            except OSError:
                pass


def cgroups_work() -> bool:
    """Whether this user may make a submission's cgroup here (made and removed at once)."""
    probe = Cgroup.create(2**30, 64)
    if probe is None:
        return False
    probe.remove()
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
