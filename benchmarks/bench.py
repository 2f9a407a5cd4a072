"""`make bench`: how long the course takes, section by section, written to build/bench.md.

    python -m benchmarks.bench                              # everything (about 55 minutes on 2 CPU cores)
    python -m benchmarks.bench --sections notebooks         # only the lecture timings and the budgets
    python -m benchmarks.bench --sections models --no-training   # only the loading times

Sections: notebooks (every notebook in full and smoke mode, as a clean clone runs them, with the slowest cells of
the slowest lecture), models (training from scratch and loading the checkpoint, for every model of every lecture),
attention (the course's attention vs torch's fused kernel), sampling (mini Stable Diffusion's samplers: seconds per
image and the judge's score), grading (plain `nbgrader autograde` vs classgrade serial vs classgrade on a Dask
LocalCluster, with one submission's seconds per phase, then a synthetic class of
--grading-class-n students, hostile submissions included, on a separately started scheduler and workers) and memory
(benchmarks/memory.py: the peak resident memory of each lecture's kernel in full and smoke mode, and of training
each model; every lecture must run in full mode within MEMORY_BUDGET_MIB, Binder's 2 GB).
Where a CUDA GPU is present, models, attention and sampling are measured on it too, side by side with the CPU.

The budgets below are checked when the notebooks section runs, the memory, attention and grading budgets when
their sections run; the command exits 1 if one is broken.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.markdown import table
from benchmarks.memory import environment

BUILD = Path(__file__).resolve().parent.parent / "build"  # as ci.run_notebooks (imported only where needed:
# the sections without notebooks run where nbformat and papermill are not installed, e.g. a bare GPU machine)

SECTIONS = ("notebooks", "speed", "sampling", "attention", "grading", "memory", "models")  # the longest (training
# every model) last
CLASS_N = 200  # students in the grading section's synthetic class: about 11 minutes on 2 cores
BUDGETS = {  # seconds on 2 CPU cores, the course's reference machine
    "whole course, full mode": 30 * 60,
    "whole course, smoke mode": 10 * 60,
    "any lecture, full mode": 5 * 60,
}
COURSE_WALL_BUDGET = 5 * 60  # seconds: every notebook in full mode as `make course` runs them (side by side)
NOTEBOOK_BUDGETS = {  # (notebook, mode): seconds, for lectures whose issue set a tighter budget
    ("lectures/08_vision_transformers.ipynb", "full"): 3 * 60,
    ("lectures/08_vision_transformers.ipynb", "smoke"): 40,
}
ATTENTION_BUDGET = 1.2  # course attention without weights / PyTorch's fused kernel, at every L and pass
GRADING_BUDGET = 1.0  # classgrade serial / plain `nbgrader autograde`, submissions per minute: at least as fast
SPEED_BUDGETS = {  # seconds, one CPU thread; the speeds the course's text and tests rely on (moved out of tests)
    "lecture 6: DDIM-25 with guidance, one of 8 images": 2.0,
    "lecture 4: 5,000 + 600 seq2seq pairs generated": 1.0,
    "lecture 4: 10,000 scenes generated": 5.0,
}


def speed_section() -> tuple[list[str], list[str]]:
    """Time each SPEED_BUDGETS item; return the table and the budgets broken."""
    from course_lib.data.shapes import make_scenes
    from course_lib.data.text import train_test_split
    from course_lib.recipes import Store, UNetRecipe, mini_stable_diffusion
    from course_lib.recipes.diffusion import single_object_prompts

    sd = mini_stable_diffusion(UNetRecipe(), Store.for_notebook(progress=False))
    prompts = single_object_prompts(1)[:8]
    sd.generate(prompts[:1], steps=2)  # warm-up
    work = {"lecture 6: DDIM-25 with guidance, one of 8 images":
            (lambda: sd.generate(prompts, steps=25, guidance_scale=3.0), len(prompts)),
            "lecture 4: 5,000 + 600 seq2seq pairs generated": (lambda: train_test_split("phrases", 5000, 600, seed=0), 1),
            "lecture 4: 10,000 scenes generated": (lambda: make_scenes(10_000, seed=0), 1)}
    rows, failures = [], []
    for name, (run, per) in work.items():
        start = time.perf_counter()
        run()
        seconds = (time.perf_counter() - start) / per
        rows.append([name, f"{seconds:.3f}", f"{SPEED_BUDGETS[name]:g}"])
        if seconds > SPEED_BUDGETS[name]:
            failures.append(f"{name}: {seconds:.2f} s > {SPEED_BUDGETS[name]:g} s")
    return ["## Speeds the course relies on (budgets)", ""] + table(["what", "seconds", "budget"], rows), failures


def budget_failures(full: dict[str, float], smoke: dict[str, float]) -> list[str]:
    """Every budget the measured seconds per notebook break, as sentences (empty: all kept)."""
    failures = []
    checks = [("whole course, full mode", sum(full.values()), full), ("whole course, smoke mode",
                                                                     sum(smoke.values()), smoke)]
    for name, seconds, measured in checks:
        if measured and seconds > BUDGETS[name]:
            failures.append(f"{name}: {seconds / 60:.1f} min > {BUDGETS[name] / 60:.0f} min")
    for notebook, seconds in full.items():
        if notebook.startswith("lectures/") and seconds > BUDGETS["any lecture, full mode"]:
            failures.append(f"{notebook}, full mode: {seconds / 60:.1f} min > "
                            f"{BUDGETS['any lecture, full mode'] / 60:.0f} min")
    for (notebook, mode), budget in NOTEBOOK_BUDGETS.items():
        seconds = (full if mode == "full" else smoke).get(notebook)
        if seconds is not None and seconds > budget:
            failures.append(f"{notebook}, {mode} mode: {seconds:.0f} s > {budget} s")
    return failures


def slowest_cells(executed: Path, k: int = 5) -> list[tuple[float, int, str]]:
    """The k slowest code cells of an executed notebook: (seconds, cell number, first line), from papermill's log."""
    cells = json.loads(executed.read_text())["cells"]
    timed = [((c["metadata"].get("papermill") or {}).get("duration") or 0.0, i,
              "".join(c["source"]).strip().splitlines()[0] if "".join(c["source"]).strip() else "")
             for i, c in enumerate(cells) if c["cell_type"] == "code"]
    return sorted(timed, reverse=True)[:k]


