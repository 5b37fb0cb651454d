# Captioner: `make demo` and `make test` do all set-up on a fresh Debian 12 machine with Swift.
SWIFT ?= swift
CONFIG ?= release

.PHONY: bootstrap build test clean

bootstrap:
	@scripts/bootstrap

build: bootstrap
	$(SWIFT) build -c $(CONFIG)

test: bootstrap
	$(SWIFT) test -c $(CONFIG) -Xswiftc -enable-testing

clean:
	rm -rf .build
