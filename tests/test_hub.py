"""Real pretrained models through Hugging Face AutoClasses, loaded from disk with no network."""

import os

import pytest
import torch

from course_lib import hub



def test_minilm_loads_offline_and_gives_every_heads_map(minilm):
    tokenizer, model = minilm
    tokens, maps = hub.hf_attention_maps(tokenizer, model, "She visited the money bank, near the river bank.")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and tokens.count("bank") == 2
    assert maps.shape == (6, 12, len(tokens), len(tokens))  # all-MiniLM-L6-v2: 6 layers x 12 heads
    torch.testing.assert_close(maps.sum(-1), torch.ones(6, 12, len(tokens)), atol=1e-5, rtol=0)


def test_minilm_sentence_embeddings_rank_similar_sentences_higher(minilm):
    tokenizer, model = minilm
    sentences = ["A cat sits on the mat.", "A kitten is sitting on a rug.", "The stock market fell sharply today."]
    embeddings = hub.sentence_embeddings(tokenizer, model, sentences)  # (3, 384) unit vectors
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3))
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3
    alone = hub.sentence_embeddings(tokenizer, model, sentences[:1])  # no padding: the same vector
    torch.testing.assert_close(alone[0], embeddings[0], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="list of strings"):
        hub.sentence_embeddings(tokenizer, model, "one sentence")


def test_mean_pool_ignores_padding():
    hidden = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooled = hub.mean_pool(hidden, mask)
    torch.testing.assert_close(pooled[0], hidden[0, :3].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(0))
    hidden[0, 3:] = 1e6  # whatever the padding holds
    torch.testing.assert_close(hub.mean_pool(hidden, mask)[0], pooled[0])


def test_load_local_refuses_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a Hugging Face model folder"):
        hub.load_local(tmp_path)


def test_lecture4_the_word_sense_head_is_a_previous_token_head(minilm):
    """Lecture 4 searches MiniLM's 72 heads for one where each 'bank' looks at its clue, then unmasks it."""
    tokenizer, model = minilm
    tokens, maps = hub.hf_attention_maps(tokenizer, model, "She visited the money bank, near the river bank.")
    first_bank, second_bank = [i for i, t in enumerate(tokens) if t == "bank"]
    sense = maps[:, :, first_bank, tokens.index("money")] + maps[:, :, second_bank, tokens.index("river")]
    layer, head = divmod(sense.argmax().item(), sense.shape[1])
    assert sense[layer, head] > 1.5  # both 'bank's put most of their weight on their clue word
    other_tokens, other_maps = hub.hf_attention_maps(tokenizer, model, "The cat sat on the warm mat while it rained outside.")
    looks_at = other_maps[layer, head].argmax(-1).tolist()
    assert sum(looks_at[i] == i - 1 for i in range(1, len(other_tokens))) >= len(other_tokens) - 2


def test_load_local_reads_a_tiny_model_offline_and_leaves_the_environment_alone(tmp_path, monkeypatch):
    """A random-config BERT saved to a temporary folder: loaded offline (local_files_only), and os.environ is
    exactly what it was (the library never sets HF_HUB_OFFLINE or anything else behind the caller's back)."""
    from transformers import BertConfig, BertModel, BertTokenizer

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]))
    BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    config = BertConfig(vocab_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(tmp_path)
    before = dict(os.environ)
    tokenizer, model = hub.load_local(tmp_path)
    assert dict(os.environ) == before
    tokens, maps = hub.hf_attention_maps(tokenizer, model, "the cat sat")
    assert tokens == ["[CLS]", "the", "cat", "sat", "[SEP]"] and maps.shape == (1, 2, 5, 5)
    assert not model.training
