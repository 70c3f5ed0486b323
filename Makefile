# Two commands for a fresh clone: `make demo` and `make test`. Each builds .venv by itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= output/demo

.PHONY: demo test test-native test-floor lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The native `datasets` Audio path: torch (CPU) + torchcodec; FFmpeg's libraries come from
# the system (`apt-get install ffmpeg`). Optional locally: those tests skip without it.
$(VENV)/.native-audio: $(VENV)/.installed .ci/audio-constraints.txt
	$(PY) -m pip install --quiet -c .ci/audio-constraints.txt -e '.[test,audio]'
	touch $@

# The declared floor: the oldest declared Python with every dependency at the minimum that
# pyproject.toml states (.ci/floor-constraints.txt), in a venv of its own. Native audio tests
# skip there (no torch).
# The oldest declared Python: python3.10 on PATH, else a pyenv-installed 3.10 (as .ci/run finds it).
FLOOR_PYTHON ?= $(shell for p in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo $$p; break; }; done)
FLOOR_VENV ?= .venv-floor
$(FLOOR_VENV)/.installed: pyproject.toml .ci/floor-constraints.txt
	$(FLOOR_PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FLOOR_VENV)/bin/python -m pip install --quiet -c .ci/floor-constraints.txt -e '.[test]'
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

test-floor: $(FLOOR_VENV)/.installed
	$(FLOOR_VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test-native: $(VENV)/.native-audio
	SOUSA_REQUIRE_NATIVE_AUDIO=1 $(MAKE) test

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(VENV)/.native-audio
	$(PY) benchmarks/run.py packing --gb 1

clean:
	rm -rf $(VENV) $(FLOOR_VENV) output build *.egg-info
