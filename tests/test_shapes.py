"""The captioned synthetic scenes: seeded, fast, captions true of the pictures, held-out pairs kept out."""


import numpy as np
import pytest
import torch

from course_lib.data.shapes import (
    COLOUR_RGB, COLOURS, GAP, HALF_EXTENT, RELATIONS, SHAPES, SIZES, Scene, Scenes, allowed_combos, caption,
    make_scenes,
)


FILL = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}  # the fraction of its box each shape covers


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(400, seed=3)


def test_the_same_seed_gives_the_same_scenes():
    a, b, c = make_scenes(50, seed=7), make_scenes(50, seed=7), make_scenes(50, seed=8)
    assert torch.equal(a.images, b.images) and a.captions == b.captions and a.objects == b.objects
    assert not torch.equal(a.images, c.images) and a.captions != c.captions


def test_images_are_float_rgb_in_the_unit_range(scenes):
    assert scenes.images.shape == (400, 3, 32, 32) and scenes.images.dtype == torch.float32
    assert scenes.images.min() >= 0 and scenes.images.max() <= 1 and scenes.image_size == 32
    assert make_scenes(3, image_size=48).images.shape == (3, 3, 48, 48)
    assert make_scenes(0).images.shape == (0, 3, 32, 32)
    assert {len(objs) for objs in scenes.objects} == {1, 2}
    assert {len(objs) for objs in make_scenes(20, n_objects=2).objects} == {2}


def test_captions_name_the_objects_and_a_true_relation(scenes):
    for text, objs in zip(scenes.captions, scenes.objects):
        if len(objs) == 1:
            assert text == f"a {objs[0].size} {objs[0].colour} {objs[0].shape}" == caption(objs)
            continue
        first, second = objs
        relation = next(r for r in RELATIONS if text == f"{first.describe()} {r} {second.describe()}")
        a, b = first.box, second.box  # (x0, y0, x1, y1)
        assert {"left of": a[2] + GAP <= b[0] + 1e-9, "right of": b[2] + GAP <= a[0] + 1e-9,
                "above": a[3] + GAP <= b[1] + 1e-9, "below": b[3] + GAP <= a[1] + 1e-9}[relation]


def test_the_pictures_show_the_attributes(scenes):
    """Each object's colour at its centre, its box as wide as its size says, covered as much as its shape does."""
    for image, objs in zip(scenes.images[:100], scenes.objects[:100]):
        for o in objs:
            assert image[:, int(o.y), int(o.x)].tolist() == pytest.approx(COLOUR_RGB[o.colour], abs=1e-6)
            assert o.box[2] - o.box[0] == pytest.approx(2 * HALF_EXTENT[o.size] * 32)
            x0, y0, x1, y1 = o.box
            ys, xs = np.mgrid[0:32, 0:32] + 0.5  # pixel centres
            inside = torch.from_numpy((xs > x0 - 1) & (xs < x1 + 1) & (ys > y0 - 1) & (ys < y1 + 1))
            painted = (image.amax(0) * inside).sum().item() / max(COLOUR_RGB[o.colour])  # covered pixels, antialiased
            assert painted / (x1 - x0) ** 2 == pytest.approx(FILL[o.shape], rel=0.1)


def test_nothing_is_drawn_outside_the_boxes_and_two_objects_never_overlap(scenes):
    ys, xs = torch.meshgrid(torch.arange(32) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    for image, objs in zip(scenes.images, scenes.objects):
        near = torch.zeros(32, 32, dtype=torch.bool)
        for o in objs:  # anti-aliasing may paint half a pixel beyond the box
            near |= (xs > o.box[0] - 1) & (xs < o.box[2] + 1) & (ys > o.box[1] - 1) & (ys < o.box[3] + 1)
        assert (image.amax(0)[~near] == 0).all()
        if len(objs) == 2:
            a, b = objs[0].box, objs[1].box
            apart = max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])  # > 0: a gap along some axis
            assert apart >= GAP - 1e-9 and objs[0].colour != objs[1].colour
        assert all(0 < o.box[0] and o.box[2] < 32 and 0 < o.box[1] and o.box[3] < 32 for o in objs)


def test_held_out_pairs_never_appear_and_can_be_made_alone():
    held_out = {("purple", "triangle"), ("red", "circle")}
    train = make_scenes(2000, seed=1, exclude=held_out)
    seen = {(o.colour, o.shape) for objs in train.objects for o in objs}
    assert seen == {(c, s) for c in COLOURS for s in SHAPES} - held_out
    assert not any("purple triangle" in t or "red circle" in t for t in train.captions)
    zero_shot = make_scenes(100, seed=2, n_objects=1, only=held_out)
    assert {(o.colour, o.shape) for objs in zero_shot.objects for o in objs} == held_out
    assert allowed_combos(only=[("red", "square")]) == [("red", "square")]
    assert len(allowed_combos(exclude=held_out)) == len(COLOURS) * len(SHAPES) - 2


def test_indexing_and_subsets(scenes):
    one = scenes[5]
    assert isinstance(one, Scene) and torch.equal(one.image, scenes.images[5]) and one.caption == scenes.captions[5]
    assert scenes[-1].caption == scenes.captions[-1]
    part = scenes[10:13]
    assert isinstance(part, Scenes) and len(part) == 3 and part.captions == scenes.captions[10:13]
    picked = scenes[[3, 1]]
    assert torch.equal(picked.images, scenes.images[[3, 1]])
    assert picked.objects == (scenes.objects[3], scenes.objects[1])
    two = torch.tensor([len(objs) == 2 for objs in scenes.objects])
    assert len(scenes.subset(two)) == int(two.sum()) and all(len(objs) == 2 for objs in scenes[two].objects)
    with pytest.raises(IndexError):
        scenes[400]
    with pytest.raises(ValueError, match="boolean mask"):
        scenes.subset(np.ones(3, dtype=bool))


def test_ten_thousand_scenes_are_made():  # their speed is a budget of `make bench` (speed section)
    assert len(make_scenes(10_000, seed=0)) == 10_000


@pytest.mark.parametrize("kwargs, message", [
    ({"n": -1}, "n must be"),
    ({"image_size": 8}, "image_size must be at least 16"),
    ({"n_objects": 3}, "n_objects must be 1, 2"),
    ({"n_objects": ()}, "n_objects must be 1, 2"),
    ({"exclude": [("pink", "circle")]}, "Unknown \\(colour, shape\\)"),
    ({"only": [("red", "hexagon")]}, "Unknown \\(colour, shape\\)"),
    ({"only": [("red", "circle")], "exclude": [("red", "circle")]}, "No \\(colour, shape\\) pair is left"),
    ({"only": [("red", "circle"), ("red", "square")]}, "two different colours"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    kwargs = {"n": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_scenes(kwargs.pop("n"), **kwargs)


def test_caption_needs_a_relation_for_two_objects(scenes):
    two = next(objs for objs in scenes.objects if len(objs) == 2)
    assert caption(two, "above") == f"{two[0].describe()} above {two[1].describe()}"
    with pytest.raises(ValueError, match="relation"):
        caption(two, "near")
    assert SIZES == ("small", "large") and len(COLOURS) == len(COLOUR_RGB) == 6
