"""LLaVA in miniature (lecture 7): a frozen CLIP image encoder, a connector, and a tiny decoder-only language model.

LLaVA's recipe (Liu et al. 2023, 'Visual Instruction Tuning'), in miniature:

    Z_v = vision_encoder(X_v)               # (B, 16, 66)  frozen: MiniCLIP's CNN, a token per cell of its 4x4 map
    H_v = connector(Z_v)                    # (B, 16, d)   'linear' W Z_v (LLaVA), 'mlp' (LLaVA-1.5)
    H_q = lm.embed(question + answer)       # (B, L, d)
    logits = lm([H_v; H_q])                 # (B, 16 + L, V)  the image tokens are simply the first 16 'words'
    loss = next-token cross-entropy on the answer tokens only

Which visual features: the 'patch' features, the CNN's last feature map (64 channels on a 4x4 grid for 32x32
images) read as 16 tokens, as LLaVA reads CLIP ViT's grid of patch features. Each token describes one region, so
the LM's attention can find 'the square' and read off its colour, and compare where it is with where 'the
triangle' is. Two small changes make them work here: each cell is layer-normalised (MiniCLIP's map has values of
about 0.07, word embeddings about 1) and gets its (x, y) in [-1, 1] as two more channels, because a CNN's cell
does not know where it is, while a ViT's patch feature does (its position embedding). The 'pooled' feature (the
encoder's one 128-d vector, what CLIP compares with captions) squeezes a scene into one token; it is kept for
comparison: trained by the same recipe (linear connector) it answers relation questions at chance (0.50 against
1.00 with patches), shapes 0.86 (1.00) and describes 0.74 (0.97) of 500 held-out scenes. With no image (`images=None`: the blind baseline, and text-only pretraining) the image tokens are
zeros, so the text always sits at the same positions.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.data.instructions import words
from course_lib.data.tokenizer import EOS, PAD, Tokenizer
from course_lib.models.clip import ImageEncoder
from course_lib.models.transformer import TransformerEncoder

CONNECTORS = ("linear", "mlp")
FEATURES = ("patch", "pooled")
STAGES = {0: ("lm",), 1: ("connector",), 2: ("connector", "lm")}  # what each training stage updates


class TinyLM(TransformerEncoder):
    """A decoder-only LM: the course's transformer stack, causal, fed embeddings (words or image tokens) + an LM head.

    It reads embeddings, not ids, so that image tokens can stand among the words: embed ids with `lm.embed` first.
    """

    def __init__(self, vocab_size: int, d_model: int = 64, n_heads: int = 4, n_layers: int = 2, max_len: int = 48):
        super().__init__(vocab_size, d_model, n_heads, n_layers, max_len, causal=True)
        self.vocab_size = vocab_size
        self.head = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Input embeddings (B, T, d), token embeddings or image tokens -> next-token logits (B, T, V)."""
        if not embeddings.is_floating_point():
            raise ValueError("TinyLM reads embeddings (batch, length, d_model): embed token ids with lm.embed first.")
        hidden, _ = super().forward(embeddings)  # position t sees 0..t
        return self.head(hidden)  # (B, T, V)


class Connector(nn.Sequential):
    """Visual features (B, N, d_vision) -> image tokens (B, N, d_model): 'linear' (LLaVA) or 'mlp' (LLaVA-1.5)."""

    def __init__(self, in_dim: int, out_dim: int, kind: str = "linear"):
        if kind not in CONNECTORS:
            raise ValueError(f"Unknown connector {kind!r}: choose one of {CONNECTORS}.")
        layers = [nn.Linear(in_dim, out_dim)] if kind == "linear" else \
            [nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim)]
        super().__init__(*layers)
        self.kind = kind


