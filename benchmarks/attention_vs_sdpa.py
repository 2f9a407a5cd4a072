"""The course's scaled dot-product attention against PyTorch's fused one, forward and backward (lecture 4).

    python benchmarks/attention_vs_sdpa.py                 # CPU, sequence lengths 64 .. 4096
    python benchmarks/attention_vs_sdpa.py --device cuda   # where a GPU is present

Prints one Markdown row per sequence length and pass: milliseconds for PyTorch's fused kernel, for the course's
attention when the caller does not ask for the weights (need_weights=False: it calls the fused kernel) and when
it does (the explicit path, which materialises the (L, L) weights), and each one's ratio to the fused kernel.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from course_lib.device import get_device
from course_lib.models.attention import causal_mask, scaled_dot_product_attention


def course_weights_asked(q, k, v, mask):
    return scaled_dot_product_attention(q, k, v, mask)[0]


def course_weights_not_asked(q, k, v, mask):
    return scaled_dot_product_attention(q, k, v, mask, need_weights=False)[0]


def fused(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def run_once(fn, q, k, v, mask, backward: bool) -> float:
    """Seconds for one call of fn (plus its backward pass)."""
    start = time.perf_counter()
    out = fn(q, k, v, mask)
    if backward:
        out.sum().backward()
    if q.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def milliseconds(fns: list, q, k, v, mask, backward: bool, repeats: int) -> list[float]:
    """The best wall time of each fn over `repeats` rounds, after one warm-up round.

    The functions take turns within every round, so a busy spell of a shared machine slows them alike; the
    minimum is the least disturbed run (as `timeit` advises).
    """
    times = [[] for _ in fns]
    for _ in range(repeats + 1):
        for fn, seconds in zip(fns, times):
            seconds.append(run_once(fn, q, k, v, mask, backward))
    return [1000 * min(seconds[1:]) for seconds in times]


def compare(device: torch.device, lengths: list[int], batch: int = 2, heads: int = 4, d_head: int = 64,
            repeats: int = 7, causal: bool = False) -> list[dict]:
    """One row per (length, pass): milliseconds for PyTorch's kernel and the course's two paths, and the ratios."""
    rows = []
    for length in lengths:
        shape = (batch, heads, length, d_head)
        q, k, v = (torch.randn(shape, device=device, requires_grad=True) for _ in range(3))
        mask = causal_mask(length, device) if causal else None
        for backward in (False, True):
            with torch.set_grad_enabled(backward):
                torch_ms, not_asked, asked = milliseconds([fused, course_weights_not_asked, course_weights_asked],
                                                          q, k, v, mask, backward, repeats)
            rows.append({"L": length, "pass": "forward + backward" if backward else "forward", "torch_ms": torch_ms,
                         "not_asked_ms": not_asked, "asked_ms": asked,
                         "not_asked_ratio": not_asked / torch_ms, "asked_ratio": asked / torch_ms})
    return rows


HEADER = ["L", "pass", "PyTorch fused (ms)", "course, weights not asked (ms)", "course, weights asked (ms)",
          "not asked / fused", "asked / fused"]


def markdown_row(row: dict) -> list[str]:
    return [str(row["L"]), row["pass"], f"{row['torch_ms']:.2f}", f"{row['not_asked_ms']:.2f}",
            f"{row['asked_ms']:.2f}", f"{row['not_asked_ratio']:.2f}", f"{row['asked_ratio']:.2f}"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048, 4096])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-head", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--causal", action="store_true", help="use a causal mask")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    device = get_device(args.device)
    print(f"device {device}, batch {args.batch}, heads {args.heads}, d_head {args.d_head}, "
          f"torch threads {torch.get_num_threads()}, causal mask: {args.causal}\n")
    print("| " + " | ".join(HEADER) + " |")
    print("|---:|---|" + "---:|" * (len(HEADER) - 2))
    for row in compare(device, args.lengths, args.batch, args.heads, args.d_head, args.repeats, args.causal):
        print("| " + " | ".join(markdown_row(row)) + " |", flush=True)

if __name__ == "__main__":
    main()
