# The two-command quick start.  Everything real is in meson; this file only
# installs what a fresh Debian 12 machine lacks, then calls meson.
#
#   make demo    build and run poplard on 127.0.0.1:1110 with a demo user
#   make check   build and run the whole test suite
#
BUILD ?= build
MESON_OPTIONS ?=

BUILD_DEPS = meson ninja-build pkg-config gcc libc6-dev \
	libglib2.0-dev libgnutls28-dev libltdl-dev libcrypt-dev \
	libpam0g-dev libldap2-dev libsasl2-dev
DEMO_DEPS = curl perl
TEST_DEPS = python3 curl perl gnutls-bin spamassassin spamd \
	libpam-wrapper libnss-wrapper slapd \
	abigail-tools mandoc man-db \
	libsasl2-modules libsasl2-modules-db sasl2-bin fetchmail mpop haproxy
BENCH_DEPS = python3 openssl gnutls-bin dovecot-core dovecot-pop3d valgrind \
	linux-perf

.PHONY: all deps build demo check bench install clean

all: build

deps:
	@build-aux/install-deps.sh $(BUILD_DEPS)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTIONS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	@build-aux/install-deps.sh $(DEMO_DEPS)
	@build-aux/demo.sh $(BUILD)

check: build
	@build-aux/install-deps.sh $(TEST_DEPS)
	@build-aux/run-tests.sh $(BUILD)

# The benchmark against Dovecot (docs/performance.md); needs root.
bench: build
	@build-aux/install-deps.sh $(BENCH_DEPS)
	python3 tests/bench/run-bench.py --build $(BUILD)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD)

# Fuzzing and sanitizers (docs/security.md).  `make fuzz` runs every
# libFuzzer target for FUZZ_SECONDS (default 60) each, in build-fuzz (clang,
# ASan+UBSan, the shared sanitizer runtime because libpoplar is a shared
# library); `make check-asan` runs the whole suite under AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer in build-asan.
FUZZ_DEPS = clang libclang-rt-14-dev
.PHONY: fuzz check-asan

fuzz: deps
	@build-aux/install-deps.sh $(FUZZ_DEPS)
	@test -f build-fuzz/build.ninja || CC=clang meson setup build-fuzz \
	  $(MESON_OPTIONS) -Dfuzzing=true -Dwerror=false \
	  -Db_sanitize=address,undefined -Db_lundef=false \
	  -Dc_args=-fsanitize=fuzzer-no-link \
	  "-Dc_link_args=-shared-libsan -Wl,-rpath,$$(clang -print-resource-dir)/lib/linux"
	ninja -C build-fuzz
	@tests/fuzz/run-fuzz.sh build-fuzz $(or $(FUZZ_SECONDS),60)

check-asan: deps
	@build-aux/install-deps.sh $(TEST_DEPS)
	@test -f build-asan/build.ninja || meson setup build-asan $(MESON_OPTIONS) \
	  -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan
	@# quarantine_size_mb: freed memory ASan holds back would otherwise
	@# count in the tests' memory bounds; keep-modules.so keeps dlclose()d
	@# plugins mapped so that LeakSanitizer can tell and name real leaks.
	@ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:verify_asan_link_order=0:quarantine_size_mb=4:$(ASAN_OPTIONS) \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp:print_suppressions=0 \
	  LD_PRELOAD=$(CURDIR)/build-asan/tests/fuzz/keep-modules.so \
	  build-aux/run-tests.sh build-asan
