# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv if missing and install the project into it; nothing else is needed
# than Python 3.11+, git and make. The install takes every version from constraints.txt
# (the one tested set); `make constraints` (alias `make lock`) regenerates that file.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONSTRAINTS := constraints.txt
CHECK_PYTHON := import sys; sys.exit(0 if sys.version_info >= (3, 11) else "vidpipe needs Python 3.11 or newer")

.PHONY: demo test lint bench clean install constraints lock

$(BIN)/python:
	@$(PYTHON) -c '$(CHECK_PYTHON)'
	$(PYTHON) -m venv $(VENV)

# Re-installs whenever pyproject.toml or constraints.txt changes; pip moves every package
# that differs from its pin to the pinned version.
$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	@touch $(STAMP)

# Re-install .venv from the pins now, e.g. after a manual `pip install` changed a version.
install: | $(BIN)/python
	@rm -f $(STAMP)
	@$(MAKE) --no-print-directory $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m vidpipe.demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/cli_startup.py

clean:
	rm -rf $(VENV) .vidpipe .pytest_cache

# Upgrade the pinned set: install pyproject.toml's dependencies (with its caps, and NOT
# the old pins) into a brand-new temporary venv, check it, and freeze it into
# constraints.txt, keeping the file's header comment. Then run `make test` (it re-installs
# .venv from the new pins) and commit pyproject.toml and constraints.txt together.
constraints lock:
	@$(PYTHON) -c '$(CHECK_PYTHON)'
	@set -eu; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "resolving pyproject.toml in a fresh venv ($$tmp)"; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip; \
	"$$tmp/venv/bin/python" -m pip install --quiet -e '.[dev]'; \
	"$$tmp/venv/bin/python" -m pip check; \
	"$$tmp/venv/bin/python" -m pip freeze --exclude-editable > "$$tmp/freeze.txt"; \
	if grep -vxE '[A-Za-z0-9][A-Za-z0-9._-]*==[^[:space:]]+' "$$tmp/freeze.txt"; then \
		echo "pip freeze wrote the lines above, which are not name==version pins" >&2; \
		exit 1; \
	fi; \
	{ if [ -f $(CONSTRAINTS) ]; then sed -n '/^#/!q; /^# Frozen with /!p' $(CONSTRAINTS); fi; \
	  "$$tmp/venv/bin/python" -c 'import platform as p; print("# Frozen with Python", p.python_version(), p.system(), p.machine() + ".")'; \
	  cat "$$tmp/freeze.txt"; } > "$$tmp/constraints.txt"; \
	cp "$$tmp/constraints.txt" $(CONSTRAINTS); \
	echo "wrote $(CONSTRAINTS): $$(wc -l < "$$tmp/freeze.txt") pins; now run: make test"
