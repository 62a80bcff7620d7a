# The README's two commands: `make run` and `make test`. Everything else is a helper they use.
SHELL := /bin/bash
PYTHON_BASE ?= python3
# The virtual environment lives outside the checkout, keyed by the lock file's hash, so a fresh clone
# (CI's included) reuses it; .venv is a link to it.
VENV_HOME ?= $(HOME)/.cache/matchmaker/venvs
LOCK_HASH := $(shell sha256sum requirements.lock | cut -c1-16)
VENV_DIR := $(VENV_HOME)/$(LOCK_HASH)
PY := .venv/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test test-fast lint bench broker-start broker-stop clean

install: .venv/.installed-$(LOCK_HASH)

# One make at a time per environment (flock): a second one, from another checkout, would delete it half-built.
.venv/.installed-$(LOCK_HASH): requirements.lock
	@mkdir -p $(VENV_HOME) && exec 9>$(VENV_DIR).lock && flock 9 && \
	if [ ! -x $(VENV_DIR)/bin/python ] || [ ! -f $(VENV_DIR)/.complete ]; then \
	  echo "Creating the virtual environment in $(VENV_DIR) (first time on this machine: a few minutes)"; \
	  rm -rf $(VENV_DIR) && $(PYTHON_BASE) -m venv $(VENV_DIR) && \
	  $(VENV_DIR)/bin/pip install -q --upgrade pip && \
	  $(VENV_DIR)/bin/pip install -q -r requirements.lock && touch $(VENV_DIR)/.complete; \
	fi && \
	rm -rf .venv && ln -s $(VENV_DIR) .venv && touch $@

run: install
	$(PY) -m scripts.run_demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy models matcher consumers api

broker-start: install
	$(PY) -m consumers.broker start

broker-stop: install
	$(PY) -m consumers.broker stop

clean:
	rm -rf .venv .cache .pytest_cache artifacts
