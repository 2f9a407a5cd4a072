"""Teach lecture 6's mini Stable Diffusion a new colour from 18 pictures, training only LoRA weights (lecture 7).

    base = mini_stable_diffusion(UNetRecipe(), store)     # knows six colours
    tuned = lora_stable_diffusion(LoRARecipe(), store)    # + LoRA on the cross-attention's k_proj and v_proj: 'pink'
    tuned.generate(["a large pink circle"] * 4)           # (4, 3, 32, 32) in [0, 1]
    new_concept_score(tuned, judge)                       # {'colour': share of pink pixels, 'shape': judge's reading}

How it works, as in DreamBooth (Ruiz et al. 2022) and Custom Diffusion (Kumari et al. 2023):
- the concept: a deep pink (0.8, 0.1, 0.5), drawn with the scene generator's own code (`new_colour_scenes`);
- the word: the scene tokenizer has no 'pink', so the prompt 'a large pink circle' reaches the text encoder as
  'a large <unk> circle'. <unk> plays the part of DreamBooth's rare identifier 'sks': a token that means nothing
  yet, which fine-tuning binds to the concept (so after training ANY unknown word draws pink: 'a large zzz circle');
- what trains: only rank-4 LoRA matrices in the U-Net's cross-attention k_proj and v_proj, the only layers that
  read the text (Custom Diffusion's choice): 5,888 numbers, 0.43% of the U-Net; the text encoder, the VAE and
  every other U-Net weight stay frozen;
- prior preservation: 18 pictures of the old colours are mixed in, or the old prompts suffer (LoRARecipe);
- the check: the share of object pixels whose hue is nearest pink among the seven colours, the judge's shape
  reading, and forgetting: the judge's faithfulness on the 36 old one-object prompts, before and after.
Why a deep pink and not a pale one: the VAE saw only six colours. A pale pink (1.0, 0.6, 0.8) comes back from
its round trip orange, and even the latent found by gradient descent on the decoder's output decodes to a pale
orange, so no U-Net, however tuned, could draw it: the frozen VAE bounds what LoRA on the U-Net can learn.
`python -m course_lib.recipes train lora` rebuilds the shipped adapter; course_lib.concept_metrics measures it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from course_lib.data.new_colour import NEW_COLOUR, NEW_RGB, new_colour_scenes
from course_lib.data.shapes import make_scenes
from course_lib.device import seeded
from course_lib.diffusion import diffusion_loss
from course_lib.models.lora import add_lora, lora_adapter
from course_lib.models.unet import UNet
from course_lib.recipes.base import Recipe
from course_lib.recipes.diffusion import UNetRecipe, make_schedule, mini_stable_diffusion, single_object_prompts
from course_lib.stable_diffusion import MiniStableDiffusion
from course_lib.train import train


@dataclass(frozen=True)
class LoRARecipe(Recipe):
    """What decides what the LoRA adapter learns: the new colour's pictures, where LoRA sits, and the training.

    Prior preservation is on by default: 18 rendered one-object scenes of the old colours are mixed in with the 18
    pink ones. Without them (n_prior=0) the old prompts' faithfulness drops; with the frozen model's own samples
    as the prior (prior='generated', as DreamBooth) it drops about as much here (tests/test_lora_diffusion.py).
    """

    family = "scenes_lora"
    model_class = UNet  # lecture 6's U-Net with LoRA layers; the checkpoint holds only the adapter

    colour: str = NEW_COLOUR
    rgb: tuple[float, float, float] = NEW_RGB
    n_images: int = 18  # a handful of pictures of the new concept: three per size and shape, on average
    n_prior: int = 18  # pictures of the old prompts mixed in (prior preservation); 0 = none
    prior: str = "rendered"  # fresh rendered scenes, or 'generated': the frozen model's own samples (DreamBooth)
    target_modules: tuple[str, ...] = ("k_proj", "v_proj")  # the cross-attention layers that read the text
    r: int = 4
    alpha: float = 4.0  # scale alpha / r = 1
    epochs: int = 40
    repeats: int = 32  # an epoch shows every picture this many times, each at another noise level and noise
    batch_size: int = 32
    lr: float = 1e-3
    p_uncond: float = 0.1  # the text dropped as in the U-Net's own training, for classifier-free guidance
    unet: UNetRecipe = field(default_factory=UNetRecipe)
    data_seed: int = 3
    seed: int = 0

    def __post_init__(self):
        if self.prior not in ("rendered", "generated"):
            raise ValueError(f"prior must be 'rendered' or 'generated', got {self.prior!r}.")
        if self.n_images < 1 or self.n_prior < 0:
            raise ValueError(f"Need n_images >= 1 and n_prior >= 0, got {self.n_images} and {self.n_prior}.")

    @classmethod
    def without_prior(cls, **changes) -> "LoRARecipe":
        """The same fine-tuning on the new colour's pictures alone: shows what prior preservation prevents."""
        return cls(**{"n_prior": 0, **changes})

    def build(self, store) -> nn.Module:
        """A copy of the base U-Net (the shipped one stays as it was) with LoRA layers; A's random start is seeded."""
        model = copy.deepcopy(mini_stable_diffusion(self.unet, store).unet)
        add_lora(model, list(self.target_modules), self.r, self.alpha)
        return model

    def weights(self, model: nn.Module) -> nn.Module:
        return lora_adapter(model)  # A and B of every LoRA layer, not the U-Net they adapt

    def fit(self, model: nn.Module, store) -> list[float]:
        base = mini_stable_diffusion(self.unet, store)
        images, captions = fine_tuning_data(self, base)
        with torch.no_grad():
            x0 = base.vae.to_latent(images.to(base.device)).cpu()  # (N, 4, 8, 8): what the U-Net denoises
        distinct = sorted(set(captions))
        contexts = base.text(distinct).to(base.device)  # (distinct captions, L, d); 'pink' reaches it as <unk>
        which = torch.tensor([distinct.index(c) for c in captions])  # (N,)
        schedule = make_schedule(self.unet).to(base.device)

        def loss(m: nn.Module, x: torch.Tensor, caption: torch.Tensor) -> torch.Tensor:
            return diffusion_loss(m, x, contexts[caption], schedule, p_uncond=self.p_uncond,
                                  null_context=base.null_context)

        with seeded(self.seed):
            data = (x0.repeat(self.repeats, 1, 1, 1), which.repeat(self.repeats))
            return train(model, data, loss, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                         device=store.device, seed=self.seed, progress=store.progress)


