"""Exercise 5 'clip': students who make the classic mistakes lose the points of the part they broke, and only those.

Each mutant student is the instructor's notebook with one answer cell edited; all of them are autograded in one
nbgrader run of a scratch course (the instructor's files are never touched).
"""

import nbformat
import pytest

from ci.check_grading import REPO
from mutants import assert_loses_exactly, autograde_students, mutant

ASSIGNMENT = "clip"
SOURCE = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

# student: (answer cell, [(text in the solution, what the student wrote instead), ...], the test cell that must fail)
MUTANTS = {
    "logits-not-normalised": ("clip_logits", [("F.normalize(image_embeddings, dim=-1)", "image_embeddings"),
                                              ("F.normalize(text_embeddings, dim=-1)", "text_embeddings")],
                              "test_clip_logits"),
    "logits-divided-by-the-scale": ("clip_logits", [("scale * images @ texts.T", "images @ texts.T / scale")],
                                    "test_clip_logits"),
    "logits-times-t-not-exp-t": ("clip_logits", [("dtype=images.dtype).exp()", "dtype=images.dtype)")],
                                 "test_clip_logits"),
    "loss-rows-only": ("clip_loss", [("return (loss_images + loss_texts) / 2", "return loss_images")],
                       "test_clip_loss"),
    "loss-labels-zero": ("clip_loss", [("torch.arange(logits.shape[0], device=logits.device)",
                                        "torch.zeros(logits.shape[0], dtype=torch.long)")],
                         "test_clip_loss"),
    "prompts-not-normalised": ("class_embeddings",
                               [("F.normalize(encode_text(prompts), dim=-1)", "encode_text(prompts)")],
                               "test_class_embeddings"),
    "class-mean-not-renormalised": ("class_embeddings", [("return F.normalize(per_class, dim=-1)", "return per_class")],
                                    "test_class_embeddings"),
    "prompts-template-major": ("class_embeddings", [("for name in class_names for template in templates",
                                                     "for template in templates for name in class_names")],
                               "test_class_embeddings"),
    "zero-shot-dot-product": ("zero_shot_predict", [("F.normalize(class_embeddings, dim=-1).T", "class_embeddings.T")],
                              "test_zero_shot_predict"),
    "zero-shot-wrong-axis": ("zero_shot_predict", [("similarity.argmax(dim=1)", "similarity.argmax(dim=0)")],
                             "test_zero_shot_predict"),
    "recall-off-by-one": ("recall_at_k", [(
        "    top_k = similarity.topk(k, dim=1).indices",
        "    ranks = (similarity > similarity.diagonal()[:, None]).sum(dim=1)  # 0: the match comes first\n"
        "    return (ranks <= k).float().mean().item()\n"
        "    top_k = similarity.topk(k, dim=1).indices")],
        "test_recall_at_k"),
    "recall-columns": ("recall_at_k", [("similarity.topk(k, dim=1).indices", "similarity.topk(k, dim=0).indices.T")],
                       "test_recall_at_k"),
}


def points_per_test() -> dict[str, float]:
    """grade_id -> points of every autograded test cell of the instructor notebook."""
    cells = nbformat.read(SOURCE, as_version=4).cells
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde every mutant student in one nbgrader run."""
    tmp = tmp_path_factory.mktemp("grading-clip")
    students = {name: mutant(SOURCE, cell_id, edits) for name, (cell_id, edits, _) in MUTANTS.items()}
    return autograde_students(tmp, ASSIGNMENT, students, SOURCE.name)


def test_the_exercise_has_its_points():
    points = points_per_test()
    assert points == {"test_clip_logits": 2, "test_clip_loss": 3, "test_class_embeddings": 3,
                      "test_zero_shot_predict": 2, "test_recall_at_k": 2}
    assert {broken for _, _, broken in MUTANTS.values()} == set(points), "every graded part has its mutants"


@pytest.mark.parametrize("student", MUTANTS)
def test_a_classic_mistake_loses_its_part_and_only_it(graded, student):
    assert_loses_exactly(graded[student], points_per_test(), {MUTANTS[student][2]})
    assert graded[student].needs_manual_grade  # the short answer still waits for a person
