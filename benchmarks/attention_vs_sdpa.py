"""The course's scaled dot-product attention against PyTorch's fused one, forward and backward (lecture 4).

    python benchmarks/attention_vs_sdpa.py                 # CPU, sequence lengths 64 .. 2048
    python benchmarks/attention_vs_sdpa.py --device cuda   # where a GPU is present

Prints one Markdown row per sequence length: milliseconds for each, and the ratio course / PyTorch.
The course's version materialises the (L, L) weight matrix; the fused kernel does not need to.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from course_lib.device import get_device
from course_lib.models.attention import causal_mask, scaled_dot_product_attention


def course(q, k, v, mask):
    return scaled_dot_product_attention(q, k, v, mask)[0]


def fused(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def milliseconds(fn, q, k, v, mask, backward: bool, repeats: int) -> float:
    """Median wall time of fn (plus its backward pass) over `repeats` runs, after one warm-up."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        out = fn(q, k, v, mask)
        if backward:
            out.sum().backward()
        if q.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times[1:])[len(times[1:]) // 2]


def compare(device: torch.device, lengths: list[int], batch: int = 2, heads: int = 4, d_head: int = 64,
            repeats: int = 5, causal: bool = False) -> list[dict]:
    """One row per (length, pass): milliseconds for the course's attention and PyTorch's, and their ratio."""
    rows = []
    for length in lengths:
        shape = (batch, heads, length, d_head)
        q, k, v = (torch.randn(shape, device=device, requires_grad=True) for _ in range(3))
        mask = causal_mask(length, device) if causal else None
        for backward in (False, True):
            with torch.set_grad_enabled(backward):
                ours = milliseconds(course, q, k, v, mask, backward, repeats)
                theirs = milliseconds(fused, q, k, v, mask, backward, repeats)
            rows.append({"L": length, "pass": "forward + backward" if backward else "forward",
                         "course_ms": ours, "torch_ms": theirs, "ratio": ours / theirs})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-head", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--causal", action="store_true", help="use a causal mask")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    device = get_device(args.device)
    print(f"device {device}, batch {args.batch}, heads {args.heads}, d_head {args.d_head}, "
          f"torch threads {torch.get_num_threads()}, causal mask: {args.causal}\n")
    print("| L | pass | course (ms) | PyTorch (ms) | course / PyTorch |")
    print("|---:|---|---:|---:|---:|")
    for row in compare(device, args.lengths, args.batch, args.heads, args.d_head, args.repeats, args.causal):
        print(f"| {row['L']} | {row['pass']} | {row['course_ms']:.2f} | {row['torch_ms']:.2f} | {row['ratio']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
