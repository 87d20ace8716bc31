# vidseg: `make quickstart` and `make test` set up .venv themselves (idempotent; see tools/install.sh).
PY := .venv/bin/python
PYTEST_FLAGS ?= -q

.PHONY: install quickstart quickstart-ifr test test-slow check-cuda bench clean
install:
	@bash tools/install.sh

# `make quickstart [METHOD=ifr|baseline|instflow|isvos|instmove|moseg] [SEED=n]`: train + evaluate one method on the synthetic videos
# (CPU, seeded, resumable; full log in output/quickstart/<method>/log.txt). See tools/quickstart.py.
METHOD ?= ifr
quickstart: install
	$(PY) tools/quickstart.py --method $(METHOD) $(if $(SEED),--seed $(SEED),)

quickstart-ifr: install
	$(PY) tools/quickstart.py --method ifr

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
