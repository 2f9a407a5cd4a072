"""Lecture 7's LLaVA in miniature on captioned scenes: recipes, the three training stages, and the measurements.

    llava = mini_llava(LLaVARecipe(connector="mlp")).model     # shipped checkpoint, else all three stages (~3 min)
    qa = llava_qa("test")                                      # held-out scenes and their questions
    llava.answer(qa.scenes.images[:2], ["What colour is the circle?", "How many objects are there?"])
    answer_accuracy(llava, qa)                                 # {'colour': 0.96, 'shape': 1.0, 'relation': 0.98, ...}
    answer_accuracy(llava, qa, blind=True)                     # the same model, its image tokens zeroed: chance
    answer_accuracy(text_only_llava(), qa, blind=True)         # an LM that never saw an image: chance too

The stages, as in LLaVA (Liu et al. 2023) plus one that LLaVA did not need:
0. `tiny_lm`: language-model pretraining on text only (questions and answers, captions among them, no image).
   LLaVA starts from Vicuna, an LM that already knows English; our TinyLM knows nothing, so it first learns the
   language of the questions and answers, and the answers' prior ('yes' or 'no', some colour). Its text sits
   after an empty image slot (zeros), where image tokens will come later. It is also the blind baseline: an LM
   that never saw an image, answering from the text alone.
1. `aligned_llava`: feature alignment. Only the connector trains, the LM and the vision encoder frozen, on
   'Describe the image.' -> caption: it learns to write image tokens that the frozen LM reads as a description.
2. `mini_llava`: end-to-end instruction tuning on every kind of question; connector and LM train, vision frozen.
`scripts/train_llava_checkpoints.py` makes the shipped checkpoints with these same functions. Stage 1 stores only
the connector, stage 0 only the LM; stage 2 the whole MiniLLaVA.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence

import torch

from course_lib.checkpoints import CACHE_DIR, SHIPPED_DIR, Trained, checkpoint_filename, load_or_train
from course_lib.data.instructions import KINDS, QUESTION_RELATIONS, Instruction, make_instructions
from course_lib.data.shapes import Scenes, make_scenes
from course_lib.data.splits import split_seed
from course_lib.data.tokenizer import Tokenizer, llava_tokenizer
from course_lib.device import get_device, seeded
from course_lib.models.llava import MiniLLaVA, TinyLM, encode_text, llava_loss, set_stage, text_loss
from course_lib.train import train
from course_lib.zoo_clip import CLIPRecipe, mini_clip

Directories = tuple[Path, ...]
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


def _train_on(model: MiniLLaVA, qa: QA, epochs: int, lr: float, recipe: "LLaVARecipe",
              device: str | torch.device | None, progress: bool) -> list[float]:
    """train() on qa's questions; each scene's features are computed once, not every epoch (the encoder is frozen)."""
    ids, question_lengths, lengths = _text(qa, model.tokenizer)
    rows = torch.tensor([q.scene for q in qa.instructions])  # (N,): which scene each question is about
    features = scene_features(model, qa.scenes.images)  # (n_scenes, 16, 66)

    def loss(m: MiniLLaVA, scene: torch.Tensor, *text: torch.Tensor) -> torch.Tensor:
        return llava_loss(m, None, *text, features=features[scene])

    return train(model, (rows, ids, question_lengths, lengths), loss, epochs=epochs, batch_size=recipe.batch_size,
                 lr=lr, device=device, seed=recipe.seed, progress=progress)


# --- stage 0: the language model, on text only ---------------------------------------------------------------

@dataclass(frozen=True)
class LMRecipe:
    """What decides what the TinyLM learns before it ever sees an image (stage 0)."""

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


def tiny_lm(recipe: LMRecipe = LMRecipe(), *, device: str | torch.device | None = None, progress: bool = True,
            directories: Directories = (SHIPPED_DIR, CACHE_DIR), save_to: Path | None = CACHE_DIR) -> Trained:
    """Stage 0: the TinyLM pretrained on question-and-answer text, no image (model, source, loss history)."""
    with seeded(recipe.seed):
        model = TinyLM(len(llava_tokenizer()), recipe.d_model, recipe.n_heads, recipe.n_layers,
                       recipe.max_len).to(get_device(device))

        def fit(m: TinyLM) -> list[float]:
            ids, _, lengths = _text(llava_qa("lm", recipe.n_scenes, data_seed=recipe.data_seed), llava_tokenizer())
            return train(m, (ids, lengths), lambda lm, i, n: text_loss(lm, i, n, recipe.n_image_tokens),
                         epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr, device=device,
                         seed=recipe.seed, progress=progress)

        trained = load_or_train(model, "scenes_llava_lm", _config(LLaVARecipe(lm=recipe), 0), fit,
                                directories=directories, save_to=save_to)
        trained.model.eval()
        return trained


# --- stages 1 and 2: the connector, then everything but the vision encoder ------------------------------------

@dataclass(frozen=True)
class LLaVARecipe:
    """What decides what a MiniLLaVA learns in stages 1 (alignment) and 2 (instruction tuning)."""

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


def build_llava(recipe: LLaVARecipe = LLaVARecipe(), *, device: str | torch.device | None = None,
                progress: bool = True, directories: Directories = (SHIPPED_DIR, CACHE_DIR),
                save_to: Path | None = CACHE_DIR) -> MiniLLaVA:
    """The recipe's MiniLLaVA before stage 1: lecture 5's MiniCLIP image encoder (frozen) and the stage-0 TinyLM."""
    vision = mini_clip(recipe.clip, device=device, progress=progress, directories=directories,
                       save_to=save_to).model.image_encoder
    with seeded(recipe.seed):
        lm = recipe.lm
        model = MiniLLaVA(vision, llava_tokenizer(), recipe.connector, recipe.features, lm.d_model, lm.n_heads,
                          lm.n_layers, lm.max_len).to(get_device(device))
        if model.n_image_tokens != lm.n_image_tokens:
            raise ValueError(f"'{recipe.features}' features make {model.n_image_tokens} image tokens, but the LM was "
                             f"pretrained after an empty slot of {lm.n_image_tokens}: "
                             "set LMRecipe(n_image_tokens=...).")
        pretrained = tiny_lm(lm, device=device, progress=progress, directories=directories, save_to=save_to).model
        model.lm.load_state_dict(pretrained.state_dict())
        return model


def _config(recipe: LLaVARecipe, stage: int) -> dict:
    """What a stage's checkpoint depends on (its file name is a hash of it)."""
    if stage == 0:
        return {"dataset": "shapes", **asdict(recipe.lm)}
    config = {"dataset": "shapes", "stage": stage, **asdict(recipe)}
    if stage == 1:  # what stage 2 alone decides does not change the aligned connector
        for key in ("tune_scenes", "extra_relation", "relations", "tune_epochs", "tune_lr"):
            config.pop(key)
    return config


