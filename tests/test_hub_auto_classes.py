"""The eight AutoClasses of lecture 7's source, loaded from disk with the network off (course_lib.hub.auto_classes)."""

import socket

import pytest
import torch

transformers = pytest.importorskip("transformers")

from course_lib.hub.auto_classes import LABELS, auto_class_tour, load_offline, save_tiny_models  # noqa: E402

CLASSES = ["AutoTokenizer", "AutoModel", "AutoModelForSequenceClassification", "AutoModelForTokenClassification",
           "AutoModelForQuestionAnswering", "AutoModelForSeq2SeqLM", "AutoModelForCausalLM", "AutoProcessor"]


def _no_network(*args, **kwargs):
    raise AssertionError(f"a test tried to open a connection: {args}")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("auto_classes"))


@pytest.fixture(autouse=True)
def offline():
    """Every test runs with HF_HUB_OFFLINE=1 and no socket able to connect anywhere."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(socket.socket, "connect", _no_network)
        patch.setattr(socket, "create_connection", _no_network)
        yield


def _rows(rows):
    return {row.auto_class: row for row in rows}


def test_every_auto_class_builds_its_class_with_its_head_and_output(folders):
    state, verbosity = torch.random.get_rng_state(), transformers.logging.get_verbosity()
    rows = auto_class_tour(folders)
    assert torch.equal(torch.random.get_rng_state(), state), "the tour must not move the caller's random state"
    assert transformers.logging.get_verbosity() == verbosity
    assert [row.auto_class for row in rows] == CLASSES
    row = _rows(rows)
    tokens = int(row["AutoTokenizer"].output.split("(1, ")[1].rstrip(")"))  # [CLS] 10 words and '.' [SEP]
    assert tokens == 13 and row["AutoTokenizer"].built.startswith("BertTokenizer")
    expected = {
        "AutoModel": ("BertModel", (), f"last_hidden_state (1, {tokens}, 32)"),
        "AutoModelForSequenceClassification": ("BertForSequenceClassification",
                                               ("classifier.bias", "classifier.weight"), "logits (1, 2)"),
        "AutoModelForTokenClassification": ("BertForTokenClassification", ("classifier.bias", "classifier.weight"),
                                            f"logits (1, {tokens}, 9)"),
        "AutoModelForQuestionAnswering": ("BertForQuestionAnswering", ("qa_outputs.bias", "qa_outputs.weight"),
                                          "start_logits (1, 20), end_logits (1, 20)"),  # question + sentence
        "AutoModelForSeq2SeqLM": ("T5ForConditionalGeneration", (), "logits (1, 6, 41); generate -> ids (1, 6)"),
        "AutoModelForCausalLM": ("GPT2LMHeadModel", (), "logits (1, 8, 41); generate -> ids (1, 13)"),
    }
    for auto_class, (built, new, output) in expected.items():
        assert (row[auto_class].built, row[auto_class].new_weights, row[auto_class].output) == (built, new, output)
    assert row["AutoModelForSequenceClassification"].head.startswith("classifier Linear(32 -> 2)")
    assert row["AutoModelForQuestionAnswering"].head.startswith("qa_outputs Linear(32 -> 2)")
    assert row["AutoModelForCausalLM"].head.startswith("lm_head Linear(32 -> 41)")  # 36 scene words + 5 specials
    assert row["AutoProcessor"].built.startswith("CLIPProcessor (CLIPImageProcessor")
    assert row["AutoProcessor"].output.endswith("pixel_values (2, 3, 32, 32), input_ids (3, 5); "
                                                "CLIPModel -> logits_per_image (2, 3)")
    assert LABELS["AutoModelForTokenClassification"] == 9  # CoNLL-2003: O + B-/I- of 4 entity types


def test_a_head_sits_on_the_same_body_and_only_the_head_is_new(folders):
    body = transformers.AutoModel.from_pretrained(folders["bert"], local_files_only=True)
    classifier = transformers.AutoModelForSequenceClassification.from_pretrained(folders["bert"], num_labels=2,
                                                                                 local_files_only=True)
    ours, theirs = body.state_dict(), classifier.bert.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    encoded = transformers.AutoTokenizer.from_pretrained(folders["bert"], local_files_only=True)(
        "what colour is the circle ?", return_tensors="pt")
    with torch.no_grad():  # the classifier reads the body's pooled [CLS]
        pooled = body.eval()(**encoded).pooler_output
        torch.testing.assert_close(classifier.eval()(**encoded).logits, classifier.classifier(pooled))


def test_the_random_head_comes_from_the_seed_and_leaves_the_global_random_state_alone(folders):
    state = torch.random.get_rng_state()
    heads = [load_offline("AutoModelForQuestionAnswering", folders["bert"], seed)[0].qa_outputs.weight
             for seed in (3, 3, 4)]
    assert torch.equal(heads[0], heads[1]) and not torch.equal(heads[0], heads[2])
    assert torch.equal(torch.random.get_rng_state(), state)


def test_the_packaged_minilm_is_a_pretrained_body_under_new_heads(folders, minilm_path):
    row = _rows(auto_class_tour(folders, encoder=minilm_path))
    assert row["AutoModel"].built == "BertModel" and row["AutoModel"].new_weights == ()
    assert row["AutoModel"].output == "last_hidden_state (1, 13, 384)"  # width 384
    assert row["AutoModelForSequenceClassification"].head.startswith("classifier Linear(384 -> 2)")
    assert row["AutoModelForSequenceClassification"].new_weights == ("classifier.bias", "classifier.weight")
    assert row["AutoModelForQuestionAnswering"].new_weights == ("qa_outputs.bias", "qa_outputs.weight")
