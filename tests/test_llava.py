"""MiniLLaVA (lecture 7): shapes, causality, the answer-only loss, what each training stage may change, bad inputs."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_lib.data.instructions import Instruction, instruction_vocabulary
from course_lib.data.shapes import make_scenes
from course_lib.data.tokenizer import EOS, PAD, Tokenizer
from course_lib.llava_viz import failures, show_answers, show_failures
from course_lib.models.clip import ImageEncoder
from course_lib.models.llava import (
    Connector, MiniLLaVA, TinyLM, assemble_prompt, encode_text, llava_loss, next_token_loss, set_stage, text_loss,
)
from course_lib.train import train
from course_lib.recipes import LLaVARecipe, Source
from course_lib.recipes.llava import llava_qa, qa_tensors


QUESTIONS = ["What colour is the circle?", "How many objects are there?", "Is the square left of the triangle?"]
ANSWERS = ["red", "two", "yes"]


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return MiniLLaVA(ImageEncoder(), Tokenizer(instruction_vocabulary()), "mlp")


@pytest.fixture(scope="module")
def batch():
    images = make_scenes(3, seed=0).images  # (3, 3, 32, 32)
    return images, *encode_text(Tokenizer(instruction_vocabulary()), QUESTIONS, ANSWERS)


def _weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def _changed(before: dict[str, torch.Tensor], module: nn.Module) -> set[str]:
    return {name for name, p in module.named_parameters() if not torch.equal(before[name], p)}


def test_shapes_of_features_tokens_and_logits(model, batch):
    images, ids, question_lengths, lengths = batch
    assert model.n_image_tokens == 16
    assert model.visual_features(images).shape == (3, 16, 64 + 2)  # 4x4 cells, 64 channels + (x, y)
    assert model.image_tokens(images, 3).shape == (3, 16, 64)
    logits, loss_mask = model(images, ids, question_lengths, lengths)
    assert logits.shape == (3, 16 + ids.shape[1], len(model.tokenizer)) and loss_mask.shape == logits.shape[:2]
    pooled = MiniLLaVA(ImageEncoder(), model.tokenizer, "linear", "pooled")
    assert pooled.n_image_tokens == 1 and pooled.visual_features(images).shape == (3, 1, 128)
    assert TinyLM(40)(torch.randn(2, 5, 64)).shape == (2, 5, 40)


def test_encode_text_puts_the_question_then_the_answer_and_eos(batch):
    _, ids, question_lengths, lengths = batch
    tokenizer = Tokenizer(instruction_vocabulary())
    assert tokenizer.decode(ids[0, :question_lengths[0]]) == "what colour is the circle ?"
    assert tokenizer.decode(ids[0, question_lengths[0]:]) == "red"
    assert ids[0, lengths[0] - 1] == EOS and (ids[0, lengths[0]:] == PAD).all()
    assert (lengths - question_lengths).tolist() == [2, 2, 2]  # one word + <eos>


def test_assemble_prompt_masks_exactly_the_answer_tokens():
    image_tokens, text = torch.randn(2, 3, 8), torch.randn(2, 6, 8)
    sequence, mask = assemble_prompt(image_tokens, text, torch.tensor([2, 3]), torch.tensor([4, 6]))
    assert torch.equal(sequence, torch.cat([image_tokens, text], 1))
    assert mask.tolist() == [[False] * 3 + [False, False, True, True, False, False],
                             [False] * 3 + [False, False, False, True, True, True]]


def test_next_token_loss_is_cross_entropy_of_the_answer_tokens_only():
    logits, targets = torch.randn(1, 6, 10, requires_grad=True), torch.tensor([[0, 4, 5, 6, 7, 0]])
    mask = torch.tensor([[False, False, False, True, True, False]])
    loss = next_token_loss(logits, targets, mask)
    expected = F.cross_entropy(logits[0, 2:4], targets[0, 3:5])  # positions 2 and 3 predict tokens 3 and 4
    assert torch.allclose(loss, expected)
    loss.backward()
    assert logits.grad[0, [0, 1, 4, 5]].abs().sum() == 0  # no gradient from the image, question or padding


def test_the_loss_ignores_the_question_and_the_padding(model, batch):
    images, ids, question_lengths, lengths = batch
    loss = llava_loss(model, images, ids, question_lengths, lengths)
    other_answer = ids.clone()
    other_answer[0, question_lengths[0]] = model.tokenizer.stoi["blue"]
    assert not torch.allclose(llava_loss(model, images, other_answer, question_lengths, lengths), loss)
    padded = F.pad(ids, (0, 3), value=model.tokenizer.stoi["yes"])  # junk after the end
    assert torch.allclose(llava_loss(model, images, padded, question_lengths, lengths), loss, atol=1e-6)


def test_a_later_token_never_changes_earlier_logits(model, batch):
    images, ids, question_lengths, lengths = batch
    logits, _ = model(images, ids, question_lengths, lengths)
    changed = ids.clone()
    changed[:, 4] = model.tokenizer.stoi["purple"]
    logits_changed, _ = model(images, changed, question_lengths, lengths)
    n = model.n_image_tokens + 4
    assert torch.allclose(logits[:, :n], logits_changed[:, :n], atol=1e-6)
    assert not torch.allclose(logits[:, n:], logits_changed[:, n:])


def test_the_image_changes_the_logits_and_images_none_means_zero_image_tokens(model, batch):
    images, ids, question_lengths, lengths = batch
    logits, _ = model(images, ids, question_lengths, lengths)
    assert not torch.allclose(logits, model(images.flip(0), ids, question_lengths, lengths)[0])
    assert model.image_tokens(None, 3).abs().sum() == 0
    assert model(None, ids, question_lengths, lengths)[0].shape == logits.shape


def test_stage_2_never_touches_the_frozen_vision_encoder(model, batch):
    vision, rest = _weights(model.vision), _weights(model)
    set_stage(model, 2)
    train(model, batch, llava_loss, epochs=3, batch_size=3, lr=1e-2, progress=False)
    assert not _changed(vision, model.vision)
    assert all(p.grad is None for p in model.vision.parameters())
    changed = _changed(rest, model)
    assert any(n.startswith("connector.") for n in changed) and any(n.startswith("lm.") for n in changed)
    assert not model.vision.training  # train() calls model.train(): the vision encoder stays in eval mode


def test_stage_1_trains_only_the_connector_and_stage_0_only_the_lm(model, batch):
    before = _weights(model)
    set_stage(model, 1)
    assert {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad} == {"connector"}
    train(model, batch, llava_loss, epochs=3, batch_size=3, lr=1e-2, progress=False)
    assert {n.split(".")[0] for n in _changed(before, model)} == {"connector"}
    set_stage(model, 0)
    assert {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad} == {"lm"}
    _, ids, _, lengths = batch
    before = _weights(model.lm)
    train(model.lm, (ids, lengths), text_loss, epochs=2, batch_size=3, lr=1e-2, progress=False)
    assert _changed(before, model.lm)


def test_connector_kinds():
    linear, mlp = Connector(66, 64, "linear"), Connector(66, 64, "mlp")
    assert [type(m) for m in linear] == [nn.Linear]
    assert [type(m) for m in mlp] == [nn.Linear, nn.GELU, nn.Linear]
    assert linear(torch.randn(2, 16, 66)).shape == mlp(torch.randn(2, 16, 66)).shape == (2, 16, 64)
    with pytest.raises(ValueError, match="connector"):
        Connector(66, 64, "qformer")


def test_greedy_answers_follow_the_argmax(model, batch):
    images = batch[0]
    answers = model.answer(images, QUESTIONS, max_new_tokens=3)
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    ids, question_lengths, _ = encode_text(model.tokenizer, QUESTIONS[:1])
    logits, _ = model(images[:1], ids, question_lengths, question_lengths)
    first = logits[0, -1].argmax().item()
    assert answers[0].split()[:1] == ([] if first == EOS else [model.tokenizer.itos[first]])
    assert len(model.answer(None, QUESTIONS, max_new_tokens=2)) == 3  # blind


def test_bad_inputs_raise_clear_errors(model, batch):
    images, ids, question_lengths, lengths = batch
    with pytest.raises(ValueError, match="images"):
        model.visual_features(images[:, :, :16])
    with pytest.raises(ValueError, match="int64"):
        model(images, ids.float(), question_lengths, lengths)
    with pytest.raises(ValueError, match="tokenizer"):
        model(images, ids + 100, question_lengths, lengths)
    with pytest.raises(ValueError, match="one image per question"):
        model.answer(images[:2], QUESTIONS)
    with pytest.raises(ValueError, match="non-empty list"):
        model.answer(images[:1], "What colour is the circle?")
    with pytest.raises(ValueError, match="max_len"):
        model.answer(images, QUESTIONS, max_new_tokens=40)
    with pytest.raises(ValueError, match="features"):
        MiniLLaVA(ImageEncoder(), model.tokenizer, features="cls")
    with pytest.raises(ValueError, match="stage"):
        set_stage(model, 3)
    with pytest.raises(ValueError, match="max_len"):
        model.lm(torch.zeros(1, 49, 64))
    with pytest.raises(ValueError, match="split"):
        llava_qa("validation")
    with pytest.raises(ValueError, match="one answer per question"):
        encode_text(model.tokenizer, QUESTIONS, ANSWERS[:2])
    with pytest.raises(ValueError, match="padded length"):
        model(images, ids, question_lengths, lengths + ids.shape[1])
    with pytest.raises(ValueError, match="shape"):
        model(images, ids, question_lengths[:2], lengths)
    with pytest.raises(ValueError, match="visual features"):
        model.image_tokens(None, 3, features=torch.zeros(3, 16, 64))  # forgot the (x, y) channels


def test_failure_figures_show_question_answer_and_truth(batch):
    images = batch[0]
    instructions = [Instruction(i, "count", "How many objects are there?", "two") for i in range(3)]
    answers = ["two", "one", "two"]
    assert failures(instructions, answers) == [1] and failures(instructions, answers, "colour") == []
    fig = show_failures(images, instructions, answers)
    (ax,) = [ax for ax in fig.axes if ax.get_title()]
    assert "A: one" in ax.get_title() and "truth: two" in ax.get_title()
    fig = show_answers(images, [q.question for q in instructions], answers, [q.answer for q in instructions])
    assert sum(bool(ax.get_title()) for ax in fig.axes) == 3
    with pytest.raises(ValueError, match="No wrong answers"):
        show_failures(images, instructions, ["two"] * 3)
    with pytest.raises(ValueError, match="one question"):
        show_answers(images, QUESTIONS[:2], answers)


def test_the_shipped_model_answers_questions_about_fresh_scenes(shipped_store):
    trained = shipped_store.load(LLaVARecipe())
    assert trained.source == Source.SHIPPED
    qa = llava_qa("test", 20, kinds=["count", "shape"])
    images, *_ = qa_tensors(qa, trained.model.tokenizer)
    answers = trained.model.answer(images, [q.question for q in qa.instructions])
    assert sum(a == q.answer for a, q in zip(answers, qa.instructions)) >= 0.9 * len(answers)
