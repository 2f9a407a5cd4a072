"""Submissions of the tiny assignment (square 2 points, cube 1, add 1) for the class-grading tests.

Honest mistakes, broken notebooks and hostile code; each hostile one prints what it managed, with a tag the
tests look for in its autograded notebook. `make_course` builds a scratch nbgrader course in a tmp folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "class_grading_notebooks" / "tiny"
SECRET_ENV = "CLASSGRADE_TEST_TOKEN"
SECRET_VALUE = "tok-3f9a-never-in-a-kernel"


def make_course(root: Path):
    from classgrade.course import Course

    shutil.copytree(TINY, root / "solutions" / "tiny")
    (root / "grading" / "checks").mkdir(parents=True)
    shutil.copy(TINY.parent / "checks" / "tiny.py", root / "grading" / "checks" / "tiny.py")
    course = Course(root)
    course.nbgrader("generate_assignment", "tiny", "--force")
    secret = root / "secret.txt"  # a host file only the grader's user may read
    secret.write_text("HOST-SECRET")
    secret.chmod(0o600)
    return course


def solution(course_root: Path):
    return nbformat.read(course_root / "solutions" / "tiny" / "tiny.ipynb", as_version=4)


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def edited(course_root: Path, grade_id: str, source: str):
    nb = solution(course_root)
    cell(nb, grade_id).source = source
    return nb


def write_submission(folder: Path, content) -> None:
    """A notebook (NotebookNode), raw bytes, or {filename: bytes | ('link', target)}."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        (folder / "tiny.ipynb").write_bytes(content)
    elif isinstance(content, dict) and not isinstance(content, nbformat.NotebookNode):
        for name, data in content.items():
            if isinstance(data, tuple):
                (folder / name).symlink_to(data[1])
            else:
                (folder / name).write_bytes(data)
    else:
        nbformat.write(content, folder / "tiny.ipynb")


SQUARE, CUBE, ADD = "\ndef square(x):\n    return x * x", "\ndef cube(x):\n    return x ** 3", "\ndef add(a, b):\n    return a + b"

ROOT_ESCAPE = """import os, subprocess
report = {"uid": os.getuid(), "euid": os.geteuid()}
report["CapEff"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
for name, cmd in {"umount": ["umount", "-l", "/home/student"], "remount": ["mount", "-o", "remount,rw", "/"]}.items():
    try:
        report[name] = subprocess.run(cmd, capture_output=True).returncode
    except OSError as error:
        report[name] = type(error).__name__
try:
    open("/etc/shadow").read()
    report["shadow"] = "READ"
except OSError as error:
    report["shadow"] = type(error).__name__
print("ESCAPE-REPORT", report)"""

NOTEBOOK_SYMLINK = """import os
print("CWD", os.getcwd(), sorted(os.listdir(".")))
for name in ["tiny.ipynb", "notes.html", "tiny.html"]:
    if os.path.lexists(name):
        os.remove(name)
    os.symlink({target!r}, name)"""

TMPFS_FLOOD = """try:
    with open("/tmp/flood", "wb") as f:
        for _ in range(400):
            f.write(b"x" * 2**20)
    print("TMPFS-WROTE-ALL")
except OSError as error:
    print("TMPFS-STOPPED", error.errno)
import os
os.remove("/tmp/flood")"""

# The cell waits until every child holds its memory, so the tree is over the cap while this cell runs, however
# busy the machine: the kill (and the lost cell) is this cell's, not a later one's.
FORK_MEMORY = """import os, time
ready, told = os.pipe()
for _ in range(6):
    if os.fork() == 0:
        hog = bytearray(250 * 2**20)
        hog[::4096] = b"x" * len(range(0, len(hog), 4096))
        os.write(told, b"1")
        time.sleep(60)
        os._exit(0)
for _ in range(6):
    os.read(ready, 1)
time.sleep(30)"""

