"""MiniCLIP (lecture 5): shapes, unit vectors, the temperature, CLIP's loss, and clear errors for bad input."""

import math

import pytest
import torch
from torch.nn import functional as F

from course_lib.contrastive import class_embeddings, zero_shot_predict
from course_lib.data.captioned_digits import DIGIT_NAMES, DIGIT_TEMPLATE, captioned_digits, digit_tokenizer
from course_lib.data.shapes import COLOURS, SHAPES, make_scenes
from course_lib.data.tokenizer import UNK
from course_lib.models.clip import INIT_LOGIT_SCALE, ImageEncoder, MiniCLIP, clip_batch_loss
from course_lib.train import train
from course_lib.clip_metrics import (
    CLASS_NAMES, MiniCLIPEncoders, encode_texts, retrieval_recall, zero_shot_accuracy, zero_shot_labels,
)
from course_lib.data.tokenizer import scene_tokenizer
from course_lib.recipes import CLIPRecipe, Source
from course_lib.recipes.clip import clip_scenes, zero_shot_scenes


TOKENIZER = scene_tokenizer()


def small_clip(**kwargs) -> MiniCLIP:
    return MiniCLIP(len(TOKENIZER), 16, channels=(4, 8, 8), image_width=16, d_model=16, n_heads=2, n_layers=1,
                    **kwargs).eval()


def test_embeddings_are_unit_vectors_and_logits_are_scaled_cosines():
    model = small_clip()
    scenes = make_scenes(5, seed=1)
    ids, lengths = TOKENIZER.batch(scenes.captions)
    images, texts = model.encode_image(scenes.images), model.encode_text(ids, lengths)
    assert images.shape == (5, 16) and texts.shape == (5, 16)
    torch.testing.assert_close(images.norm(dim=-1), torch.ones(5))
    torch.testing.assert_close(texts.norm(dim=-1), torch.ones(5))
    logits = model(scenes.images, ids, lengths)
    assert logits.shape == (5, 5)
    torch.testing.assert_close(logits, images @ texts.T / 0.07)


def test_temperature_starts_at_0_07_and_exp_t_is_clamped_to_100():
    model = small_clip()
    assert model.logit_scale.item() == pytest.approx(math.log(1 / 0.07)) == pytest.approx(INIT_LOGIT_SCALE)
    assert model.scale().item() == pytest.approx(1 / 0.07)
    images, (ids, lengths) = torch.rand(3, 3, 32, 32), TOKENIZER.batch(["a small red circle"] * 3)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)  # exp(10) = 22026: far past the clamp
    assert model.scale().item() == pytest.approx(100.0)
    assert model(images, ids, lengths).abs().max() <= 100.0 + 1e-4  # cosines in [-1, 1] times at most 100
    with torch.no_grad():
        model.logit_scale.fill_(1.0)
    clip_batch_loss(model, images, ids, lengths).backward()
    assert model.logit_scale.grad is not None and model.logit_scale.grad != 0  # t is learned


def test_text_is_pooled_at_eos_so_padding_and_batch_mates_change_nothing():
    model = small_clip()
    alone = model.encode_text(*TOKENIZER.batch(["a small red circle"]))
    ids, lengths = TOKENIZER.batch(["a small red circle", "a large blue square left of a small green triangle"])
    assert ids.shape[1] > lengths[0]  # the first caption is padded
    torch.testing.assert_close(model.encode_text(ids, lengths)[:1], alone)
    first_word_changed = model.encode_text(*TOKENIZER.batch(["a large red circle"]))
    assert not torch.allclose(first_word_changed, alone)  # the end-of-text token has read every word


def test_clip_batch_loss_is_the_papers_symmetric_cross_entropy():
    model = small_clip()
    scenes = make_scenes(6, seed=2)
    ids, lengths = TOKENIZER.batch(scenes.captions)
    image_e, text_e = model.encode_image(scenes.images), model.encode_text(ids, lengths)
    logits = image_e @ text_e.T * math.exp(model.logit_scale.item())  # the pseudocode of Radford et al., figure 3
    labels = torch.arange(6)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(clip_batch_loss(model, scenes.images, ids, lengths), expected)


def test_a_short_training_on_a_tiny_batch_lowers_the_loss():
    model = small_clip()
    scenes = make_scenes(16, seed=3, n_objects=2)  # 16 different captions
    ids, lengths = TOKENIZER.batch(scenes.captions)
    history = train(model, (scenes.images, ids, lengths), clip_batch_loss, epochs=40, batch_size=16, lr=3e-3,
                    progress=False)
    assert history[0] > math.log(16) - 0.5  # about chance: log(N)
    assert history[-1] < history[0] / 3