def checkpoint_files(recipe: LLaVARecipe = LLaVARecipe()) -> list[str]:
    """The file names of the recipe's three checkpoints: stage 0 (LM), stage 1 (connector), stage 2 (MiniLLaVA)."""
    names = ("scenes_llava_lm", f"scenes_llava_connector_{recipe.connector}", f"scenes_llava_{recipe.connector}")
    return [checkpoint_filename(name, _config(recipe, stage)) for stage, name in enumerate(names)]


def _align(model: MiniLLaVA, recipe: LLaVARecipe, device: str | torch.device | None, progress: bool,
           directories: Directories, save_to: Path | None) -> Trained:
    """Stage 1 on `model`, in place: load its connector's checkpoint, else train the connector alone and save it."""

    def fit(connector: torch.nn.Module) -> list[float]:
        set_stage(model, 1)  # only the connector learns; train() sees the whole model, Adam skips frozen weights
        qa = llava_qa("align", recipe.align_scenes, ["describe"], recipe.data_seed)
        return _train_on(model, qa, recipe.align_epochs, recipe.align_lr, recipe, device, progress)

    trained = load_or_train(model.connector, f"scenes_llava_connector_{recipe.connector}", _config(recipe, 1), fit,
                            directories=directories, save_to=save_to)
    return Trained(model, trained.source, trained.history)


