"""JupyterLab in a real browser: the course as a student sees it, end to end.

Playwright drives Debian's chromium (/usr/bin/chromium, installed by apt; `.ci/run` installs it in CI)
against a `jupyter lab` started the way `make lab` starts it (from grading/, with ci/lab/jupyter_lab_config.py)
on 127.0.0.1, a free port, a token, and a temporary workspace, runtime, config and settings folders, so
nobody's own JupyterLab state is read or touched. Playwright's own browser downloads are never used.

- lecture 3 (a copy, in smoke mode): Run All Cells from the Run menu, wait until every cell has run and
  the kernel is idle, move the explorer's stride slider with the keyboard, and check that the readout and
  the figure change;
- an exercise: nbgrader's Validate button (its JupyterLab extension), whose dialog must report the
  untouched release's failing cells;
- the course site built from the lecture JupyterLab just saved: the landing page, the sidebar to the lecture
  (figures drawn, math typeset, widgets as left), the search box, the lecture's reveal.js slides, and
  nothing requested from outside.
Screenshots go to build/browser/ for a person to look at; so does the server's log.
Without chromium or playwright the browser tests are skipped, saying what to install.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ci.build_site import build_site
from ci.run_notebooks import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = REPO / "build" / "browser"
LAB_CONFIG = REPO / "ci" / "lab" / "jupyter_lab_config.py"
LECTURE = "lectures/03_cnn_stride_padding.ipynb"
EXERCISE = "exercises/convolutions/convolutions.ipynb"
TIMEOUT_MS = 90_000  # generous: the machine may be shared


def _ansi_free(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def isolated_env(tmp: Path) -> dict[str, str]:
    """Environment for Jupyter with every per-user folder in `tmp` (and matplotlib left to the kernel)."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # tests/conftest.py sets Agg; the kernel picks its inline backend, as in `make lab`
    for name, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                      ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                      ("IPYTHONDIR", "ipython"), ("COURSE_EXCHANGE", "exchange")]:
        env[name] = str(tmp / sub)
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    return env


# ---- no browser needed --------------------------------------------------------------------------

def test_jupyterlab_extensions_load_without_errors(tmp_path):
    """`jupyter labextension list`: nbgrader's and the widgets' extensions enabled and OK, none failing."""
    run = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True,
                         env=isolated_env(tmp_path), timeout=120, check=True)
    listing = _ansi_free(run.stdout + run.stderr)
    import nbgrader

    for extension in [f"@jupyter/nbgrader v{nbgrader.__version__}", "@jupyter-widgets/jupyterlab-manager v5."]:
        line = next((line for line in listing.splitlines() if extension in line), "")
        assert "enabled" in line and "OK" in line, f"{extension!r} should be enabled and OK:\n{listing}"
    # jupyter marks a broken extension with a red X and names errors, incompatible or uninstalled ones
    for failure in [r"\sX\b", r"(?i)error", r"(?i)incompatible|not compatible", r"(?i)uninstalled", r"(?i)disabled"]:
        assert not re.search(failure, listing), f"{failure!r} in `jupyter labextension list`:\n{listing}"


