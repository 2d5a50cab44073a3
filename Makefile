# Two commands for a newcomer: `make demo` (the main job) and `make test` (the tests).
# Both set everything up themselves: the virtual environment, a Docker engine, the images.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# `make test` runs the test files on 4 pytest-xdist workers (most of the time is spent waiting
# on containers, not on the 2 CPUs); PYTEST_PARALLEL= runs it in one process.
PYTEST_PARALLEL ?= -n 4 --dist loadgroup

.PHONY: demo demo-cluster test unit integration setup venv sdk-v3 docker images browser lint bench bench-ab clean

demo: setup
	@bash examples/spot_resume_demo.sh

demo-cluster: setup  # a two-instance spot job (see README: Multi-instance jobs)
	@bash examples/multi_instance_demo.sh

test: setup browser sdk-v3
	$(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_PARALLEL) $(PYTEST_ARGS)

setup: venv images

# SDK v3 (ModelTrainer) cannot share a venv with v2 (both are `sagemaker`): its tests use a venv
# of their own, built once under build/ (tests/e2e/sdk_v3_venv.py). Not part of `make demo`.
sdk-v3: venv
	@$(PY) -m tests.e2e.sdk_v3_venv >/dev/null

venv: $(STAMP)

$(STAMP): pyproject.toml
	@echo "[smemu setup] creating $(VENV) and installing smemu with its test tools ..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

docker:
	@bash scripts/ensure-docker.sh

images: docker
	@bash images/build.sh

browser:  # a system chromium for the browser tests (Playwright drives it)
	@bash scripts/ensure-chromium.sh

bench: venv
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench
	$(PY) -m bench s3
	$(PY) -m bench e2e

bench-ab: venv  # the A/B of blob store configurations (bench/ab.py, bench/results-ab.md)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench ab

lint: venv
	$(VENV)/bin/ruff check emulator tests examples bench
	$(VENV)/bin/mypy

clean:
	-$(VENV)/bin/smemu down
	-$(VENV)/bin/smemu cleanup
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
