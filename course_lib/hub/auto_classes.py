"""Every AutoClass lecture 7's source names, loaded offline: which class each builds, its head, and what it returns.

An AutoClass reads `model_type` in a folder's config.json ('bert', 't5', 'gpt2', 'clip') and builds the matching
class. The task classes (AutoModelFor...) put a small head on the same body; loaded from a checkpoint that has no
such head, the body keeps its trained weights and the head starts random: from_pretrained reports its weights as
missing, and they mean nothing until the model is fine-tuned on the task.

    folders = save_tiny_models(tmp)                   # tiny random 'bert', 't5', 'gpt2', 'clip' folders, offline
    rows = auto_class_tour(folders, encoder=path)     # encoder: a BERT-like folder such as the packaged MiniLM
    print(tour_table(rows))                           # AutoClass -> class built -> head -> output and its shape
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from course_lib.hub._common import _transformers

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0-4 of the tiny models' WordPiece vocabulary
SENTENCE = "A small red circle is left of a blue square."
QUESTION = "What colour is the circle?"
CAPTIONS = ["a red circle", "a blue square", "a green triangle"]
LABELS = {"AutoModelForSequenceClassification": 2, "AutoModelForTokenClassification": 9}  # e.g. 2 sentiments,
# and CoNLL-2003's 9 named-entity tags (O, then B- and I- of PER, ORG, LOC, MISC)
HEADS = {  # the head's attribute in the model, and what it does
    "AutoModelForSequenceClassification": ("classifier", "on the pooled [CLS]: a score per class"),
    "AutoModelForTokenClassification": ("classifier", "on every token: a score per tag"),
    "AutoModelForQuestionAnswering": ("qa_outputs", "on every token: start and end scores"),
    "AutoModelForSeq2SeqLM": ("lm_head", "on every decoder position: a score per vocabulary token"),
    "AutoModelForCausalLM": ("lm_head", "on every position: a score per vocabulary token"),
}


class TourRow(NamedTuple):
    """One AutoClass, loaded: what it built from which model_type, its head, new weights, and its output's shapes."""

    auto_class: str
    model_type: str
    built: str  # the class the AutoClass chose
    head: str  # what sits on the body ('-' for none)
    new_weights: tuple[str, ...]  # not in the checkpoint: initialised at random
    output: str  # e.g. 'logits (1, 2)'


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """transformers' log messages and progress bars off inside, and back as they were after."""
    logging = _transformers().utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def save_tiny_models(folder: str | Path, seed: int = 0) -> dict[str, Path]:
    """Tiny random 'bert', 't5', 'gpt2' and 'clip' models saved in folder/<name>, each with a WordPiece tokenizer
    of the scene words (and CLIP with its image processor): real file layouts, nothing trained."""
    import torch

    from course_lib.data.tokenizer import llava_tokenizer

    transformers, folder = _transformers(), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join([*SPECIALS, *llava_tokenizer().itos[4:]]) + "\n")
    tokenizer = transformers.BertTokenizer(str(folder / "vocab.txt"))
    vocab, pad, cls, sep = len(tokenizer), *tokenizer.convert_tokens_to_ids(["[PAD]", "[CLS]", "[SEP]"])
    width = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    configs = {
        "bert": transformers.BertConfig(vocab_size=vocab, max_position_embeddings=64, **width),
        "t5": transformers.T5Config(vocab_size=vocab, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
                                    pad_token_id=pad, eos_token_id=sep, decoder_start_token_id=cls),
        "gpt2": transformers.GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                        bos_token_id=cls, eos_token_id=sep, pad_token_id=pad),
        "clip": transformers.CLIPConfig(
            text_config=dict(vocab_size=vocab, max_position_embeddings=32, bos_token_id=cls, eos_token_id=sep,
                             pad_token_id=pad, **width),
            vision_config=dict(image_size=32, patch_size=8, **width), projection_dim=16),
    }
    classes = {"bert": "BertModel", "t5": "T5ForConditionalGeneration", "gpt2": "GPT2LMHeadModel",
               "clip": "CLIPModel"}
    folders = {}
    with _quiet(), torch.random.fork_rng(devices=[]):  # seeded, and the caller's random state untouched
        torch.manual_seed(seed)
        for name, config in configs.items():
            folders[name] = folder / name
            getattr(transformers, classes[name])(config).save_pretrained(folders[name])
            tokenizer.save_pretrained(folders[name])
        pixels = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        transformers.CLIPProcessor(image_processor=pixels, tokenizer=tokenizer).save_pretrained(folders["clip"])
    return folders


def _shape(name: str, tensor: Any) -> str:
    return f"{name} {tuple(tensor.shape)}"


def _linear(module: Any) -> str:
    """'Linear(384 -> 2)' for an nn.Linear, else the module's class name."""
    if hasattr(module, "in_features"):
        return f"Linear({module.in_features} -> {module.out_features})"
    return type(module).__name__


