# rsdat: the two quick-start commands are `make demo` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)

FUZZ_SECONDS ?= 30

.PHONY: all deps build demo test fuzz sanitize sanitize-unit chaos bench compare-dask clean

all: build

deps:
	@bash scripts/install-deps.sh --with-python

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	$(BUILD_DIR)/bin/rsdat-ndvi-demo --out ndvi_quicklook.png

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 300 -j 2
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

# Every test against a build with AddressSanitizer and UBSan (in build-sanitize/),
# daemons included; the install test is left out (it links a program of its own), and
# so is the Python module (a sanitized extension cannot load into Debian's python3).
SANITIZE_DIR ?= build-sanitize
SANITIZE_RUN = cd $(SANITIZE_DIR) && \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=16:malloc_context_size=10 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure --timeout 600 -j 2
$(SANITIZE_DIR)/CMakeCache.txt:
	cmake -S . -B $(SANITIZE_DIR) -DCMAKE_BUILD_TYPE=Release -DRSDAT_SANITIZE=ON
sanitize: deps $(SANITIZE_DIR)/CMakeCache.txt
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	$(SANITIZE_RUN) -E '^(install|python)$$'

# The unit tests alone against the same sanitizer build.
SANITIZE_UNIT_TARGETS = core_test net_test ops_test io_test scheduler_test worker_test client_test
sanitize-unit: deps $(SANITIZE_DIR)/CMakeCache.txt
	cmake --build $(SANITIZE_DIR) -j $(JOBS) --target $(SANITIZE_UNIT_TARGETS)
	$(SANITIZE_RUN) -L unit

# The chaos soak, longer: CHAOS_ROUNDS disturbed runs of every workload (make test runs
# one), from CHAOS_SEED.
CHAOS_ROUNDS ?= 10
CHAOS_SEED ?= 1
chaos: build
	cd $(BUILD_DIR) && RSDAT_CHAOS_ROUNDS=$(CHAOS_ROUNDS) RSDAT_CHAOS_SEED=$(CHAOS_SEED) \
	  ctest --output-on-failure --timeout 3600 -L chaos -V

# The decoders of untrusted bytes under libFuzzer (clang build in build-fuzz/), FUZZ_SECONDS per target.
fuzz: deps
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build
	$(BUILD_DIR)/bin/rsdat-bench

# rsdat beside Dask (Debian's python3-dask), same workers and memory, one table.
compare-dask: build
	bench/compare-dask --bench $(BUILD_DIR)/bin/rsdat-bench

clean:
	rm -rf $(BUILD_DIR) build-fuzz $(SANITIZE_DIR)
