"""Reproduce the checkpoints shipped in checkpoints/: lecture 1's autoencoders on the digits.

    python scripts/train_checkpoints.py            # about a minute on 2 CPU cores

Each model is trained from scratch with the recipe the lecture uses (course_lib.zoo), so the
lecture loads exactly what it would otherwise train; the recipe is stored in each file's metadata.
"""

from __future__ import annotations

import torch

from course_lib.checkpoints import SHIPPED_DIR
from course_lib.data import load_digits
from course_lib.zoo import LECTURE1_LATENT_SIZES, AutoencoderRecipe, autoencoder


def main() -> None:
    torch.set_num_threads(1)  # as the lecture does; also the fastest setting for such small models
    for old in SHIPPED_DIR.glob("digits_*_ae_k*.safetensors"):
        old.unlink()  # recipes that changed leave no stale files behind
    data = load_digits()
    for kind in ("linear", "mlp"):
        for k in LECTURE1_LATENT_SIZES:
            trained = autoencoder(AutoencoderRecipe.default(kind, k), data, device="cpu", progress=False,
                                  directories=(), save_to=SHIPPED_DIR)
            print(f"{kind} AE k={k}: final training loss {trained.history[-1]:.5f}, saved to {SHIPPED_DIR.name}/")


if __name__ == "__main__":
    main()
