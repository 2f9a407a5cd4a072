"""LoRA, low-rank adaptation (Hu et al. 2021): fine-tune a big frozen layer through two thin matrices.

A frozen nn.Linear computes y = W x + b with W (out, in). LoRA learns a change of W of rank r << min(out, in):

    y = W x + b + (alpha / r) * B A x        A (r, in): random (as nn.Linear's own init), B (out, r): zeros

so at the start B A = 0 and the model is exactly the pretrained one; training moves only A and B, which hold
r * (in + out) numbers instead of out * in. After training, B A can be added into W once (`merge`): the model
is then as fast as before, with no trace of LoRA at inference. The names and the maths follow Hugging Face's
peft (`LoraConfig(r, lora_alpha, target_modules)`), which tests/test_lora.py checks this file against.

    model = MyNet()
    names = add_lora(model, ["k_proj", "v_proj"], r=4, alpha=4)   # every nn.Linear whose name ends so; rest frozen
    trainable, frozen = count_parameters(model)                     # LoRA's numbers vs the base model's
    ... train as usual: only the LoRA parameters have requires_grad ...
    save_file(lora_state_dict(model), "adapter.safetensors")       # a few kB: only A and B
    merge_lora(model)                                                # W += (alpha / r) B A in every LoRA layer
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update: base(x) + (alpha / r) * B(A(dropout(x)))."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}.")
        if not isinstance(r, int) or r <= 0:
            raise ValueError(f"The rank r must be a positive integer, got {r!r}.")
        if alpha <= 0:
            raise ValueError(f"alpha must be positive (the update is scaled by alpha / r), got {alpha!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}.")
        self.base = base.requires_grad_(False)  # the pretrained layer never changes in training
        self.r, self.alpha, self.scale = r, alpha, alpha / r
        like = dict(device=base.weight.device, dtype=base.weight.dtype)
        self.lora_A = nn.Linear(base.in_features, r, bias=False, **like)  # weight (r, in): x -> r numbers
        self.lora_B = nn.Linear(r, base.out_features, bias=False, **like)  # weight (out, r): r numbers -> y
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """A as nn.Linear's default (kaiming_uniform, a=sqrt(5)), B = 0: the update B A starts at exactly zero."""
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def delta_weight(self) -> torch.Tensor:
        """(alpha / r) * B @ A, shape (out, in): what LoRA adds to the base layer's weight."""
        return self.scale * self.lora_B.weight @ self.lora_A.weight  # (out, r) @ (r, in) -> (out, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in) -> (..., out): the base layer's output plus the scaled low-rank update."""
        if self.merged:
            return self.base(x)  # the update already sits inside base.weight
        return self.base(x) + self.scale * self.lora_B(self.lora_A(self.dropout(x)))  # (..., out)

    @torch.no_grad()
    def merge(self) -> None:
        """Add the update into the base weight, W <- W + (alpha / r) B A; forward then uses only the base layer."""
        if self.merged:
            raise ValueError("This LoRA layer is already merged: merging twice would add B A twice (unmerge first).")
        self.base.weight += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update out of the base weight again, W <- W - (alpha / r) B A (equal up to rounding)."""
        if not self.merged:
            raise ValueError("This LoRA layer is not merged: there is nothing to unmerge.")
        self.base.weight -= self.delta_weight()
        self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scale={self.scale:g}, merged={self.merged}"


def _matches(name: str, targets: Sequence[str]) -> bool:
    """peft's rule for a list of target_modules: the module's full name is a target or ends in '.' + a target."""
    return any(name == target or name.endswith(f".{target}") for target in targets)


def add_lora(model: nn.Module, target_modules: Sequence[str], r: int, alpha: float,
             dropout: float = 0.0) -> list[str]:
    """Wrap every nn.Linear whose name ends in a target in a LoRALinear; freeze all else. Returns the wrapped names."""
    if isinstance(target_modules, str) or not target_modules:
        raise ValueError(f"target_modules must be a non-empty list of names, e.g. ['k_proj', 'v_proj'], "
                         f"got {target_modules!r}.")
    if not isinstance(r, int) or r <= 0:
        raise ValueError(f"The rank r must be a positive integer, got {r!r}.")
    named = dict(model.named_modules())
    chosen = [name for name in named if name and _matches(name, target_modules)]
    if not chosen:
        linear = sorted({name.rsplit(".", 1)[-1] for name, m in named.items() if isinstance(m, nn.Linear)})
        raise ValueError(f"No module of {type(model).__name__} matches target_modules={list(target_modules)}; "
                         f"its nn.Linear layers are called: {linear}.")
    for name in chosen:
        if isinstance(named[name], LoRALinear):
            raise ValueError(f"{name!r} already has LoRA: add_lora was called twice on this model.")
        if type(named[name]) is not nn.Linear:
            raise ValueError(f"LoRA here wraps nn.Linear layers only, but {name!r} is {type(named[name]).__name__}: "
                            "choose target_modules that name linear layers.")
    model.requires_grad_(False)  # everything frozen ...
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(named[name], r, alpha, dropout))  # ... but the new A and B
    return chosen


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """{name: layer} of every LoRALinear in `model`, in module order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def _require_lora(model: nn.Module) -> dict[str, LoRALinear]:
    layers = lora_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no LoRA layers: call add_lora(model, ...) first.")
    return layers


def lora_adapter(model: nn.Module) -> nn.Module:
    """The LoRA matrices alone, as a module that shares (not copies) them with `model`: what an adapter file holds.

    Its state_dict has the same keys as the model's LoRA weights ('attn.k_proj.lora_A.weight', ...), so saving it
    with course_lib.checkpoints ships only A and B, and loading a checkpoint into it loads them into `model`.
    """
    adapter = nn.Module()
    for name, layer in _require_lora(model).items():
        node = adapter
        for part in name.split("."):  # rebuild the path 'down_attn.0.attn.k_proj' out of empty containers
            if part not in node._modules:
                node.add_module(part, nn.Module())
            node = node._modules[part]
        node.lora_A, node.lora_B = layer.lora_A, layer.lora_B
    return adapter


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the LoRA weights, e.g. {'...k_proj.lora_A.weight': (r, in), '...k_proj.lora_B.weight': (out, r)}."""
    return {key: value.detach().clone() for key, value in lora_adapter(model).state_dict().items()}


@torch.no_grad()
def load_lora_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy LoRA weights saved by lora_state_dict into a model that add_lora prepared the same way."""
    layers = _require_lora(model)
    if any(layer.merged for layer in layers.values()):
        raise ValueError("Unmerge the LoRA layers before loading new weights (unmerge_lora(model)).")
    expected = lora_state_dict(model)
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"These LoRA weights do not fit the model: missing {missing[:4]}, unexpected {unexpected[:4]} "
                         "(same target_modules, same model?).")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise ValueError(f"{key}: the model's LoRA weight is {tuple(expected[key].shape)}, the saved one "
                             f"{tuple(value.shape)} (same r?).")
    for key, value in state.items():
        name, part, _ = key.rsplit(".", 2)
        getattr(layers[name], part).weight.copy_(value)


def merge_lora(model: nn.Module) -> None:
    """Merge every LoRA layer of `model` into its base weight (see LoRALinear.merge)."""
    for layer in _require_lora(model).values():
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    """Undo merge_lora: take every LoRA update out of its base weight again."""
    for layer in _require_lora(model).values():
        layer.unmerge()


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, frozen): how many numbers training changes, and how many it leaves alone."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters()) - trainable