def assemble_prompt(image_tokens: torch.Tensor, text_embeddings: torch.Tensor, question_lengths: torch.Tensor,
                    lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[image tokens][question tokens][answer tokens], and a loss mask True exactly on the answer tokens.

    image_tokens (B, N, d); text_embeddings (B, L, d), each row its question then its answer, then padding;
    question_lengths, lengths (B,): tokens in the question, and in question + answer. -> (B, N + L, d), (B, N + L).
    """
    sequence = torch.cat([image_tokens, text_embeddings], dim=1)  # (B, N + L, d)
    position = torch.arange(text_embeddings.shape[1], device=lengths.device)  # (L,)
    is_answer = (position >= question_lengths[:, None]) & (position < lengths[:, None])  # (B, L)
    no_loss_on_image = torch.zeros(image_tokens.shape[:2], dtype=torch.bool, device=lengths.device)  # (B, N)
    return sequence, torch.cat([no_loss_on_image, is_answer], dim=1)


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of position t's logits (B, T, V) against token t+1 of targets (B, T), where loss_mask[t+1]."""
    predicts = loss_mask[:, 1:]  # (B, T-1): is the token that position t predicts one we train on?
    return F.cross_entropy(logits[:, :-1][predicts], targets[:, 1:][predicts])


def encode_text(tokenizer: Tokenizer, questions: Sequence[str], answers: Sequence[str] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Questions (and answers + <eos>) -> ids (B, L) right-padded with <pad>, question_lengths (B,), lengths (B,)."""
    if isinstance(questions, str) or len(questions) == 0:
        raise ValueError("Expected a non-empty list of questions (for one question, pass [question]).")
    if answers is not None and (isinstance(answers, str) or len(answers) != len(questions)):
        raise ValueError(f"Expected one answer per question, got {len(questions)} questions and answers {answers!r}.")
    rows = []
    for i, question in enumerate(questions):
        q = tokenizer.encode(words(question), eos=False)
        rows.append((q, [] if answers is None else tokenizer.encode(words(answers[i]), eos=True)))
    lengths = torch.tensor([len(q) + len(a) for q, a in rows])
    ids = torch.full((len(rows), int(lengths.max())), PAD, dtype=torch.long)
    for i, (q, a) in enumerate(rows):
        ids[i, :len(q) + len(a)] = torch.tensor(q + a, dtype=torch.long)
    return ids, torch.tensor([len(q) for q, _ in rows]), lengths


class MiniLLaVA(nn.Module):
    """Frozen image encoder -> connector -> image tokens, prepended to the text tokens of a TinyLM.

    The image encoder given is frozen in place (eval mode, no gradients) and shared, not copied: every stage and
    the lecture's CLIP use the same one. Pass a copy if you still want to train it elsewhere."""

    def __init__(self, vision: ImageEncoder, tokenizer: Tokenizer, connector: str = "linear", features: str = "patch",
                 d_model: int = 64, n_heads: int = 4, n_layers: int = 2, max_len: int = 48):
        super().__init__()
        if features not in FEATURES:
            raise ValueError(f"Unknown visual features {features!r}: choose one of {FEATURES}.")
        self.vision = vision.eval().requires_grad_(False)  # CLIP's half, frozen in every stage
        self.tokenizer, self.features = tokenizer, features
        grid = vision.image_size // 8  # three 2x2 poolings: a 4x4 map for 32x32 images
        channels = vision.feature_channels
        xy = torch.linspace(-1.0, 1.0, grid)
        cell_xy = torch.stack(torch.meshgrid(xy, xy, indexing="xy"), dim=-1).reshape(grid * grid, 2)  # (16, 2): x, y
        self.register_buffer("cell_xy", cell_xy, persistent=False)
        self.n_image_tokens, vision_dim = (grid * grid, channels + 2) if features == "patch" else \
            (1, vision.fc.out_features)
        self.connector = Connector(vision_dim, d_model, connector)
        self.lm = TinyLM(len(tokenizer), d_model, n_heads, n_layers, max_len)

    def train(self, mode: bool = True) -> "MiniLLaVA":
        """Like nn.Module.train, but the frozen vision encoder always stays in eval mode."""
        super().train(mode)
        self.vision.eval()
        return self

    @torch.no_grad()
    def visual_features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, S, S) -> frozen features (B, N, d_vision): 16 cells of 64 channels + (x, y), or 1 vector."""
        c, s = self.vision.in_channels, self.vision.image_size
        if images.ndim != 4 or images.shape[1:] != (c, s, s):
            raise ValueError(f"Expected images (batch, {c}, {s}, {s}), got {tuple(images.shape)}.")
        if self.features == "pooled":
            pooled = self.vision(images)[:, None, :]  # (B, 1, 128)
            return F.layer_norm(pooled, pooled.shape[-1:])
        cells = self.vision.feature_map(images).flatten(2).transpose(1, 2)  # (B, 64, 4, 4) -> (B, 16, 64), row by row
        cells = F.layer_norm(cells, cells.shape[-1:])  # CLIP's map is tiny (std 0.07): give each cell a word's scale
        return torch.cat([cells, self.cell_xy.expand(len(images), -1, -1)], dim=-1)  # (B, 16, 66): what, and where

    def image_tokens(self, images: torch.Tensor | None, batch: int, features: torch.Tensor | None = None
                     ) -> torch.Tensor:
        """(B, N, d_model): the connector's image tokens, or zeros for no image (images=None and features=None).

        `features` are visual_features(images) computed beforehand: the encoder is frozen, so they never change.
        """
        if features is None and images is None:
            return torch.zeros(batch, self.n_image_tokens, self.lm.d_model, device=self.lm.head.weight.device)
        features = self.visual_features(images) if features is None else features  # (B, N, d_vision)
        if features.ndim != 3 or features.shape[1:] != (self.n_image_tokens, self.connector[0].in_features):
            raise ValueError(f"Expected visual features (batch, {self.n_image_tokens}, "
                             f"{self.connector[0].in_features}), got {tuple(features.shape)}.")
        if len(features) != batch:
            raise ValueError(f"Expected one image per question, got {len(features)} images and {batch} questions.")
        return self.connector(features)

    def forward(self, images: torch.Tensor | None, ids: torch.Tensor, question_lengths: torch.Tensor,
                lengths: torch.Tensor, *, features: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, S, S) or None, text ids (B, L) -> logits (B, N + L, V) and the answer-token mask (B, N + L)."""
        if ids.ndim != 2 or ids.dtype != torch.long:
            raise ValueError(f"Expected token ids (batch, length) of dtype int64, got {tuple(ids.shape)} {ids.dtype}.")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.lm.vocab_size):
            raise ValueError(f"Token ids must lie in 0..{self.lm.vocab_size - 1}: is it this model's tokenizer?")
        if question_lengths.shape != ids.shape[:1] or lengths.shape != ids.shape[:1]:
            raise ValueError(f"Expected question_lengths and lengths of shape ({len(ids)},), "
                             f"got {tuple(question_lengths.shape)} and {tuple(lengths.shape)}.")
        if len(ids) and ((question_lengths < 0) | (question_lengths > lengths) | (lengths > ids.shape[1])).any():
            raise ValueError(f"Need 0 <= question_lengths <= lengths <= {ids.shape[1]} (the padded length).")
        sequence, loss_mask = assemble_prompt(self.image_tokens(images, len(ids), features), self.lm.embed(ids),
                                              question_lengths, lengths)
        return self.lm(sequence), loss_mask

    @torch.no_grad()
    def answer(self, images: torch.Tensor | None, questions: Sequence[str], max_new_tokens: int = 12) -> list[str]:
        """Greedy answers to one question per image (images=None: blind, no image), up to <eos>."""
        was_training = self.training
        self.eval()
        device = self.lm.head.weight.device
        question_ids, _, lengths = encode_text(self.tokenizer, questions)  # (B, Lq), lengths = question lengths
        if self.n_image_tokens + question_ids.shape[1] + max_new_tokens > self.lm.max_len:
            raise ValueError(f"{self.n_image_tokens} image tokens + {question_ids.shape[1]} question tokens + "
                             f"{max_new_tokens} new tokens do not fit in max_len={self.lm.max_len}.")
        batch, rows = len(question_ids), torch.arange(len(question_ids), device=device)
        ids = F.pad(question_ids, (0, max_new_tokens), value=PAD).to(device)  # (B, Lq + new): room to write
        lengths, start = lengths.to(device), lengths.clone().to(device)
        image_tokens = self.image_tokens(None if images is None else images.to(device), batch)  # (B, N, d)
        done = torch.zeros(batch, dtype=torch.bool, device=device)
        for _ in range(max_new_tokens):
            text = self.lm.embed(ids[:, :int(lengths.max())])  # right padding: causal, so never seen by real tokens
            logits = self.lm(torch.cat([image_tokens, text], dim=1))  # (B, N + L, V)
            next_id = logits[rows, self.n_image_tokens + lengths - 1].argmax(-1)  # (B,): after each row's last token
            ids[rows[~done], lengths[~done]] = next_id[~done]
            lengths = lengths + (~done).long()
            done |= next_id == EOS
            if done.all():
                break
        self.train(was_training)
        return [self.tokenizer.decode(ids[b, start[b]:lengths[b]].tolist()) for b in range(batch)]


