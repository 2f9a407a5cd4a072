"""nbgrader's Execute step with two guards for class-scale grading (configured by the worker, run by nbgrader).

- Output cap: what a kernel prints is held by nbgrader (outside the sandbox) and written into the autograded
  notebook. Past `max_output_bytes` for the notebook, further output is dropped with a visible note; errors and
  results are kept (shortened) and dropped stderr leaves one stderr line, so a test's score does not change.
  The trusted checker's probe results have a budget of their own (8x the cap), so chatty code cannot push them out.
- Crashes: when the kernel dies in a cell (os._exit(), a kill, a segfault), that cell's index is written to
  `crash_file`; the worker then grades again with the cell in `skip_cells`: not run, given an error output.
  A crash costs the parts that depend on that cell, not the whole submission.
- One kernel, feedback first (`feedback_spec`): nbgrader restores the hidden tests before this step, and student
  code in the kernel can read and print them in any encoding. So the kernel first runs the notebook as the
  release shows it: every test cell with its visible tests only, and the trusted checker's probe cell at the
  end. That notebook is written to `feedback_dir` for the student's feedback, before any hidden test exists in
  the kernel. Then the same kernel runs the cells whose source the hidden tests change (the tests in full);
  nbgrader scores those outputs. Each cell runs once, except the test cells with hidden tests (twice), which
  now run after every answer cell: a test must read no global that a later cell binds again
  (ci/check_grading.late_rebinds).
Both build on TimedExecute: nbgrader's Execute step, appending timestamps when a timing file is given (timing.py).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer, List, Unicode

from classgrade.timing import mark
from classgrade.visible import as_released
from course_lib.checking.probe import MIME as PROBE_MIME

CRASHED = ("This cell stopped the kernel when it was graded (os._exit(), a kill, a segfault or the memory "
           "limit). It was not run again so that the rest of the notebook could be graded.")


class TimedExecute(Execute):
    """nbgrader's Execute step, writing `execute`, `launch`, `ready`, `answer` and `done` to `timing_file`.

    nbconvert runs the synchronous methods (start_new_kernel, preprocess_cell): those are the ones timed."""
    timing_file = Unicode("", help="where to append timestamps (empty: none)").tag(config=True)
    _last_cell = -1  # the cell whose end marks `done` (-1: none; preprocess() marks it)

    def preprocess(self, nb, resources=None, km=None):
        mark(self.timing_file, "execute")
        self._last_cell = len(nb.cells) - 1
        result = super().preprocess(nb, resources, km)
        mark(self.timing_file, "done")  # kept only if the last cell did not mark it (its kernel shut down here)
        return result

    def start_new_kernel(self, **kwargs):
        mark(self.timing_file, "launch")
        return super().start_new_kernel(**kwargs)

    def start_new_kernel_client(self):
        client = super().start_new_kernel_client()
        mark(self.timing_file, "ready")
        return client

    def preprocess_cell(self, cell, resources, index):
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            mark(self.timing_file, "answer")  # only the first one counts (events())
        result = super().preprocess_cell(cell, resources, index)
        if index == self._last_cell:
            mark(self.timing_file, "done")
        return result


class SandboxExecute(TimedExecute):  # nbgrader's Execute, timestamps when asked (timing.py)
    max_output_bytes = Integer(2 * 2**20, help="output kept per notebook").tag(config=True)
    skip_cells = List(Integer(), help="cells that crashed the kernel in an earlier run").tag(config=True)
    crash_file = Unicode("", help="where to write the index of a cell that kills the kernel").tag(config=True)
    feedback_spec = Unicode("", help="JSON: notebook -> {sources: grade id -> release source, probe: cell}").tag(config=True)
    feedback_dir = Unicode("", help="where the feedback notebook (visible tests, probe) is written").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._kept, self._noted, self._probe_kept = 0, set(), 0
        name = f"{(resources or {}).get('unique_key', '')}.ipynb"
        spec = json.loads(Path(self.feedback_spec).read_text(encoding="utf-8")) if self.feedback_spec else {}
        if name not in spec:
            return super().preprocess(nb, resources, km)
        hidden = as_released(nb, spec[name]["sources"])  # index -> its source with hidden tests, put aside
        if spec[name].get("probe"):
            nb.cells.append(nbformat.from_dict(spec[name]["probe"]))
        # nbconvert's ExecutePreprocessor.preprocess, with a second pass in the same kernel
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        mark(self.timing_file, "execute")
        self._last_cell = -1
        with self.setup_kernel():
            info = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info["content"]["language_info"]
            for index, cell in enumerate(self.nb.cells):  # as released, then the probe
                self.preprocess_cell(cell, resources, index)
            shown = nbformat.writes(copy.deepcopy(self.nb))  # before any hidden test reaches the kernel
            Path(self.feedback_dir, name).write_text(shown, encoding="utf-8")
            mark(self.timing_file, "feedback")
            self._kept, self._noted = 0, set()  # the hidden tests' outputs: a cap of their own
            for index, source in hidden.items():
                self.nb.cells[index].source, self.nb.cells[index].outputs = source, []
                self.preprocess_cell(self.nb.cells[index], resources, index)
        mark(self.timing_file, "done")
        if spec[name].get("probe"):
            self.nb.cells.pop()  # the checker reads it from the feedback notebook only
        self.set_widgets_metadata()
        return self.nb, self.resources

    def preprocess_cell(self, cell, resources, index):
        if index in self.skip_cells:
            cell.outputs = [new_output("error", ename="KernelDied", evalue=CRASHED, traceback=[f"KernelDied: {CRASHED}"])]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            if self.crash_file:
                with open(self.crash_file, "w", encoding="utf-8") as f:
                    f.write(str(index))
            raise

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        if PROBE_MIME in (content.get("data") or {}) and msg.get("msg_type") == "display_data":
            self._probe_kept += len(str(content["data"][PROBE_MIME]))  # the trusted checker's results:
            if self._probe_kept <= 8 * self.max_output_bytes:  # kept past the cap for printed output
                content["data"] = {PROBE_MIME: content["data"][PROBE_MIME]}
                return super().output(outs, msg, display_id, cell_index)
            return None
        size = sum(len(str(v)) for v in (content.get("text"), content.get("data"), content.get("traceback")) if v)
        self._kept += size
        if self._kept <= self.max_output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        kind = msg.get("msg_type")
        if kind == "error":  # kept: a test that failed must still fail; its traceback shortened
            content["traceback"] = [f"{content.get('ename', 'Error')}: (traceback not kept: output over the cap)"]
            return super().output(outs, msg, display_id, cell_index)
        if kind == "execute_result":  # kept: a test's value gives partial credit; only its plain text, shortened
            content["data"] = {"text/plain": str(content.get("data", {}).get("text/plain", ""))[:1000]}
            return super().output(outs, msg, display_id, cell_index)
        note_key = (cell_index, content.get("name", "stdout") if kind == "stream" else "stdout")
        if note_key in self._noted:
            return None
        self._noted.add(note_key)
        note = (f"[classgrade: output over {self.max_output_bytes // 2**20} MiB for this notebook; "
                f"the rest of it was not kept]\n")
        out = new_output("stream", name=note_key[1], text=note)
        outs.append(out)
        return out
