# Keygate: `make run` starts keygated on etc/keygate/dev.yaml; `make test`
# installs what is missing and runs every test. Both work on a fresh Debian 12.

PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   := $(PREFIX)/bin
SWIFT    ?= swift
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV     := .venv
PY       := $(VENV)/bin/python

# Debian packages the build, the daemon and the tests need.
BUILD_DEBS := libyaml-dev libsqlite3-dev pkg-config
TEST_DEBS  := curl python3 python3-venv nginx-light systemd gcc
PY_PKGS    := pytest requests requests-oauthlib authlib httpx

.PHONY: all build release run test test-swift test-python test-units bench deps test-deps install uninstall clean

all: build

deps:
	@missing=""; for p in $(BUILD_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "make: installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

test-deps: deps
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "make: installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	@$(PY) -c "import pytest, requests, requests_oauthlib, authlib, httpx" 2>/dev/null || \
	  $(PY) -m pip install -q $(PY_PKGS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

run: build
	@mkdir -p .run
	@echo "keygated on etc/keygate/dev.yaml; sockets and database in ./.run (Ctrl-C stops it)"
	.build/debug/keygated --config etc/keygate/dev.yaml

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test
	$(MAKE) --no-print-directory test-python

test-python: test-deps
	KEYGATE_BIN_DIR=$$($(SWIFT) build --show-bin-path) $(PY) -m pytest -q Tests/python

bench: test-deps release
	Tests/bench/verify-bench.sh $$($(SWIFT) build -c release --show-bin-path)

clean:
	rm -rf .build .run $(VENV)
