"""Grade a whole class with nbgrader: one command per step, safe autograding, a summary at the end.

Run from grading/ (the Makefile's `make grade-*` targets do):
    python -m classgrade release   ASSIGNMENT
    python -m classgrade collect   ASSIGNMENT [--zip canvas.zip]
    python -m classgrade autograde ASSIGNMENT [--workers N | --scheduler tcp://host:8786]
    python -m classgrade feedback  ASSIGNMENT [--release]
    python -m classgrade export    [--to grades.csv]

Modules: course (paths, nbgrader, limits), sandbox (the kernel launcher: rlimits + bubblewrap),
worker (one submission in a private scratch course), gradebook (the serial merge, resume state),
autograde (Dask, progress, summary), feedback (hidden tests scrubbed), collect (exchange or LMS zip).
"""