def set_stage(model: MiniLLaVA, stage: int) -> MiniLLaVA:
    """Freeze all but what `stage` trains: 0 the LM (text only), 1 the connector (alignment), 2 connector + LM."""
    if stage not in STAGES:
        raise ValueError(f"Unknown stage {stage!r}: 0 (LM pretraining), 1 (feature alignment) "
                         "or 2 (instruction tuning).")
    model.requires_grad_(False)
    for part in STAGES[stage]:
        getattr(model, part).requires_grad_(True)
    return model


def llava_loss(model: MiniLLaVA, images: torch.Tensor | None, ids: torch.Tensor, question_lengths: torch.Tensor,
               lengths: torch.Tensor, *, features: torch.Tensor | None = None) -> torch.Tensor:
    """Next-token cross-entropy on the answer tokens of a batch of (image, question, answer): a loss_fn for train()."""
    logits, loss_mask = model(images, ids, question_lengths, lengths, features=features)
    targets = F.pad(ids, (model.n_image_tokens, 0), value=PAD)  # (B, N + L): image positions have no token
    return next_token_loss(logits, targets, loss_mask)


def text_loss(lm: TinyLM, ids: torch.Tensor, lengths: torch.Tensor, n_image_tokens: int = 16) -> torch.Tensor:
    """Stage 0: next-token cross-entropy on every text token, after an empty image slot (zeros) of n_image_tokens."""
    empty = torch.zeros(len(ids), n_image_tokens, lm.d_model, device=ids.device)  # (B, N, d): no image yet
    sequence, loss_mask = assemble_prompt(empty, lm.embed(ids), torch.zeros_like(lengths), lengths)  # all 'answer'
    return next_token_loss(lm(sequence), F.pad(ids, (n_image_tokens, 0), value=PAD), loss_mask)
