# The two commands of the README: `make run` serves the committed model, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
DATA_DIR ?= ../shared/data/gtzan
ELECTRONIC_DIR ?= ../shared/data/ishkur
SELECTION_DIR := .cache/mfcc_train_only

.PHONY: run test train musicnn evaluate vendor system-deps clean

run: $(VENV)/.serve vendor
	PORT=$(PORT) $(BIN)/gunicorn --preload --workers 2 --bind 127.0.0.1:$(PORT) --timeout 120 'app:create_app()'

test: $(VENV)/.dev vendor
	$(BIN)/python -m pytest

# The MFCC CNN fitted on train alone (for choosing on VALID), the shipped one (train+valid),
# the musicnn conversion, then the heads on musicnn's outputs (they choose the served default).
train: $(VENV)/.dev
	$(BIN)/python -m training.train --data-dir $(DATA_DIR) --electronic-dir $(ELECTRONIC_DIR) --fit-on train \
		--out-dir $(SELECTION_DIR) --metrics-dir $(SELECTION_DIR)/metrics --mapping $(SELECTION_DIR)/genre_mapping.txt \
		--no-robustness --epochs 40
	$(BIN)/python -m training.train --data-dir $(DATA_DIR) --electronic-dir $(ELECTRONIC_DIR) --epochs 24  # the train-only run's best epoch
	$(BIN)/python -m training.convert_musicnn
	$(BIN)/python -m training.musicnn_head --data-dir $(DATA_DIR) --electronic-dir $(ELECTRONIC_DIR) \
		--mfcc-valid-dir $(SELECTION_DIR)

# Download musicnn 0.1.0, port its MSD checkpoint, check it against the original, export LiteRT.
musicnn: $(VENV)/.dev
	$(BIN)/python -m training.convert_musicnn

evaluate: $(VENV)/.dev
	$(BIN)/python -m training.evaluate --data-dir $(DATA_DIR) --electronic-dir $(ELECTRONIC_DIR)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.serve: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt training/requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.serve $@

# Front-end libraries: pinned npm packages copied into static/vendor (no CDN at run time).
vendor: static/vendor/.stamp

static/vendor/.stamp: package.json package-lock.json scripts/copy_vendor.mjs
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent vendor
	touch $@

# Debian packages: ffmpeg (else the imageio-ffmpeg wheel is used) and chromium + chromedriver for the page tests (needs root).
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg chromium chromium-driver

clean:
	rm -rf $(VENV) node_modules static/vendor .pytest_cache
