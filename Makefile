# Captioner: `make demo` and `make test` do all set-up on a fresh Debian 12 machine with Swift.
SWIFT ?= swift
CONFIG ?= release

.PHONY: bootstrap build test demo docs clean

bootstrap:
	@scripts/bootstrap

build: bootstrap
	$(SWIFT) build -c $(CONFIG)

# On an AVX-512 CPU the kernels' suites run a second time on the AVX2 path (docs/performance.md).
# The suites compare runs bit for bit, so their team is fixed (CAPTIONER_THREADS) instead of following
# the machine's load; the executable's load-following has its own tests (BenchLoadTests).
TEAM = CAPTIONER_THREADS=$${CAPTIONER_THREADS:-$$(nproc)}
# ClientPackageTests builds a whole package that depends on this one (minutes of both cores), so it
# runs on its own after the suite, whose servers' timing tests must not share the CPU with a compiler.
test: bootstrap
	$(TEAM) $(SWIFT) test -c $(CONFIG) -Xswiftc -enable-testing --skip ClientPackageTests
	@echo "make test: a package that depends on this one, built and run (ClientPackageTests)"
	$(TEAM) $(SWIFT) test -c $(CONFIG) -Xswiftc -enable-testing --skip-build --filter ClientPackageTests
	@if grep -qw avx512f /proc/cpuinfo; then \
	    echo "make test: the kernel, layer, encoder and decoder suites again on the AVX2 path (ONEDNN_MAX_CPU_ISA=AVX2)"; \
	    $(TEAM) ONEDNN_MAX_CPU_ISA=AVX2 $(SWIFT) test -c $(CONFIG) -Xswiftc -enable-testing --skip-build \
	        --filter 'TensorCoreTests|LayersTests|CaptioningTests|VisionTests'; \
	fi

# DEMO_START lets the demo's time budget count the bootstrap too.
demo:
	@start=$$(date +%s); scripts/bootstrap && DEMO_START=$$start scripts/demo

# The Captioner library's DocC documentation, as a static site in .build/docs (open index.html
# through any web server; docs/library.md says how it was checked).
docs: bootstrap
	$(SWIFT) package --allow-writing-to-directory .build/docs generate-documentation --target Captioner \
	    --warnings-as-errors --disable-indexing --transform-for-static-hosting --output-path .build/docs

clean:
	rm -rf .build
