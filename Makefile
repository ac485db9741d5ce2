# valgrad: `make serve` runs the service, `make test` runs every check, `make check` the fast ones.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# `make serve` installs only what serving needs (the package's and the server extra's requirements) and runs
# from this source tree, so a fresh clone builds nothing; every other target installs the package with all
# its extras.
SERVE_STAMP := $(VENV)/.installed-server
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
ALL_EXTRAS := server,dev,bench,compiled
SERVER_REQUIREMENTS := import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	print(*p["dependencies"], *p["optional-dependencies"]["server"], sep="\n")
# One install into .venv at a time (flock, where it exists): `make serve` and `make test` may start together.
LOCKED := $(if $(shell command -v flock),flock $(VENV)/.lock)
PIP_INSTALL = $(LOCKED) sh -c 'test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt $(1)'

.PHONY: serve test check lint typecheck pytest bench calibrate openapi fuzz soak docker-smoke fresh-check clean

$(SERVE_STAMP): pyproject.toml constraints.txt
	@mkdir -p $(VENV)
	$(PYTHON) -c '$(SERVER_REQUIREMENTS)' > $(VENV)/server-requirements.txt
	$(call PIP_INSTALL,-r $(VENV)/server-requirements.txt)
	touch $@

$(STAMP): pyproject.toml constraints.txt
	@mkdir -p $(VENV)
	$(call PIP_INSTALL,-e ".[$(ALL_EXTRAS)]")
	touch $@ $(SERVE_STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/python -m app.cli serve --host $(HOST) --port $(PORT)

test: $(STAMP) lint typecheck pytest

# The loop while developing (under 30 s on the 2-core development machine): lint, types and every test not marked
# slow (live servers, fuzzing, soak, browsers, the compiled tier, op-matrix sweeps beyond forward, VJP and shape).
# Two all-slow modules are not even collected (schema fuzzing builds its cases while collected; the compiled tier
# imports numba), nor is schemathesis's pytest plugin loaded; bytecode is cached even where PYTHONDONTWRITEBYTECODE
# says not to (compiling every module and test again costs ~5 s a run).
check: export PYTHONDONTWRITEBYTECODE =
check: $(STAMP) lint typecheck
	$(BIN)/pytest -m "not slow" -p no:schemathesis --ignore=tests/app/test_schema_fuzz.py --ignore=tests/engine/compiled

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

openapi: $(SERVE_STAMP)
	$(BIN)/python -m app.openapi_dump > openapi/openapi.json

docker-smoke: $(STAMP)
	bash scripts/docker_smoke.sh

fresh-check:
	bash scripts/fresh_clone_serve.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
