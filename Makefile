# Two commands do everything on a fresh Debian 12 / Python 3.11 machine:
#   make demo   set up, then simulate a cell bag -> info -> build -> validate -> preview
#   make test   set up, then run the test suite (fast tests; `make test-slow` adds the slow ones)
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
DEMO    ?= demo_out

.PHONY: setup demo lint test test-slow clean

setup: $(STAMP)

$(STAMP): setup.py pyproject.toml tools/system_deps.sh tools/ros2_deps.sh
	bash tools/system_deps.sh
	bash tools/ros2_deps.sh || echo "note: the ROS 2 test builds' dependencies are not installed; the ros2 tests will skip, saying why"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -c "import open3d, h5py, rosbags, cyclonedds" || { echo "error: the Python dependencies do not import; see the messages above" >&2; exit 2; }
	touch $(STAMP)

demo: $(STAMP)
	bash tools/demo.sh $(VENV)/bin $(DEMO)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow"

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info
