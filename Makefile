PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
EMULATOR_PORT ?= 8100

.PHONY: install demo test lint check bench bench-quick clean serve FORCE

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Writes .env on a fresh checkout; on an existing one adds only the variables it lacks.
.env: FORCE | $(VENV)/.installed
	$(BIN)/python scripts/make_env.py .env

FORCE:

# The demo runs with production's settings: DEBUG off (the product's own error pages, static files
# collected and served by whitenoise), whatever an older .env says.
demo: export DEBUG = false
demo: install .env
	$(MANAGE) migrate --verbosity 0
	VCC_EMULATOR_URL=http://127.0.0.1:$(EMULATOR_PORT) $(MANAGE) seed_demo
	$(MANAGE) collectstatic --noinput --verbosity 0
	HOST=$(HOST) PORT=$(PORT) EMULATOR_PORT=$(EMULATOR_PORT) MANAGE="$(MANAGE)" sh scripts/demo.sh

# The production command on this machine (see README, "Deploying"): gunicorn + whitenoise.
serve: install .env
	$(MANAGE) migrate --verbosity 0
	$(MANAGE) collectstatic --noinput --verbosity 0
	GUNICORN_BIND=$(HOST):$(PORT) $(BIN)/gunicorn vccregistry.wsgi -c gunicorn.conf.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two test processes, one per core of the machines this runs on (pytest-xdist); TEST_WORKERS=0
# runs in one process.
TEST_WORKERS ?= 2

test: lint
	$(BIN)/pytest -n $(TEST_WORKERS)

check: install .env
	$(MANAGE) makemigrations --check --dry-run
	$(MANAGE) check

bench: install
	$(BIN)/python -m bench

bench-quick: install
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
