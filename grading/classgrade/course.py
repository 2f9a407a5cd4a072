"""Where a course's files are, and nbgrader run on them with the course's grading/nbgrader_config.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from classgrade.text import clean

GRADING = Path(__file__).resolve().parent.parent  # grading/: holds nbgrader_config.py
REPO = GRADING.parent
MiB = 1024 * 1024


@dataclass
class Settings:
    """Limits for one submission; see sandbox.py and supervise.py for what is enforced where."""
    cell_timeout: int = 120  # seconds per cell (nbgrader's Execute.timeout)
    notebook_timeout: int = 900  # seconds for the whole `nbgrader autograde` of one student
    memory_mb: int = 4096  # all the submission's processes together (PSS); also each one's RLIMIT_AS
    file_mb: int = 200  # largest file a kernel may write
    disk_mb: int = 256  # each writable tmpfs (/tmp, the working folder), and the files written without bwrap
    max_processes: int = 64  # processes and threads of the submission
    output_mb: int = 2  # notebook output kept (the rest dropped with a note)
    bwrap: bool = True  # use bubblewrap when the `bwrap` binary works
    trust_submissions: bool = False  # allow grading as root without bubblewrap (student code would run as root)

    def uses_bwrap(self) -> bool:
        return self.bwrap and bwrap_works()

    def protections(self) -> str:
        """What holds in this run, in one line, for the autograde summary."""
        if not self.uses_bwrap():
            who = "as root (--trust-submissions)" if os.getuid() == 0 else f"as uid {os.getuid()}"
            return (f"NO bubblewrap: student code runs {who} and can read what this user can; holds: a cleared "
                    "environment, a throwaway working folder, per-process rlimits, whole-tree memory/process/"
                    "file caps and timeouts")
        who = "an unprivileged uid of its own, no capabilities" if os.getuid() == 0 else \
            f"uid {os.getuid()} in a user namespace, no capabilities"
        from classgrade.cgroup import cgroups_work

        tree = "a cgroup per submission (memory, tasks) and " if cgroups_work() else "no cgroup here: "
        return (f"bubblewrap: {who}, no_new_privs, only the interpreter, course_lib and checkpoints visible "
                "(read-only), no network, new PID/IPC/UTS namespaces and session, cleared environment, sized "
                f"tmpfs; {tree}the supervisor's whole-tree memory/process/file caps and timeouts")

    def check(self) -> None:
        """Refuse to run student code as root outside a sandbox, unless the instructor said so."""
        if os.getuid() == 0 and not self.uses_bwrap() and not self.trust_submissions:
            raise PermissionError(
                "refusing to grade as root without bubblewrap (student code would run as root): install "
                "bubblewrap, run as an ordinary user, or pass --trust-submissions")

    def sandbox(self) -> dict:
        """The kernel launcher's config (plain data): what it may read, its limits, its uid."""
        readable = [sys.base_prefix, sys.prefix, str(REPO / "course_lib")]  # its weights/ too
        use_bwrap = self.uses_bwrap()
        # root: a uid of its own per worker process (no other submission shares its process count)
        uid = 100000 + os.getpid() % 50000 if use_bwrap and os.getuid() == 0 else None
        return {"memory_bytes": self.memory_mb * MiB, "cpu_seconds": self.notebook_timeout,
                "file_bytes": self.file_mb * MiB, "disk_bytes": self.disk_mb * MiB,
                "max_processes": self.max_processes, "bwrap": use_bwrap, "uid": uid,
                "readable": readable, "python": sys.executable}

    def limits(self) -> dict:
        """The supervisor's caps for the whole submission."""
        return {"memory_bytes": self.memory_mb * MiB, "max_processes": self.max_processes,
                "disk_bytes": self.disk_mb * MiB, "output_bytes": self.output_mb * MiB}


def bwrap_works() -> bool:
    """bubblewrap is installed and may create namespaces here (it cannot in some containers)."""
    if not shutil.which("bwrap"):
        return False
    try:
        return subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--dev", "/dev",
                               "--proc", "/proc", "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@dataclass
class Course:
    """A course directory laid out as grading/nbgrader_config.py says (COURSE_ROOT, COURSE_EXCHANGE)."""
    root: Path = REPO
    exchange: Path | None = None

    @classmethod
    def from_env(cls) -> "Course":
        root = Path(os.environ.get("COURSE_ROOT", REPO))
        exchange = os.environ.get("COURSE_EXCHANGE")
        return cls(root, Path(exchange) if exchange else None)

    @property
    def grading(self) -> Path:
        return self.root / "grading"

    @property
    def gradebook(self) -> Path:
        return self.grading / "gradebook.db"

    def submitted(self, assignment: str) -> tuple[dict[str, Path], dict[str, str]]:
        """student -> their submitted folder for `assignment`, and folder name -> why it is not graded."""
        from classgrade.ids import id_problem

        base = self.grading / "submitted"
        found, refused = {}, {}
        for path in sorted(base.iterdir()) if base.is_dir() else []:
            folder = path / assignment
            problem = id_problem(path.name)
            if path.is_symlink() or folder.is_symlink():
                refused[clean(path.name, 100)] = "a symbolic link, not graded"
            elif not folder.is_dir():
                continue
            elif problem:
                refused[clean(path.name, 100)] = f"not a usable student id ({problem}), not graded"
            else:
                found[path.name] = folder
        return found, refused

    def release_notebooks(self, assignment: str) -> list[str]:
        return sorted(p.name for p in (self.root / "exercises" / assignment).glob("*.ipynb"))

    def env(self) -> dict:
        env = {**os.environ, "COURSE_ROOT": str(self.root),
               "COURSE_EXCHANGE": str(self.exchange or self.grading / "exchange")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader calls alembic
        return env

    def nbgrader(self, *args: str, cwd: Path = GRADING, check: bool = True) -> subprocess.CompletedProcess:
        run = subprocess.run(["nbgrader", *args], cwd=cwd, env=self.env(), capture_output=True, text=True)
        if check and run.returncode != 0:
            raise RuntimeError(f"`nbgrader {' '.join(args)}` failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        return run


def make_template(course: Course, assignment: str, folder: Path) -> tuple[Path, Path]:
    """A gradebook holding only the assignment (from solutions/), and the release's non-notebook files.

    Each worker copies both into its scratch course; neither is ever visible to student code.
    """
    template = Course(folder / "template")
    shutil.copytree(course.root / "solutions" / assignment, template.root / "solutions" / assignment)
    template.grading.mkdir(parents=True)
    template.nbgrader("generate_assignment", assignment, "--force")
    files = folder / "release-files"
    shutil.copytree(course.root / "exercises" / assignment, files,
                    ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__"))
    shutil.rmtree(template.root / "solutions")  # the gradebook is all a worker needs
    shutil.rmtree(template.root / "exercises", ignore_errors=True)
    return template.gradebook, files


def assignment_cells(db: Path, assignment: str) -> dict[str, list[str]]:
    """notebook file name -> the grade ids of every nbgrader cell the assignment has (from its gradebook)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gradebook:
        return {f"{nb.name}.ipynb": sorted(c.name for c in nb.source_cells)
                for nb in gradebook.find_assignment(assignment).notebooks}
