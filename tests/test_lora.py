"""course_lib.models.lora: LoRA's maths, checked against Hugging Face's peft on the same layers and weights.

The checks are functions of the LoRA class, so the same checks also run on the classic mistakes (B not zero at
the start, the alpha / r scale forgotten, a merge without the scale) and must fail on each of them.
"""

import copy

import pytest
import torch
from torch import nn

from course_lib.models.attention import MultiHeadAttention
from course_lib.checkpoints import load_checkpoint, save_checkpoint
from course_lib.models.lora import (LoRALinear, add_lora, count_parameters, load_lora_state_dict, lora_adapter,
                                    lora_layers, lora_state_dict, merge_lora, unmerge_lora)

TARGETS = ["k_proj", "v_proj"]


class Block(nn.Module):
    """A small attention block with the projection names of the course's U-Net (and of most transformers)."""

    def __init__(self, d: int = 16, d_context: int = 12):
        super().__init__()
        self.attn = MultiHeadAttention(d, 4, kdim=d_context, vdim=d_context)
        self.mlp = nn.Sequential(nn.Linear(d, 32), nn.GELU(), nn.Linear(32, d))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        h = x + self.attn(x, context, context)[0]
        return h + self.mlp(h)


def inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, 5, 16, generator=g), torch.randn(3, 7, 12, generator=g)


def randomise(layer: nn.Module, seed: int) -> None:
    """Fill A and B (ours, or peft's lora_A/lora_B ModuleDicts) with random numbers, as after some training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for part in (layer.lora_A, layer.lora_B):
            weight = part["default"].weight if isinstance(part, nn.ModuleDict) else part.weight
            weight.copy_(torch.randn(weight.shape, generator=g) * 0.3)


def with_lora(cls: type = LoRALinear, r: int = 2, alpha: float = 6.0) -> tuple[Block, Block]:
    """(the plain block, a copy with layer class `cls` around k_proj and v_proj)."""
    torch.manual_seed(0)
    base = Block().eval()
    model = copy.deepcopy(base)
    for name in ("k_proj", "v_proj"):
        setattr(model.attn, name, cls(getattr(model.attn, name), r, alpha))
    model.requires_grad_(False)
    for layer in lora_layers(model).values():
        layer.lora_A.requires_grad_(True), layer.lora_B.requires_grad_(True)
    return base, model


# --- the checks, as functions of the LoRA class --------------------------------------------------------------------

def check_starts_as_the_base_model(cls: type) -> None:
    base, model = with_lora(cls)
    x, context = inputs()
    assert torch.equal(model(x, context), base(x, context)), "B = 0 at the start: LoRA must change nothing yet"


def check_forward_formula(cls: type) -> None:
    layer = cls(nn.Linear(8, 5), r=3, alpha=12.0)
    randomise(layer, 2)
    x = torch.randn(4, 8)
    expected = layer.base(x) + 12.0 / 3 * x @ layer.lora_A.weight.T @ layer.lora_B.weight.T
    torch.testing.assert_close(layer(x), expected)


def check_merge_and_unmerge(cls: type) -> None:
    _, model = with_lora(cls)
    for i, layer in enumerate(lora_layers(model).values()):
        randomise(layer, 10 + i)
    x, context = inputs()
    before = model(x, context)
    weights = {name: layer.base.weight.clone() for name, layer in lora_layers(model).items()}
    merge_lora(model)
    torch.testing.assert_close(model(x, context), before, atol=1e-5, rtol=1e-5)
    unmerge_lora(model)
    for name, layer in lora_layers(model).items():
        torch.testing.assert_close(layer.base.weight, weights[name], atol=1e-6, rtol=0)
    torch.testing.assert_close(model(x, context), before, atol=1e-5, rtol=1e-5)


# --- the classic mistakes --------------------------------------------------------------------------------------------

class BNotZero(LoRALinear):
    """Both matrices random at the start: the pretrained model is damaged before any training."""

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.lora_A.weight, a=5 ** 0.5)
        nn.init.kaiming_uniform_(self.lora_B.weight, a=5 ** 0.5)


class NoScale(LoRALinear):
    """The alpha / r scale forgotten in forward (and in merge)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) if self.merged else self.base(x) + self.lora_B(self.lora_A(x))

    def delta_weight(self) -> torch.Tensor:
        return self.lora_B.weight @ self.lora_A.weight


class MergeWithoutScale(LoRALinear):
    """forward is right, but merge adds B A without alpha / r."""

    def delta_weight(self) -> torch.Tensor:
        return self.lora_B.weight @ self.lora_A.weight


def test_lora_passes_every_check():
    for check in (check_starts_as_the_base_model, check_forward_formula, check_merge_and_unmerge):
        check(LoRALinear)


