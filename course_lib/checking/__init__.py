"""Checking a notebook's functions: the probe the trusted grader runs, and hints for the *Validate* button.

`probe` calls a notebook's functions on inputs made from a seed and emits plain data (used by
grading/classgrade, in the student's sandboxed kernel and in the trusted reference run). `hints` explains a
failed test cell in the student's own kernel when their results match a classic mistake's.
"""
