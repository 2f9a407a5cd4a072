import pytest
import torch

from course_lib.data import DATASETS, load_dataset, load_digits, load_faces


def test_digits_shapes_range_and_split(digits):
    assert digits.image_shape == (8, 8) and digits.n_features == 64
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert len(digits.x_test) == 360  # 20 % of 1797, rounded up
    for x in (digits.x_train, digits.x_test):
        assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
    assert digits.x_train.max() == 1.0  # scaled by the raw maximum, 16
    assert set(digits.y_test.tolist()) == set(range(10))
    assert digits.images(digits.x_test[:3]).shape == (3, 8, 8)


def test_split_is_fixed_and_seeded(digits):
    again = load_digits()
    assert torch.equal(again.x_train, digits.x_train) and torch.equal(again.y_test, digits.y_test)
    other = load_digits(seed=1)
    assert not torch.equal(other.x_train, digits.x_train)


def test_split_is_stratified_and_disjoint(digits):
    train_share = torch.bincount(digits.y_train) / len(digits.y_train)
    test_share = torch.bincount(digits.y_test) / len(digits.y_test)
    assert torch.allclose(train_share, test_share, atol=0.01)
    train_rows = {tuple(r) for r in digits.x_train.tolist()}
    duplicates_in_sklearn = 1  # the raw data holds one exact duplicate pair split across train/test
    assert sum(tuple(r) in train_rows for r in digits.x_test.tolist()) <= duplicates_in_sklearn


def test_faces():
    faces = load_faces()
    assert faces.image_shape == (25, 25)
    assert len(faces.x_train) + len(faces.x_test) == 200
    assert faces.class_names[1] == "face" and set(faces.y_train.tolist()) == {0, 1}


def test_load_dataset_by_name_and_clear_error():
    assert load_dataset("digits").name == "digits"
    assert set(DATASETS) == {"digits", "faces"}
    with pytest.raises(ValueError, match=r"Unknown dataset 'mnist'.*digits"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.5)


def test_every_recipe_draws_its_splits_with_one_rule():
    """course_lib.data.splits: train at data_seed, test at data_seed + 1000, LLaVA's stages at their offsets;
    an unknown split is refused by name."""
    from course_lib.data.shapes import make_scenes
    from course_lib.data.splits import TEST_SEED_OFFSET, split_seed
    from course_lib.recipes.llava import SPLIT_SEEDS
    from course_lib.recipes.visual_attention import VisualAttentionRecipe, attention_scenes

    assert split_seed(7, "train") == 7 and split_seed(7, "test") == 7 + TEST_SEED_OFFSET
    assert [split_seed(0, s, SPLIT_SEEDS) for s in ("lm", "align", "tune", "test")] == [2, 1, 0, 1000]
    with pytest.raises(ValueError, match="split must be one of"):
        split_seed(0, "validation")
    recipe = VisualAttentionRecipe()
    test = attention_scenes(recipe, "test", n=5)
    assert torch.equal(test.images, make_scenes(5, seed=recipe.data_seed + 1000, image_size=recipe.image_size,
                                                n_objects=2).images)
    assert not torch.equal(test.images, attention_scenes(recipe, "train", n=5).images)