@pytest.mark.parametrize("mistake, check", [
    (BNotZero, check_starts_as_the_base_model),
    (NoScale, check_forward_formula),
    (MergeWithoutScale, check_merge_and_unmerge),
])
def test_the_checks_catch_the_classic_mistakes(mistake, check):
    with pytest.raises(AssertionError):
        check(mistake)


# --- add_lora, freezing, counting, saving -----------------------------------------------------------------------------

def test_add_lora_wraps_the_named_linears_and_freezes_the_rest():
    model = Block()
    names = add_lora(model, TARGETS, r=2, alpha=4)
    assert names == ["attn.k_proj", "attn.v_proj"]
    assert list(lora_layers(model)) == names
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"{n}.{part}.weight" for n in names for part in ("lora_A", "lora_B")}
    layer = model.attn.k_proj
    assert layer.lora_A.weight.shape == (2, 12) and layer.lora_B.weight.shape == (16, 2) and layer.scale == 2.0
    bound = 1 / 12 ** 0.5  # kaiming_uniform(a=sqrt(5)) draws from U(-1/sqrt(in), 1/sqrt(in)), as nn.Linear
    assert layer.lora_A.weight.abs().max() <= bound and layer.lora_A.weight.abs().max() > bound / 2


def test_only_lora_parameters_get_gradients():
    model = Block()
    add_lora(model, TARGETS, r=2, alpha=4)
    x, context = inputs()
    model(x, context).square().mean().backward()
    for name, p in model.named_parameters():
        if "lora_" in name:
            assert p.grad is not None, name
        else:
            assert p.grad is None, f"{name} is frozen but got a gradient"
    layer = model.attn.v_proj
    assert layer.lora_B.weight.grad.abs().sum() > 0  # B learns first ...
    assert layer.lora_A.weight.grad.abs().sum() == 0  # ... A's gradient is B^T (...) = 0 while B = 0


def test_count_parameters():
    model = Block()
    total = sum(p.numel() for p in model.parameters())
    add_lora(model, TARGETS, r=2, alpha=4)
    assert count_parameters(model) == (2 * 2 * (12 + 16), total)  # two layers of r (in + out), base all frozen


def test_lora_state_dict_round_trip():
    _, model = with_lora()
    for i, layer in enumerate(lora_layers(model).values()):
        randomise(layer, i)
    state = lora_state_dict(model)
    assert sorted(state) == sorted(f"attn.{n}.{p}.weight" for n in TARGETS for p in ("lora_A", "lora_B"))
    _, fresh = with_lora()
    x, context = inputs()
    assert not torch.allclose(fresh(x, context), model(x, context))
    load_lora_state_dict(fresh, state)
    torch.testing.assert_close(fresh(x, context), model(x, context))
    _, wrong_rank = with_lora(r=3)
    with pytest.raises(ValueError, match="same r"):
        load_lora_state_dict(wrong_rank, state)
    with pytest.raises(ValueError, match="missing"):
        load_lora_state_dict(fresh, {k: v for k, v in state.items() if "k_proj" not in k})


def test_the_adapter_shares_the_lora_weights_and_checkpoints_only_them(tmp_path):
    _, model = with_lora()
    for i, layer in enumerate(lora_layers(model).values()):
        randomise(layer, i)
    adapter = lora_adapter(model)
    assert adapter.state_dict().keys() == lora_state_dict(model).keys()
    assert adapter.attn.k_proj.lora_A is model.attn.k_proj.lora_A  # shared, not copied
    path = save_checkpoint(adapter, tmp_path / "adapter.safetensors")
    _, fresh = with_lora()
    load_checkpoint(lora_adapter(fresh), path)  # loading into the adapter loads into the model
    x, context = inputs()
    torch.testing.assert_close(fresh(x, context), model(x, context))


def test_clear_errors():
    with pytest.raises(ValueError, match="positive integer"):
        LoRALinear(nn.Linear(4, 4), r=0, alpha=1)
    with pytest.raises(ValueError, match="positive integer"):
        add_lora(Block(), TARGETS, r=-1, alpha=1)
    with pytest.raises(TypeError, match="nn.Linear"):
        LoRALinear(nn.Conv2d(4, 4, 1), r=2, alpha=1)
    with pytest.raises(ValueError, match=r"called: \['0', '2', 'k_proj', 'out_proj', 'q_proj', 'v_proj'\]"):
        add_lora(Block(), ["to_k"], r=2, alpha=1)  # diffusers' names: none here, so list what exists
    with pytest.raises(ValueError, match="nn.Linear layers only"):
        add_lora(Block(), ["mlp"], r=2, alpha=1)  # an nn.Sequential
    with pytest.raises(ValueError, match="list of names"):
        add_lora(Block(), "k_proj", r=2, alpha=1)
    model = Block()
    add_lora(model, TARGETS, r=2, alpha=1)
    with pytest.raises(ValueError, match="twice"):
        add_lora(model, TARGETS, r=2, alpha=1)
    merge_lora(model)
    with pytest.raises(ValueError, match="already merged"):
        model.attn.k_proj.merge()
    with pytest.raises(ValueError, match="Unmerge"):
        load_lora_state_dict(model, lora_state_dict(model))
    unmerge_lora(model)
    with pytest.raises(ValueError, match="not merged"):
        model.attn.k_proj.unmerge()
    with pytest.raises(ValueError, match="no LoRA layers"):
        lora_state_dict(Block())


