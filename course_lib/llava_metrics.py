"""How well a MiniLLaVA answers questions about scenes it never saw, by kind of question (lecture 7)."""

from __future__ import annotations

from collections import defaultdict

from course_lib.data.instructions import KINDS
from course_lib.models.llava import MiniLLaVA
from course_lib.recipes.llava import QA, llava_qa


def predict(model: MiniLLaVA, qa: QA, blind: bool = False, batch_size: int = 256) -> list[str]:
    """Greedy answers to every question of `qa`, in order; blind: image tokens zeroed."""
    order = sorted(range(len(qa.instructions)), key=lambda i: qa.instructions[i].kind)  # short answers together
    answers = [""] * len(order)
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        images = None if blind else qa.scenes.images[[qa.instructions[i].scene for i in rows]].to(device)
        for i, a in zip(rows, model.answer(images, [qa.instructions[i].question for i in rows])):
            answers[i] = a
    return answers


def answer_accuracy(model: MiniLLaVA, qa: QA | str = "test", *, blind: bool = False) -> dict[str, float]:
    """{question kind: fraction answered exactly right} on `qa` (default: 500 held-out scenes); blind: no image."""
    qa = llava_qa(qa) if isinstance(qa, str) else qa
    right = defaultdict(list)
    for instruction, answer in zip(qa.instructions, predict(model, qa, blind)):
        right[instruction.kind].append(answer == instruction.answer)
    return {kind: sum(right[kind]) / len(right[kind]) for kind in KINDS if right[kind]}
