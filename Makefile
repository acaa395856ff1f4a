# The two quick-start commands (see README.md): `make lab` opens the course, `make test` runs every test.
# Both create the local virtual environment .venv when it is missing; both are idempotent.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(PY) -m pytest

BOOK_STAMP := $(VENV)/.installed-book-stamp
# `make lab LAB_ARGS="--ip=0.0.0.0 --port=8888 --no-browser"` passes options on to JupyterLab (containers, remote machines).
LAB_ARGS ?=

.PHONY: lab test unit nbval e2e execute reproduce student clean book slides slide-tags solutions

# Each installation step says what it installs and how long it took. torch==2.13.0 is the CPU build on this
# project's machines; a bare `torch` would pull CUDA wheels.
$(STAMP): pyproject.toml
	@echo "make: installing into $(VENV) (created when missing): torch==2.13.0, then ddim_ref[test,course] (pytest, nbval, playwright, jupyterlab, ipykernel) ..."
	@start=$$(date +%s); set -e; \
	test -x $(PY) || python3 -m venv $(VENV); \
	$(PY) -m pip install --quiet torch==2.13.0; \
	$(PY) -m pip install --quiet -e ".[test,course]"; \
	touch $(STAMP); \
	echo "make: installed in $$(( $$(date +%s) - start )) s"

# The website and slides tools, pinned in pyproject's `book` extra (Sphinx, myst-nb, sphinx-book-theme, MathJax).
$(BOOK_STAMP): $(STAMP) pyproject.toml
	@echo "make: installing into $(VENV): ddim_ref[book] (sphinx, myst-nb, sphinx-book-theme, jupyter-server-mathjax) ..."
	@start=$$(date +%s); set -e; \
	$(PY) -m pip install --quiet -e ".[test,course,book]"; \
	touch $(BOOK_STAMP); \
	echo "make: installed in $$(( $$(date +%s) - start )) s"

# JupyterLab refuses to run as root (containers, cloud notebooks) without --allow-root: added when needed.
lab: $(STAMP)  ## open the course in JupyterLab
	@root=$$([ "$$(id -u)" -eq 0 ] && echo --allow-root); \
	echo "make lab: starting JupyterLab on notebooks/$${root:+ (running as root: --allow-root)}."; \
	echo "make lab: open the http://127.0.0.1:PORT/lab?token=... address that JupyterLab prints below (Ctrl-C stops it);"; \
	echo "make lab: on a remote machine or in a container: make lab LAB_ARGS=\"--ip=0.0.0.0 --no-browser\" (or forward the port)"; \
	$(VENV)/bin/jupyter lab $$root $(LAB_ARGS) notebooks/

# Prints the result and the time it took (installation included) at the end.
test:  ## unit tests, every notebook under nbval, then the browser tests (JupyterLab, the website, the slides)
	@start=$$(date +%s); $(MAKE) --no-print-directory unit nbval e2e; rc=$$?; \
	echo "make test: $$([ $$rc -eq 0 ] && echo passed || echo FAILED) in $$(( $$(date +%s) - start )) s (installation included)"; \
	exit $$rc

unit: $(STAMP)
	$(PYTEST) tests --ignore=tests/e2e

# pytest exits 5 when it collects nothing (no notebooks yet): that is not a failure.
nbval: $(STAMP)
	$(PYTEST) --nbval-lax --nbval-current-env notebooks/ ; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

# JupyterLab in headless Chromium: run a notebook, move a widget slider (needs Debian's chromium; README);
# then the website (built first by `make book`) and one notebook's slides (needs npm for reveal.js).
e2e: $(STAMP) book
	$(PYTEST) tests/e2e

# Re-execute every notebook in place (outputs and execution counts are committed).
execute: $(STAMP)
	for nb in notebooks/[0-9]*.ipynb; do \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=1200 "$$nb" || exit 1; \
	done

# Every stored result (notebooks 04-09): each command skips the cells data/results already holds for the
# current checkpoints, so this is quick once the results exist and resumes after an interruption. From
# scratch it takes the CPU hours the README states ("Reproducing the paper"); two commands at once (one
# torch thread each) use both cores. The ablation of notebook 06 (`reproduce ablation`) is not here: it
# scores the training runs' EMA snapshots in runs/, which are not shipped (its records are).
REPRO := OMP_NUM_THREADS=1 $(PY) -m ddim_ref reproduce
reproduce: $(STAMP)
	$(REPRO) exact-table1
	$(REPRO) table1 --S 10,20,50,100 --spacings uniform --n 1000
	$(REPRO) table1 --S 10,20,50,100 --spacings quadratic --n 500
	$(REPRO) table1 --S 1000 --etas 0,1 --spacings uniform --n 500
	$(REPRO) table1 --S 10,50 --etas 0,1 --spacings uniform --n 1000 --clip-x0
	$(REPRO) spacing --n 1000
	$(REPRO) table2 --n 32
	$(REPRO) table2 --n 32 --iters 3
	$(REPRO) eps-error
	$(REPRO) eps-error --checkpoint data/checkpoints/mnist_unet_ema_v1.pt
	$(REPRO) solvers --n 500
	$(REPRO) guidance --n 500
	$(REPRO) figures

# Student copies in student/: solution cells replaced by stubs, outputs cleared.
student:
	python3 tools/student_copies.py notebooks student

# The lecturers' handout in solutions/README.md: each exercise with its solution and its self-check.
solutions:
	python3 tools/solutions_handout.py notebooks solutions

# The course website in build/book/ (Sphinx + myst-nb over the executed notebooks, no execution; offline).
book: $(BOOK_STAMP)  ## the course as a static website: open build/book/index.html
	$(PY) docs/build.py

# reveal.js slides of every notebook in build/slides/ (reveal.js from npm on first use, MathJax from pip).
slides: $(BOOK_STAMP)  ## lecture slides: open build/slides/NN_name.slides.html
	$(PY) tools/slides.py

# Write the default slide types (tools/slide_tags.py) into the notebooks; cells that have one keep it.
slide-tags: $(STAMP)
	$(PY) tools/slide_tags.py

clean:
	rm -rf $(VENV) .pytest_cache
