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
	libsasl2-modules libsasl2-modules-db sasl2-bin fetchmail mpop
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
