# The two-command quick start.  Everything real is in meson; this file only
# installs what a fresh Debian 12 machine lacks, then calls meson.
#
#   make demo    build and run poplard on 127.0.0.1:1110 with a demo user
#   make check   build and run the whole test suite
#   make deb     build the Debian packages into build-deb/ (packaging/debian)
#
BUILD ?= build
MESON_OPTIONS ?=

BUILD_DEPS = meson ninja-build pkg-config gcc g++ libc6-dev \
	libglib2.0-dev libgnutls28-dev libltdl-dev libcrypt-dev \
	nettle-dev libargon2-dev \
	libpam0g-dev libldap2-dev libsasl2-dev \
	libpq-dev libmariadb-dev libsqlite3-dev
DEMO_DEPS = curl perl
TEST_DEPS = python3 curl perl gnutls-bin spamassassin spamd \
	libpam-wrapper libnss-wrapper slapd \
	abigail-tools mandoc man-db \
	libsasl2-modules libsasl2-modules-db sasl2-bin fetchmail mpop haproxy \
	dovecot-core whois dovecot-pop3d dovecot-imapd mailutils-pop3d getmail6 \
	postgresql mariadb-server sqlite3 dovecot-pgsql strace
# Courier and Cyrus (tests/migration) are never installed: their .debs are
# fetched with `apt-get download` into the build tree and run from a
# private root (tests/migration/privroot.py), which needs apt, dpkg and:
TEST_DEPS += util-linux openssl
# poplarctl and [metrics]: promtool and a real Prometheus in the tests.
TEST_DEPS += prometheus
# GlusterFS for tests/ha-gluster (the test starts its own glusterd).
TEST_DEPS += glusterfs-server glusterfs-client
BENCH_DEPS = python3 openssl gnutls-bin dovecot-core dovecot-pop3d valgrind \
	linux-perf dovecot-pgsql postgresql strace

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

# The suite runs twice: plain in $(BUILD), then under AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer in $(ASAN_BUILD); the last
# line counts both.
check: build asan-build
	@build-aux/install-deps.sh $(TEST_DEPS)
	@build-aux/run-tests.sh $(BUILD) $(ASAN_BUILD)

# The benchmark against Dovecot (docs/performance.md); needs root.
bench: build
	@build-aux/install-deps.sh $(BENCH_DEPS)
	python3 tests/bench/run-bench.py --build $(BUILD)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(DEB_OUT)

# Fuzzing and sanitizers (docs/security.md).  `make fuzz` runs every
# libFuzzer target for FUZZ_SECONDS (default 60) each, in build-fuzz (clang,
# ASan+UBSan, the shared sanitizer runtime because libpoplar is a shared
# library); `make check-asan` runs the whole suite under AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer in build-asan.
FUZZ_DEPS = clang libclang-rt-14-dev
.PHONY: fuzz check-asan asan-build

fuzz: deps
	@build-aux/install-deps.sh $(FUZZ_DEPS)
	@test -f build-fuzz/build.ninja || CC=clang meson setup build-fuzz \
	  $(MESON_OPTIONS) -Dfuzzing=true \
	  -Db_sanitize=address,undefined -Db_lundef=false \
	  -Dc_args=-fsanitize=fuzzer-no-link \
	  "-Dc_link_args=-shared-libsan -Wl,-rpath,$$(clang -print-resource-dir)/lib/linux"
	ninja -C build-fuzz
	@tests/fuzz/run-fuzz.sh build-fuzz $(or $(FUZZ_SECONDS),60)

ASAN_BUILD ?= build-asan

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) $(MESON_OPTIONS) \
	  -Db_sanitize=address,undefined -Db_lundef=false

asan-build: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

check-asan: asan-build
	@build-aux/install-deps.sh $(TEST_DEPS)
	@build-aux/run-tests.sh $(ASAN_BUILD)

# Debian packages (packaging/debian, split as data/packaging/split.txt
# says): built out of tree into $(DEB_OUT), then checked by lintian.
DEB_DEPS = debhelper dpkg-dev lintian
DEB_OUT ?= build-deb
TEST_DEPS += $(DEB_DEPS)
.PHONY: deb

deb: deps
	@build-aux/install-deps.sh $(DEB_DEPS)
	build-aux/make-deb.sh --lintian $(DEB_OUT)
