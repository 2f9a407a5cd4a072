"""Every exercise: the hidden tests catch its classic mistakes, and each mistake costs only the points of its part.

A 'mutant student' is a copy of the instructor solution with one classic mistake, taken from the trusted checker's
table of the exercise (grading/checks/<assignment>.py: the one list of classic mistakes, whose own checks must break
the same parts, tests/test_trusted_checks.py). A new exercise adds its table and one line to POINTS, no module.
- every mistake, in-process: the *hidden* tests alone (without the visible ones) fail exactly in the test cells of
  the broken part, and the solution passes them all;
- two mistakes in different parts (and a few more students, EXTRA_STUDENTS), through nbgrader, in the same autograde run
  as the grading check of the assignment (the solution earns every point, the untouched release none, exercises/
  is fresh and leaks nothing): the broken part's test cells score 0, every other one full marks.
"""

from __future__ import annotations

import sys

import nbformat
import pytest

from ci.check_grading import REPO, assignments, grade_assignment
from mutants import assert_loses_exactly, failing_hidden_tests, mutant

sys.path.insert(0, str(REPO / "grading"))
from classgrade.trusted import load_table  # noqa: E402

POINTS = {  # assignment: points of each autograded test cell (the notebook must say the same)
    "pca_autoencoders": {"test_pca_fit": 3, "test_pca_project": 2, "test_mse": 1, "test_autoencoder_shapes": 2,
                         "test_autoencoder_beats_pca": 2, "test_quiz": 1},
    "denoising": {"test_gaussian_noise": 2, "test_salt_and_pepper": 2, "test_occlude_block": 2, "test_psnr": 2,
                  "test_denoising_step": 3, "test_dae_beats_doing_nothing": 2, "test_quiz": 1},
    "convolutions": {"test_conv_output_size": 2, "test_conv2d": 4, "test_conv2d_unfold": 1,
                     "test_maxpool2d_forward": 2, "test_maxpool2d_backward": 2, "test_quiz": 1},
    "attention": {"test_sdpa": 3, "test_sdpa_mask": 2, "test_heads": 2, "test_multi_head": 2,
                  "test_additive_score": 2, "test_additive_attention": 2},
    "clip": {"test_clip_logits": 2, "test_clip_loss": 3, "test_class_embeddings": 3, "test_zero_shot_predict": 2,
             "test_recall_at_k": 2},
    "diffusion": {"test_q_sample": 3, "test_ddpm_mean": 2, "test_ddpm_noise": 3, "test_cfg_combine": 2,
                  "test_guided_predict": 2, "test_kl_diag_gaussian": 2, "test_reparameterise": 2},
    "llava_lora": {"test_connect": 3, "test_lora_init": 2, "test_lora_forward": 2, "test_lora_merge": 2,
                   "test_assemble_prompt": 3},
    "vit": {"test_patchify": 3, "test_patch_embed": 1, "test_sinusoidal": 3, "test_rollout": 3, "test_se_block": 3,
            "test_quiz": 1},
}


# Students beyond the tables' mistakes, graded through nbgrader too: (answer cell, edits, the test cells it fails)
EXTRA_STUDENTS = {"pca_autoencoders": {
    # a wrong quiz answer: the visible test checks only the format, the hidden one the answer
    "wrong-quiz": ("quiz_answer", [('{"a", "c", "e"}', '{"a", "b"}')], {"test_quiz"}),
    # correct, but a library-style warning goes to stderr during a graded test: no point lost
    "warns": ("pca_project", [("    return (x - mean) @ components.T",
                               "    import warnings\n    warnings.warn('just a warning')\n"
                               "    return (x - mean) @ components.T")], set()),
}}


def source(assignment: str):
    return REPO / "solutions" / assignment / f"{assignment}.ipynb"


def mistakes(assignment: str) -> dict[str, tuple[str, list, set[str]]]:
    """name: (answer cell, [(text in the solution, the mistake), ...], the test cells it must fail)."""
    return {name: (m.cell, list(m.edits), set(m.parts)) for name, m in load_table(assignment).mistakes.items()}


NBGRADER_MUTANTS = 2  # per assignment (the first and the last test cell's): each costs a kernel run of several
# seconds; every mistake of the table runs in-process above


