# correlator: two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LITELLM_LOCAL_MODEL_COST_MAP := True
export LITELLM_MODE := PRODUCTION

.PHONY: setup system-deps demo test lint pytest bench eval clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

## setup: create .venv with the project and dev extras (idempotent)
setup: $(STAMP)

## system-deps: Debian packages the tests and demo need (installs when root, else says what to install)
system-deps:
	@bash scripts/system-deps.sh

## demo: run the main job on the embedded default (SQLite, rules only unless an LLM is configured)
demo: setup system-deps
	$(BIN)/correlator demo

## lint: ruff, ruff format --check, mypy --strict, import-linter
lint: setup
	$(BIN)/ruff check correlator connectors tests
	$(BIN)/ruff format --check correlator connectors tests
	$(BIN)/mypy correlator connectors
	$(BIN)/lint-imports

pytest: setup system-deps
	$(BIN)/pytest -q -p no:cacheprovider

## test: lint + the whole test suite + the accuracy gate on the scenario corpus
test: lint pytest eval

## eval: every scenario through simulator + pipeline, then the imported real incidents; fails below
##       either set of [rules] thresholds
EVAL_THRESHOLDS ?= --min-ac1 0.85 --min-ac3 0.95 --max-false-accusation 0.05 \
	--min-culprit-change 0.90
# real incidents, gated separately at the figures measured when they were imported (never lower
# them; [generalize] raises them): the vendored Nezha data is imported fresh on every run
NEZHA_RAW := tests/datasets/nezha-onlineboutique
NEZHA_THRESHOLDS ?= --min-ac1 0.95 --min-ac3 0.95
eval: setup system-deps
	$(BIN)/correlator eval tests/scenarios $(EVAL_THRESHOLDS)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(BIN)/correlator dataset import nezha $(NEZHA_RAW) --out "$$tmp/nezha" --quiet && \
	  $(BIN)/correlator eval "$$tmp/nezha" $(NEZHA_THRESHOLDS) \
	    --reference $(NEZHA_RAW)/reference_results/OnlineBoutique_service_result.log.gz

## bench: benchmark harness (writes docs/benchmarks.md and docs/benchmarks.json)
bench: setup system-deps
	$(BIN)/correlator bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
