"""A real ViT through hub.load_hf_vit, offline: a tiny random ViTModel (and CLIP vision tower) saved to disk, loaded
back, its attention fed to lecture 8's rollout and [CLS] pictures."""

import matplotlib.pyplot as plt
import pytest
import torch

transformers = pytest.importorskip("transformers")

from course_lib import hub  # noqa: E402
from course_lib.models.vit import position_similarity  # noqa: E402
from course_lib.vision_attention import attention_rollout, plot_cls_attention, plot_rollout  # noqa: E402


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    """(folder, model): a random 2-layer, 2-head ViT on 32x32 images in 8x8 patches, saved with its processor."""
    folder = tmp_path_factory.mktemp("hf_vit") / "tiny_vit"
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    model = transformers.ViTModel(config).eval()
    model.save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module")
def tiny_clip_folder(tmp_path_factory):
    """A random CLIP whose vision tower is a 2-layer ViT on 32x32 images in 8x8 patches, saved with its processor."""
    folder = tmp_path_factory.mktemp("hf_clip_vision") / "tiny_clip"
    config = transformers.CLIPConfig(
        text_config=dict(vocab_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=8, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16)
    torch.manual_seed(0)
    model = transformers.CLIPModel(config).eval()
    model.save_pretrained(folder)
    transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
                                    ).save_pretrained(folder)
    return folder, model


def test_vit_attention_maps_are_the_models_own(tiny_vit):
    folder, model = tiny_vit
    vit = hub.load_hf_vit(folder)
    assert vit.grid == (4, 4)
    images = torch.rand(3, 3, 32, 32)
    maps = vit.attention_maps(images)
    assert maps.shape == (2, 3, 2, 17, 17)  # (layers, B, heads, N+1, N+1)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 3, 2, 17))
    torch.testing.assert_close(vit.attention_maps(images, batch_size=2), maps)  # batches change nothing

    eager = transformers.ViTModel.from_pretrained(folder, local_files_only=True, attn_implementation="eager").eval()
    with torch.no_grad():  # the reference path: the processor, then the model itself
        expected = eager(pixel_values=vit.pixel_values(images), output_attentions=True).attentions
    torch.testing.assert_close(maps, torch.stack(expected))
    pixels = transformers.ViTImageProcessor.from_pretrained(folder, local_files_only=True)(
        images=list((images * 255).round().to(torch.uint8)), return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(vit.pixel_values(images), pixels)
    torch.testing.assert_close(vit.position_embeddings(), model.embeddings.position_embeddings[0, 1:].detach())


def test_rollout_and_pictures_accept_a_real_vit(tiny_vit):
    vit = hub.load_hf_vit(str(tiny_vit[0]))
    images = torch.rand(2, 3, 32, 32)
    maps = vit.attention_maps(images)
    rollout = attention_rollout(maps)
    assert rollout.shape == (2, 17, 17)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(2, 17))
    assert isinstance(plot_cls_attention(images[0], maps[:, 0], vit.grid), plt.Figure)
    assert len(plot_rollout(images, rollout, vit.grid).axes) == 4
    assert position_similarity(vit.position_embeddings()).shape == (16, 16)


def test_clip_vision_tower_through_the_same_interface(tiny_clip_folder):
    folder, model = tiny_clip_folder
    tower = hub.load_hf_clip_vision(folder)
    assert tower.grid == (4, 4)
    images = torch.rand(2, 3, 32, 32)
    maps = tower.attention_maps(images)
    assert maps.shape == (2, 2, 2, 17, 17)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 2, 2, 17))
    assert attention_rollout(maps).shape == (2, 17, 17)
    eager = transformers.CLIPModel.from_pretrained(folder, local_files_only=True, attn_implementation="eager").eval()
    with torch.no_grad():
        expected = eager.vision_model(pixel_values=tower.pixel_values(images), output_attentions=True).attentions
    torch.testing.assert_close(maps, torch.stack(expected))
    torch.testing.assert_close(tower.position_embeddings(),
                               model.vision_model.embeddings.position_embedding.weight[1:].detach())


def test_a_model_without_eager_attention_gets_a_clear_error(tiny_vit):
    folder, _ = tiny_vit
    model = transformers.ViTModel.from_pretrained(folder, local_files_only=True, attn_implementation="sdpa")
    processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    with pytest.raises(RuntimeError, match="attn_implementation='eager'"):
        hub.HFViT(model, processor).attention_maps(torch.rand(1, 3, 32, 32))


def test_bad_inputs_and_wrong_folders_raise_clear_errors(tiny_vit, tiny_clip_folder, tmp_path):
    vit = hub.load_hf_vit(tiny_vit[0])
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\)"):
        vit.attention_maps(torch.rand(2, 1, 32, 32))
    with pytest.raises(FileNotFoundError, match="No folder"):
        hub.load_hf_vit(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="not a Hugging Face model folder"):
        hub.load_hf_vit(tmp_path)
    with pytest.raises(ValueError, match="not a ViT. For a CLIP, use load_hf_clip_vision"):
        hub.load_hf_vit(tiny_clip_folder[0])
