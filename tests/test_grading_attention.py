"""Exercise 4 (attention): the hidden tests catch the classic mistakes, and each costs only the points of its part.

Every 'mutant student' is a copy of the instructor solution with one classic mistake. Two checks:
- all of them, in-process: the *hidden* tests alone (without the visible ones) fail exactly in the cells of the
  broken part, and the correct solution passes them all;
- five of them, through nbgrader (one autograde run for all): the broken part's test cells score 0, the others
  full marks.
"""

from __future__ import annotations

import nbformat
import pytest

from ci.check_grading import REPO
from mutants import assert_loses_exactly, autograde_students
from mutants import failing_hidden_tests as _failing
from mutants import mutant as _mutant

ASSIGNMENT = "attention"
SOURCE = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
PART_1 = {"test_sdpa", "test_sdpa_mask"}
PART_2 = {"test_heads", "test_multi_head"}
PART_3 = {"test_additive_score", "test_additive_attention"}
TEST_CELLS = PART_1 | PART_2 | PART_3
POINTS = {"test_sdpa": 3, "test_sdpa_mask": 2, "test_heads": 2, "test_multi_head": 2,
          "test_additive_score": 2, "test_additive_attention": 2}

MASK_BEFORE_SOFTMAX = """\
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # before the softmax: forbidden keys get exactly 0
    weights = torch.softmax(scores, dim=-1)  # over the keys: each row (one query) sums to 1"""
MASK_AFTER_SOFTMAX = """\
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)"""

# name: (answer cell, text in the solution, the mistake, the test cells that must fail)
MISTAKES = {
    "no-scaling": ("sdpa", " / math.sqrt(d_k)", "", PART_1),
    "scaled-by-d_k": ("sdpa", "/ math.sqrt(d_k)", "/ d_k", PART_1),
    "softmax-over-queries": ("sdpa", "torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)", PART_1),
    "mask-after-softmax": ("sdpa", MASK_BEFORE_SOFTMAX, MASK_AFTER_SOFTMAX, {"test_sdpa_mask"}),
    "mask-fills-zero": ("sdpa", 'masked_fill(~mask, float("-inf"))', "masked_fill(~mask, 0.0)", {"test_sdpa_mask"}),
    "mask-inverted": ("sdpa", "masked_fill(~mask,", "masked_fill(mask,", {"test_sdpa_mask"}),
    "merge-without-transpose": ("heads", "x.transpose(1, 2).reshape(batch, length, n_heads * d_head)",
                                "x.reshape(batch, length, n_heads * d_head)", PART_2),
    "split-without-transpose": ("heads", "x.view(batch, length, n_heads, d_model // n_heads).transpose(1, 2)",
                                "x.reshape(batch, n_heads, length, d_model // n_heads)", PART_2),
    "no-output-projection": ("multi_head", "F.linear(merge_heads(out), mha.out_proj.weight, mha.out_proj.bias)",
                             "merge_heads(out)", {"test_multi_head"}),
    "additive-without-tanh": ("additive", "torch.tanh(", "(", PART_3),
    "additive-padding-inverted": ("additive", "masked_fill(~mask,", "masked_fill(mask,", {"test_additive_attention"}),
    "additive-softmax-over-batch": ("additive", "torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=0)",
                                    {"test_additive_attention"}),
}
AUTOGRADED = ["no-scaling", "softmax-over-queries", "mask-after-softmax", "merge-without-transpose",
              "additive-without-tanh"]  # through nbgrader; every mistake is checked in-process


def mutant(name: str) -> nbformat.NotebookNode:
    """The instructor notebook with one classic mistake made in one answer cell."""
    cell_id, old, new, _ = MISTAKES[name]
    return _mutant(SOURCE, cell_id, [(old, new)])


def failing_hidden_tests(nb: nbformat.NotebookNode) -> set[str]:
    """The ids of the test cells whose hidden part fails on `nb`."""
    return _failing(nb, TEST_CELLS)


def test_the_solution_passes_every_hidden_test():
    assert failing_hidden_tests(nbformat.read(SOURCE, as_version=4)) == set()


@pytest.mark.parametrize("name", MISTAKES)
def test_hidden_tests_alone_catch_the_mistake_in_its_part_only(name):
    assert failing_hidden_tests(mutant(name)) == MISTAKES[name][3]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One autograde run: a student per classic mistake."""
    tmp = tmp_path_factory.mktemp("grading-attention")
    return autograde_students(tmp, ASSIGNMENT, {name: mutant(name) for name in AUTOGRADED}, SOURCE.name)


def test_the_points_add_up():
    nb = nbformat.read(SOURCE, as_version=4)
    points = {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert points == POINTS


@pytest.mark.parametrize("name", AUTOGRADED)
def test_a_mistake_costs_exactly_the_points_of_its_part(graded, name):
    assert_loses_exactly(graded[name], POINTS, MISTAKES[name][3])