def run_notebooks(out: Path) -> tuple[list[str], list[str]]:
    """Every notebook in full then smoke mode, with an empty model cache (as a clean clone); markdown, failures."""
    from ci.run_notebooks import course_notebooks, display_name, execute, execute_all

    seconds: dict[str, dict[str, float]] = {"full": {}, "smoke": {}}
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache, environment(COURSE_CACHE_DIR=cache):
        for mode in ("full", "smoke"):  # the notebooks' kernels inherit the cache: nothing from earlier runs
            for notebook in course_notebooks():
                result = execute(notebook, out / mode, smoke=mode == "smoke", cell_timeout=900, notebook_timeout=1800)
                if result.status != "ok":
                    raise RuntimeError(f"{display_name(notebook)} ({mode}): {result.status}: {result.detail}")
                seconds[mode][display_name(notebook)] = result.seconds
                print(f"  {mode:>5} {display_name(notebook):<50} {result.seconds:7.1f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache, environment(COURSE_CACHE_DIR=cache):
        start = time.perf_counter()  # again an empty cache: as `make course` on a clone
        side_by_side = execute_all(course_notebooks(), out / "side-by-side", smoke=False, jobs=os.cpu_count() or 1,
                                   cell_timeout=900, notebook_timeout=1800)
        course_wall = time.perf_counter() - start
    broken = [f"{display_name(r.notebook)}: {r.status}" for r in side_by_side if r.status != "ok"]
    if broken:
        raise RuntimeError(f"side by side, full mode: {'; '.join(broken)}")
    rows = [[name, f"{seconds['full'][name]:.1f}", f"{seconds['smoke'][name]:.1f}"] for name in seconds["full"]]
    rows.append(["**total**", f"**{sum(seconds['full'].values()):.1f}**", f"**{sum(seconds['smoke'].values()):.1f}**"])
    lines = ["## Notebooks (wall seconds, one after another, empty model cache)", ""]
    lines += table(["notebook", "full", "smoke"], rows)
    lectures = {n: s for n, s in seconds["full"].items() if n.startswith("lectures/")}
    slowest = max(lectures, key=lectures.get)
    lines += ["", f"Slowest lecture in full mode: `{slowest}` ({lectures[slowest]:.1f} s); its slowest cells:", ""]
    lines += table(["seconds", "cell", "first line"], [[f"{s:.1f}", str(i), f"`{line[:80]}`"]
                                                         for s, i, line in slowest_cells(executed_full(out, slowest))])
    lines += ["", f"The {len(side_by_side)} notebooks side by side as `make course` runs them ({os.cpu_count()} at a "
              f"time, full mode, empty model cache): **{course_wall:.0f} s** of wall time (budget "
              f"{COURSE_WALL_BUDGET:.0f} s)."]
    failures = budget_failures(seconds["full"], seconds["smoke"])
    if course_wall > COURSE_WALL_BUDGET:
        failures.append(f"the course side by side, full mode: {course_wall:.0f} s > {COURSE_WALL_BUDGET:.0f} s")
    lines += ["", "Budgets (2 CPU cores): " + ", ".join(f"{name} < {limit / 60:.0f} min"
                                                        for name, limit in BUDGETS.items()) + ": "
              + ("**all kept**." if not failures else "**broken**: " + "; ".join(failures) + ".")]
    return lines, failures


def executed_full(out: Path, name: str) -> Path:
    return out / "full" / name.lstrip("/")


def devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def models_section(train: bool) -> list[str]:
    """Seconds to train each model from scratch and to load its checkpoint, on every device."""
    from benchmarks.models import course_models, time_load, time_training

    headers, rows = ["lecture", "model"], []
    for device in devices():
        headers += [f"load ({device}, ms)"] + ([f"train ({device})", f"final loss ({device})"] if train else [])
    for model in course_models():
        row = [str(model.lecture), model.name]
        for device in devices():
            load_s, source = time_load(model, device)
            row.append(f"{1000 * load_s:.0f}" if source is not None else "not cached")
            if train:
                train_s, loss = time_training(model, device)
                row += [f"{train_s:.1f}", f"{loss:.4f}"]
        rows.append(row)
        print("  " + " | ".join(row), flush=True)
    return ["## Models (training in seconds, one CPU thread; 'not cached': the lecture trains it at run time, "
            "no checkpoint is shipped, and no earlier run left one in the cache folder)", ""] + \
        table(headers, rows)


def attention_section() -> tuple[list[str], list[str]]:
    """The attention table on every device, and the broken ATTENTION_BUDGET (weights not asked / fused)."""
    from benchmarks.attention_vs_sdpa import HEADER, compare, markdown_row

    lines = ["## Attention: course `scaled_dot_product_attention` vs `torch.nn.functional.scaled_dot_product_attention`",
             "", "Batch 2, 4 heads, d_head 64, fp32; the best of 7 interleaved runs. Ratio > 1: the course's is slower. Weights not "
             "asked (`need_weights=False`, what the models use in training and sampling): the course calls the fused "
             f"kernel; budget {ATTENTION_BUDGET:g}x. Weights asked: the explicit path, which builds the L x L weights.",
             ""]
    failures = []
    for device in devices():
        rows = compare(torch.device(device), [64, 128, 256, 512, 1024, 2048, 4096])
        lines += [f"**{device}**", ""] + table(HEADER, [markdown_row(r) for r in rows]) + [""]
        failures += [f"attention on {device}, L = {r['L']}, {r['pass']}: weights not asked {r['not_asked_ratio']:.2f}x "
                     f"the fused kernel > {ATTENTION_BUDGET:g}x" for r in rows if r["not_asked_ratio"] > ATTENTION_BUDGET]
    return lines, failures


def sampling_section() -> list[str]:
    from course_lib.stable_diffusion import time_samplers
    from course_lib.recipes import JudgeRecipe, Store, UNetRecipe, mini_stable_diffusion
    from course_lib.recipes.diffusion import single_object_prompts

    prompts = single_object_prompts(repeats=3)  # lecture 6's 108 one-object prompts
    lines = ["## Mini Stable Diffusion: seconds per image and the judge's faithfulness (guidance 3, batch of 108; "
             "DDPM on 18)", ""]
    results = {}
    for device in devices():
        store = Store.for_notebook(device=device, progress=False)
        sd = mini_stable_diffusion(UNetRecipe(), store)
        judge = store.load(JudgeRecipe()).model
        results[device] = time_samplers(sd, judge, prompts, ddpm_images=18)
    names = [r.name for r in results["cpu"]]
    headers = ["sampler"] + [f"{h} ({d})" for d in results for h in ("s / image", "faithfulness")]
    rows = [[name] + [v for d in results for v in (f"{results[d][i].seconds_per_image:.4f}",
                                                   f"{results[d][i].faithfulness:.0%}")]
            for i, name in enumerate(names)]
    return lines + table(headers, rows)


def grading_section(n: int, assignment: str, class_n: int = 0) -> tuple[list[str], list[str]]:
    """n copies of a solution graded by plain `nbgrader autograde`, classgrade serial and classgrade on a
    LocalCluster, with one submission's seconds per phase (GRADING_BUDGET); then a synthetic class of class_n
    students (hostile submissions too) on a scheduler with separately started worker processes, as on several
    machines."""
    from benchmarks.grading_throughput import against_plain, comparison_report
    from benchmarks.synthetic_class import grade_synthetic_class

    lines, failures = [], []
    if n:
        result = against_plain(n, assignment, workers=os.cpu_count())
        lines += [f"## Autograding against plain nbgrader ({n} copies of the `{assignment}` solution)", ""]
        lines += comparison_report(result) + [""]
        serial = next(r for r in result["rows"] if r["run"] == "classgrade serial")
        if serial["ratio"] < GRADING_BUDGET:
            failures.append(f"classgrade serial: {serial['ratio']:.2f}x plain nbgrader < {GRADING_BUDGET:g}x")
    if class_n:
        r = grade_synthetic_class(class_n, workers=os.cpu_count(), progress=False)
        lines += [f"## Autograding a synthetic class ({class_n} students of the tiny test assignment, hostile ones "
                  f"included) on `dask scheduler` + {r['workers']} `dask worker` processes", "",
                  f"{r['seconds']:.0f} s, **{r['per_minute']:.1f} submissions / minute**; {r['graded']} graded, "
                  f"{r['failed']} failed, {r['timed_out']} timed out; processes left behind: {r['strays']}; "
                  f"the real /tmp written: {'**yes**' if r['tmp_written'] else 'no'}.", ""]
        lines += table(["submission", "students", "expected", "as expected", "got", "seconds each (on a worker)"],
                       [[f"`{k['kind']}`", str(k["students"]), str(k["expected"]), str(k["as_expected"]), k["got"],
                         f"{k['seconds']:.1f}"] for k in r["kinds"]])
        if r["unexpected"]:
            lines += ["", "Unexpected: " + "; ".join(f"`{s}`: {g}" for s, g in sorted(r["unexpected"].items()))]
    return lines, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--no-training", action="store_true",
                        help="models: only the loading times; memory: only the notebooks")
    parser.add_argument("--grading-n", type=int, default=20,
                        help="submissions graded three ways: plain nbgrader, classgrade serial and on workers")
    parser.add_argument("--grading-assignment", default="convolutions")
    parser.add_argument("--grading-class-n", type=int, default=CLASS_N,
                        help="students in the synthetic class graded on separately started Dask workers (0: none)")
    parser.add_argument("--out", type=Path, default=BUILD / "bench.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as every lecture and training script: the fastest setting on a shared 2-core machine
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    lines = ["# Course benchmarks", "",
             f"{time.strftime('%Y-%m-%d %H:%M')}; {platform.processor() or platform.machine()}, {os.cpu_count()} "
             f"cores, torch {torch.__version__} (1 CPU thread), GPU: {gpu}.", ""]
    failures: list[str] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for section in args.sections:
        print(f"== {section}", flush=True)
        start = time.perf_counter()
        if section == "notebooks":
            section_lines, broken = run_notebooks(BUILD / "bench")
            failures += broken
        elif section == "speed":
            section_lines, broken = speed_section()
            failures += broken
        elif section == "memory":
            from benchmarks.memory import memory_section

            section_lines, broken = memory_section(train=not args.no_training, out=BUILD / "bench" / "memory")
            failures += broken
        elif section == "models":
            section_lines = models_section(train=not args.no_training)
        elif section == "attention":
            section_lines, broken = attention_section()
            failures += broken
        elif section == "sampling":
            section_lines = sampling_section()
        else:
            section_lines, broken = grading_section(args.grading_n, args.grading_assignment, args.grading_class_n)
            failures += broken
        lines += section_lines + ["", f"_(section took {time.perf_counter() - start:.0f} s)_", ""]
        args.out.write_text("\n".join(lines) + "\n")  # after every section: a crash keeps what was measured
    print(f"wrote {args.out}")
    for failure in failures:
        print(f"BUDGET BROKEN: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
