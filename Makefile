# The course's commands. Each one creates .venv and installs the course first when needed.
#   make lab        start JupyterLab on the course (LAB_FLAGS="--no-browser --ip=0.0.0.0" for a headless server)
#   make test       lint, unit tests and nbval over every notebook (fast mode), with per-notebook timings; then
#                   the notebooks with trained outputs again under other arithmetic (oneDNN on), as on another
#                   processor
#   make notebooks  re-execute every notebook in place, in the test environment (fast mode)
#   make data       regenerate data/cohort and verify it against SHA256SUMS (OVERWRITE=1 to replace changed files)
#   make site       the course website from the notebooks' stored outputs -> _site/html (tests/test_site.py
#                   checks it in a headless Chromium)
#   make learner    the notebooks without solutions and with empty exercise cells -> learner/ (OUT=DIR)
#   make bench      the figures the course promises (timings, cohort metrics for every question, chapter 14's
#                   findings-first model in both modes, PneumoniaMNIST, PTB-XL) -> .bench/

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# The capstone goes last: it loads the encoders that chapters 04, 07 and 08 trained (from the cache) rather than
# training them again, and under pytest-xdist it would otherwise run beside them.
CAPSTONE := $(wildcard notebooks/09_*.ipynb)
# The chapters that print trained numbers: only their outputs can change with the arithmetic (second pass).
TRAINED_NOTEBOOKS := $(shell grep -l '"# NBVAL_TRAINED_OUTPUT' $(NOTEBOOKS))
# Root gets --allow-root so `make lab` works in containers and on classroom servers run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_FLAGS ?=
JOBS ?= 2

# Same environment for tests and for re-executing notebooks, so stored outputs are what the tests see.
TEST_ENV := CROSSMODAL_FAST=1 PYTHONHASHSEED=0
# The second pass of `make test`: oneDNN's kernels sum in another order, as another processor's would, so trained
# numbers move (the most of the settings measured) and must still match the stored outputs within
# crossmodal_lib.testing.TOLERANCES.
OTHER_NUMERICS := TF_ENABLE_ONEDNN_OPTS=1
NBVAL := --nbval --nbval-sanitize-with notebooks/sanitize.cfg

.PHONY: install lab test lint format notebooks data bench learner site clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (crossmodal course)" >/dev/null
	@touch $(STAMP)

lab: install
	$(BIN)/jupyter lab notebooks/00_welcome.ipynb $(ROOT_FLAG) $(LAB_FLAGS)

lint: install
	$(BIN)/ruff check crossmodal_lib tests notebooks
	$(BIN)/ruff format --check crossmodal_lib tests notebooks

format: install
	$(BIN)/ruff check --fix crossmodal_lib tests notebooks
	$(BIN)/ruff format crossmodal_lib tests notebooks

test: lint
	$(TEST_ENV) $(BIN)/pytest -n $(JOBS) --dist loadfile $(NBVAL) $(filter-out $(CAPSTONE),$(NOTEBOOKS)) tests $(CAPSTONE)
	$(TEST_ENV) $(OTHER_NUMERICS) $(BIN)/pytest -n $(JOBS) --dist loadfile $(NBVAL) $(filter-out $(CAPSTONE),$(TRAINED_NOTEBOOKS)) $(CAPSTONE)

notebooks: install
	@for nb in $(or $(NB),$(NOTEBOOKS)); do \
		echo "executing $$nb"; \
		$(TEST_ENV) $(BIN)/jupyter nbconvert --to notebook --execute --inplace --log-level=WARN \
			--ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=900 $$nb || exit 1; \
	done

data: install
	$(PY) -m crossmodal_lib data $(if $(OVERWRITE),--overwrite,)

SITE_STAMP := $(VENV)/.site-installed
$(SITE_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,site]"
	@touch $(SITE_STAMP)

# The course website from the notebooks' stored outputs (nothing executed) -> _site/html/index.html
site: $(SITE_STAMP)
	rm -rf _site
	$(BIN)/sphinx-build -W --keep-going -q -b html -d _site/doctrees -c site . _site/html
	@echo "site: _site/html/index.html (serve: $(PY) -m http.server -d _site/html)"

learner: install
	$(PY) -m crossmodal_lib.learner --out $(or $(OUT),learner) $(if $(OVERWRITE),--overwrite,)

bench: install
	$(TEST_ENV) $(PY) -m crossmodal_lib.bench --out .bench

clean:
	rm -rf .bench runs .cache _site
