"""Reproduce the checkpoints shipped in checkpoints/: lecture 1's autoencoders on the digits.

    python scripts/train_checkpoints.py            # about a minute on 2 CPU cores

Each model is trained from scratch with the recipe the lecture uses (course_lib.zoo), so the
lecture loads exactly what it would otherwise train; the recipe is stored in each file's metadata.
"""

from __future__ import annotations

from course_lib.checkpoints import SHIPPED_DIR
from course_lib.data import load_digits
from course_lib.zoo import LECTURE1_LATENT_SIZES, AutoencoderRecipe, autoencoder


def main() -> None:
    data = load_digits()
    for kind in ("linear", "mlp"):
        for k in LECTURE1_LATENT_SIZES:
            _, source = autoencoder(AutoencoderRecipe.default(kind, k), data, device="cpu",
                                    directories=(), save_to=SHIPPED_DIR)
            print(f"{kind} AE k={k}: {source}, saved to {SHIPPED_DIR.name}/")


if __name__ == "__main__":
    main()