def test_bad_inputs_raise_clear_errors():
    model = small_clip()
    ids, lengths = TOKENIZER.batch(["a small red circle", "a large blue square"])
    with pytest.raises(ValueError, match=r"Expected images \(batch, 3, 32, 32\)"):
        model.encode_image(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="int64"):
        model.encode_text(ids.float(), lengths)
    with pytest.raises(ValueError, match="one length per caption"):
        model.encode_text(ids, lengths[:1])
    with pytest.raises(ValueError, match="between 1 and"):
        model.encode_text(ids, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="between 1 and"):
        model.encode_text(ids, lengths + ids.shape[1])
    with pytest.raises(ValueError, match=r"Token ids must lie in 0\.\."):
        model.encode_text(ids + 100, lengths)
    with pytest.raises(ValueError, match="as many captions as images"):
        model(torch.rand(3, 3, 32, 32), ids, lengths)
    with pytest.raises(ValueError, match="max_len"):
        model.encode_text(*TOKENIZER.batch([" ".join(["a"] * 20)]))
    with pytest.raises(ValueError, match="divisible by 8"):
        ImageEncoder(image_size=28)
    with pytest.raises(ValueError, match="not made for each other"):
        MiniCLIPEncoders(model, digit_tokenizer())
    with pytest.raises(ValueError, match="one-object scenes"):
        zero_shot_labels(make_scenes(4, seed=0, n_objects=2))
    with pytest.raises(ValueError, match="one caption per image"):
        retrieval_recall(MiniCLIPEncoders(model), torch.rand(3, 3, 32, 32), ["a small red circle"] * 2)
    with pytest.raises(ValueError, match="split"):
        clip_scenes(CLIPRecipe(), "validation")
    with pytest.raises(ValueError, match="'seen' or 'held_out'"):
        zero_shot_scenes(CLIPRecipe(), "unseen")


def test_the_tokenizer_knows_every_word_even_of_held_out_combinations():
    assert scene_tokenizer() == TOKENIZER  # rebuilt the same every time, from the generator's word lists
    held_out = zero_shot_scenes(CLIPRecipe(), "held_out", 20).captions
    two_objects = clip_scenes(CLIPRecipe(), "test", 50).captions
    ids, _ = TOKENIZER.batch([*held_out, *two_objects, *(f"a small {name}" for name in CLASS_NAMES)])
    assert (ids != UNK).all()
    assert len(CLASS_NAMES) == len(COLOURS) * len(SHAPES) == 18


def test_held_out_combinations_never_appear_in_training_and_are_all_the_held_out_test_has():
    recipe = CLIPRecipe(n_train=300)
    trained_on = {o.name for objects in clip_scenes(recipe).objects for o in objects}
    held_out = {f"{c} {s}" for c, s in recipe.held_out}
    assert trained_on == set(CLASS_NAMES) - held_out
    labels = zero_shot_labels(zero_shot_scenes(recipe, "held_out", 50))
    assert {CLASS_NAMES[i] for i in labels.tolist()} == held_out


def test_mini_clip_trains_saves_and_loads_its_recipe(tmp_store):
    recipe = CLIPRecipe(n_train=64, channels=(4, 8, 8), image_width=16, d_model=16, n_heads=2, n_layers=1,
                        embed_dim=16, epochs=1, batch_size=32)
    first, again = tmp_store.load(recipe), tmp_store.load(recipe)
    assert first.source == Source.TRAINED and again.source == Source.CACHED
    texts = ["a small purple triangle", "a large red square"]
    clip = MiniCLIPEncoders(again.model)
    torch.testing.assert_close(clip.encode_texts(texts), encode_texts(first.model, TOKENIZER, texts))
    accuracy = zero_shot_accuracy(clip, zero_shot_scenes(recipe, "seen", 20))
    assert 0.0 <= accuracy <= 1.0


def test_captioned_digits_and_a_few_seconds_of_clip_training_classify_them_zero_shot():
    train_set, test_set = captioned_digits("train"), captioned_digits("test")
    assert train_set.images.shape == (1437, 1, 8, 8) and test_set.images.shape == (360, 1, 8, 8)
    assert train_set.captions[0] == f"a handwritten {train_set.labels[0].item()}"
    tokenizer = digit_tokenizer()
    torch.manual_seed(0)
    model = MiniCLIP(len(tokenizer), 32, in_channels=1, image_size=8, channels=(16, 32, 32), image_width=64,
                     d_model=32, n_heads=2, n_layers=1)
    ids, lengths = tokenizer.batch(train_set.captions)
    train(model, (train_set.images, ids, lengths), clip_batch_loss, epochs=4, batch_size=32, lr=3e-3, progress=False)
    clip = MiniCLIPEncoders(model, tokenizer)
    classes = class_embeddings(clip.encode_texts, DIGIT_NAMES, [DIGIT_TEMPLATE])  # (10, 32)
    predicted = zero_shot_predict(clip.encode_images(test_set.images), classes)
    assert (predicted == test_set.labels).double().mean() > 0.85  # measured 0.96 after 4 epochs
    with pytest.raises(ValueError, match="split"):
        captioned_digits("val")


def test_the_image_encoder_shows_its_last_feature_map():
    """The public feature-map API LLaVA's 'patch' tokens read (no indexing into its layers)."""
    from course_lib.models.clip import ImageEncoder

    encoder = ImageEncoder(channels=(8, 16, 24), image_size=32)
    images = torch.rand(2, 3, 32, 32)
    grid = encoder.feature_map(images)
    assert grid.shape == (2, encoder.feature_channels, 4, 4) and encoder.feature_channels == 24
    torch.testing.assert_close(encoder(images), torch.relu(encoder.fc(grid.flatten(1))))
    with pytest.raises(ValueError, match="Expected images"):
        encoder.feature_map(torch.rand(2, 3, 16, 16))