def autograded(assignment: str) -> dict[str, tuple[str, list, set[str]]]:
    """The students graded through nbgrader: mistakes of NBGRADER_MUTANTS different test cells, spread over the
    notebook (each the table's first that breaks its cell alone), and the assignment's extra students."""
    table, single = mistakes(assignment), {}
    for cell in points_of(assignment):
        for name in [name for name, (_, _, broken) in table.items() if broken == {cell}][:1]:
            single[cell] = name
    cells = list(single)
    spread = [cells[round(i * (len(cells) - 1) / max(1, NBGRADER_MUTANTS - 1))] for i in range(NBGRADER_MUTANTS)]
    chosen = {single[cell]: table[single[cell]] for cell in dict.fromkeys(spread)}
    return {**chosen, **EXTRA_STUDENTS.get(assignment, {})}


def points_of(assignment: str) -> dict[str, float]:
    """grade_id -> points of every autograded (code) test cell of the instructor notebook."""
    cells = nbformat.read(source(assignment), as_version=4).cells
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def make_mutant(assignment: str, name: str) -> nbformat.NotebookNode:
    cell_id, edits, _ = {**mistakes(assignment), **EXTRA_STUDENTS.get(assignment, {})}[name]
    return mutant(source(assignment), cell_id, edits)


ASSIGNMENTS = assignments()
EVERY_MISTAKE = [(a, name) for a in ASSIGNMENTS for name in mistakes(a)]
AUTOGRADED = [(a, name) for a in ASSIGNMENTS for name in autograded(a)]


def test_every_assignment_has_a_table_of_mistakes_for_every_part():
    assert set(POINTS) == set(ASSIGNMENTS)
    for assignment in ASSIGNMENTS:
        points = points_of(assignment)
        assert points == POINTS[assignment], assignment
        broken = set().union(*(b for _, _, b in mistakes(assignment).values()))
        quiz = {cell for cell in points if cell.startswith("test_quiz")}  # a wrong answer, not a code mistake
        assert broken == set(points) - quiz, f"{assignment}: parts without a classic mistake: {set(points) - broken}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_solution_passes_every_hidden_test(assignment):
    solution = nbformat.read(source(assignment), as_version=4)
    assert failing_hidden_tests(solution, set(points_of(assignment)), load_table(assignment).needs) == set()


@pytest.mark.parametrize("assignment, name", EVERY_MISTAKE, ids=[f"{a}-{n}" for a, n in EVERY_MISTAKE])
def test_hidden_tests_alone_catch_the_mistake_in_its_part_only(assignment, name):
    broken = failing_hidden_tests(make_mutant(assignment, name), set(points_of(assignment)),
                                  load_table(assignment).needs)
    assert broken == mistakes(assignment)[name][2]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """assignment -> (grading-check problems, scores): one nbgrader autograde run per assignment, for the
    solution, the untouched release and a student per autograded mistake, made on first use."""
    runs = {}

    def run(assignment: str):
        if assignment not in runs:
            tmp = tmp_path_factory.mktemp(f"grading-{assignment}")
            students = {}
            for name in autograded(assignment):
                folder = tmp / "students" / name
                folder.mkdir(parents=True)
                nbformat.write(make_mutant(assignment, name), folder / source(assignment).name)
                students[name] = folder
            # the trusted checker's side of the grading check is tests/test_trusted_checks.py's (same runs there)
            runs[assignment] = grade_assignment(assignment, tmp / "check", students, trusted=False)
        return runs[assignment]
    return run


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_assignment_passes_the_grading_check(graded, assignment):
    """exercises/ is a fresh release, holds no solutions, and solutions/releases score full/zero marks."""
    problems, _ = graded(assignment)
    assert problems == []


@pytest.mark.parametrize("assignment, name", AUTOGRADED, ids=[f"{a}-{n}" for a, n in AUTOGRADED])
def test_a_mistake_costs_exactly_the_points_of_its_part(graded, assignment, name):
    _, scores = graded(assignment)
    score = scores[name]
    assert_loses_exactly(score, points_of(assignment), autograded(assignment)[name][2])
    assert score.needs_manual_grade == scores["instructor-solution"].needs_manual_grade  # the short answers wait
