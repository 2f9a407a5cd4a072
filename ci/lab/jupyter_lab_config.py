"""The course's JupyterLab: used by `make lab` and by the browser test (tests/test_browser.py).

    cd grading && jupyter lab --notebook-dir=.. --config=../ci/lab/jupyter_lab_config.py

Start the server from grading/, as every nbgrader command is: the Validate button of nbgrader's
JupyterLab extension then reads grading/nbgrader_config.py (its 120 s cell timeout and its filter of
harmless warnings), so a student's validation matches the instructor's grading.
"""

from pathlib import Path

c = get_config()  # noqa: F821 (Jupyter injects get_config)

# The course's default settings (settings/overrides.json); a user's own settings still win.
#  - commsOverSubshells "disabled": widget callbacks run on the kernel's main thread, one at a time, after
#    the running cell. With JupyterLab 4.6's default ("perCommTarget") and ipykernel 7 a slider's callback
#    runs on a subshell thread *while* a cell trains a model, and matplotlib's pyplot (global state) and
#    the inline backend's post-execute flush race: figures lose axes or vanish
#    (jupyterlab/jupyterlab#19719, ipython/ipykernel#1564).
#  - no news feed and no update check: the course runs offline.
c.LabApp.app_settings_dir = str(Path(__file__).resolve().parent / "settings")
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
