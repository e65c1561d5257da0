# virtimu — set-up, demo and tests on a fresh machine (Python 3.11, no GPU).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_STORE ?= data/demo.zarr

.PHONY: system-deps install demo test test-slow bench body motions clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is pinned to the CPU build available locally; install it first so that
# nothing pulls a CUDA build as a dependency.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps pyrender==0.1.45
	touch $(STAMP)

install: $(STAMP)

# Debian packages for offscreen rendering (EGL / OSMesa) and the headless
# Chromium of the review-page test; needs root or sudo (see the script).
system-deps:
	bash scripts/install_system_deps.sh

# The main job on the bundled defaults: synthesise the demo motions (open body,
# wrist/thigh/head at 60 Hz), label them (12 synthetic categories), cut 60-frame
# windows with the acceleration-based label filter, print the class table.
demo: $(STAMP)
	rm -rf $(DEMO_STORE)
	$(BIN)/virtimu synth --out $(DEMO_STORE)
	$(BIN)/virtimu label $(DEMO_STORE) --quiet
	$(BIN)/virtimu windows $(DEMO_STORE) --length 60 --overlap 0.5 --drop-null --filter default --quiet
	$(BIN)/virtimu info $(DEMO_STORE)
	@echo ""
	@echo "Demo results: $(DEMO_STORE) (Zarr v3 store: recordings/ and windows/default)."
	@echo "Inspect: $(BIN)/virtimu info $(DEMO_STORE)"

# Fast suite (what CI runs first); pytest exit code 5 (no tests collected) is a failure.
test: $(STAMP)
	@$(BIN)/python -m pytest -m "not slow" -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

# Slow real-data tests (bounded separately in CI).
test-slow: $(STAMP)
	@$(BIN)/python -m pytest -m slow -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no slow tests collected"; exit 0; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_store.py

# Regenerate the bundled open body and demo motions (deterministic).
body: $(STAMP)
	$(BIN)/python scripts/make_default_body.py

motions: $(STAMP)
	$(BIN)/python scripts/make_demo_motions.py

clean:
	rm -rf $(VENV) data/demo.zarr .pytest_cache
