# Everything runs inside .venv, which these targets create and fill; only Python 3.11 is needed beforehand.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DATA ?= ../shared/data

.PHONY: install test demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

test: install
	$(BIN)/python -m pytest -q

demo: install
	@test -d $(DATA)/raw || { echo "make demo needs $(DATA)/raw (set DATA=...)"; exit 2; }
	$(BIN)/stylenet build-dataset $(DATA)/raw --splits $(DATA)/splits.csv -o build/dataset

bench: install
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0 || echo "torch not installed: the PyTorch peer is skipped"
	$(BIN)/python scripts/bench.py $(if $(wildcard $(DATA)/raw),--dataset $(DATA)/raw)

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