def aligned_llava(recipe: LLaVARecipe = LLaVARecipe(), *, device: str | torch.device | None = None,
                  progress: bool = True, directories: Directories = (SHIPPED_DIR, CACHE_DIR),
                  save_to: Path | None = CACHE_DIR) -> Trained:
    """After stage 1: the stage-0 LM and a connector trained alone on captions (its checkpoint holds the connector)."""
    model = build_llava(recipe, device=device, progress=progress, directories=directories, save_to=save_to)
    trained = _align(model, recipe, device, progress, directories, save_to)
    trained.model.requires_grad_(False).eval()
    return trained


def mini_llava(recipe: LLaVARecipe = LLaVARecipe(), *, device: str | torch.device | None = None,
               progress: bool = True, directories: Directories = (SHIPPED_DIR, CACHE_DIR),
               save_to: Path | None = CACHE_DIR) -> Trained:
    """After stage 2: the MiniLLaVA instruction-tuned by `recipe` (model, 'loaded <file>' or 'trained', history)."""
    model = build_llava(recipe, device=device, progress=progress, directories=directories, save_to=save_to)

    def fit(m: MiniLLaVA) -> list[float]:
        _align(m, recipe, device, progress, directories, save_to)  # stage 1 (stage 0 is in build_llava)
        set_stage(m, 2)  # connector and LM learn; the vision encoder stays frozen
        qa = llava_qa("tune", recipe.tune_scenes, data_seed=recipe.data_seed, extra_relation=recipe.extra_relation,
                      relations=recipe.relations)
        return _train_on(m, qa, recipe.tune_epochs, recipe.tune_lr, recipe, device, progress)

    trained = load_or_train(model, f"scenes_llava_{recipe.connector}", _config(recipe, 2), fit,
                            directories=directories, save_to=save_to)
    trained.model.requires_grad_(False).eval()
    return trained


def text_only_llava(recipe: LLaVARecipe = LLaVARecipe(), *, device: str | torch.device | None = None,
                    progress: bool = True, directories: Directories = (SHIPPED_DIR, CACHE_DIR),
                    save_to: Path | None = CACHE_DIR) -> MiniLLaVA:
    """The blind baseline: the stage-0 LM, which never saw an image, behind MiniLLaVA's interface (use blind=True)."""
    model = build_llava(recipe, device=device, progress=progress, directories=directories, save_to=save_to)
    return model.requires_grad_(False).eval()


# --- measurements --------------------------------------------------------------------------------------------

def predict(model: MiniLLaVA, qa: QA, blind: bool = False, batch_size: int = 256) -> list[str]:
    """Greedy answers to every question of `qa`, in order; blind: image tokens zeroed."""
    order = sorted(range(len(qa.instructions)), key=lambda i: qa.instructions[i].kind)  # short answers together
    answers = [""] * len(order)
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        images = None if blind else qa.scenes.images[[qa.instructions[i].scene for i in rows]].to(device)
        for i, a in zip(rows, model.answer(images, [qa.instructions[i].question for i in rows])):
            answers[i] = a
    return answers


def answer_accuracy(model: MiniLLaVA, qa: QA | str = "test", *, blind: bool = False) -> dict[str, float]:
    """{question kind: fraction answered exactly right} on `qa` (default: 500 held-out scenes); blind: no image."""
    qa = llava_qa(qa) if isinstance(qa, str) else qa
    right = defaultdict(list)
    for instruction, answer in zip(qa.instructions, predict(model, qa, blind)):
        right[instruction.kind].append(answer == instruction.answer)
    return {kind: sum(right[kind]) / len(right[kind]) for kind in KINDS if right[kind]}