def test_the_course_settings_keep_widget_comms_off_subshells():
    overrides = json.loads((REPO / "ci" / "lab" / "settings" / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:kernels-settings"]["commsOverSubshells"] == "disabled"


# ---- fixtures: a JupyterLab server and a browser ---------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.is_file():
        pytest.skip(f"browser test skipped: Debian's chromium is not installed at {CHROMIUM} "
                    "(install it with `apt-get install -y chromium`; .ci/run does this in CI)")
    pytest.importorskip("playwright.sync_api", reason="browser test skipped: playwright is not installed "
                        "(pip install -c constraints.txt -e '.[dev]'); never run `playwright install`")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, server: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    """`jupyter lab` on a copy of lecture 3 (smoke mode) and of one exercise; yields (base url, token, workspace)."""
    tmp = tmp_path_factory.mktemp("lab")
    workspace = tmp / "course"
    (workspace / "lectures").mkdir(parents=True)
    lecture = json.loads((REPO / LECTURE).read_text())
    parameters = next(c for c in lecture["cells"] if "parameters" in c["metadata"].get("tags", []))
    source = "".join(parameters["source"])
    assert "SMOKE = False" in source
    parameters["source"] = source.replace("SMOKE = False", "SMOKE = True", 1)
    (workspace / LECTURE).write_text(json.dumps(lecture))
    shutil.copytree(REPO / Path(EXERCISE).parent, workspace / Path(EXERCISE).parent)
    env = isolated_env(tmp)
    env["COURSE_ROOT"] = str(workspace)  # grading/nbgrader_config.py: class data in the temp workspace
    # Keep the widget state when JupyterLab saves a notebook, so that the site test can render it.
    widget_settings = tmp / "settings" / "@jupyter-widgets" / "jupyterlab-manager" / "plugin.jupyterlab-settings"
    widget_settings.parent.mkdir(parents=True)
    widget_settings.write_text('{"saveState": true}')

    token, port = secrets.token_hex(16), _free_port()
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = SHOTS / "jupyter_server.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workspace}",
               f"--config={LAB_CONFIG}"]
    if os.geteuid() == 0:  # CI runs as root
        command.append("--allow-root")
    with open(log, "w") as log_file:
        server = subprocess.Popen(command, cwd=REPO / "grading", env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", server, log)
        yield base, token, workspace
    finally:
        with contextlib.suppress(OSError):  # ask politely first: the server shuts its kernels down
            request = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(request, timeout=10).close()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    """Headless chromium with a fresh profile; yields a Playwright browser context."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(chromium), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
    finally:
        playwright.stop()


@contextlib.contextmanager
def screenshot_on_failure(page, name: str):
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(SHOTS / f"{name}_FAILED.png"))
        raise


def open_notebook(page, base: str, token: str, path: str, workspace: str):
    """Open `path` in JupyterLab (its own workspace, reset) and wait for its kernel to be idle."""
    from playwright.sync_api import expect

    page.goto(f"{base}/lab/workspaces/{workspace}/tree/{path}?reset&token={token}")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.wait_for()
    expect(panel.locator(".jp-KernelName")).to_have_text(re.compile(r"Python 3"))
    expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle")
    return panel


# 'done' once the last code cell of the open notebook has an execution count, the traceback if a cell failed
# (Run All stops there), false while it runs.
RUN_ALL_OUTCOME = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const failed = [...panel.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .filter(output => output.textContent.includes('Traceback'));
    if (failed.length) return failed[0].textContent.slice(0, 3000);
    const prompts = panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt');
    return prompts.length > 0 && /\\[\\d+\\]/.test(prompts[prompts.length - 1].textContent) ? 'done' : false;
}"""


def saved_with_widget_state(notebook: Path) -> bool:
    try:
        return "widgets" in json.loads(notebook.read_text())["metadata"]
    except (OSError, ValueError, KeyError):
        return False


def run_menu(page, menu: str, command: str) -> None:
    """Click a main-menu entry, as a person would: menu name, then the item of that command."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{menu}$")).click()
    page.locator(f".lm-Menu-item[data-command='{command}']").click()


# ---- the tests ------------------------------------------------------------------------------------------

def test_lecture3_runs_and_the_stride_slider_redraws(lab, browser):
    from playwright.sync_api import expect

    base, token, workspace = lab
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    with screenshot_on_failure(page, "lab_lecture3"):
        panel = open_notebook(page, base, token, LECTURE, "lecture3")
        # nbgrader's extensions are up: its menu in the menu bar, its Validate button on the notebook
        expect(page.locator(".lm-MenuBar-item", has_text="Nbgrader")).to_be_visible()
        expect(panel.locator("jp-button.validate-button")).to_have_text("Validate")

        start = time.monotonic()
        run_menu(page, "Run", "runmenu:run-all")
        outcome = page.wait_for_function(RUN_ALL_OUTCOME, timeout=300_000).json_value()
        assert outcome == "done", f"Run All stopped at an error:\n{outcome}"
        expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle")
        prompts = panel.locator(".jp-CodeCell .jp-InputPrompt")
        seconds = time.monotonic() - start
        unrun = [i for i, text in enumerate(prompts.all_text_contents()) if not re.search(r"\[\d+\]", text)]
        assert not unrun, f"code cells {unrun} did not run (an error stops Run All)"
        (workspace / "timings.json").write_text(json.dumps(
            {LECTURE: {"status": "ok", "seconds": round(seconds, 1), "mode": "smoke, in JupyterLab"}}))

        explorer = panel.locator(".widget-vbox", has=page.locator(".widget-slider", has_text="stride s"))
        expect(explorer).to_have_count(1)
        explorer.scroll_into_view_if_needed()
        readout, figure = explorer.locator(".widget-html pre"), explorer.locator(".widget-output img")
        expect(readout).to_contain_text("stride=2")
        expect(figure).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
        before_text, before_src = readout.text_content(), figure.get_attribute("src")
        explorer.screenshot(path=str(SHOTS / "lab_explorer_stride2.png"))  # scrolls the explorer into view
        page.screenshot(path=str(SHOTS / "lab_lecture3_ran.png"))

        handle = explorer.locator(".widget-slider", has=page.locator("label", has_text="stride s")).locator(".noUi-handle")
        handle.focus()
        handle.press("ArrowRight")  # the keyboard, as a person without a mouse would
        expect(handle).to_have_attribute("aria-valuenow", re.compile(r"^3(\.0)?$"))
        expect(readout).not_to_have_text(before_text)
        expect(readout).to_contain_text("stride=3")
        expect(figure).not_to_have_attribute("src", before_src)  # the callback drew a new figure
        expect(figure).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
        explorer.screenshot(path=str(SHOTS / "lab_explorer_stride3.png"))
        print(f"lecture 3 (smoke) ran in JupyterLab in {seconds:.1f} s")

        run_menu(page, "File", "docmanager:save")  # with the widget state, for the site test below
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not saved_with_widget_state(workspace / LECTURE):
            page.wait_for_timeout(250)
        assert saved_with_widget_state(workspace / LECTURE), "JupyterLab did not save the notebook's widget state"

        # RISE (jupyterlab-rise): the lecturer presents the live notebook as slides, from its slide metadata.
        # RISE's own page loads every lab extension again, and nbgrader's and the widget manager's complain there
        # (upstream: they expect JupyterLab's shell): the console is checked for JupyterLab itself, before it.
        lab_errors = list(errors)
        run_menu(page, "View", "RISE:preview")
        slides = page.frame_locator("iframe[src*='rise']")
        expect(slides.locator(".reveal .slides section.present").first).to_be_visible(timeout=60_000)
        expect(slides.locator(".reveal .slides section.present").first).to_contain_text(re.compile(r"\d\. "))  # a section
        assert slides.locator(".reveal .slides > section").count() >= 5, "one slide per section of the lecture"
        page.wait_for_timeout(1000)  # let reveal.js finish its layout before the picture
        page.screenshot(path=str(SHOTS / "lab_rise_slide.png"))
    extension_errors = [e for e in lab_errors if re.search(r"nbgrader|widget|extension|plugin", e, re.I)]
    assert not extension_errors, f"errors in the browser console: {extension_errors}"
    page.close()


def test_nbgrader_validate_button_reports_the_untouched_exercise(lab, browser):
    from playwright.sync_api import expect

    base, token, _ = lab
    page = browser.new_page()
    with screenshot_on_failure(page, "lab_exercise_validate"):
        panel = open_notebook(page, base, token, EXERCISE, "exercise")
        panel.locator("jp-button.validate-button").click()  # nbgrader's button: saves, then validates
        dialog = page.locator(".jp-Dialog", has_text="Validation Results")
        expect(dialog).to_be_visible(timeout=300_000)  # nbgrader runs the whole notebook
        body = dialog.locator(".jp-Dialog-body")
        # the student's release raises NotImplementedError in every answer cell: validation fails, cell by cell
        expect(dialog.locator(".validation-failed")).to_have_count(1)  # nbgrader's class for that verdict
        expect(body).to_contain_text("The following cell failed")
        expect(body).to_contain_text("NotImplementedError")
        page.screenshot(path=str(SHOTS / "lab_exercise_validate.png"))
        dialog.get_by_role("button", name="Ok").click()
    page.close()


def test_the_site_shows_the_lecture_with_its_figures(lab, browser, tmp_path):
    from playwright.sync_api import expect

    _, _, workspace = lab
    if not saved_with_widget_state(workspace / LECTURE):
        pytest.fail("the lecture test did not save lecture 3 from JupyterLab; see its failure")
    site = tmp_path / "site"
    build_site(workspace, site)  # JupyterLab saved the notebook with its outputs and widget state
    page = browser.new_page()
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:", "about:")) else None)
    with screenshot_on_failure(page, "site"):
        page.goto((site / "index.html").as_uri())
        main = page.locator("main")
        expect(main).to_contain_text("How to start")
        expect(main).to_contain_text("Output size: stride, padding, dilation")
        expect(main).to_contain_text(re.compile(r"\d+ s \(smoke, in JupyterLab\)"))
        page.screenshot(path=str(SHOTS / "site_index.png"))

        sidebar = page.locator("nav.bd-links")
        expect(sidebar).to_contain_text("Exercises")
        sidebar.locator("a", has_text="Lecture 3").click()  # the sidebar takes us to the lecture
        page.wait_for_load_state("load")
        expect(page).to_have_url(re.compile(r"lectures/03_cnn_stride_padding\.html$"))
        expect(page.locator(".course-banner")).to_contain_text("JupyterLab")
        expect(page.locator(".MathJax").first).to_be_attached()  # the local MathJax typeset the formulas
        figures = page.locator("main .cell_output img")
        assert figures.count() >= 10, f"only {figures.count()} figures on the lecture page"
        drawn = page.evaluate("() => [...document.querySelectorAll('main .cell_output img')]"
                              ".filter(i => i.complete && i.naturalWidth > 0).length")
        assert drawn >= figures.count()
        expect(page.locator("#pst-page-toc-nav")).to_contain_text("stride")  # the in-page table of contents
        expect(page.locator("a.right-next")).to_be_attached()
        page.screenshot(path=str(SHOTS / "site_lecture_sidebar.png"))
        stride = page.locator(".course-widget-row", has=page.locator("label", has_text="stride s")).locator("input")
        expect(stride).to_have_value("3")  # as the slider was left in JupyterLab
        expect(stride).to_be_disabled()
        stride.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "site_lecture3.png"))

        page.locator("button.search-button__button, .search-button-field").first.click()  # the theme's search box
        box = page.locator("input[name='q']:visible").first
        box.fill("dilation")
        box.press("Enter")
        page.wait_for_load_state("load")
        results = page.locator("#search-results")
        expect(results).to_contain_text("Lecture 3", timeout=30_000)  # Sphinx's index, searched offline
        page.screenshot(path=str(SHOTS / "site_search.png"))

        page.goto((site / "slides" / "03_cnn_stride_padding.slides.html").as_uri())
        expect(page.locator(".reveal .slides section.present").first).to_be_visible()  # reveal.js ran, locally
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "slide.png"))
    assert outside == [], f"the site requested {outside}"
    page.close()
