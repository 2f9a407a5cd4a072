"""nbgrader configuration for the course: run every nbgrader command from grading/ (the Makefile does).

Layout (relative to the repository root):
    solutions/<assignment>/      the instructor source (with solutions and hidden tests)
    exercises/<assignment>/      the student release, made by `make release` (never edited by hand)
    grading/submitted/, grading/autograded/, grading/feedback/, grading/gradebook.db
                                 the instructor's class data: outside git (see .gitignore)
Override the course root or the exchange with COURSE_ROOT and COURSE_EXCHANGE.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821 (nbgrader injects get_config)

root = Path(os.environ.get("COURSE_ROOT", Path(__file__).resolve().parent.parent))

c.CourseDirectory.course_id = "dl-vision-attention"
c.CourseDirectory.root = str(root)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
c.CourseDirectory.db_url = f"sqlite:///{root / 'grading' / 'gradebook.db'}"
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", str(root / "grading" / "exchange"))

# Student code runs as the course kernel; each cell gets 2 minutes (nbgrader's default is 30 s).
c.Execute.timeout = 120

# nbgrader scores a test cell 0 if it wrote *anything* to stderr. A harmless library warning
# (PyTorch, NumPy, scikit-learn) must not zero a correct answer, so warnings are dropped first.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(Warning|warn\()"

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
