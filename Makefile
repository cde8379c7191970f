# Everything runs inside .venv, which these targets create and fill; only Python 3.11 is needed beforehand.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CHECKSUM := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(CHECKSUM)
CORE_STAMP := $(VENV)/.core-$(CHECKSUM)
DATA ?= ../shared/data

.PHONY: install install-core test fuzz demo compose-demo bench pretrained dataset dataset-concert expression clean browser-test

# Everything: the light core, the training extra (TensorFlow, Keras) and the test tools.
install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* $(VENV)/.core-*
	touch $@ $(CORE_STAMP)

# The light core a musician needs (perform, render, surveys, the Python API): no TensorFlow.
install-core: $(CORE_STAMP)

$(CORE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	rm -f $(VENV)/.core-*
	touch $@

test: install
	$(BIN)/python -m pytest -q

# Thousands of generated broken and odd MIDI files through every verb's reading path (`make test` runs a sample).
FUZZ_COUNT ?= 5000
FUZZ_SEED ?= 1
fuzz: install
	$(BIN)/python -m tests.midi_fuzz --count $(FUZZ_COUNT) --perform 500 --seed $(FUZZ_SEED)

demo: install-core
	$(BIN)/python scripts/demo.py

# The second report's pipeline: the shipped composer writes two pieces, the shipped StyleNet model plays them.
compose-demo: install-core
	$(BIN)/python scripts/compose_demo.py

# The survey and studio pages in a real headless Chromium (Debian's chromium and chromium-driver, installed if missing).
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-test: install
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium chromium-driver)
	$(BIN)/python -m pytest -q -rs tests/listen/test_survey.py tests/studio/test_studio.py -k browser

dataset: install
	$(BIN)/stylenet build-dataset $(DATA)/raw --splits $(DATA)/splits.csv -o build/dataset

# The shipped model: rerun to resume training where it stopped; then export it into the package.
# raw/ plus ASAP's recorded performances (on their annotated beats) as the genre `concert`
dataset-concert: install
	$(BIN)/stylenet build-dataset $(DATA)/raw --splits $(DATA)/splits.csv --asap $(DATA)/asap -o build/dataset-concert

pretrained: dataset-concert
	$(BIN)/stylenet train --config configs/pretrained.yaml --run-dir runs/pretrained
	$(BIN)/stylenet export runs/pretrained --dataset build/dataset-concert --out stylenet/pretrained
	$(BIN)/stylenet train-touch --dataset build/dataset-concert --asap $(DATA)/asap --genres concert classical --out stylenet/pretrained/touch.npz

# The expression network (docs/expression.md): aligned score-performance pairs, then training (rerun to resume).
expression: dataset-concert
	$(BIN)/stylenet build-expression --dataset build/dataset-concert --raw $(DATA)/raw --asap $(DATA)/asap -o build/expression
	$(BIN)/stylenet train-expression --data build/expression --out build/expression/net.npz --work-dir build/expression/run

bench: install
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0 || echo "torch not installed: the PyTorch peer is skipped"
	$(BIN)/python scripts/bench.py $(if $(wildcard $(DATA)/raw),--dataset $(DATA)/raw) $(if $(wildcard build/dataset/manifest.jsonl),--memory build/dataset)
	$(BIN)/python scripts/bench_studio.py

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
