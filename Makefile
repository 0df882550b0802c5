# Keygate: `make run` starts keygated on etc/keygate/dev.yaml; `make test`
# installs what is missing and runs every test. Both work on a fresh Debian 12.

SHELL := /bin/bash

PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   := $(PREFIX)/bin
LIBDIR   := $(PREFIX)/lib
UNITDIR  := $(LIBDIR)/systemd/system
SHAREDIR := $(PREFIX)/share/keygate
CONFDIR  := /etc/keygate
UNITS    := keygated.service keygated.socket keygated-admin.socket
SWIFT    ?= swift
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV     := .venv
PY       := $(VENV)/bin/python

# Debian packages the build, the daemon and the tests need.
BUILD_DEBS := libyaml-dev libsqlite3-dev pkg-config
TEST_DEBS  := curl python3 python3-venv nginx-light systemd gcc sqlite3 util-linux postgresql valgrind binutils git
PY_PKGS    := pytest requests requests-oauthlib authlib httpx prometheus-client schemathesis==4.32.5 openapi-spec-validator mcp==2.3.0 jsonschema

.PHONY: crash-test all build release run test test-python test-system test-fuzz fuzz bench deps test-deps install install-files uninstall clean openapi golden

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
	@$(PY) -c "import pytest, requests, requests_oauthlib, authlib, httpx, prometheus_client, schemathesis, openapi_spec_validator, mcp, jsonschema" 2>/dev/null || \
	  $(PY) -m pip install -q $(PY_PKGS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

run: build
	@mkdir -p .run
	@echo "keygated on etc/keygate/dev.yaml; sockets and database in ./.run (Ctrl-C stops it)"
	.build/debug/keygated --config etc/keygate/dev.yaml

# The Swift and Python tests run with a private PostgreSQL cluster
# (Tests/system/with-postgres.sh) for the PostgreSQL store and several hosts.
# The instruction budget (Tests/python/test_instructions.py) counts the release
# keygated under callgrind, so the release daemon is built too.
test: test-deps
	$(SWIFT) build --build-tests
	Tests/system/with-postgres.sh $(SWIFT) test --disable-swift-testing
	$(SWIFT) build -c release --product keygated
	$(MAKE) --no-print-directory test-python test-system test-fuzz

test-python: test-deps
	KEYGATE_BIN_DIR=$$($(SWIFT) build --show-bin-path) KEYGATE_RELEASE_BIN_DIR=$$($(SWIFT) build -c release --show-bin-path) \
	  Tests/system/with-postgres.sh $(PY) -m pytest -q Tests/python

# SIGKILL at random moments under concurrent mutations; make test runs 50 rounds.
ROUNDS ?= 500
crash-test: test-deps build
	KEYGATE_BIN_DIR=$$($(SWIFT) build --show-bin-path) KEYGATE_CRASH_ROUNDS=$(ROUNDS) $(PY) -m pytest -q -s Tests/python/test_crash_rounds.py

# libFuzzer targets (Sources/keygate-fuzz) over the parsers of outside input.
# test-fuzz replays the committed corpora and fuzzes each target briefly;
# `make fuzz SECONDS=600` fuzzes longer and keeps what it finds in
# .build/fuzz-corpus/TARGET (merge new inputs into Tests/fuzz/corpus with
# `keygate-fuzz -merge=1 Tests/fuzz/corpus/TARGET .build/fuzz-corpus/TARGET`).
FUZZ_TARGETS := http json form address yaml scan
FUZZ_BUILD   := $(SWIFT) build --scratch-path .build/fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DKEYGATE_FUZZ --product keygate-fuzz
SECONDS      ?= 60

test-fuzz: deps
	$(SWIFT) build --product keygate-fuzz
	for t in $(FUZZ_TARGETS); do $$($(SWIFT) build --show-bin-path)/keygate-fuzz $$t Tests/fuzz/corpus/$$t/* || exit 1; done
	$(MAKE) --no-print-directory fuzz SECONDS=15

fuzz: deps
	$(FUZZ_BUILD) 2>&1 | grep -v "Cannot export local symbol" ; test $${PIPESTATUS[0]} -eq 0
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build/fuzz-corpus/$$t && \
	  KEYGATE_FUZZ_TARGET=$$t .build/fuzz/debug/keygate-fuzz -max_total_time=$(SECONDS) -max_len=8192 \
	    $$( [ -f Tests/fuzz/$$t.dict ] && echo -dict=Tests/fuzz/$$t.dict ) -print_final_stats=1 \
	    -artifact_prefix=.build/fuzz-corpus/$$t- .build/fuzz-corpus/$$t Tests/fuzz/corpus/$$t 2>&1 | grep -E "^(stat::number_of_executed_units|==|SUMMARY|#[0-9]+ *DONE)|crash|leak" ; \
	  test $${PIPESTATUS[0]} -eq 0 || { echo "keygate-fuzz $$t found a failing input; it is in .build/fuzz-corpus/"; exit 1; }; \
	done

# The systemd units (systemd-analyze verify and security) and make install/uninstall.
test-system: test-deps
	Tests/system/check-units.sh "$$($(SWIFT) build --show-bin-path)/keygated" "$$($(SWIFT) build --show-bin-path)/keygate"
	Tests/system/check-install.sh "$$($(SWIFT) build --show-bin-path)"

# Release binaries, units, sysusers and tmpfiles snippets, nginx snippets, and
# /etc/keygate/keygate.yaml only when absent. Honours PREFIX and DESTDIR.
install: release
	$(MAKE) --no-print-directory install-files BIN_SRC="$$($(SWIFT) build -c release --show-bin-path)"

install-files:
	@[ -n "$(BIN_SRC)" ] || { echo "make install-files needs BIN_SRC=<dir with keygated and keygate>"; exit 2; }
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(LIBDIR)/sysusers.d $(DESTDIR)$(LIBDIR)/tmpfiles.d $(DESTDIR)$(SHAREDIR)/nginx
	install -m 0755 $(BIN_SRC)/keygated $(BIN_SRC)/keygate $(DESTDIR)$(BINDIR)/
	for u in $(UNITS); do sed 's|@BINDIR@|$(BINDIR)|g' systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; done
	install -m 0644 systemd/keygate.sysusers $(DESTDIR)$(LIBDIR)/sysusers.d/keygate.conf
	install -m 0644 systemd/keygate.tmpfiles $(DESTDIR)$(LIBDIR)/tmpfiles.d/keygate.conf
	install -m 0644 etc/nginx/keygate.conf etc/nginx/keygate-upstream.conf $(DESTDIR)$(SHAREDIR)/nginx/
	install -m 0644 systemd/keygated-postgres-tcp.conf $(DESTDIR)$(SHAREDIR)/
	install -d -m 0755 $(DESTDIR)$(CONFDIR)
	@if [ -e $(DESTDIR)$(CONFDIR)/keygate.yaml ]; then \
	  echo "keeping the existing $(DESTDIR)$(CONFDIR)/keygate.yaml (the shipped one is $(SHAREDIR)/keygate.yaml.example)"; \
	else install -m 0644 etc/keygate/keygate.yaml $(DESTDIR)$(CONFDIR)/keygate.yaml; fi
	install -m 0644 etc/keygate/keygate.yaml $(DESTDIR)$(SHAREDIR)/keygate.yaml.example
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  systemd-sysusers keygate.conf && systemd-tmpfiles --create keygate.conf && systemctl daemon-reload && \
	  echo "installed; enable with: systemctl enable --now keygated.socket keygated-admin.socket keygated.service"; fi

# Removes what install added; keeps /etc/keygate and /var/lib/keygate.
uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  systemctl disable --now keygated.service keygated.socket keygated-admin.socket 2>/dev/null || true; fi
	rm -f $(DESTDIR)$(BINDIR)/keygated $(DESTDIR)$(BINDIR)/keygate
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	rm -f $(DESTDIR)$(LIBDIR)/sysusers.d/keygate.conf $(DESTDIR)$(LIBDIR)/tmpfiles.d/keygate.conf
	rm -rf $(DESTDIR)$(SHAREDIR)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "kept $(DESTDIR)$(CONFDIR) and /var/lib/keygate (configuration and state)"

# keygated beside nginx in one run; writes BENCHMARKS.md (Tests/bench/bench.py).
bench: test-deps release
	$(PY) Tests/bench/bench.py $$($(SWIFT) build -c release --show-bin-path) --write BENCHMARKS.md
	Tests/system/with-postgres.sh $(PY) Tests/bench/pg-bench.py $$($(SWIFT) build -c release --show-bin-path)

# The OpenAPI documents in docs/openapi come from the route table; refresh them
# after changing an endpoint or a wire type (a test fails until they match).
openapi: build
	for s in service admin; do .build/debug/keygate api-docs $$s > docs/openapi/$$s.json; done

# The CLI's golden output (Tests/IntegrationTests/Golden): rewrite it from the
# current binaries, then review the diff before committing.
golden: build
	$(SWIFT) build --build-tests
	KEYGATE_UPDATE_GOLDEN=1 $(SWIFT) test --disable-swift-testing --filter CLIGoldenTests

clean:
	rm -rf .build .run $(VENV)
