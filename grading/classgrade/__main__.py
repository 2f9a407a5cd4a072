"""The command line: python -m classgrade {release,collect,autograde,feedback,export} (from grading/)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from classgrade.course import Course, Settings


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
    grade.add_argument("--disk-mb", type=int, default=Settings.disk_mb, help="each writable tmpfs of a submission")
    grade.add_argument("--max-processes", type=int, default=Settings.max_processes)
    grade.add_argument("--no-bwrap", action="store_true", help="resource limits only, even where bwrap works")
    grade.add_argument("--trust-submissions", action="store_true",
                       help="grade as root without bubblewrap (student code then runs as root: trusted code only)")
    fb = commands.add_parser("feedback", help="grading/autograded/ -> grading/feedback/ without hidden tests")
    fb.add_argument("assignment")
    fb.add_argument("--release", action="store_true", help="also `nbgrader release_feedback` to the exchange")
    rep = commands.add_parser("report", help="grading/reports/ASSIGNMENT.html and .csv: scores, parts, flags")
    rep.add_argument("assignment")
    export = commands.add_parser("export", help="the gradebook -> CSV (score, status, reason, earlier results)")
    export.add_argument("--to", default="grades.csv")
    args = parser.parse_args(argv)
    needs = {"collect": os.name == "posix", "autograde": sys.platform.startswith("linux")}  # see sandbox.py
    if not needs.get(args.command, True):
        print(f"classgrade {args.command} needs {'Linux' if args.command == 'autograde' else 'Linux or macOS'} "
              "(WSL2 on Windows); plain `nbgrader autograde` runs trusted submissions unsandboxed", file=sys.stderr)
        return 2
    course = Course.from_env()

    if args.command == "release":
        course.nbgrader("generate_assignment", args.assignment, "--force")
        course.nbgrader("release_assignment", args.assignment, "--force")
        print(f"released {args.assignment}: exercises/{args.assignment}/ (commit it) and the exchange")
    elif args.command == "collect":
        if args.zip:
            from classgrade.collect import collect_zip

            try:
                collected = collect_zip(args.assignment, args.zip, course)
            except ValueError as error:
                print(f"classgrade collect: {error}", file=sys.stderr)
                return 2
            print(collected.text())
        else:
            from classgrade.collect import collect_exchange

            print(f"collected {len(collect_exchange(args.assignment, course))} students from the exchange")
    elif args.command == "autograde":
        from classgrade.autograde import autograde

        settings = Settings(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                            memory_mb=args.memory_mb, disk_mb=args.disk_mb, max_processes=args.max_processes,
                            bwrap=not args.no_bwrap, trust_submissions=args.trust_submissions)
        sandbox = "bubblewrap" if settings.uses_bwrap() else "NO bubblewrap (resource limits only)"
        print(f"autograde {args.assignment}: sandbox = {sandbox}; per cell {settings.cell_timeout} s, "
              f"per notebook {settings.notebook_timeout} s, memory {settings.memory_mb} MiB for all its processes, "
              f"{settings.max_processes} processes, {settings.disk_mb} MiB per tmpfs")
        try:
            summary = autograde(args.assignment, course, settings, n_workers=args.workers, scheduler=args.scheduler,
                                students=args.student, force=args.force)
        except (PermissionError, RuntimeError) as error:
            print(f"classgrade autograde: {error}", file=sys.stderr)
            return 2
        print(summary.text())
    elif args.command == "feedback":
        from classgrade.feedback import feedback

        leaks = feedback(args.assignment, course, release=args.release)
        for student, lines in sorted(leaks.items()):
            print(f"  WITHHELD   {student}: the page still showed hidden-test lines {lines}")
        print(f"feedback {args.assignment}: grading/feedback/ ({len(leaks)} page(s) withheld)")
        return 1 if leaks else 0
    elif args.command == "report":
        from classgrade.report import report

        try:
            page, table = report(args.assignment, course)
        except ValueError as error:
            print(f"classgrade report: {error}", file=sys.stderr)
            return 2
        print(f"report {args.assignment}: {page} and {table}")
    elif args.command == "export":
        from classgrade.gradebook import State, export_csv

        rows = export_csv(course.gradebook, State(course.grading / ".classgrade" / "state.json"), Path(args.to))
        print(f"exported {len(rows)} rows (student x assignment, with a status column) to {args.to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
