"""Lecture 7's LLaVA in miniature on captioned scenes: recipes, the three training stages, and the measurements.

    llava = store.load(LLaVARecipe(connector="mlp")).model     # shipped checkpoint, else all three stages (~3 min)
    qa = llava_qa("test")                                      # held-out scenes and their questions
    llava.answer(qa.scenes.images[:2], ["What colour is the circle?", "How many objects are there?"])
    answer_accuracy(llava, qa)                                 # {'colour': 0.96, 'shape': 1.0, 'relation': 0.98, ...}
    answer_accuracy(llava, qa, blind=True)                     # the same model, its image tokens zeroed: chance
    answer_accuracy(text_only_llava(LLaVARecipe(), store), qa, blind=True)  # an LM that never saw an image: chance too

The stages, as in LLaVA (Liu et al. 2023) plus one that LLaVA did not need:
0. `LMRecipe`: language-model pretraining on text only (questions and answers, captions among them, no image).
   LLaVA starts from Vicuna, an LM that already knows English; our TinyLM knows nothing, so it first learns the
   language of the questions and answers, and the answers' prior ('yes' or 'no', some colour). Its text sits
   after an empty image slot (zeros), where image tokens will come later. It is also the blind baseline: an LM
   that never saw an image, answering from the text alone.
1. `AlignRecipe`: feature alignment. Only the connector trains, the LM and the vision encoder frozen, on
   'Describe the image.' -> caption: it learns to write image tokens that the frozen LM reads as a description.
2. `LLaVARecipe`: end-to-end instruction tuning on every kind of question; connector and LM train, vision frozen.
Stage 0's checkpoint holds the LM, stage 1's only the connector, stage 2's the whole MiniLLaVA. What the answers
are scored with is in course_lib.llava_metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import torch
from torch import nn

from course_lib.data.instructions import KINDS, QUESTION_RELATIONS, Instruction, make_instructions
from course_lib.data.shapes import Scenes, make_scenes
from course_lib.data.splits import split_seed
from course_lib.data.tokenizer import Tokenizer, llava_tokenizer
from course_lib.models.llava import MiniLLaVA, TinyLM, encode_text, llava_loss, set_stage, text_loss
from course_lib.recipes.base import Recipe
from course_lib.recipes.clip import CLIPRecipe
from course_lib.train import train

SPLIT_SEEDS = {"lm": 2, "align": 1, "tune": 0}  # added to data_seed: every stage reads other scenes; 'test' 1000


class QA(NamedTuple):
    """Scenes and the questions asked about them (each Instruction's `scene` indexes `scenes`)."""

    scenes: Scenes
    instructions: list[Instruction]


def llava_qa(split: str = "test", n_scenes: int | None = None, kinds: Sequence[str] = KINDS, data_seed: int = 0,
             extra_relation: int = 0, relations: Sequence[str] = QUESTION_RELATIONS) -> QA:
    """Scenes of a split ('lm', 'align', 'tune' or the held-out 'test', 500 scenes) and their questions of `kinds`.

    extra_relation: that many more relation questions per two-object scene (another coin each time);
    relations: the words relation questions use (see course_lib.data.instructions).
    """
    seed = split_seed(data_seed, split, SPLIT_SEEDS)
    scenes = make_scenes(500 if n_scenes is None else n_scenes, seed=seed)
    instructions = make_instructions(scenes, seed, kinds, relations)
    if "relation" in kinds:
        for extra in range(extra_relation):
            instructions += make_instructions(scenes, seed + 100 + extra, ["relation"], relations)
    return QA(scenes, instructions)


def _text(qa: QA, tokenizer: Tokenizer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ids (N, L), question_lengths (N,), lengths (N,) of qa's questions and answers."""
    return encode_text(tokenizer, [q.question for q in qa.instructions], [q.answer for q in qa.instructions])


def qa_tensors(qa: QA, tokenizer: Tokenizer) -> tuple[torch.Tensor, ...]:
    """(images (N, 3, S, S), ids (N, L), question_lengths (N,), lengths (N,)): one row per question, for train()."""
    ids, question_lengths, lengths = _text(qa, tokenizer)
    rows = torch.tensor([q.scene for q in qa.instructions])
    return qa.scenes.images[rows], ids, question_lengths, lengths


@torch.no_grad()
def scene_features(model: MiniLLaVA, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The frozen encoder's visual features (N, n_image_tokens, d_vision) of N images, on the model's device."""
    device = next(model.parameters()).device
    return torch.cat([model.visual_features(images[i:i + batch_size].to(device))
                      for i in range(0, len(images), batch_size)])


# --- stage 0: the language model, on text only ---------------------------------------------------------------

@dataclass(frozen=True)
class LMRecipe(Recipe):
    """What decides what the TinyLM learns before it ever sees an image (stage 0)."""

    family = "scenes_llava_lm"
    model_class = TinyLM

    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    max_len: int = 48
    n_image_tokens: int = 16  # the empty image slot its text follows (16 patch tokens; 1 for 'pooled' features)
    n_scenes: int = 5000  # their questions and answers, about 4.3 per scene, as text
    epochs: int = 2
    lr: float = 1e-3
    batch_size: int = 64
    data_seed: int = 0
    seed: int = 0

    def build(self, store) -> nn.Module:
        return TinyLM(len(llava_tokenizer()), self.d_model, self.n_heads, self.n_layers, self.max_len)

    def fit(self, model: TinyLM, store) -> list[float]:
        ids, _, lengths = _text(llava_qa("lm", self.n_scenes, data_seed=self.data_seed), llava_tokenizer())
        return train(model, (ids, lengths), lambda lm, i, n: text_loss(lm, i, n, self.n_image_tokens),
                     epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, device=store.device,
                     seed=self.seed, progress=store.progress)


# --- stages 1 and 2: the connector, then everything but the vision encoder ------------------------------------

def build_llava(recipe: "AlignRecipe | LLaVARecipe", store) -> MiniLLaVA:
    """A MiniLLaVA before stage 1: lecture 5's MiniCLIP image encoder (frozen), the stage-0 TinyLM, a new connector.

    Called inside the store's `seeded(recipe.seed)`: the connector's initial weights are part of the recipe.
    """
    vision = store.load(recipe.clip).model.image_encoder
    lm = recipe.lm
    model = MiniLLaVA(vision, llava_tokenizer(), recipe.connector, recipe.features, lm.d_model, lm.n_heads,
                      lm.n_layers, lm.max_len).to(store.device)
    if model.n_image_tokens != lm.n_image_tokens:
        raise ValueError(f"'{recipe.features}' features make {model.n_image_tokens} image tokens, but the LM was "
                         f"pretrained after an empty slot of {lm.n_image_tokens}: set LMRecipe(n_image_tokens=...).")
    model.lm.load_state_dict(store.load(lm).model.state_dict())
    return model


@dataclass(frozen=True)
class AlignRecipe(Recipe):
    """Stage 1: what decides what the connector learns alone, on 'Describe the image.' (LLaVARecipe.alignment)."""

    family = "scenes_llava_connector"
    model_class = MiniLLaVA  # the checkpoint holds only its connector

    connector: str = "mlp"
    features: str = "patch"
    clip: CLIPRecipe = field(default_factory=CLIPRecipe)
    lm: LMRecipe = field(default_factory=LMRecipe)
    align_scenes: int = 5000
    align_epochs: int = 5
    align_lr: float = 1e-2
    batch_size: int = 64
    data_seed: int = 0
    seed: int = 0

    @property
    def stem(self) -> str:
        return f"scenes_llava_connector_{self.connector}"

    def build(self, store) -> nn.Module:
        return build_llava(self, store)

    def weights(self, model: MiniLLaVA) -> nn.Module:
        return model.connector

    def fit(self, model: MiniLLaVA, store) -> list[float]:
        set_stage(model, 1)  # only the connector learns; train() sees the whole model, Adam skips frozen weights
        qa = llava_qa("align", self.align_scenes, ["describe"], self.data_seed)
        return _train_on(model, qa, self.align_epochs, self.align_lr, self.batch_size, self.seed, store)

    def finish(self, model: MiniLLaVA) -> MiniLLaVA:
        return model.requires_grad_(False).eval()


@dataclass(frozen=True)
class LLaVARecipe(Recipe):
    """What decides what a MiniLLaVA learns in stages 1 (alignment) and 2 (instruction tuning)."""

    family = "scenes_llava"
    model_class = MiniLLaVA

    connector: str = "mlp"  # 'linear' (LLaVA) or 'mlp' (LLaVA-1.5)
    features: str = "patch"  # 16 grid-cell tokens, or 'pooled' (one token; needs LMRecipe(n_image_tokens=1))
    clip: CLIPRecipe = field(default_factory=CLIPRecipe)  # whose frozen image encoder
    lm: LMRecipe = field(default_factory=LMRecipe)  # stage 0
    align_scenes: int = 5000  # stage 1: their 'Describe the image.' questions (one or two objects)
    align_epochs: int = 5
    align_lr: float = 1e-2
    tune_scenes: int = 5000  # stage 2: every kind of question about them
    extra_relation: int = 3  # relation questions are few (two-object scenes only) and learnt last: 4 per scene
    relations: tuple[str, ...] = QUESTION_RELATIONS  # RELATIONS asks 'right of' and 'below' too: much harder
    tune_epochs: int = 12
    tune_lr: float = 1e-3
    batch_size: int = 64
    data_seed: int = 0
    seed: int = 0

    @property
    def stem(self) -> str:
        return f"scenes_llava_{self.connector}"

    @property
    def alignment(self) -> AlignRecipe:
        """Stage 1's recipe: what stage 2 alone decides (tune_*, extra_relation, relations) does not change it."""
        return AlignRecipe(self.connector, self.features, self.clip, self.lm, self.align_scenes, self.align_epochs,
                           self.align_lr, self.batch_size, self.data_seed, self.seed)

    def build(self, store) -> nn.Module:
        return build_llava(self, store)

    def fit(self, model: MiniLLaVA, store) -> list[float]:
        aligned = store.load(self.alignment).model  # stage 1 (stage 0 is in build_llava)
        model.connector.load_state_dict(aligned.connector.state_dict())
        set_stage(model, 2)  # connector and LM learn; the vision encoder stays frozen
        qa = llava_qa("tune", self.tune_scenes, data_seed=self.data_seed, extra_relation=self.extra_relation,
                      relations=self.relations)
        return _train_on(model, qa, self.tune_epochs, self.tune_lr, self.batch_size, self.seed, store)

    def finish(self, model: MiniLLaVA) -> MiniLLaVA:
        return model.requires_grad_(False).eval()


def text_only_llava(recipe: LLaVARecipe, store) -> MiniLLaVA:
    """The blind baseline: the stage-0 LM, which never saw an image, behind MiniLLaVA's interface (use blind=True)."""
    return store.untrained(recipe).requires_grad_(False)


def _train_on(model: MiniLLaVA, qa: QA, epochs: int, lr: float, batch_size: int, seed: int, store) -> list[float]:
    """train() on qa's questions; each scene's features are computed once, not every epoch (the encoder is frozen)."""
    ids, question_lengths, lengths = _text(qa, model.tokenizer)
    rows = torch.tensor([q.scene for q in qa.instructions])  # (N,): which scene each question is about
    features = scene_features(model, qa.scenes.images)  # (n_scenes, 16, 66)

    def loss(m: MiniLLaVA, scene: torch.Tensor, *text: torch.Tensor) -> torch.Tensor:
        return llava_loss(m, None, *text, features=features[scene])

    return train(model, (rows, ids, question_lengths, lengths), loss, epochs=epochs, batch_size=batch_size, lr=lr,
                 device=store.device, seed=seed, progress=store.progress)
