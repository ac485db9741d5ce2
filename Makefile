# valgrad: `make serve` runs the service, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: serve test lint typecheck pytest bench calibrate openapi fuzz soak docker-smoke fresh-check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[server,dev,bench]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/valgrad serve --host $(HOST) --port $(PORT)

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check engine app valgrad tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench

calibrate: $(STAMP)
	$(BIN)/python -m bench.calibrate

fuzz: $(STAMP)
	VALGRAD_FUZZ_EXAMPLES=300 $(BIN)/pytest tests/app/test_schema_fuzz.py

soak: $(STAMP)
	$(BIN)/python -m bench.soak --seconds 60

openapi: $(STAMP)
	$(BIN)/python -m app.openapi_dump > openapi/openapi.json

docker-smoke: $(STAMP)
	bash scripts/docker_smoke.sh

fresh-check:
	bash scripts/fresh_clone_serve.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
