"""Every trained model of the course: a recipe (what decides the weights), loaded through one store.

    from course_lib.recipes import CLIPRecipe, Store
    store = Store.for_notebook(USE_CHECKPOINTS, DEVICE)   # the same line in every lecture
    clip, source, history = store.load(CLIPRecipe())      # shipped checkpoint, else cached, else trained

Modules: `base` (Recipe: build, fit, the checkpoint key), `store` (Store, Trained, Source), `registry` (every
recipe of the course by name), and one module per topic: `autoencoders` and `restoration` (lectures 1-2),
`sequences` and `visual_attention` (4), `clip` (5), `diffusion` (6), `lora` and `llava` (7), `vision` (8).
From the shell:

    python -m course_lib.recipes list            # every recipe and its checkpoint's state
    python -m course_lib.recipes train NAME      # rebuild one (shipped ones into course_lib/weights/)
"""

from course_lib.recipes.autoencoders import AutoencoderRecipe, DenoiserRecipe
from course_lib.recipes.base import Recipe
from course_lib.recipes.clip import CLIPRecipe
from course_lib.recipes.diffusion import JudgeRecipe, UNetRecipe, VAERecipe, mini_stable_diffusion
from course_lib.recipes.llava import AlignRecipe, LLaVARecipe, LMRecipe, text_only_llava
from course_lib.recipes.lora import LoRARecipe, lora_stable_diffusion
from course_lib.recipes.restoration import ColouriserRecipe, SuperResolutionRecipe
from course_lib.recipes.sequences import Seq2SeqRecipe, TransformerRecipe
from course_lib.recipes.store import Source, Store, Trained
from course_lib.recipes.vision import CNNRecipe, ViTRecipe
from course_lib.recipes.visual_attention import VisualAttentionRecipe

__all__ = ["AlignRecipe", "AutoencoderRecipe", "CLIPRecipe", "CNNRecipe", "ColouriserRecipe", "DenoiserRecipe",
           "JudgeRecipe", "LLaVARecipe", "LMRecipe", "LoRARecipe", "Recipe", "Seq2SeqRecipe", "Source", "Store",
           "SuperResolutionRecipe", "Trained", "TransformerRecipe",
           "UNetRecipe", "VAERecipe", "ViTRecipe", "VisualAttentionRecipe", "lora_stable_diffusion", "mini_stable_diffusion",
           "text_only_llava"]
