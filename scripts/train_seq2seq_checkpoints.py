"""Reproduce lecture 4's shipped translation models in checkpoints/: GRU encoder-decoders with and without attention.

    python scripts/train_seq2seq_checkpoints.py        # about 3 minutes on one CPU thread

Each model is trained from scratch with the recipe the lecture uses (course_lib.zoo_seq2seq), so the lecture
loads exactly what it would otherwise train; the recipe and both vocabularies are stored in each file's metadata.
"""

from __future__ import annotations

import time

import torch

from course_lib.checkpoints import SHIPPED_DIR
from course_lib.seq2seq_metrics import accuracy_by_length, alignment_accuracy, attention_maps, exact_match, translate
from course_lib.zoo_seq2seq import LECTURE4_ATTENTIONS, Seq2SeqRecipe, seq2seq, translation_data


def main() -> None:
    torch.set_num_threads(1)  # as the lecture does; also the fastest setting for such small models
    for old in SHIPPED_DIR.glob("phrases_seq2seq_*.safetensors"):
        old.unlink()  # recipes that changed leave no stale files behind
    for attention in LECTURE4_ATTENTIONS:
        recipe = Seq2SeqRecipe(attention=attention)
        start = time.perf_counter()
        trained = seq2seq(recipe, device="cpu", progress=False, directories=(), save_to=SHIPPED_DIR)
        seconds = time.perf_counter() - start
        data = translation_data(recipe)
        tokenizers = data.source_tokenizer, data.target_tokenizer
        predictions, _ = translate(trained.model, data.test.source, *tokenizers)
        by_length = accuracy_by_length(predictions, data.test.target, data.test.length)
        line = (f"attention={attention}: trained in {seconds:.0f} s, final loss {trained.history[-1]:.4f}, "
                f"held-out exact match {exact_match(predictions, data.test.target):.3f}, by phrases "
                + " ".join(f"{k}:{acc:.2f}" for k, acc in by_length.items()))
        if attention is not None:
            maps = attention_maps(trained.model, data.test, *tokenizers)
            line += f", alignment {alignment_accuracy(maps, data.test.alignment):.3f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