FORK_BOMB = """import os, time
n = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
    print("FORKED-ALL", n)
except OSError as error:
    print("FORK-REFUSED after", n, type(error).__name__)
time.sleep(1)"""

OUTPUT_FLOOD = """import os
for _ in range(6):
    os.write(1, b"x" * 2**20)
for _ in range(6):
    print("y" * 2**20)"""

ESCAPES = """import os
os.write(1, b"\\x1b[2J\\x1b[HFAILED everything\\n")
print("\\x1b]0;pwned\\x07\\x1b[31mFAILED\\x1b[0m")
raise type("\\x1b[31mFAILED: grader broken\\x1b[0m\\nFAILED     correct", (Exception,), {})()"""

LEAK_HIDDEN = """import base64
def _leak(info):
    source = info.raw_cell
    print("LEAK", base64.b64encode(source.encode()).decode(), "\\u200b".join(source))
get_ipython().events.register("pre_run_cell", _leak)"""

DAEMON = """import os, signal, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.write(w, str(os.getpid()).encode())
        time.sleep(600)
        os._exit(0)
    os._exit(0)
print("DAEMON", os.read(r, 20).decode())"""


def extra_points(course_root: Path):
    nb = solution(course_root)
    nb.cells.append(nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "points": 100, "solution": False, "locked": False,
        "schema_version": 3}}))
    return nb


def duplicate_test(course_root: Path):
    nb = solution(course_root)
    nb.cells.append(nbformat.from_dict(json.loads(json.dumps(cell(nb, "test_square")))))
    return nb


def hostile(course_root: Path, exchange: Path) -> dict[str, object]:
    """The hostile submissions of the security review, each correct apart from its attack."""
    secret = course_root / "secret.txt"
    return {
        "root-escape": edited(course_root, "square", ROOT_ESCAPE + SQUARE),
        "notebook-symlink": edited(course_root, "square", NOTEBOOK_SYMLINK.format(target=str(secret)) + SQUARE),
        "submitted-symlinks": {"tiny.ipynb": nbformat.writes(solution(course_root)).encode(),
                               "leak.txt": ("link", str(secret)), "etc": ("link", "/etc")},
        "env-probe": edited(course_root, "square", "import os\nprint('ENV', dict(os.environ))" + SQUARE),
        "reads-exchange": edited(course_root, "square",
                                 f"import os\nprint('EXCHANGE', os.path.exists({str(exchange)!r}))" + SQUARE),
        "tmpfs-flood": edited(course_root, "square", TMPFS_FLOOD + SQUARE),
        "fork-memory": edited(course_root, "cube", FORK_MEMORY + CUBE),  # killed: cube lost, the rest graded
        "fork-bomb": edited(course_root, "add", FORK_BOMB + ADD),
        "output-flood": edited(course_root, "square", OUTPUT_FLOOD + SQUARE),
        "escapes": edited(course_root, "square", SQUARE + "\n" + ESCAPES),
        "segfault": edited(course_root, "add", "import ctypes\nctypes.string_at(0)" + ADD),
        "kills-kernel": edited(course_root, "cube", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)" + CUBE),
        "duplicate-test": duplicate_test(course_root),
        "leaks-hidden": edited(course_root, "square", LEAK_HIDDEN + SQUARE),
        "extra-points": extra_points(course_root),
    }


HOSTILE_SCORES = {"root-escape": 4, "notebook-symlink": 4, "submitted-symlinks": 4, "env-probe": 4,
                  "reads-exchange": 4, "tmpfs-flood": 4, "fork-memory": 3, "output-flood": 4, "escapes": 4, "leaks-hidden": 4,
                  "segfault": 3, "kills-kernel": 3, "duplicate-test": 4, "extra-points": 4,
                  "fork-bomb": None}  # 4 where its forks are refused (bubblewrap), 3 where the tree is killed
REFUSED_FOLDERS = [".classgrade-state.json", "bracket[1]", "new\nline"]
