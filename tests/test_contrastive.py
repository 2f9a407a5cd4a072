"""CLIP's loss, zero-shot classification and recall@k, against straightforward re-computations."""

import math

import pytest
import torch
from torch.nn import functional as F

from course_lib.contrastive import class_embeddings, clip_logits, clip_loss, recall_at_k, zero_shot_predict


def test_logits_are_scaled_cosine_similarities():
    images, texts = torch.randn(4, 8), torch.randn(5, 8)
    logits = clip_logits(images, texts, math.log(1 / 0.07))
    expected = torch.stack([torch.stack([F.cosine_similarity(i, t, dim=0) for t in texts]) for i in images]) / 0.07
    torch.testing.assert_close(logits, expected)


def test_clip_loss_is_the_mean_of_both_directions():
    logits = torch.randn(6, 6)
    rows = -torch.log_softmax(logits, dim=1).diagonal().mean()
    columns = -torch.log_softmax(logits, dim=0).diagonal().mean()
    torch.testing.assert_close(clip_loss(logits), (rows + columns) / 2)
    assert clip_loss(torch.eye(6) * 50) < 1e-6  # a perfect, confident matching costs nothing
    with pytest.raises(ValueError, match="square"):
        clip_loss(torch.randn(3, 4))


def test_zero_shot_uses_the_mean_of_normalised_prompt_embeddings():
    table = {"a cat.": [1.0, 0.0], "one cat.": [3.0, 1.0], "a dog.": [0.0, 1.0], "one dog.": [0.0, 5.0]}

    def encode(prompts):
        return torch.tensor([table[p] for p in prompts])

    classes = class_embeddings(encode, ["cat", "dog"], ["a {}.", "one {}."])
    expected_cat = F.normalize(F.normalize(torch.tensor([1.0, 0]), dim=0) + F.normalize(torch.tensor([3.0, 1]), dim=0), dim=0)
    torch.testing.assert_close(classes[0], expected_cat)
    assert zero_shot_predict(torch.tensor([[2.0, 0.1], [0.1, 9.0]]), classes).tolist() == [0, 1]
    with pytest.raises(ValueError, match="'{}'"):
        class_embeddings(encode, ["cat"], ["a cat"])


def test_recall_at_k():
    similarity = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.7, 0.1], [0.5, 0.6, 0.2]])
    assert recall_at_k(similarity, 1) == pytest.approx(1 / 3)  # only row 0 ranks its match first
    assert recall_at_k(similarity, 2) == pytest.approx(2 / 3)
    assert recall_at_k(similarity, 3) == 1.0
    with pytest.raises(ValueError, match="k must be"):
        recall_at_k(similarity, 0)
