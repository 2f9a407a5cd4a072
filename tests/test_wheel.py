"""course_lib installs as a wheel (as Colab or a JupyterHub image would install it) and finds its weights anywhere.

The wheel is built from a copy of the package, installed into a fresh virtual environment outside the repository
(its dependencies borrowed from this one's site-packages, read-only), and used from another folder: it loads a
shipped model and runs lecture 5's first cells, up to the one that loads MiniCLIP. A second fresh venv, without
course_lib, runs lecture 3's first cells offline: the install cell installs the wheel, a rerun installs nothing.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from ci.course_info import dependencies
from ci.install_cell import install_cell_source
from course_lib.recipes.registry import ENTRIES

REPO = Path(__file__).resolve().parent.parent
LECTURE = REPO / "lectures" / "05_clip.ipynb"
FIRST_CELLS_LECTURE = REPO / "lectures" / "03_cnn_stride_padding.ipynb"


def run(args, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The course_lib wheel, built from a copy of the package (alone in its folder)."""
    root = tmp_path_factory.mktemp("build")
    source = root / "source"  # a copy: nothing a build writes lands in the repository
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "course_lib", source / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(root / "dist"), str(source)])
    return next((root / "dist").glob("course_lib-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """(python of a fresh venv with the course_lib wheel installed, a working folder outside the repository)."""
    root = tmp_path_factory.mktemp("wheel")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    # torch, numpy, ...: this environment's packages, on the path but without its .pth files (so without the
    # editable install of the repository's course_lib)
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)])
    work = root / "elsewhere"
    work.mkdir()
    return python, work


def env_for(work):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSE_CACHE_DIR")}
    return {**env, "MPLBACKEND": "Agg", "COURSE_CACHE_DIR": str(work / "cache"), "PYTHONNOUSERSITE": "1"}


def test_the_wheel_carries_the_weights_and_loads_a_shipped_model(installed):
    python, work = installed
    code = """
import course_lib, json
from course_lib.recipes import CLIPRecipe, Source, Store
from course_lib.recipes.store import shipped_dir
store = Store.for_notebook(True, "cpu", progress=False)
trained = store.load(CLIPRecipe())
print(json.dumps({"module": course_lib.__file__, "weights": str(shipped_dir()), "source": trained.source.name,
                  "files": len(list(shipped_dir().glob("*.safetensors")))}))
"""
    out = json.loads(run([str(python), "-c", code], cwd=work, env=env_for(work)).strip().splitlines()[-1])
    assert "site-packages" in out["module"] and str(REPO) not in out["module"]
    shipped = {e.recipe.filename for e in ENTRIES if e.shipped}  # every shipped checkpoint, in the wheel
    assert out["weights"].startswith(str(python.parent.parent)) and out["files"] == len(shipped)
    assert out["source"] == "SHIPPED"
    assert not (work / "cache").exists()  # loaded, nothing trained


def test_a_lecture_runs_its_first_cells_from_another_folder(installed):
    python, work = installed
    cells = [c for c in json.loads(LECTURE.read_text())["cells"] if c["cell_type"] == "code"]
    code = []
    for cell in cells:
        source = "".join(cell["source"])
        code.append("\n".join(line for line in source.splitlines() if not line.startswith("%")))
        if "store.load(" in source:
            break
    script = work / "lecture5_start.py"
    script.write_text("\n\n".join(code) + "\nprint('SOURCE', trained.source.name)\n")
    out = run([str(python), str(script)], cwd=work, env=env_for(work))
    assert "SOURCE SHIPPED" in out and "MiniCLIP: shipped checkpoint" in out


def test_the_first_cell_installs_the_course_from_the_wheel_once(wheel, tmp_path):
    """A fresh venv without course_lib (as on Colab): a lecture's install cell installs it; a rerun does nothing."""
    venv, borrowed, work = tmp_path / "venv", tmp_path / "borrowed", tmp_path / "elsewhere"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    borrowed.mkdir()
    work.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():  # pip, torch, ...: everything but course_lib
        if not entry.name.startswith(("course_lib", "__editable__", "course-lib")) and entry.suffix != ".pth":
            (borrowed / entry.name).symlink_to(entry)
    (site / "borrowed.pth").write_text(f"{borrowed}\n")
    cells = [c for c in json.loads(FIRST_CELLS_LECTURE.read_text())["cells"] if c["cell_type"] == "code"]
    assert "".join(cells[0]["source"]) == install_cell_source()
    assert dependencies()[0].startswith("torch==")  # the install cell adds it only where no torch is installed
    setup = next(i for i, c in enumerate(cells) if "import course_lib" not in "".join(c["source"])
                 and "from course_lib" in "".join(c["source"]))
    code = ["\n".join(line for line in "".join(c["source"]).splitlines() if not line.startswith("%"))
            for c in cells[:setup + 1]]
    script = work / "first_cells.py"
    script.write_text("\n\n".join(code) + "\nimport torch\nprint('TORCH', torch.__file__)\n"
                      "print('MODULE', course_lib.__file__)\n")
    offline = {**env_for(work), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheel.parent),
               "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    missing = run([str(python), "-c", "import importlib.util; print(importlib.util.find_spec('course_lib'))"],
                  cwd=work, env=offline)
    assert missing.strip() == "None"  # the venv starts without course_lib

    out = run([str(python), str(script)], cwd=work, env={**offline, "COURSE_LIB_WHEEL": str(wheel)})
    module = out.split("MODULE ", 1)[1].strip()
    assert module.startswith(str(site)) and "device: " in out  # installed into the venv; the set-up ran
    assert out.split("TORCH ", 1)[1].split()[0].startswith(str(borrowed))  # the torch that was there, kept

    # a second run finds course_lib and never calls pip: a pip call would fail on this missing wheel
    out = run([str(python), str(script)], cwd=work, env={**offline, "COURSE_LIB_WHEEL": str(tmp_path / "none.whl")})
    assert out.split("MODULE ", 1)[1].strip() == module