def load_offline(auto_class: str, folder: str | Path, seed: int = 0, **kwargs: Any) -> tuple[Any, tuple[str, ...]]:
    """(model in eval mode, names of the weights the folder lacked): `auto_class`.from_pretrained from a local
    folder, never the network; a missing head is initialised from `seed`, the caller's random state untouched."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, info = getattr(_transformers(), auto_class).from_pretrained(
            folder, local_files_only=True, output_loading_info=True, **kwargs)
    return model.eval(), tuple(sorted(info["missing_keys"]))


def auto_class_tour(folders: dict[str, Path], encoder: str | Path | None = None, seed: int = 0) -> list[TourRow]:
    """Load each of the eight AutoClasses offline and run it once: encoder classes from `encoder` (a BERT-like
    folder; default the tiny 'bert'), seq2seq from 't5', causal LM from 'gpt2', AutoProcessor from 'clip'."""
    import torch

    transformers = _transformers()
    encoder = Path(folders["bert"] if encoder is None else encoder)
    local = dict(local_files_only=True)
    rows = []
    with _quiet(), torch.no_grad():
        tokenizer = transformers.AutoTokenizer.from_pretrained(encoder, **local)
        sentence = tokenizer(SENTENCE, return_tensors="pt")  # (1, L) ids, mask, token types
        model_type = transformers.AutoConfig.from_pretrained(encoder, **local).model_type
        rows.append(TourRow("AutoTokenizer", model_type, type(tokenizer).__name__, "-", (),
                            _shape("input_ids", sentence["input_ids"])))
        model, new = load_offline("AutoModel", encoder, seed)
        rows.append(TourRow("AutoModel", model.config.model_type, type(model).__name__, "- (the body only)", new,
                            _shape("last_hidden_state", model(**sentence).last_hidden_state)))
        for auto_class in ("AutoModelForSequenceClassification", "AutoModelForTokenClassification",
                           "AutoModelForQuestionAnswering"):
            labels = {"num_labels": LABELS[auto_class]} if auto_class in LABELS else {}
            model, new = load_offline(auto_class, encoder, seed, **labels)
            inputs = tokenizer(QUESTION, SENTENCE, return_tensors="pt") if "Question" in auto_class else sentence
            output = model(**inputs)
            shapes = ", ".join(_shape(k, v) for k, v in output.items() if k.endswith("logits"))
            rows.append(TourRow(auto_class, model.config.model_type, type(model).__name__, _head(model, auto_class),
                                new, shapes))
        for auto_class, name in (("AutoModelForSeq2SeqLM", "t5"), ("AutoModelForCausalLM", "gpt2")):
            model, new = load_offline(auto_class, folders[name], seed)
            text = transformers.AutoTokenizer.from_pretrained(folders[name], **local)(QUESTION, return_tensors="pt")
            ids = model.generate(input_ids=text["input_ids"], attention_mask=text["attention_mask"], do_sample=False,
                                 max_new_tokens=5, min_new_tokens=5)  # random weights: random words, greedily
            logits = model(**_for_logits(model, text, ids)).logits
            rows.append(TourRow(auto_class, model.config.model_type, type(model).__name__, _head(model, auto_class),
                                new, f"{_shape('logits', logits)}; generate -> {_shape('ids', ids)}"))
        processor = transformers.AutoProcessor.from_pretrained(folders["clip"], **local)
        clip, _ = load_offline("AutoModel", folders["clip"], seed)
        pictures = [torch.zeros(3, 48, 64, dtype=torch.uint8), torch.full((3, 32, 32), 255, dtype=torch.uint8)]
        inputs = processor(text=CAPTIONS, images=pictures, padding=True, return_tensors="pt")
        logits = clip(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                      pixel_values=inputs["pixel_values"]).logits_per_image
        built = f"{type(processor).__name__} ({type(processor.image_processor).__name__} + " \
                f"{type(processor.tokenizer).__name__})"
        rows.append(TourRow("AutoProcessor", clip.config.model_type, built, "-", (),
                            f"{_shape('pixel_values', inputs['pixel_values'])}, "
                            f"{_shape('input_ids', inputs['input_ids'])}; {type(clip).__name__} -> "
                            f"{_shape('logits_per_image', logits)}"))
    return rows


def _head(model: Any, auto_class: str) -> str:
    """'classifier Linear(384 -> 2), on the pooled [CLS]: a score per class'."""
    attribute, what = HEADS[auto_class]
    return f"{attribute} {_linear(getattr(model, attribute))}, {what}"


def _for_logits(model: Any, text: dict, ids: Any) -> dict:
    """One forward pass's inputs: the question (and, for seq2seq, the generated ids as the decoder's input)."""
    if model.config.is_encoder_decoder:
        return {"input_ids": text["input_ids"], "attention_mask": text["attention_mask"], "decoder_input_ids": ids}
    return {"input_ids": text["input_ids"], "attention_mask": text["attention_mask"]}


def tour_table(rows: list[TourRow]) -> str:
    """The tour as a text table: AutoClass, model_type -> class built, head, weights initialised at random, output."""
    lines = []
    for row in rows:
        new = ", ".join(row.new_weights) if row.new_weights else "none"
        lines += [f"{row.auto_class}: {row.model_type} -> {row.built}",
                  f"    head: {row.head}", f"    new (random) weights: {new}", f"    output: {row.output}"]
    return "\n".join(lines)
