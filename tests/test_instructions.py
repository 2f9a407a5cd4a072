"""Visual instructions (lecture 7): every answer is true of its scene, the questions are unambiguous and balanced."""

import re
from collections import Counter

import pytest

from course_lib.data.instructions import (
    DESCRIBE, KINDS, QUESTION_RELATIONS, describe, instruction_vocabulary, is_apart, make_instructions, refer, words,
)
from course_lib.data.shapes import RELATIONS, SceneObject, make_scenes
from course_lib.data.tokenizer import UNK, Tokenizer


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(1000, seed=3)


@pytest.fixture(scope="module")
def instructions(scenes):
    return make_instructions(scenes, seed=3)


def _named(objects, name):
    """The objects a name such as 'circle', 'small circle', 'red circle' or 'red object' fits."""
    *adjectives, noun = name.split()
    fits = [o for o in objects if noun in (o.shape, "object") and all(a in (o.colour, o.size) for a in adjectives)]
    return fits


def _left(a, b):  # a's box wholly left of b's: checked here from the boxes, not with the module's is_apart
    return a.box[2] < b.box[0]


def _above(a, b):
    return a.box[3] < b.box[1]


def test_every_kind_is_asked_and_every_answer_is_true_of_its_scene(scenes, instructions):
    assert {q.kind for q in instructions} == set(KINDS)
    for q in instructions:
        objects = scenes.objects[q.scene]
        if q.kind == "colour":
            (obj,) = _named(objects, re.fullmatch(r"What colour is the (.+)\?", q.question)[1])  # exactly one
            assert q.answer == obj.colour
        elif q.kind == "shape":
            (obj,) = _named(objects, re.fullmatch(r"What shape is the (.+)\?", q.question)[1])
            assert q.answer == obj.shape
        elif q.kind == "relation":
            first, relation, second = re.fullmatch(r"Is the (.+) (left of|above) the (.+)\?", q.question).groups()
            (a,), (b,) = _named(objects, first), _named(objects, second)
            assert a != b
            holds = _left(a, b) if relation == "left of" else _above(a, b)
            assert q.answer == ("yes" if holds else "no")
            if q.answer == "no":  # unambiguous: the other way round holds
                assert (_left(b, a) if relation == "left of" else _above(b, a))
        elif q.kind == "count":
            assert q.answer == ("one", "two")[len(objects) - 1]
        else:
            assert q.question == DESCRIBE
            if len(objects) == 1:
                assert q.answer == scenes.captions[q.scene]
            else:
                first, relation, second = re.fullmatch(r"(a \w+ \w+ \w+) (left of|above) (a \w+ \w+ \w+)",
                                                       q.answer).groups()
                a, b = (next(o for o in objects if o.describe() == d) for d in (first, second))
                assert (_left(a, b) if relation == "left of" else _above(a, b))


def test_only_unambiguous_questions_are_asked(scenes, instructions):
    asked = {(q.scene, q.kind) for q in instructions}
    for i, objects in enumerate(scenes.objects):
        assert (i, "shape") in asked and (i, "count") in asked  # always answerable
        same = len(objects) == 2 and objects[0].shape == objects[1].shape and objects[0].size == objects[1].size
        assert ((i, "colour") in asked) == (not same)  # two circles of one size: 'the circle' names neither
        assert ((i, "relation") in asked) == (len(objects) == 2)
        if len(objects) == 2:
            a, b = objects
            apart_x, apart_y = _left(a, b) or _left(b, a), _above(a, b) or _above(b, a)
            assert ((i, "describe") in asked) == (apart_x != apart_y)  # apart both ways: 'left of' or 'above'?


def test_relation_answers_are_balanced_and_count_answers_follow_the_scenes(instructions):
    relation = Counter(q.answer for q in instructions if q.kind == "relation")
    assert set(relation) == {"yes", "no"}
    assert abs(relation["yes"] / sum(relation.values()) - 0.5) < 0.05, relation
    count = Counter(q.answer for q in instructions if q.kind == "count")
    assert abs(count["one"] / sum(count.values()) - 0.5) < 0.06, count
    asked = Counter(re.search(r"(left of|above|right of|below)", q.question)[1]
                    for q in instructions if q.kind == "relation")
    assert set(asked) == set(QUESTION_RELATIONS)


def test_all_four_relations_can_be_asked(scenes):
    qa = make_instructions(scenes, seed=0, kinds=["relation"], relations=RELATIONS)
    asked = Counter(re.search(r"(left of|above|right of|below)", q.question)[1] for q in qa)
    assert set(asked) == set(RELATIONS)
    assert abs(sum(q.answer == "yes" for q in qa) / len(qa) - 0.5) < 0.05


def test_the_same_seed_gives_the_same_instructions_and_another_seed_other_ones(scenes, instructions):
    assert make_instructions(scenes, seed=3) == instructions
    other = make_instructions(scenes, seed=4)
    assert other != instructions
    assert [(q.scene, q.kind) for q in other if q.kind != "relation"] == \
        [(q.scene, q.kind) for q in instructions if q.kind != "relation"]  # which questions: decided by the scene


def test_kinds_choose_the_questions(scenes):
    qa = make_instructions(scenes[:50], kinds=["count", "colour"])
    assert {q.kind for q in qa} == {"count", "colour"}
    assert sum(q.kind == "count" for q in qa) == 50


def test_the_vocabulary_holds_every_word_of_every_question_and_answer(instructions):
    tokenizer = Tokenizer(instruction_vocabulary())
    assert instruction_vocabulary() == sorted(instruction_vocabulary())
    for q in instructions:
        assert UNK not in tokenizer.encode(words(q.question)) + tokenizer.encode(words(q.answer)), q
    assert words("What colour is the circle?") == "what colour is the circle ?"
    assert words("Describe the image.").split()[-1] == "."


def test_refer_and_describe_on_hand_made_objects():
    red = SceneObject("red", "circle", "small", 5.0, 5.0, (2.0, 2.0, 8.0, 8.0))
    blue = SceneObject("blue", "circle", "large", 20.0, 6.0, (14.0, 0.0, 26.0, 12.0))
    assert refer(red, [red, blue]) == "red circle"
    assert refer(red, [red, blue], use_colour=False) == "small circle"
    assert refer(red, [red]) == "circle"
    assert is_apart(red, blue, "left of") and is_apart(blue, red, "right of") and not is_apart(red, blue, "above")
    assert describe([blue, red]) == "a small red circle left of a large blue circle"  # left object first
    below = SceneObject("green", "square", "small", 20.0, 25.0, (17.0, 22.0, 23.0, 28.0))
    assert describe([red, below]) is None  # apart along x and along y: two true captions


def test_bad_arguments_raise_clear_errors(scenes):
    with pytest.raises(ValueError, match="kinds"):
        make_instructions(scenes, kinds=["size"])
    with pytest.raises(ValueError, match="kinds"):
        make_instructions(scenes, kinds="colour")
    with pytest.raises(ValueError, match="kinds"):
        make_instructions(scenes, kinds=[])
    with pytest.raises(ValueError, match="relations"):
        make_instructions(scenes, relations=["near"])
    with pytest.raises(ValueError, match="relation"):
        is_apart(scenes.objects[0][0], scenes.objects[0][0], "near")
    with pytest.raises(TypeError, match="str"):
        words(3)
