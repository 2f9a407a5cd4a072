"""Lecture 4's visual attention: shapes, weights, the shipped model answers right and looks at the right object."""

import matplotlib.pyplot as plt
import pytest
import torch

from course_lib.checkpoints import read_metadata
from course_lib.recipes import Source
from course_lib.recipes.store import shipped_dir
from course_lib.data.shapes import COLOURS, SHAPES, make_scenes
from course_lib.models.visual_attention import (
    VisualAttention, colour_queries, evaluate_attention, regions_in_boxes, shape_loss,
)
from course_lib.scene_viz import overlay_attention, show_scenes, show_where_it_looks, upsample_attention
from course_lib.train import train
from course_lib.viz import figure_pixels
from course_lib.recipes.visual_attention import VisualAttentionRecipe, attention_scenes


# Floors for the shipped checkpoint on 500 fresh two-object scenes (1000 questions); measured:
# accuracy 0.999, attention argmax in the box 0.977, attention mass in the box 0.916 (untrained: 0.33, 0.04-0.18, 0.11).
ACCURACY_FLOOR, HIT_RATE_FLOOR, MASS_FLOOR = 0.95, 0.85, 0.75


@pytest.fixture(scope="module")
def shipped(shipped_store):
    """The shipped model, never trained here: a missing or stale checkpoint fails instead of training for seconds."""
    trained = shipped_store.load(VisualAttentionRecipe())
    assert trained.source == Source.SHIPPED, "run: python -m course_lib.recipes train visual-attention"
    return trained


@pytest.fixture(scope="module")
def test_queries():
    return colour_queries(attention_scenes(VisualAttentionRecipe(), "test", 500))


def test_outputs_have_the_documented_shapes_and_weights_sum_to_one():
    model = VisualAttention(channels=(4, 8), d_model=16)
    logits, weights = model.attend(torch.rand(5, 3, 32, 32), torch.tensor([0, 1, 2, 3, 4]))
    assert logits.shape == (5, len(SHAPES)) and weights.shape == (5, 8, 8) and model.grid == (8, 8)
    assert torch.allclose(weights.sum((1, 2)), torch.ones(5)) and (weights >= 0).all()
    assert torch.equal(model(torch.zeros(2, 3, 32, 32), torch.tensor([0, 0])), model.attend(torch.zeros(2, 3, 32, 32),
                                                                                            torch.tensor([0, 0]))[0])
    assert VisualAttention(image_size=16).attend(torch.rand(2, 3, 16, 16), torch.tensor([1, 2]))[1].shape == (2, 4, 4)
    assert model.word_ids(["red", "orange"]).tolist() == [0, 5]


def test_bad_inputs_raise_clear_errors():
    model = VisualAttention()
    with pytest.raises(ValueError, match=r"Expected images \(batch, 3, 32, 32\)"):
        model.attend(torch.rand(2, 1, 32, 32), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="one word per image"):
        model.attend(torch.rand(2, 3, 32, 32), torch.tensor([0]))
    with pytest.raises(ValueError, match="Unknown words \\['pink'\\]"):
        model.word_ids(["red", "pink"])
    with pytest.raises(ValueError, match="divisible by 4"):
        VisualAttention(image_size=30)


def test_one_question_per_object():
    scenes = make_scenes(30, seed=4)
    queries = colour_queries(scenes)
    objects = [(i, o) for i, objs in enumerate(scenes.objects) for o in objs]
    assert len(queries.words) == len(objects) and queries.images.shape == (len(objects), 3, 32, 32)
    for q, (i, o) in enumerate(objects):
        assert COLOURS[queries.words[q]] == o.colour and SHAPES[queries.shapes[q]] == o.shape
        assert torch.equal(queries.images[q], scenes.images[i]) and queries.boxes[q].tolist() == pytest.approx(o.box)


def test_regions_in_boxes_marks_region_centres_inside():
    boxes = torch.tensor([[0.0, 0.0, 8.0, 4.0], [17.0, 17.0, 30.0, 30.0]])  # (x0, y0, x1, y1)
    mask = regions_in_boxes(boxes, (8, 8), 32)  # region centres at 2, 6, 10, ..., 30 pixels
    assert mask.shape == (2, 8, 8)
    assert mask[0].nonzero().tolist() == [[0, 0], [0, 1]]  # rows y = 2; columns x = 2, 6
    assert mask[1].sum() == 16 and mask[1, 4:, 4:].all()  # centres 18, 22, 26, 30 on both axes


def test_a_short_training_lowers_the_loss():
    queries = colour_queries(make_scenes(100, seed=5, n_objects=2))
    torch.manual_seed(0)
    model = VisualAttention(channels=(4, 8), d_model=16)
    history = train(model, (queries.images, queries.words, queries.shapes), shape_loss, epochs=3, lr=3e-3,
                    device="cpu", progress=False)
    assert history[-1] < history[0]


def test_shipped_checkpoint_is_made_by_the_default_recipe(shipped):
    path = shipped_dir() / VisualAttentionRecipe().filename
    assert path.stat().st_size < 1_000_000
    assert read_metadata(path)["config"] == VisualAttentionRecipe().identity()
    assert shipped.history[-1] < shipped.history[0]


def test_shipped_model_answers_right_and_looks_at_the_object(shipped, test_queries):
    scores = evaluate_attention(shipped.model, test_queries)
    assert scores["accuracy"] >= ACCURACY_FLOOR
    assert scores["hit_rate"] >= HIT_RATE_FLOOR
    assert scores["mass_in_box"] >= MASS_FLOOR
    torch.manual_seed(0)
    untrained = evaluate_attention(VisualAttention(), test_queries)  # the looking is learned, not built in
    assert untrained["hit_rate"] < 0.5 and untrained["mass_in_box"] < 0.3


def test_overlay_and_figures_draw():
    scene = make_scenes(1, seed=0, n_objects=2)[0]
    fig, (a, b) = plt.subplots(1, 2)
    left, right = torch.zeros(8, 8), torch.zeros(8, 8)
    left[:, 0], right[:, -1] = 1.0, 1.0
    overlay_attention(scene.image, left, a, "left"), overlay_attention(scene.image, right, b, "right")
    assert a.get_title() == "left" and len(a.images) == 2
    assert not (a.images[1].get_array() == b.images[1].get_array()).all()
    assert upsample_attention(left, (32, 32)).shape == (32, 32)
    with pytest.raises(ValueError, match=r"\(h, w\)"):
        upsample_attention(torch.zeros(64), (32, 32))
    scenes = make_scenes(5, seed=1)
    grid = show_scenes(scenes.images, scenes.captions, ncols=3)
    assert len(grid.axes) == 6 and grid.axes[0].get_title().replace("\n", " ") == scenes.captions[0]
    assert figure_pixels(grid).std() > 0


def test_where_it_looks_asks_about_every_colour_in_the_scene(shipped):
    scene = attention_scenes(VisualAttentionRecipe(), "test", 1)[0]
    fig = show_where_it_looks(shipped.model, scene)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 3 and titles[0].replace("\n", " ") == scene.caption
    for title, o in zip(titles[1:], scene.objects):
        assert title.startswith(f"which shape is {o.colour}?\n{o.shape} (p = ")
