# The two commands of the README, and the rest of the developer loop.
#   make demo   installs what is missing, builds, runs `vigil demo`
#   make test   installs what is missing, builds, runs every test
.PHONY: demo test deps build asan-test fuzz bench format clean

FUZZ_SECONDS ?= 20

demo: build
	./build/default/vigil demo

test: build
	ctest --preset default

deps:
	@bash scripts/install-deps

build: deps
	cmake --preset default
	cmake --build --preset default

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan-test: deps
	cmake --preset asan
	cmake --build --preset asan
	ctest --preset asan

# Every libFuzzer target for FUZZ_SECONDS each (clang-19).
fuzz: deps
	cmake --preset fuzz
	cmake --build --preset fuzz
	bash scripts/run-fuzzers $(FUZZ_SECONDS)

bench: build
	bash scripts/run-benchmarks

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build
