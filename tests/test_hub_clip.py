"""A real CLIP through hub.load_hf_clip, offline: a tiny random CLIPModel saved to disk, loaded back, used zero-shot."""

import pytest
import torch
from torch.nn import functional as F

transformers = pytest.importorskip("transformers")

from course_lib import hub  # noqa: E402
from tiny_bpe import write_bpe_files  # noqa: E402
from course_lib.contrastive import class_embeddings, zero_shot_predict  # noqa: E402
from course_lib.data.shapes import make_scenes  # noqa: E402
from course_lib.clip_metrics import zero_shot_classify  # noqa: E402


CLASS_NAMES = ["red circle", "blue square", "green triangle"]
TEMPLATES = ["a photo of a {}.", "a {}"]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """(folder, model): a random CLIP with 2-layer text and vision towers, saved with its tokenizer and processor."""
    root = tmp_path_factory.mktemp("hf_clip")
    words = {w for name in CLASS_NAMES for t in TEMPLATES for w in t.format(name).replace(".", "").split()}
    vocab = write_bpe_files(root / "bpe", sorted(words))
    tokenizer = transformers.CLIPTokenizer.from_pretrained(root / "bpe")
    config = transformers.CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=32, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16)
    torch.manual_seed(0)
    model = transformers.CLIPModel(config).eval()
    image_processor = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    folder = root / "tiny_clip"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    image_processor.save_pretrained(folder)
    return folder, model


def features(output):
    return output if isinstance(output, torch.Tensor) else output.pooler_output  # transformers 4 / 5


def test_the_tiny_bpe_spells_every_prompt_word_as_one_token(tiny_clip):
    folder, _ = tiny_clip
    tokenizer = transformers.CLIPTokenizer.from_pretrained(folder, local_files_only=True)
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("a photo of a green triangle.")["input_ids"])
    assert tokens == ["<|startoftext|>", "a</w>", "photo</w>", "of</w>", "a</w>", "green</w>", "triangle</w>", ".</w>",
                      "<|endoftext|>"]


def test_adapter_embeddings_are_clipmodels_features_normalised(tiny_clip):
    folder, model = tiny_clip
    clip = hub.load_hf_clip(folder)
    images = make_scenes(5, seed=0, n_objects=1).images  # (5, 3, 32, 32) in [0, 1]
    texts = ["a red circle", "a photo of a blue square."]
    image_e, text_e = clip.encode_images(images), clip.encode_texts(texts)
    assert image_e.shape == (5, 16) and text_e.shape == (2, 16)
    torch.testing.assert_close(image_e.norm(dim=-1), torch.ones(5))
    torch.testing.assert_close(text_e.norm(dim=-1), torch.ones(2))

    processor = transformers.CLIPProcessor.from_pretrained(folder, local_files_only=True)  # the reference path
    pictures = [(image * 255).round().to(torch.uint8) for image in images]  # 8-bit, as CLIP's photos
    pixels = processor(images=pictures, return_tensors="pt")["pixel_values"]
    encoded = processor(text=texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected_images = F.normalize(features(model.get_image_features(pixel_values=pixels)), dim=-1)
        expected_texts = F.normalize(features(model.get_text_features(**encoded)), dim=-1)
    torch.testing.assert_close(image_e, expected_images)
    torch.testing.assert_close(clip.encode_images(images, batch_size=2), image_e)  # batches change nothing
    torch.testing.assert_close(text_e, expected_texts)
    assert clip.scale().item() == pytest.approx(model.logit_scale.exp().item())


def test_zero_shot_end_to_end_with_the_course_functions(tiny_clip):
    folder, _ = tiny_clip
    clip = hub.load_hf_clip(str(folder))
    images = make_scenes(6, seed=1, n_objects=1).images
    classes = class_embeddings(clip.encode_texts, CLASS_NAMES, TEMPLATES)
    assert classes.shape == (3, 16)
    torch.testing.assert_close(classes.norm(dim=-1), torch.ones(3))
    predicted = zero_shot_predict(clip.encode_images(images), classes)
    assert predicted.shape == (6,) and predicted.dtype == torch.long
    assert ((predicted >= 0) & (predicted < 3)).all()
    assert torch.equal(zero_shot_classify(clip, images, CLASS_NAMES, TEMPLATES), predicted)  # the shared interface


def test_bad_inputs_and_missing_folders_raise_clear_errors(tiny_clip, tmp_path):
    folder, _ = tiny_clip
    clip = hub.load_hf_clip(folder)
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\)"):
        clip.encode_images(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="non-empty list"):
        clip.encode_texts("a red circle")
    with pytest.raises(FileNotFoundError, match="No folder"):
        hub.load_hf_clip(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="No folder"):
        hub.load_hf_clip(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="not a Hugging Face model folder"):
        hub.load_hf_clip(tmp_path)
