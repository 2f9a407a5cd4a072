"""Where a course's files are, and nbgrader run on them with the course's grading/nbgrader_config.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

GRADING = Path(__file__).resolve().parent.parent  # grading/: holds nbgrader_config.py
REPO = GRADING.parent
MiB = 1024 * 1024


@dataclass
class Settings:
    """Limits for one submission; see sandbox.py for what is enforced where."""
    cell_timeout: int = 120  # seconds per cell (nbgrader's Execute.timeout)
    notebook_timeout: int = 900  # seconds for the whole `nbgrader autograde` of one student
    memory_mb: int = 4096  # RLIMIT_AS of the kernel: address space, torch needs ~2 GiB of it just to import
    file_mb: int = 200  # largest file a kernel may write
    bwrap: bool = True  # use bubblewrap when the `bwrap` binary works
    extra_hidden: list[str] = field(default_factory=list)  # more folders to hide from student code

    def sandbox(self, course: "Course", scratch_parent: str) -> dict:
        """The sandbox config for the kernel launcher (plain data)."""
        # the interpreter (a venv links to its base, e.g. under ~/.pyenv), course_lib, its shipped weights
        readable = [sys.base_prefix, sys.prefix, str(REPO / "course_lib"), str(REPO / "checkpoints")]
        hide = {tempfile.gettempdir(), str(Path.home()), str(REPO), str(course.root), scratch_parent,
                *self.extra_hidden}
        return {"memory_bytes": self.memory_mb * MiB, "cpu_seconds": self.notebook_timeout,
                "file_bytes": self.file_mb * MiB, "bwrap": self.bwrap and bwrap_works(),
                "hide": sorted(hide), "readable": readable, "home": tempfile.gettempdir()}


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

    def submitted(self, assignment: str) -> dict[str, Path]:
        """student -> their submitted folder for `assignment`."""
        base = self.grading / "submitted"
        if not base.is_dir():
            return {}
        return {p.name: p / assignment for p in sorted(base.iterdir()) if (p / assignment).is_dir()}

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