def fine_tuning_data(recipe: LoRARecipe, base: MiniStableDiffusion) -> tuple[torch.Tensor, list[str]]:
    """Pictures (N, 3, 32, 32) and captions: n_images of the new colour, then n_prior pictures of old prompts.

    The prior pictures (prior preservation) are fresh rendered one-object scenes ('rendered'), or the frozen
    model's own DDIM samples for the old prompts ('generated'), as DreamBooth makes its class images when the
    original training data is out of reach.
    """
    new = new_colour_scenes(recipe.n_images, recipe.colour, recipe.rgb, seed=recipe.data_seed)
    if recipe.n_prior == 0:
        return new.images, list(new.captions)
    if recipe.prior == "generated":
        old = single_object_prompts()
        captions = [old[i % len(old)] for i in range(recipe.n_prior)]  # every old prompt in turn
        images = base.generate(captions, seed=recipe.data_seed)
    else:
        scenes = make_scenes(recipe.n_prior, seed=recipe.data_seed + 1, n_objects=1)
        images, captions = scenes.images, list(scenes.captions)
    return torch.cat([new.images, images]), list(new.captions) + captions


def lora_stable_diffusion(recipe: LoRARecipe, store) -> MiniStableDiffusion:
    """The mini Stable Diffusion of lecture 6 with the recipe's LoRA U-Net in place of its own."""
    base = mini_stable_diffusion(recipe.unet, store)
    return MiniStableDiffusion(store.load(recipe).model, base.text, base.vae, base.schedule)
