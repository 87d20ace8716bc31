# vidseg: `make quickstart` and `make test` set up .venv themselves (idempotent; see tools/install.sh).
PY := .venv/bin/python
PYTEST_FLAGS ?= -q

.PHONY: install quickstart quickstart-ifr test test-slow check-cuda bench clean
install:
	@bash tools/install.sh

quickstart: install
	$(PY) tools/quickstart.py

# IFR (paper 003) sibling of `make quickstart`: trains the tiny IFR config on the synthetic large VIS set on CPU
# and prints its YouTube-VIS AP and consistency metrics (projects/ifr/README.md). Re-running resumes.
quickstart-ifr: install
	$(PY) train_net.py --config-file configs/ifr/quickstart.yaml --resume

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
