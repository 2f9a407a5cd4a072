"""The command line: python -m classgrade {release,collect,autograde,feedback,export} (from grading/)."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from classgrade.course import GRADING, Course, Settings, bwrap_works


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classgrade", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="solutions/ -> exercises/ and the exchange")
    release.add_argument("assignment")
    collect = commands.add_parser("collect", help="the exchange (or an LMS zip) -> grading/submitted/")
    collect.add_argument("assignment")
    collect.add_argument("--zip", type=Path, help="an LMS download with one file (or folder) per student")
    grade = commands.add_parser("autograde", help="grading/submitted/ -> the gradebook, in parallel, sandboxed")
    grade.add_argument("assignment")
    grade.add_argument("--workers", type=int, default=None, help="Dask worker processes (default: CPU cores; 0: serial)")
    grade.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    grade.add_argument("--student", action="append", help="grade only these students (repeatable)")
    grade.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    grade.add_argument("--cell-timeout", type=int, default=Settings.cell_timeout)
    grade.add_argument("--notebook-timeout", type=int, default=Settings.notebook_timeout)
    grade.add_argument("--memory-mb", type=int, default=Settings.memory_mb)
    grade.add_argument("--no-bwrap", action="store_true", help="resource limits only, even where bwrap works")
    fb = commands.add_parser("feedback", help="grading/autograded/ -> grading/feedback/ without hidden tests")
    fb.add_argument("assignment")
    fb.add_argument("--release", action="store_true", help="also `nbgrader release_feedback` to the exchange")
    export = commands.add_parser("export", help="the gradebook -> CSV")
    export.add_argument("--to", default="grades.csv")
    args = parser.parse_args(argv)
    course = Course.from_env()

    if args.command == "release":
        course.nbgrader("generate_assignment", args.assignment, "--force")
        course.nbgrader("release_assignment", args.assignment, "--force")
        print(f"released {args.assignment}: exercises/{args.assignment}/ (commit it) and the exchange")
    elif args.command == "collect":
        if args.zip:
            from classgrade.collect import collect_zip

            problems = collect_zip(args.assignment, args.zip, course)
            print(f"collected {len(problems)} students from {args.zip}")
            for student, found in sorted(problems.items()):
                for problem in found:
                    print(f"  PROBLEM    {student}: {problem}")
        else:
            from classgrade.collect import collect_exchange

            print(f"collected {len(collect_exchange(args.assignment, course))} students from the exchange")
    elif args.command == "autograde":
        from classgrade.autograde import autograde

        settings = Settings(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                            memory_mb=args.memory_mb, bwrap=not args.no_bwrap)
        sandbox = "bubblewrap + resource limits" if settings.bwrap and bwrap_works() else "resource limits only (no bwrap)"
        print(f"autograde {args.assignment}: sandbox = {sandbox}; per cell {settings.cell_timeout} s, "
              f"per notebook {settings.notebook_timeout} s, memory {settings.memory_mb} MiB")
        summary = autograde(args.assignment, course, settings, n_workers=args.workers, scheduler=args.scheduler,
                            students=args.student, force=args.force)
        print(summary.text())
    elif args.command == "feedback":
        from classgrade.feedback import feedback

        leaks = feedback(args.assignment, course, release=args.release)
        for student, lines in sorted(leaks.items()):
            print(f"  WITHHELD   {student}: the page still showed hidden-test lines {lines}")
        print(f"feedback {args.assignment}: grading/feedback/ ({len(leaks)} page(s) withheld)")
        return 1 if leaks else 0
    elif args.command == "export":
        course.nbgrader("export", "--to", args.to)
        with open(GRADING / args.to) as f:  # nbgrader runs in grading/
            rows = list(csv.DictReader(f))
        print(f"exported {len(rows)} rows (student x assignment) to {args.to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
