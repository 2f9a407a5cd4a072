"""The course's models from the shell.

    python -m course_lib.recipes list                  # every recipe: lecture, shipped or not, checkpoint state
    python -m course_lib.recipes train NAME [NAME ...]  # train these from scratch and save them
    python -m course_lib.recipes train --all           # every shipped recipe (about an hour on 2 CPU cores)

Shipped recipes are saved into course_lib/weights/ (commit them), the others into the cache folder; `--to DIR`
saves anywhere else. After `train --all`, shipped files that no recipe owns any more are deleted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from course_lib.device import get_device
from course_lib.recipes.registry import ENTRIES, Entry, entry, stale_files
from course_lib.recipes.store import Store, default_cache_dir, shipped_dir


def checkpoint_state(e: Entry, store: Store) -> str:
    """'shipped', 'cached', or 'missing' (and for a shipped recipe, 'MISSING: train it')."""
    found = store.find(e.recipe)
    if found is not None:
        return found[0].name.lower()
    return "MISSING: train it" if e.shipped else "missing (trained on first use)"


def list_recipes(store: Store) -> str:
    rows = [(e.name, str(e.lecture), "yes" if e.shipped else "no", checkpoint_state(e, store), e.recipe.filename)
            for e in ENTRIES]
    header = ("name", "lecture", "ships", "checkpoint", "file")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    stale = stale_files(store.shipped) if store.shipped is not None else []
    if stale:
        lines.append(f"stale shipped files (no recipe owns them): {', '.join(p.name for p in stale)}")
    return "\n".join(lines)


def train_recipes(names: list[str], device: str | None, to: Path | None) -> list[tuple[str, float, float]]:
    """Train each recipe from scratch (what it builds on is loaded) and save it; (name, seconds, last loss)."""
    summary, owned = [], {x.recipe.filename for x in ENTRIES}
    for e in [entry(name) for name in names]:
        target = to or (shipped_dir() if e.shipped else default_cache_dir())
        store = Store(get_device(device), True, shipped_dir(), target)
        print(f"{e.name}: training {e.recipe.filename} -> {target}", flush=True)
        start = time.perf_counter()
        trained = store.train(e.recipe)
        seconds = time.perf_counter() - start
        for old in target.glob(f"{e.recipe.stem}-*.safetensors"):  # the same model under an older key
            if old.name.rsplit("-", 1)[0] == e.recipe.stem and old.name not in owned:
                old.unlink()
        summary.append((e.name, seconds, trained.history[-1]))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.recipes", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every recipe and the state of its checkpoint")
    train = commands.add_parser("train", help="train recipes from scratch and save them")
    train.add_argument("names", nargs="*", help="registry names (see `list`)")
    train.add_argument("--all", action="store_true", help="every shipped recipe")
    train.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    train.add_argument("--to", type=Path, default=None, help="save here instead")
    train.add_argument("--threads", type=int, default=1,
                       help="CPU threads (default 1: as the shipped files were made, bit for bit)")
    args = parser.parse_args(argv)

    if args.command == "list":
        print(list_recipes(Store.for_notebook(progress=False)))
        return 0
    if bool(args.names) == args.all:
        parser.error("train: give recipe names, or --all (not both)")
    names = [e.name for e in ENTRIES if e.shipped] if args.all else args.names
    torch.set_num_threads(args.threads)
    try:
        summary = train_recipes(names, args.device, args.to)
    except (KeyError, ValueError) as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    if args.all and args.to is None:
        for path in stale_files(shipped_dir()):
            path.unlink()
            print(f"deleted stale {path.name}")
    print(f"\n{'recipe':<24} {'seconds':>8} {'last loss':>10}")
    for name, seconds, loss in summary:
        print(f"{name:<24} {seconds:>8.1f} {loss:>10.4f}")
    print(f"{'total':<24} {sum(s for _, s, _ in summary):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
