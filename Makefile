# Dangol: the two commands a fresh machine needs are `make run` and `make test`.
# Everything else here is what they are built from.

BUILD      ?= build
BUILD_SAN  ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja
CTEST_ARGS ?= --output-on-failure -j $(JOBS)

.PHONY: deps configure build build-san run test test-unit test-san bench clean format

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(BUILD_SAN)/build.ninja: | deps
	cmake -S . -B $(BUILD_SAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DDANGOL_SANITIZE=ON -DDANGOL_BENCH=OFF

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The sanitizer build compiles only the engine-labelled tests.
build-san: deps $(BUILD_SAN)/build.ninja
	cmake --build $(BUILD_SAN) -j $(JOBS) --target engine_tests

run: build
	@./scripts/run.sh $(BUILD)

test: build build-san
	cd $(BUILD) && ctest $(CTEST_ARGS)
	cd $(BUILD_SAN) && ctest $(CTEST_ARGS) -L engine

bench: build
	./tests/bench/run.sh $(BUILD)
	./tests/bench/campaignd_bench.sh $(BUILD)
	./tests/bench/http_bench.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
