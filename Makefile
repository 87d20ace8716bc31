# vidseg: `make quickstart` and `make test` set up .venv themselves (idempotent; see tools/install.sh).
PY := .venv/bin/python
PYTEST_FLAGS ?= -q

.PHONY: install quickstart test test-slow check-cuda bench clean
install:
	@bash tools/install.sh

quickstart: install
	$(PY) tools/quickstart.py

test: install
	$(PY) -m pytest $(PYTEST_FLAGS) -m "not slow" tests

test-slow: install
	$(PY) -m pytest $(PYTEST_FLAGS) -m slow tests

check-cuda: install
	bash tools/check_cuda.sh

bench: install
	$(PY) benchmarks/msda.py
	$(PY) benchmarks/eval_speed.py

clean:
	rm -rf output build *.egg-info
