"""Visual instructions: questions and answers about a captioned scene, generated from its objects (lecture 7).

    scenes = make_scenes(100, seed=0)
    qa = make_instructions(scenes, seed=0)       # about four per scene, each with an answer true of that scene
    qa[0]                                        # Instruction(scene=0, kind='colour', question='What colour is
                                                 #   the small square?', answer='yellow')
    tok = Tokenizer(instruction_vocabulary())    # every word a question or an answer can hold
    tok.encode(words(qa[0].question))            # '?' and '.' are words of their own

The kinds, as in LLaVA's conversation / detailed description / reasoning data, in miniature:
- 'colour'   'What colour is the circle?' -> 'red' (the object named by its shape, or size and shape)
- 'shape'    'What shape is the red object?' -> 'square' (colours are unique in a scene)
- 'relation' 'Is the square left of the triangle?' -> 'yes' / 'no', half of each: a 'no' question names the
  two objects the other way round. Only 'left of' and 'above' are asked by default: with 'right of' and 'below'
  too (relations=RELATIONS) the answer is the word XOR the picture ('left of' and left: yes; 'right of' and
  left: no), and lecture 7's MiniLLaVA stays at chance on it within its budget (0.48 instead of 1.00).
- 'count'    'How many objects are there?' -> 'one' / 'two'
- 'describe' 'Describe the image.' -> the scene's caption, written so that one image has one answer: a pair is
  named left (or upper) object first, 'left of' / 'above'.
A question is only asked when its answer is unambiguous: no 'What colour is the circle?' in a scene of two
circles of one size; a relation only along an axis on which the two boxes are apart (one wholly left of, or
above, the other); no 'describe' for a pair that is apart along both axes (is it 'left of' or 'above'?).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from course_lib.data.shapes import COLOURS, RELATIONS, SHAPES, SIZES, SceneObject, Scenes

KINDS = ("colour", "shape", "relation", "count", "describe")
COUNT_WORDS = ("one", "two")
QUESTION_RELATIONS = ("left of", "above")  # asked by default; RELATIONS adds 'right of' and 'below' (see above)
DESCRIBE = "Describe the image."


@dataclass(frozen=True)
class Instruction:
    """One question about scene `scene` (an index into its Scenes), its kind and its one right answer."""

    scene: int
    kind: str
    question: str
    answer: str


def words(text: str) -> str:
    """'What colour is the circle?' -> 'what colour is the circle ?': lower case, punctuation as words of its own."""
    if not isinstance(text, str):
        raise TypeError(f"Expected a str, got {type(text).__name__}.")
    return " ".join(re.findall(r"[a-z]+|[?.]", text.lower()))


def is_apart(a: SceneObject, b: SceneObject, relation: str) -> bool:
    """True when a's box lies wholly on `relation`'s side of b's box ('left of': a's right edge < b's left edge)."""
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    sides = {"left of": ax1 < bx0, "right of": ax0 > bx1, "above": ay1 < by0, "below": ay0 > by1}
    if relation not in sides:
        raise ValueError(f"Unknown relation {relation!r}: choose one of {RELATIONS}.")
    return sides[relation]


def refer(obj: SceneObject, objects: Sequence[SceneObject], use_colour: bool = True) -> str | None:
    """The shortest name of obj that fits no other object: 'circle', 'red circle', 'small circle'; None if none does."""
    candidates = [lambda o: o.shape, lambda o: f"{o.size} {o.shape}"]
    if use_colour:
        candidates.insert(1, lambda o: f"{o.colour} {o.shape}")
    for name in candidates:
        if sum(name(o) == name(obj) for o in objects) == 1:
            return name(obj)
    return None


def ask_colour(objects: Sequence[SceneObject], rng: np.random.Generator) -> tuple[str, str] | None:
    """'What colour is the circle?' -> 'red', about a random object that can be named without its colour."""
    named = [(o, refer(o, objects, use_colour=False)) for o in objects]
    named = [(o, name) for o, name in named if name is not None]
    if not named:
        return None
    obj, name = named[rng.integers(len(named))]
    return f"What colour is the {name}?", obj.colour


