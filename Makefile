# surge: `make` builds build/surge; `make demo` runs it; `make test` runs every test in a debug
# and an ASan+UBSan build. Everything a fresh machine needs is installed by tools/install-deps.sh.
BUILD      ?= build
MAKEFLAGS  += --no-print-directory
JOBS       ?= $(shell nproc)
DEMO_ARGS  ?=

.PHONY: all deps build demo test test-debug test-asan test-fuzz test-e2e test-e2e-debug bench clean \
        format docs

all: build

deps:
	@tools/install-deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: deps build
	@tools/demo.sh $(DEMO_ARGS)

test: deps test-fuzz test-debug test-e2e-debug test-asan

test-debug:
	@cmake -S . -B $(BUILD)/debug -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(BUILD)/debug -j $(JOBS)
	@cd $(BUILD)/debug && ctest --output-on-failure -j 2

test-asan:
	@cmake -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DSURGE_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD)/asan -j $(JOBS)
	@cd $(BUILD)/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2

# the portal in real headless Chromium (tests/e2e/run.sh): screenshots go to tests/artifacts/
test-e2e: deps build
	@SURGE_BIN=$(BUILD)/surge tests/e2e/run.sh

# the same against the debug build `make test` already made
test-e2e-debug: test-debug
	@SURGE_BIN=$(BUILD)/debug/surge tests/e2e/run.sh

# libFuzzer targets (log recovery, event decoding/encoding), briefly: FUZZ_SECONDS each
test-fuzz:
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-15} FUZZ_BUILD=$(BUILD)/fuzz tests/fuzz/run.sh

bench: deps build
	@bench/run.sh

docs: build
	@$(BUILD)/surge config docs > docs/configuration.md

format:
	@clang-format -i src/*/*.c src/*/*.h tests/unit/*.c

clean:
	rm -rf $(BUILD)
