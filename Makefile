# The two commands of the README: `make run` serves the committed model, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
DATA_DIR ?= ../shared/data/gtzan
ELECTRONIC_DIR ?= ../shared/data/ishkur
# Another collection's rock and classical: chosen with and reported, never fitted on
OUTSIDE_DIR ?= ../shared/data/outside_dev
SELECTION_DIR := .cache/mfcc_train_only

.PHONY: run test train musicnn evaluate portraits vendor system-deps clean

run: $(VENV)/.serve
	PORT=$(PORT) $(BIN)/gunicorn --workers 2 --bind 127.0.0.1:$(PORT) 'app:create_app()'  # the Procfile's; the rest in gunicorn.conf.py

test: $(VENV)/.dev
	$(BIN)/python -m pytest

# The MFCC CNN fitted on train alone (for choosing on VALID), the shipped one (train+valid),
# the musicnn conversion, the heads on musicnn's outputs (they choose the served default), then the
# student distilled from musicnn and its heads (it serves musicnn's answers on every segment), the ONNX
# twins of the three networks (bench/bench_runtimes.py --write then re-chooses their engines), and last the
# genre portraits.
train: $(VENV)/.dev
	$(BIN)/python -m training.train --data-dir $(DATA_DIR) --electronic-dir $(ELECTRONIC_DIR) --fit-on train \
		--out-dir $(SELECTION_DIR) --metrics-dir $(SELECTION_DIR)/metrics --mapping $(SELECTION_DIR)/genre_mapping.txt \
		--no-robustness --epochs 40
	$(BIN)/python -m training.train --data-dir $(DATA_DIR) --electronic-dir $(ELECTRONIC_DIR) --epochs 24  # the train-only run's best epoch
	$(BIN)/python -m training.convert_musicnn
	$(BIN)/python -m training.musicnn_head --data-dir $(DATA_DIR) --electronic-dir $(ELECTRONIC_DIR) \
		--outside-dir $(OUTSIDE_DIR) --mfcc-valid-dir $(SELECTION_DIR)
	$(BIN)/python -m training.distill --data-dir $(DATA_DIR) --electronic-dir $(ELECTRONIC_DIR) --outside-dir $(OUTSIDE_DIR)
	$(BIN)/python -m training.export_onnx
	$(MAKE) portraits

# Each genre's and style's portrait from its train tracks, into static/images/genres/ (docs/training.md)
portraits: $(VENV)/.dev
	$(BIN)/python -m training.genre_portraits --data-dir $(DATA_DIR) --electronic-dir $(ELECTRONIC_DIR)

# Download musicnn 0.1.0, port its MSD checkpoint, check it against the original, export LiteRT.
musicnn: $(VENV)/.dev
	$(BIN)/python -m training.convert_musicnn

evaluate: $(VENV)/.dev
	$(BIN)/python -m training.evaluate --data-dir $(DATA_DIR) --electronic-dir $(ELECTRONIC_DIR) --outside-dir $(OUTSIDE_DIR)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.serve: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/python -m genrelens.analysis.warm  # numba's cache of librosa's code: a first start in seconds, not a minute
	touch $@

$(VENV)/.dev: requirements.txt training/requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m genrelens.analysis.warm
	touch $(VENV)/.serve $@

# Front-end libraries: pinned npm packages copied into static/vendor, which is committed (no CDN, no npm
# at deploy time). Regenerate after changing package.json; tests/test_deploy.py checks the copies.
vendor:
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent vendor

# Debian packages (needs root): ffmpeg (else the imageio-ffmpeg wheel is used), chromium + chromedriver for the
# page tests, redis-server and postgresql for the scale-out tests (they start their own servers).
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg chromium chromium-driver \
		redis-server postgresql

clean:
	rm -rf $(VENV) node_modules .pytest_cache
