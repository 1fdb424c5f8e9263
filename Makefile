# Everyday commands. `make chat` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install chat run test test-fast lint bench faq-model check clean diagrams

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

chat: $(STAMP)  ## talk to the assistant in this terminal
	$(BIN)/usce-coach chat --user $${USER_NAME:-me}

run: $(STAMP)  ## run the Telegram bot (needs TELEGRAM_BOT_TOKEN)
	$(BIN)/usce-coach run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) lint  ## lint, type-check and run every test
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## the quick loop: every test but the slow ones (crash, faults, floods, properties)
	$(BIN)/python -m pytest -q -m "not slow"

diagrams: $(STAMP)  ## redraw docs/flows/ from the declared dialogs
	$(BIN)/python -m bot.diagrams

check: $(STAMP)
	$(BIN)/usce-coach check

bench: $(STAMP)  ## measure, and write docs/PERFORMANCE.md
	$(BIN)/python -m bench

faq-model: $(STAMP)  ## retrain the FAQ classifier after editing content/faq.yaml (writes content/faq_model.npz)
	$(BIN)/python -m bench.faq_train

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
