"""Every model the course trains, by name: the recipe a lecture uses, and whether its checkpoint ships.

`python -m course_lib.recipes list` prints this table with each checkpoint's state; `... train NAME` rebuilds one.
The benchmark's model section, the tests of the shipped checkpoints and the clean-up of stale files all read it.
A new lecture adds its entries here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from course_lib.recipes.autoencoders import (LECTURE1_LATENT_SIZES, LECTURE2_NOISE_LEVELS, AutoencoderRecipe,
                                             DenoiserRecipe)
from course_lib.recipes.base import Recipe
from course_lib.recipes.clip import CLIPRecipe
from course_lib.recipes.diffusion import JudgeRecipe, UNetRecipe, VAERecipe
from course_lib.recipes.llava import LLaVARecipe, LMRecipe
from course_lib.recipes.lora import LoRARecipe
from course_lib.recipes.restoration import ColouriserRecipe, SuperResolutionRecipe
from course_lib.recipes.sequences import LECTURE4_ATTENTIONS, Seq2SeqRecipe, TransformerRecipe
from course_lib.recipes.vision import (LECTURE8_CNN_ATTENTIONS, LECTURE8_FRACTIONS, LECTURE8_SHIFTED, CNNRecipe,
                                      ViTRecipe)
from course_lib.recipes.visual_attention import VisualAttentionRecipe


@dataclass(frozen=True)
class Entry:
    """One model of one lecture: its name, its recipe, and whether its checkpoint ships with course_lib."""

    name: str
    lecture: int
    recipe: Recipe
    shipped: bool  # False: the lecture trains it when it runs (seconds to a minute) and caches it


def _entries() -> list[Entry]:
    entries = [Entry(f"{kind}-ae-k{k}", 1, AutoencoderRecipe.default(kind, k), True)
               for kind in ("linear", "mlp") for k in LECTURE1_LATENT_SIZES]
    entries.append(Entry("faces-mlp-ae-k16", 1, AutoencoderRecipe.default("mlp", 16, dataset="faces"), False))
    entries.append(Entry("conv-ae", 2, DenoiserRecipe("none"), False))
    entries += [Entry(f"dae-{noise.replace('_', '-')}", 2, DenoiserRecipe(noise, level), False)
                for noise, level in LECTURE2_NOISE_LEVELS.items()]
    entries.append(Entry("faces-dae-gaussian", 2, DenoiserRecipe("gaussian", 0.3, epochs=100, batch_size=16,
                                                                 dataset="faces"), False))
    entries.append(Entry("colouriser", 2, ColouriserRecipe(), True))
    entries.append(Entry("super-resolution-x2", 2, SuperResolutionRecipe(), True))
    entries += [Entry(f"transformer-{task}", 4, TransformerRecipe(task), False) for task in ("reversal", "repeat")]
    entries += [Entry(f"seq2seq-{attention or 'none'}", 4, Seq2SeqRecipe(attention=attention), True)
                for attention in LECTURE4_ATTENTIONS]
    entries.append(Entry("visual-attention", 4, VisualAttentionRecipe(), True))
    entries.append(Entry("mini-clip", 5, CLIPRecipe(), True))
    entries.append(Entry("vae", 6, VAERecipe(), True))
    entries.append(Entry("judge", 6, JudgeRecipe(), True))
    entries.append(Entry("unet-latent", 6, UNetRecipe(), True))
    entries.append(Entry("unet-pixel", 6, UNetRecipe.pixel(), True))
    entries.append(Entry("lora-pink", 7, LoRARecipe(), True))
    entries.append(Entry("lora-pink-no-prior", 7, LoRARecipe.without_prior(), True))
    entries.append(Entry("llava-lm", 7, LMRecipe(), True))
    for connector in ("linear", "mlp"):
        entries.append(Entry(f"llava-{connector}-aligned", 7, LLaVARecipe(connector=connector).alignment, True))
        entries.append(Entry(f"llava-{connector}", 7, LLaVARecipe(connector=connector), True))
    for fraction in LECTURE8_FRACTIONS:
        percent = f"{round(100 * fraction)}pct"
        entries.append(Entry(f"vit-{percent}", 8, ViTRecipe(train_fraction=fraction), True))
        entries.append(Entry(f"cnn-{percent}", 8, CNNRecipe(train_fraction=fraction), True))
    entries += [Entry(f"vit-{positions}", 8, ViTRecipe(positions=positions), True) for positions in ("learned2d", "none")]
    entries.append(Entry("vit-shifted", 8, LECTURE8_SHIFTED, True))
    entries += [Entry(f"cnn-{attention}", 8, CNNRecipe(attention=attention), True)
                for attention in LECTURE8_CNN_ATTENTIONS]
    return entries


ENTRIES: tuple[Entry, ...] = tuple(_entries())
REGISTRY: dict[str, Entry] = {entry.name: entry for entry in ENTRIES}


def entry(name: str) -> Entry:
    """The registry entry called `name` (a clear error naming the choices otherwise)."""
    if name not in REGISTRY:
        raise KeyError(f"No recipe called {name!r}: run `python -m course_lib.recipes list` for the names.")
    return REGISTRY[name]


def shipped_name(recipe: Recipe) -> str | None:
    """The registry name of `recipe` if it is a shipped one (same file name), else None."""
    for e in ENTRIES:
        if e.shipped and e.recipe.filename == recipe.filename:
            return e.name
    return None


def stale_files(folder: Path) -> list[Path]:
    """Checkpoint files in `folder` that no shipped recipe of the registry owns (left by recipes that changed)."""
    owned = {e.recipe.filename for e in ENTRIES if e.shipped}
    return sorted(p for p in Path(folder).glob("*.safetensors") if p.name not in owned)
