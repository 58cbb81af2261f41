# trustream: `make run` (the system, with a demo) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-integration lint eval train kafka schema clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install trustream with pinned dependencies

run: $(STAMP) ## start broker (embedded Tansu unless TRUSTREAM_KAFKA_BOOTSTRAP), worker, API and demo
	$(BIN)/trustream run

test: $(STAMP) lint ## lint, type-check, then every test (unit + integration on Tansu and Apache Kafka)
	$(BIN)/pytest

test-unit: $(STAMP) ## unit tests only (no broker)
	$(BIN)/pytest -m "not integration"

test-integration: $(STAMP) ## integration tests only (real brokers)
	$(BIN)/pytest -m integration

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check schemas detectors services tests
	$(BIN)/mypy

eval: $(STAMP) ## simulate every scenario x 3 seeds, replay, score against the marketer rules: eval/REPORT.md
	$(BIN)/trustream eval-suite --suite standard --out eval/out --report eval/REPORT.md

train: $(STAMP) ## fit the profile fake-score model on ../shared/data: detectors/models/profile_model.json, eval/PROFILE_MODEL.md
	$(BIN)/python -m services.evaluation.train_profiles --seed 0 --out detectors/models/profile_model.json --report eval/PROFILE_MODEL.md

kafka: $(STAMP) ## provision Apache Kafka 4.x from Maven Central into .cache/kafka and run it
	$(BIN)/trustream broker --kind kafka

schema: $(STAMP) ## write the wire contract's JSON Schemas to docs/schemas
	$(BIN)/trustream schema --out docs/schemas

clean: ## remove the virtualenv, caches and run logs
	rm -rf $(VENV) .cache .run .pytest_cache .mypy_cache .ruff_cache
