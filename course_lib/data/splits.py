"""Seeds of the synthetic data's splits: one rule for every recipe, so that no test scene is a training scene.

A recipe draws its training data with seed `data_seed`; its test data with `data_seed + TEST_SEED_OFFSET`;
recipes with more splits (LLaVA's stages) give each its own offset below 1000.
"""

from __future__ import annotations

from typing import Mapping

TEST_SEED_OFFSET = 1000


def split_seed(data_seed: int, split: str, offsets: Mapping[str, int] | None = None) -> int:
    """`data_seed` plus the split's offset: 'train' 0 (or the `offsets` given instead), 'test' TEST_SEED_OFFSET."""
    known = {**(offsets if offsets is not None else {"train": 0}), "test": TEST_SEED_OFFSET}
    if split not in known:
        raise ValueError(f"split must be one of {tuple(known)}, got {split!r}.")
    return data_seed + known[split]
