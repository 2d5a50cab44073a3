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

.PHONY: demo demo-cluster example-pytorch test unit integration setup venv sdk-v3 docker compose images browser lint bench bench-s3 bench-ab clean

demo: setup
	@bash examples/spot_resume_demo.sh

demo-cluster: setup  # a two-instance spot job (see README: Multi-instance jobs)
	@bash examples/multi_instance_demo.sh

# Opt-in: the PyTorch example. torch's wheels from the package index bring its CUDA libraries
# (about 3 GB), too much for every `make test`; its test skips (and says so) until this ran.
example-pytorch: setup
	@bash scripts/prepare-wheels.sh examples/pytorch
	@echo "[smemu setup] building smemu-example-pytorch:latest from examples/pytorch ..."
	@DOCKER_BUILDKIT=0 docker build --network none --build-arg BASE_IMAGE=smemu-base:latest \
		-t smemu-example-pytorch:latest examples/pytorch
	$(PY) -m pytest tests/integration/test_example_pytorch.py $(PYTEST_ARGS)

# The SDK v3 venv (minutes of pip on a clean machine) builds in the background while the tests
# run; its tests wait for it on the venv's lock (tests/e2e/sdk_v3_venv.py), the others don't.
test: setup browser
	@mkdir -p build && ($(PY) -m tests.e2e.sdk_v3_venv >build/sdk-v3.log 2>&1 &)
	$(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

unit: venv  # the contract tests' rclone (a container, marker docker) runs in `make test`
	$(PY) -m pytest tests/unit -m "not docker" $(PYTEST_PARALLEL) $(PYTEST_ARGS)

setup: venv images compose

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

compose: docker  # docker-compose for docker-compose.yml (Debian's package when missing)
	@bash scripts/ensure-compose.sh

images: docker
	@bash images/build.sh

browser:  # a system chromium for the browser tests (Playwright drives it)
	@bash scripts/ensure-chromium.sh

bench: venv images  # the engine, the endpoint's RSS with 2 and 8 GiB checkpoints, the harness end to end
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench
	$(PY) -m bench rss
	$(PY) -m bench e2e

bench-s3: venv  # the embedded S3's candidates side by side (bench/s3_backends.py)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench s3

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
