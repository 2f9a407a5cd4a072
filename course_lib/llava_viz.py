"""Pictures for lecture 7's MiniLLaVA: questions, the model's answers and the truth, right in green, wrong in red;
what its mistakes share, and an image read as AnyRes views."""

from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
import torch

from course_lib.anyres import AnyRes
from course_lib.data.instructions import Instruction
from course_lib.data.shapes import Scenes

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


def mistakes(scenes: Scenes, instructions: Sequence[Instruction], answers: Sequence[str], kind: str
             ) -> dict[str, int]:
    """Wrong answers of one kind: {'wrong', 'two objects': how many in two-object scenes}, and for colour questions
    'other colour': how many name the colour of the scene's other object (a binding error)."""
    wrong = failures(instructions, answers, kind)
    objects = [scenes.objects[instructions[i].scene] for i in wrong]
    counts = {"wrong": len(wrong), "two objects": sum(len(o) == 2 for o in objects)}
    if kind == "colour":
        counts["other colour"] = sum(answers[i] in {x.colour for x in o} - {instructions[i].answer}
                                     for i, o in zip(wrong, objects))
    return counts


def show_anyres(examples: Sequence[tuple[str, AnyRes, Sequence[str]]], *, size: float = 1.9) -> plt.Figure:
    """One row per (name, AnyRes views, one answer per view): the resized, padded image with its tile grid, then
    the global view and every tile, each titled with the answer."""
    ncols = 1 + max(len(views.views) for _, views, _ in examples)
    fig, axes = plt.subplots(len(examples), ncols, figsize=(ncols * size, len(examples) * size * 1.35),
                             squeeze=False, layout="constrained")
    fig.get_layout_engine().set(wspace=0.08)  # a gap between tiles, or a cut object looks whole again
    for row, (name, views, answers) in zip(axes, examples):
        if len(answers) != len(views.views):
            raise ValueError(f"Expected one answer per view ({len(views.views)}), got {len(answers)}.")
        for ax in row:
            ax.axis("off")
        (rows, cols), tile = views.grid, views.views.shape[-1]
        row[0].imshow(views.padded.permute(1, 2, 0).clamp(0, 1).numpy())  # (H, W, 3)
        for k in range(1, rows):
            row[0].axhline(k * tile - 0.5, color="white", lw=1, ls="--")
        for k in range(1, cols):
            row[0].axvline(k * tile - 0.5, color="white", lw=1, ls="--")
        row[0].set_title(textwrap.fill(f"{name}: {rows} x {cols} tiles", 24), fontsize=8)
        for v, (ax, answer) in enumerate(zip(row[1:], answers)):
            ax.imshow(views.views[v].permute(1, 2, 0).clamp(0, 1).numpy())
            label = "global view" if v == 0 else f"tile {v}"
            ax.set_title(textwrap.fill(f"{label}: {answer}", 22), fontsize=7)
    return fig