def ask_shape(objects: Sequence[SceneObject], rng: np.random.Generator) -> tuple[str, str]:
    """'What shape is the red object?' -> 'square', about a random object (its colour names it)."""
    obj = objects[rng.integers(len(objects))]
    return f"What shape is the {obj.colour} object?", obj.shape


def ask_relation(objects: Sequence[SceneObject], rng: np.random.Generator,
                 relations: Sequence[str] = QUESTION_RELATIONS) -> tuple[str, str] | None:
    """'Is the square left of the triangle?' -> 'yes'; for 'no' (a coin decides) the two objects swap places."""
    if len(objects) != 2:
        return None
    a, b = objects
    true = [(r, x, y) for r in relations for x, y in ((a, b), (b, a)) if is_apart(x, y, r)]  # 'x r y' is true
    if not true:
        return None
    relation, first, second = true[rng.integers(len(true))]
    yes = bool(rng.random() < 0.5)
    if not yes:
        first, second = second, first  # 'Is the triangle left of the square?' when the square is left of it
    return f"Is the {refer(first, objects)} {relation} the {refer(second, objects)}?", "yes" if yes else "no"


def ask_count(objects: Sequence[SceneObject], rng: np.random.Generator) -> tuple[str, str]:
    """'How many objects are there?' -> 'one' or 'two'."""
    return "How many objects are there?", COUNT_WORDS[len(objects) - 1]


def describe(objects: Sequence[SceneObject]) -> str | None:
    """The caption with one right answer: 'a small red circle', or a pair left/upper object first; None if ambiguous."""
    if len(objects) == 1:
        return objects[0].describe()
    a, b = objects
    true = [r for r in RELATIONS if is_apart(a, b, r) or is_apart(b, a, r)]  # each axis the pair is apart along
    if len(true) != 2:  # 0: they overlap on both axes (never drawn); 4: apart along both, two true captions
        return None
    relation = "left of" if "left of" in true else "above"
    first, second = (a, b) if is_apart(a, b, relation) else (b, a)
    return f"{first.describe()} {relation} {second.describe()}"


def ask_describe(objects: Sequence[SceneObject], rng: np.random.Generator) -> tuple[str, str] | None:
    """'Describe the image.' -> its caption (see `describe`)."""
    caption = describe(objects)
    return None if caption is None else (DESCRIBE, caption)


ASK: dict[str, Callable[[Sequence[SceneObject], np.random.Generator], tuple[str, str] | None]] = {
    "colour": ask_colour, "shape": ask_shape, "relation": ask_relation, "count": ask_count, "describe": ask_describe}


def _check_choice(name: str, chosen: Sequence[str], allowed: Sequence[str]) -> None:
    if isinstance(chosen, str) or not chosen or any(c not in allowed for c in chosen):
        raise ValueError(f"{name} must be a non-empty list drawn from {allowed}, got {chosen!r}.")


def make_instructions(scenes: Scenes, seed: int = 0, kinds: Sequence[str] = KINDS,
                      relations: Sequence[str] = QUESTION_RELATIONS) -> list[Instruction]:
    """At most one question of each kind per scene, scene by scene, where the answer is unambiguous (seeded)."""
    _check_choice("kinds", kinds, KINDS)
    _check_choice("relations", relations, RELATIONS)
    rng = np.random.default_rng(seed)
    instructions = []
    for i, objects in enumerate(scenes.objects):
        for kind in kinds:
            qa = ask_relation(objects, rng, relations) if kind == "relation" else ASK[kind](objects, rng)
            if qa is not None:
                instructions.append(Instruction(i, kind, *qa))
    return instructions


def instruction_vocabulary() -> list[str]:
    """Every word a question or an answer can hold, sorted: build the LM's Tokenizer(instruction_vocabulary())."""
    questions = ["What colour is the", "What shape is the object?", "Is the", "How many objects are there?", DESCRIBE]
    answers = ["a yes no", *COLOURS, *SHAPES, *SIZES, *RELATIONS, *COUNT_WORDS]
    return sorted({w for text in questions + answers for w in words(text).split()})
