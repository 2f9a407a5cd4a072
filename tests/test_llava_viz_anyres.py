"""Lecture 7's failure counts (llava_viz.mistakes) and AnyRes picture (llava_viz.show_anyres) on hand-made inputs."""

import matplotlib.pyplot as plt  # the Agg backend: tests/conftest.py
import pytest
import torch

from course_lib.anyres import MINI_RESOLUTIONS, anyres_views
from course_lib.data.instructions import Instruction
from course_lib.data.shapes import make_scenes
from course_lib.llava_viz import mistakes, show_anyres


def test_mistakes_count_two_object_scenes_and_the_other_objects_colour():
    scenes = make_scenes(40, seed=0)
    one = next(i for i, o in enumerate(scenes.objects) if len(o) == 1)
    two = [i for i, o in enumerate(scenes.objects) if len(o) == 2][:2]
    asked = [Instruction(i, "colour", "What colour is it?", scenes.objects[i][0].colour) for i in (one, *two)]
    other = scenes.objects[two[0]][1].colour  # the second object's colour: a binding error
    answers = [asked[0].answer, other, "none"]  # right, the other object's colour, a colour of no object
    assert mistakes(scenes, asked, answers, "colour") == {"wrong": 2, "two objects": 2, "other colour": 1}
    wrong_one = [Instruction(one, "describe", "Describe the image.", scenes.captions[one])]
    assert mistakes(scenes, wrong_one, ["a small red circle left of"], "describe") == {"wrong": 1, "two objects": 0}


def test_show_anyres_draws_the_image_and_every_view_with_its_answer():
    views = anyres_views(torch.rand(3, 32, 128), MINI_RESOLUTIONS, 32)  # 1 x 4 tiles
    fig = show_anyres([("strip", views, [f"answer {k}" for k in range(5)])])
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 6 and titles[0] == "strip: 1 x 4 tiles"
    assert titles[1].startswith("global view: answer 0") and titles[5].startswith("tile 4: answer 4")
    plt.close(fig)
    with pytest.raises(ValueError, match="one answer per view"):
        show_anyres([("strip", views, ["too few"])])
    plt.close("all")
