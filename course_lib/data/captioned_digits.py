"""scikit-learn's handwritten digits captioned 'a handwritten 3': a second image-text set for MiniCLIP (lecture 5).

    train = captioned_digits("train")        # images (1437, 1, 8, 8) in [0, 1], captions ('a handwritten 3', ...)
    MiniCLIP(len(digit_tokenizer()), in_channels=1, image_size=8)   # trains in seconds on these
    zero-shot: class names DIGIT_NAMES with the template 'a handwritten {}'

The split is the one `load_digits` makes, so these are the lectures' usual train and test images.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from course_lib.data.digits import load_digits
from course_lib.data.tokenizer import Tokenizer

DIGIT_NAMES = tuple(str(d) for d in range(10))  # the class names: the caption's last word
DIGIT_TEMPLATE = "a handwritten {}"


class CaptionedDigits(NamedTuple):
    """Digit images with one caption each, and the digit as a label (for scoring zero-shot predictions)."""

    images: torch.Tensor  # (N, 1, 8, 8), float32 in [0, 1]
    captions: tuple[str, ...]  # ('a handwritten 3', ...)
    labels: torch.Tensor  # (N,) int64, 0..9


def captioned_digits(split: str = "train", test_fraction: float = 0.2, seed: int = 0) -> CaptionedDigits:
    """The train or test digits of load_digits(test_fraction, seed) as images with captions 'a handwritten <digit>'."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    data = load_digits(test_fraction, seed)
    x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
    captions = tuple(DIGIT_TEMPLATE.format(DIGIT_NAMES[d]) for d in y.tolist())
    return CaptionedDigits(x.reshape(-1, 1, *data.image_shape), captions, y)


def digit_tokenizer() -> Tokenizer:
    """The words of every digit caption, sorted: 'a', 'handwritten', '0' .. '9'."""
    return Tokenizer.from_sentences(DIGIT_TEMPLATE.format(d) for d in DIGIT_NAMES)
