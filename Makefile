# Set-up on a fresh Debian machine with python3: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow fuzz install clean sysdeps arm-sysdeps arm-check

$(PY):
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[tfmot,test,report]"
	@touch $(STAMP)

install: $(STAMP)

# System packages the tests use (the full Fashion-MNIST, sshd for the remote-runner tests).
# Says what it did; where it cannot install, the tests that need them skip, or fail under
# EDGECOMPRESS_REQUIRE_SYSDEPS=1 (.ci/run sets it).
SYSDEPS := dataset-fashion-mnist openssh-server
sysdeps:
	@$(call apt_install,$(SYSDEPS),tests that need them will skip (fail with EDGECOMPRESS_REQUIRE_SYSDEPS=1))

# apt_install(packages, what happens without them): install what is missing, saying what it did.
define apt_install
	if dpkg -s $(1) >/dev/null 2>&1; then \
	  echo "sysdeps: $(1) already installed"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "sysdeps: no apt-get here: did not install $(1); $(2)"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "sysdeps: not root: did not install $(1) (sudo make $@); $(2)"; \
	elif apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; then \
	  echo "sysdeps: installed $(1)"; \
	else \
	  echo "sysdeps: apt-get could not install $(1) (see its error above); $(2)"; \
	fi
endef

# The runner and bundles in Debian bookworm arm64/armhf userlands under qemu-user (as root;
# root filesystems cached in /var/cache/edgecompress-arm; 30+ min the first time).
# Results: benchmarks/results/arm_userland.md.
arm-sysdeps:
	@$(call apt_install,qemu-user-static debootstrap,arm-check will say what is missing)

arm-check: $(STAMP) sysdeps arm-sysdeps
	$(PY) benchmarks/arm_check.py

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
