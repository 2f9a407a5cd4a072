"""Every model the course trains, as one table: how long it takes from scratch, and to load once trained.

Each entry calls the same loader the lecture calls (course_lib.zoo*), with the lecture's recipe:

    directories=(scratch,), save_to=None  -> trains from scratch, saves nothing (the shipped files stay untouched);
                                             `scratch` holds only the frozen parts it builds on (e.g. lecture 5's
                                             MiniCLIP under a U-Net), copied from checkpoints/, so only it trains
    directories=(SHIPPED_DIR, CACHE_DIR)  -> loads the checkpoint (shipped, or saved by an earlier run)
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from course_lib.checkpoints import CACHE_DIR, SHIPPED_DIR, Trained
from course_lib.data import load_digits, load_faces
from course_lib.zoo import (LECTURE1_LATENT_SIZES, LECTURE2_NOISE_LEVELS, AutoencoderRecipe, DenoiserRecipe,
                            TransformerRecipe, autoencoder, denoiser, tiny_transformer)
from course_lib.lora_diffusion import LoRARecipe, lora_unet
from course_lib.zoo_clip import CLIPRecipe, mini_clip
from course_lib.zoo_llava import LLaVARecipe, LMRecipe, aligned_llava, mini_llava, tiny_lm
from course_lib.zoo_diffusion import JudgeRecipe, UNetRecipe, VAERecipe, shape_judge, unet, vae
from course_lib.zoo_scenes import VisualAttentionRecipe, visual_attention
from course_lib.zoo_seq2seq import LECTURE4_ATTENTIONS, Seq2SeqRecipe, seq2seq

Loader = Callable[..., Trained]  # loader(device=, progress=, directories=, save_to=) -> Trained


@dataclass(frozen=True)
class CourseModel:
    """One model of one lecture, and the call that loads or trains it."""

    lecture: int
    name: str
    load: Loader
    shipped: bool = True  # False: the lecture trains it at run time (and caches it in build/checkpoints)
    frozen_parts: tuple[str, ...] = ()  # shipped checkpoints it is trained on top of (file name prefixes)


def course_models() -> list[CourseModel]:
    """The models of lectures 1-7, with the recipes the lectures use."""
    digits, faces = load_digits(), load_faces()
    models = [CourseModel(1, f"{kind} autoencoder, k = {k}",
                          lambda r=AutoencoderRecipe.default(kind, k), **kw: autoencoder(r, digits, **kw))
              for kind in ("linear", "mlp") for k in LECTURE1_LATENT_SIZES]
    models.append(CourseModel(2, "conv autoencoder (digits)",
                              lambda **kw: denoiser(DenoiserRecipe("none"), digits, **kw), shipped=False))
    models += [CourseModel(2, f"denoising AE, {noise} {level:g} (digits)",
                           lambda r=DenoiserRecipe(noise, level), **kw: denoiser(r, digits, **kw), shipped=False)
               for noise, level in LECTURE2_NOISE_LEVELS.items()]
    models.append(CourseModel(2, "denoising AE, gaussian 0.3 (faces)",
                              lambda **kw: denoiser(DenoiserRecipe("gaussian", 0.3, epochs=100, batch_size=16), faces,
                                                    **kw), shipped=False))
    models += [CourseModel(4, f"tiny transformer ({task})", lambda r=TransformerRecipe(task), **kw:
                           tiny_transformer(r, **kw), shipped=False) for task in ("reversal", "repeat")]
    models += [CourseModel(4, f"seq2seq GRU, attention {attention}",
                           lambda r=Seq2SeqRecipe(attention=attention), **kw: seq2seq(r, **kw))
               for attention in LECTURE4_ATTENTIONS]
    models.append(CourseModel(4, "visual attention (scenes)", lambda **kw: visual_attention(VisualAttentionRecipe(),
                                                                                           **kw)))
    models.append(CourseModel(5, "MiniCLIP", lambda **kw: mini_clip(CLIPRecipe(), **kw)))
    models.append(CourseModel(6, "VAE", lambda **kw: vae(VAERecipe(), **kw)))
    models.append(CourseModel(6, "judge", lambda **kw: shape_judge(JudgeRecipe(), **kw),
                              frozen_parts=("scenes_vae",)))  # it trains on the VAE's reconstructions too
    models.append(CourseModel(6, "latent U-Net", lambda **kw: unet(UNetRecipe(), **kw),
                              frozen_parts=("scenes_mini_clip", "scenes_vae")))
    models.append(CourseModel(6, "pixel U-Net", lambda **kw: unet(UNetRecipe.pixel(), **kw),
                              frozen_parts=("scenes_mini_clip",)))
    models += [CourseModel(7, f"LoRA on the latent U-Net, 'pink' ({label})", lambda r=recipe, **kw: lora_unet(r, **kw),
                           frozen_parts=("scenes_unet_latent", "scenes_mini_clip", "scenes_vae"))
               for label, recipe in (("with prior", LoRARecipe()), ("without prior", LoRARecipe.without_prior()))]
    models.append(CourseModel(7, "TinyLM (LLaVA stage 0, text only)", lambda **kw: tiny_lm(LMRecipe(), **kw)))
    for c in ("linear", "mlp"):
        models.append(CourseModel(7, f"MiniLLaVA {c} connector (stage 1)",
                                  lambda r=LLaVARecipe(connector=c), **kw: aligned_llava(r, **kw),
                                  frozen_parts=("scenes_mini_clip", "scenes_llava_lm")))
        models.append(CourseModel(7, f"MiniLLaVA {c} (stage 2)", lambda r=LLaVARecipe(connector=c), **kw:
                                  mini_llava(r, **kw),
                                  frozen_parts=("scenes_mini_clip", "scenes_llava_lm", f"scenes_llava_connector_{c}")))
    return models


def time_load(model: CourseModel, device: str) -> tuple[float, str]:
    """Seconds to load the model's checkpoint (shipped, else an earlier run's), and where it came from."""
    start = time.perf_counter()
    trained = model.load(device=device, progress=False, directories=(SHIPPED_DIR, CACHE_DIR), save_to=None)
    seconds = time.perf_counter() - start
    return seconds, trained.source


def time_training(model: CourseModel, device: str) -> tuple[float, float]:
    """Seconds to train the model from scratch (nothing saved), and its last training loss."""
    with tempfile.TemporaryDirectory(prefix="bench-train-") as scratch:
        for prefix in model.frozen_parts:
            for path in SHIPPED_DIR.glob(f"{prefix}-*.safetensors"):
                shutil.copy(path, scratch)
        start = time.perf_counter()
        trained = model.load(device=device, progress=False, directories=(Path(scratch),), save_to=None)
        seconds = time.perf_counter() - start
    if trained.source != "trained":
        raise RuntimeError(f"{model.name} was loaded ({trained.source}) instead of trained.")
    return seconds, trained.history[-1]
