# Captioner: `make demo` and `make test` do all set-up on a fresh Debian 12 machine with Swift.
SWIFT ?= swift
CONFIG ?= release

.PHONY: bootstrap build test demo clean

bootstrap:
	@scripts/bootstrap

build: bootstrap
	$(SWIFT) build -c $(CONFIG)

test: bootstrap
	$(SWIFT) test -c $(CONFIG) -Xswiftc -enable-testing

# DEMO_START lets the demo's time budget count the bootstrap too.
demo:
	@start=$$(date +%s); scripts/bootstrap && DEMO_START=$$start scripts/demo

clean:
	rm -rf .build
