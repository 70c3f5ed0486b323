# Two commands for a fresh clone: `make demo` and `make test`. Each builds .venv by itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= output/demo

.PHONY: demo test test-native lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The native `datasets` Audio path: torch (CPU) + torchcodec; FFmpeg's libraries come from
# the system (`apt-get install ffmpeg`). Optional locally: those tests skip without it.
$(VENV)/.native-audio: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,audio]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m sousa.demo $(DEMO_DIR)
	$(PY) -m sousa.package $(DEMO_DIR) --shard-size 1MB
	$(PY) -m sousa.peek $(DEMO_DIR)/hf_staging
	@echo "dataset card: $(DEMO_DIR)/hf_staging/README.md; its figures: $(DEMO_DIR)/hf_staging/figures/"

# pytest-xdist, a test file per worker at a time so that module fixtures are built once. The
# suite waits about a quarter of its time (child processes, loopback HTTP, fsync): two
# workers a core keep the cores busy (2 cores: 168 s with 2 workers, 140 s with 4).
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(2 * (os.cpu_count() or 1))")
test: $(VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test-native: $(VENV)/.native-audio
	SOUSA_REQUIRE_NATIVE_AUDIO=1 $(MAKE) test

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(VENV)/.native-audio
	$(PY) benchmarks/run.py packing --gb 1

clean:
	rm -rf $(VENV) output build *.egg-info
