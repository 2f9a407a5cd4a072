"""The CUDA path: the same code on a GPU gives the CPU's results (within float tolerance).

Marked `gpu`: these run where PyTorch sees a CUDA device (`pytest -m gpu`) and are skipped elsewhere, with the
reason printed. COURSE_GPU_TEST_DEVICE=cpu runs the same comparisons CPU-against-CPU, to check the harness itself.
"""

from __future__ import annotations

import os

import pytest
import torch
from torch.nn import functional as F

from course_lib.data import load_digits
from course_lib.models.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from course_lib.train import train
from course_lib.clip_metrics import MiniCLIPEncoders
from course_lib.recipes import AutoencoderRecipe, CLIPRecipe, JudgeRecipe, Store, UNetRecipe, mini_stable_diffusion
from course_lib.recipes.diffusion import single_object_prompts

OTHER = os.environ.get("COURSE_GPU_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(OTHER == "cuda" and not torch.cuda.is_available(),
                       reason="no CUDA GPU here: the CUDA path is checked where one is present (pytest -m gpu)"),
]


@pytest.fixture(autouse=True)
def _full_fp32_on_the_gpu():
    """TF32 would round matmuls and convolutions to 10 mantissa bits: compare true fp32."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_attention_matches_the_cpu_and_torch_fused_kernel_on_the_device():
    q, k, v = (torch.randn(2, 4, 50, 16) for _ in range(3))
    mask = causal_mask(50)
    cpu, _ = scaled_dot_product_attention(q, k, v, mask)
    on_device, weights = scaled_dot_product_attention(q.to(OTHER), k.to(OTHER), v.to(OTHER), mask.to(OTHER))
    fused = F.scaled_dot_product_attention(q.to(OTHER), k.to(OTHER), v.to(OTHER), attn_mask=mask.to(OTHER))
    assert weights.device.type == torch.device(OTHER).type
    torch.testing.assert_close(on_device.cpu(), cpu, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(on_device, fused, atol=1e-5, rtol=1e-4)
    mha = MultiHeadAttention(32, 4)
    x = torch.randn(3, 10, 32)
    torch.testing.assert_close(mha.to(OTHER)(x.to(OTHER), x.to(OTHER), x.to(OTHER))[0].cpu(),
                               mha.cpu()(x, x, x)[0], atol=1e-5, rtol=1e-4)


def test_the_training_loop_follows_the_same_path_on_the_device():
    recipe = AutoencoderRecipe.default("mlp", 8, epochs=3)
    runs = {}
    for device in ("cpu", OTHER):
        torch.manual_seed(0)
        trained = Store(torch.device(device), progress=False).load(recipe)  # no folders: trains
        runs[device] = trained.history
        assert next(trained.model.parameters()).device.type == torch.device(device).type
    assert runs[OTHER] == pytest.approx(runs["cpu"], rel=1e-3)


def test_mixed_precision_training_lands_near_fp32():
    data = load_digits().x_train[:512]
    histories = {}
    for mixed in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(),
                                    torch.nn.Linear(16, 64), torch.nn.Unflatten(1, data.shape[1:]))
        histories[mixed] = train(model, data, epochs=5, device=OTHER, progress=False, mixed_precision=mixed)
    assert histories[True][-1] < histories[True][0]  # it learns
    assert histories[True][-1] == pytest.approx(histories[False][-1], rel=0.1)


def test_shipped_models_give_the_cpu_numbers_on_the_device():
    digits = load_digits()
    x = digits.x_test[:64]
    ae = {d: Store.shipped_only(d).load(AutoencoderRecipe.default("mlp", 8)).model
          for d in ("cpu", OTHER)}
    with torch.no_grad():
        torch.testing.assert_close(ae[OTHER](x.to(OTHER)).cpu(), ae["cpu"](x), atol=1e-5, rtol=1e-4)
    clip = {d: MiniCLIPEncoders(Store.shipped_only(d).load(CLIPRecipe()).model) for d in ("cpu", OTHER)}
    captions = ["a small red circle", "a large blue square left of a small green triangle"]
    torch.testing.assert_close(clip[OTHER].encode_texts(captions), clip["cpu"].encode_texts(captions),
                               atol=1e-5, rtol=1e-4)


def test_mini_stable_diffusion_draws_the_same_images_on_the_device():
    prompts = single_object_prompts()[:8]
    images = {d: mini_stable_diffusion(UNetRecipe(), Store.shipped_only(d)).generate(prompts, steps=10, seed=0)
              for d in ("cpu", OTHER)}
    assert (images[OTHER] - images["cpu"]).abs().max() < 0.02  # same noise (drawn on the CPU), same steps
    judge = Store.shipped_only("cpu").load(JudgeRecipe()).model
    assert judge.read(images[OTHER]) == judge.read(images["cpu"])
