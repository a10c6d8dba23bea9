# Set-up on a fresh Debian machine with python3: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow fuzz install clean sysdeps

$(PY):
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[tfmot,test,report]"
	@touch $(STAMP)

install: $(STAMP)

# System packages the tests use when present (the full Fashion-MNIST for benchmarks,
# sshd for the remote-runner tests). Best effort: skipped where apt-get is unavailable.
sysdeps:
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (dpkg -s dataset-fashion-mnist openssh-server >/dev/null 2>&1) || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist openssh-server >/dev/null) || \
	  echo "warning: apt-get could not install dataset-fashion-mnist/openssh-server; related tests will skip"; \
	fi

demo: $(STAMP)
	$(VENV)/bin/edgecompress demo --out demo-run --overwrite

test: $(STAMP) sysdeps
	$(PY) -m pytest -q

test-slow: $(STAMP) sysdeps
	$(PY) -m pytest -q -m slow

# The property-based (fuzz) tests with the long hypothesis profile (5000 examples each;
# `make test` runs them with 60). Results: benchmarks/results/fuzz.md.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -m fuzz --hypothesis-show-statistics

clean:
	rm -rf $(VENV) demo-run build *.egg-info
