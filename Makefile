# The two commands of the README: `make run` serves the committed model, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
DATA_DIR ?= ../shared/data/gtzan

.PHONY: run test train evaluate vendor system-deps clean

run: $(VENV)/.serve vendor
	PORT=$(PORT) $(BIN)/gunicorn --preload --workers 2 --bind 127.0.0.1:$(PORT) --timeout 120 'app:create_app()'

test: $(VENV)/.dev vendor
	$(BIN)/python -m pytest

train: $(VENV)/.dev
	$(BIN)/python -m training.train --data-dir $(DATA_DIR)

evaluate: $(VENV)/.dev
	$(BIN)/python -m training.evaluate --data-dir $(DATA_DIR)

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
