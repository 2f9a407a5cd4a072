# Deep learning for vision and attention: one Makefile for students, instructors and CI.
# Every target creates .venv on first use and installs the course from constraints.txt.

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
ASSIGNMENT ?= pca_autoencoders
export PATH := $(BIN):$(PATH)
# Models a run trains (those not shipped in course_lib/weights/) are cached here; a pip-installed course_lib
# without it uses ~/.cache/course_lib.
export COURSE_CACHE_DIR ?= $(CURDIR)/build/checkpoints
NBGRADER := cd grading && $(BIN)/nbgrader
# JupyterLab with the course's settings (ci/lab/): started from grading/ so nbgrader's Validate button
# reads grading/nbgrader_config.py. Root (CI containers) must say --allow-root.
LAB := cd grading && $(BIN)/jupyter lab --notebook-dir=$(CURDIR) --config=$(CURDIR)/ci/lab/jupyter_lab_config.py \
	$(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: help setup course site test test-fast bench browser-test lab release collect autograde feedback export grading-check constraints clean

help:
	@echo "make course   set up, then execute every notebook (full mode) into build/, with HTML, a timing table"
	@echo "              and the static site build/site/index.html"
	@echo "make test     set up, then run the whole test suite (unit tests, notebooks in smoke mode, grading checks,"
	@echo "              JupyterLab in chromium when /usr/bin/chromium is installed)"
	@echo "make test-fast  the inner loop: the tests not marked slow (under 3 minutes)"
	@echo "make bench    set up, then time everything (notebooks, models, attention, samplers, grading) into"
	@echo "              build/bench.md and check the run-time budgets (about 55 minutes; not part of make test)"
	@echo "make lab      open the course in JupyterLab"
	@echo "instructor:   make release | collect | autograde | feedback | export   [ASSIGNMENT=$(ASSIGNMENT)]"

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "The course needs Python >= 3.10; found $$($(PYTHON) --version). Run: make PYTHON=python3.11 ..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev,hf,real]'
	@# jsonschema's optional IRI format check (rfc3987-syntax, pulled in by jupyter-events) builds a parser when
	@# imported: 1.4 s of CPU in every process that imports nbformat (each nbgrader, papermill and grading run).
	@# jsonschema skips that one check without it, so the course's environment goes without.
	@# jupyterlab-rise requires jupyterlab-mathjax3, an extension JupyterLab 4 no longer needs (MathJax 3 is built in)
	@# and lists as incompatible; without it RISE still typesets math through JupyterLab's own.
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax jupyterlab-mathjax3
	touch $@

setup: $(STAMP)

course: $(STAMP)  ## also builds the static site build/site/ from the executed lectures
	$(BIN)/python -m ci.run_notebooks --mode full

site: $(STAMP)  ## rebuild build/site/ (Sphinx pages and reveal.js slides) from build/executed/ without running the notebooks again
	$(BIN)/python -m ci.build_site

test: $(STAMP)  ## everything, on every core (pytest-xdist; a module stays on one worker)
	$(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder

test-fast: $(STAMP)  ## the inner loop: everything not marked slow (tests/conftest.py: SLOW_MODULES)
	$(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder -m "not slow"

bench: $(STAMP)  ## build/bench.md; exits 1 if a run-time budget is broken. BENCH_ARGS="--sections notebooks"
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)

browser-test: $(STAMP)  ## only the JupyterLab-in-chromium test; screenshots in build/browser/
	$(BIN)/python -m pytest tests/test_browser.py

lab: $(STAMP)
	$(LAB)

# ---- instructor: nbgrader with grading/nbgrader_config.py -------------------------------------
release: $(STAMP)  ## solutions/ -> exercises/ (commit the result), then publish to the exchange
	mkdir -p grading/exchange
	$(NBGRADER) generate_assignment $(ASSIGNMENT) --force
	$(NBGRADER) release_assignment $(ASSIGNMENT) --force

collect: $(STAMP)  ## students' `nbgrader submit` -> grading/submitted/
	$(NBGRADER) collect $(ASSIGNMENT)

autograde: $(STAMP)  ## grading/submitted/ -> grading/autograded/ and the gradebook
	$(NBGRADER) autograde $(ASSIGNMENT)

feedback: $(STAMP)  ## grading/autograded/ -> grading/feedback/ (HTML), then back to the students
	$(NBGRADER) generate_feedback $(ASSIGNMENT)
	$(NBGRADER) release_feedback $(ASSIGNMENT)

export: $(STAMP)  ## the gradebook -> grading/grades.csv
	$(NBGRADER) export --to grades.csv

grading-check: $(STAMP)  ## solutions score full marks, releases zero, exercises/ is fresh
	$(BIN)/python -m ci.check_grading

constraints: $(STAMP)  ## rewrite constraints.txt from the installed .venv
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > constraints.new
	mv constraints.new constraints.txt

# ---- instructor, whole class: grading/classgrade (sandboxed, parallel on Dask, summary at the end) -----
# make grade-autograde ASSIGNMENT=pca_autoencoders WORKERS=8    (GRADE_ARGS: any other classgrade options,
# e.g. GRADE_ARGS="--scheduler tcp://host:8786" or ZIP=canvas.zip for grade-collect)
CLASSGRADE := cd grading && $(BIN)/python -m classgrade
WORKERS ?=
ZIP ?=
GRADE_ARGS ?=
.PHONY: grade-release grade-collect grade-autograde grade-feedback grade-report grade-export
grade-release: $(STAMP)  ## solutions/ -> exercises/ and the exchange
	$(CLASSGRADE) release $(ASSIGNMENT)
grade-collect: $(STAMP)  ## the exchange, or ZIP=lms-download.zip -> grading/submitted/
	$(CLASSGRADE) collect $(ASSIGNMENT) $(if $(ZIP),--zip $(abspath $(ZIP))) $(GRADE_ARGS)
grade-autograde: $(STAMP)  ## every changed submission, sandboxed, in parallel -> gradebook, summary
	$(CLASSGRADE) autograde $(ASSIGNMENT) $(if $(WORKERS),--workers $(WORKERS)) $(GRADE_ARGS)
grade-feedback: $(STAMP)  ## HTML feedback without hidden tests (add GRADE_ARGS=--release to send it)
	$(CLASSGRADE) feedback $(ASSIGNMENT) $(GRADE_ARGS)
grade-report: $(STAMP)  ## grading/reports/ASSIGNMENT.html and .csv: scores, parts, failures, flagged code
	$(CLASSGRADE) report $(ASSIGNMENT)
grade-export: $(STAMP)  ## the gradebook -> grading/grades.csv
	$(CLASSGRADE) export --to grades.csv

clean:
	rm -rf build .pytest_cache
