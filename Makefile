# hotline — the README's two commands are `make run` and `make test`.
# PostgreSQL and Redis come from scripts/services.sh: HOTLINE_DATABASE_URL /
# HOTLINE_REDIS_URL, else servers on the standard local ports, else private instances
# under .data/ (stop them with `make services-down`).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
# Targets share services and apt; one at a time even under -j.
.NOTPARALLEL:

GO       ?= go
BIN      := bin/hotline
CONFIG   ?= configs/hotline.yaml
PKG      ?= ./...
FUZZTIME ?= 10s
KEY      ?= 1
# Recipes that talk to the services read the URLs that `scripts/services.sh up` wrote.
WITH_ENV := . .data/services.env &&

.PHONY: build services services-down tools migrate run test short bench lint fuzz call prompts clean

## build: compile bin/hotline
build:
	$(GO) build -o $(BIN) ./cmd/hotline

## services: find or start PostgreSQL and Redis, write .data/services.env
services:
	scripts/services.sh up

## services-down: stop the private PostgreSQL/Redis under .data/ (never system ones)
services-down:
	scripts/services.sh down

## tools: install the missing test peers (sipp, baresip, espeak-ng, sox, prometheus, chromium)
tools:
	scripts/services.sh tools

## migrate: apply the database migrations
migrate: services build
	$(WITH_ENV) $(BIN) migrate -config $(CONFIG)

## run: services, migrations, then the server in the foreground (Ctrl-C stops it and
## the private services this run started)
run: build
	HOTLINE_CONFIG=$(CONFIG) scripts/run.sh

## test: every test, with the race detector, against the real services and peers
test: services tools
	$(WITH_ENV) $(GO) test -race -count=1 -p 2 -timeout 40m $(PKG)

## short: the fast lane: every test that needs no PostgreSQL, Redis, SIPp or
## baresip (those skip under -short), in under a minute, without services
short:
	$(GO) test -short -count=1 $(PKG)

## bench: the benchmarks (not pass/fail); BENCHARGS go to the load driver
bench: services tools build
	$(WITH_ENV) scripts/bench.sh $(BENCHARGS)

## lint: gofmt, go vet, staticcheck
lint:
	scripts/lint.sh

## fuzz: every fuzz target for FUZZTIME (default 10s)
fuzz: services
	$(WITH_ENV) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## call: after `make run` elsewhere, one SIPp call pressing KEY (default 1)
call: build
	KEY=$(KEY) scripts/call.sh

## prompts: regenerate the IVR prompt WAVs
prompts:
	scripts/gen-prompts.sh

## clean: remove build output
clean:
	rm -rf bin