# --- against peft ------------------------------------------------------------------------------------------------------

def peft_twin(base: nn.Module, r: int, alpha: float) -> nn.Module:
    """peft's LoRA injected into a copy of `base` (its own layers: base_layer, lora_A['default'], ...)."""
    peft = pytest.importorskip("peft")
    config = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=TARGETS, lora_dropout=0.0)
    return peft.inject_adapter_in_model(config, copy.deepcopy(base))


def copy_weights_into_peft(model: nn.Module, twin: nn.Module) -> None:
    with torch.no_grad():
        for name, layer in lora_layers(model).items():
            theirs = twin.get_submodule(name)
            theirs.lora_A["default"].weight.copy_(layer.lora_A.weight)
            theirs.lora_B["default"].weight.copy_(layer.lora_B.weight)


def check_matches_peft(cls: type, r: int = 2, alpha: float = 6.0) -> None:
    """Same base weights and same A, B: same outputs as peft, and the same merged weights."""
    base, model = with_lora(cls, r, alpha)
    twin = peft_twin(base, r, alpha)
    for i, layer in enumerate(lora_layers(model).values()):
        randomise(layer, 20 + i)
    copy_weights_into_peft(model, twin)
    x, context = inputs()
    torch.testing.assert_close(model(x, context), twin(x, context), atol=1e-5, rtol=1e-5)
    merge_lora(model)
    for name, layer in lora_layers(model).items():
        theirs = twin.get_submodule(name)
        theirs.merge()
        torch.testing.assert_close(layer.base.weight, theirs.base_layer.weight, atol=1e-6, rtol=0)


@pytest.mark.parametrize("r, alpha", [(2, 6.0), (4, 4.0), (8, 1.0)])
def test_same_outputs_and_merged_weights_as_peft(r, alpha):
    check_matches_peft(LoRALinear, r, alpha)


@pytest.mark.parametrize("mistake", [NoScale, MergeWithoutScale])
def test_peft_catches_a_missing_scale_when_alpha_is_not_r(mistake):
    with pytest.raises(AssertionError):
        check_matches_peft(mistake, r=2, alpha=6.0)


def test_at_the_start_both_equal_the_base_model_and_peft_draws_the_same_A():
    base = Block().eval()
    torch.manual_seed(3)
    ours = copy.deepcopy(base)
    add_lora(ours, TARGETS, r=4, alpha=8)
    torch.manual_seed(3)
    twin = peft_twin(base, 4, 8)
    x, context = inputs()
    assert torch.equal(ours(x, context), base(x, context))
    assert torch.equal(twin(x, context), base(x, context))
    for name, layer in lora_layers(ours).items():  # same seed, same draws: nn.Linear(in, r), nn.Linear(r, out), kaiming
        assert torch.equal(layer.lora_A.weight, twin.get_submodule(name).lora_A["default"].weight)


def test_merge_and_unload_gives_our_merged_model():
    peft = pytest.importorskip("peft")
    base, model = with_lora(r=4, alpha=2.0)
    for i, layer in enumerate(lora_layers(model).values()):
        randomise(layer, 30 + i)
    wrapped = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(r=4, lora_alpha=2.0, target_modules=TARGETS))
    copy_weights_into_peft(model, wrapped.base_model.model)
    plain = wrapped.merge_and_unload()  # peft's merged model: plain nn.Linear layers again
    merge_lora(model)
    for name, layer in lora_layers(model).items():
        torch.testing.assert_close(layer.base.weight, plain.get_submodule(name).weight, atol=1e-6, rtol=0)
    x, context = inputs()
    torch.testing.assert_close(model(x, context), plain(x, context), atol=1e-5, rtol=1e-5)


def test_same_trainable_parameter_count_as_peft():
    peft = pytest.importorskip("peft")
    base = Block()
    ours = copy.deepcopy(base)
    add_lora(ours, TARGETS, r=4, alpha=8)
    wrapped = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS))
    trainable, total = wrapped.get_nb_trainable_parameters()  # what print_trainable_parameters prints
    assert count_parameters(ours) == (trainable, total - trainable)
