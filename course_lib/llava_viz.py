"""Pictures for lecture 7's MiniLLaVA: questions, the model's answers and the truth, right in green, wrong in red."""

from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
import torch

from course_lib.data.instructions import Instruction

RIGHT, WRONG = "tab:green", "tab:red"


def show_answers(images: torch.Tensor, questions: Sequence[str], answers: Sequence[str],
                 truths: Sequence[str] | None = None, ncols: int = 4, *, size: float = 2.2) -> plt.Figure:
    """A grid of images (N, 3, H, W), each titled with its question, the model's answer and (if given) the truth."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"Expected RGB images (N, 3, H, W), got shape {tuple(images.shape)}.")
    n = len(images)
    if len(questions) != n or len(answers) != n or (truths is not None and len(truths) != n):
        raise ValueError(f"Expected one question, answer (and truth) per image: {n} images, {len(questions)} "
                         f"questions, {len(answers)} answers" + ("" if truths is None else f", {len(truths)} truths."))
    if n == 0:
        raise ValueError("Nothing to show: pass at least one image.")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.6), squeeze=False,
                             layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy())  # (H, W, 3)
        title = textwrap.fill(f"Q: {questions[i]}", 28) + "\n" + textwrap.fill(f"A: {answers[i]}", 28)
        colour = "black"
        if truths is not None:
            right = answers[i] == truths[i]
            colour = RIGHT if right else WRONG
            title += "" if right else "\n" + textwrap.fill(f"truth: {truths[i]}", 28)
        ax.set_title(title, fontsize=7, color=colour)
    return fig


def failures(instructions: Sequence[Instruction], answers: Sequence[str], kind: str | None = None) -> list[int]:
    """Indices of the questions answered wrongly (of one kind, if given): what a failure-analysis figure shows."""
    if len(instructions) != len(answers):
        raise ValueError(f"Expected one answer per question, got {len(instructions)} questions and "
                         f"{len(answers)} answers.")
    return [i for i, (q, a) in enumerate(zip(instructions, answers)) if a != q.answer and kind in (None, q.kind)]


def show_failures(scenes_images: torch.Tensor, instructions: Sequence[Instruction], answers: Sequence[str],
                  kind: str | None = None, n: int = 8, ncols: int = 4) -> plt.Figure:
    """The first n wrongly answered questions (image, question, answer, truth); images indexed by each `scene`."""
    wrong = failures(instructions, answers, kind)[:n]
    if not wrong:
        raise ValueError(f"No wrong answers{'' if kind is None else f' to {kind!r} questions'} to show.")
    images = scenes_images[[instructions[i].scene for i in wrong]]
    return show_answers(images, [instructions[i].question for i in wrong], [answers[i] for i in wrong],
                        [instructions[i].answer for i in wrong], ncols)
