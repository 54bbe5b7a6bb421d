# trainctl — one GNU Makefile for everything.
#   make            build/trainctl, build/trainctl-shim and build/train-sim
#   make check      build, then run the unit tests (cmocka) and the CLI scenarios (bats)
#   make check-e2e  end-to-end scenarios with the PyTorch example (skipped without torch)
#   make asan       the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 30) each, with clang
#   make soak       thousands of short jobs, then the daemon's fds, memory and zombies
#   make valgrind   memcheck of the CLI commands and a short daemon run
#   make lint       cppcheck and clang-tidy with the checked-in configuration
#   make install    PREFIX=/usr/local DESTDIR=
#   make demo       the quick-start demo (scripts/demo)
#   make bench      the benchmarks against peer tools (bench/run, writes bench/RESULTS.md)

PREFIX  ?= /usr/local
# trainctl-shim goes here; the daemon looks beside its own executable first.
LIBEXECDIR ?= $(PREFIX)/libexec/trainctl
DESTDIR ?=
BUILD   ?= build

CC      ?= cc
PKGS    := sqlite3 jansson
CFLAGS  ?= -O2 -g
WARN    := -std=gnu11 -Wall -Wextra -Werror -Wvla -Wstrict-prototypes -Wshadow
CPPFLAGS += -D_GNU_SOURCE -Isrc -MMD -MP
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lsqlite3 -ljansson)
# SQLite and Jansson are linked statically by default: every command and every
# shim is a fresh exec, and resolving two large shared libraries each time is a
# measurable part of `trainctl run`'s latency. STATIC_LIBS=0 links them shared.
STATIC_LIBS ?= 1
ifeq ($(STATIC_LIBS),1)
PKG_LIBS := -Wl,-Bstatic $(PKG_LIBS) -Wl,-Bdynamic -lpthread
endif
# ncursesw (for `top`) goes into trainctl only, static like the others.
CURSES_LIBS := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw -ltinfo)
ifeq ($(STATIC_LIBS),1)
CURSES_LIBS := -Wl,-Bstatic $(CURSES_LIBS) -Wl,-Bdynamic
endif
# libmicrohttpd (the metrics endpoint) is loaded with dlopen by the daemon
# when --metrics is used: only its header is needed to build.
MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
ALL_CFLAGS  = $(WARN) $(CFLAGS) $(PKG_CFLAGS) $(MHD_CFLAGS) $(EXTRA_CFLAGS)
# -ldl: NVML and libmicrohttpd are opened with dlopen at run time.
LDLIBS  += $(PKG_LIBS) -lm -ldl

LIB_SRC    := $(wildcard src/lib/*.c)
CLI_SRC    := $(wildcard src/cli/*.c)
DAEMON_SRC := $(wildcard src/daemon/*.c)
BACKEND_SRC := $(wildcard src/backend/*.c)
TRAINCTL_SRC := src/main.c $(CLI_SRC) $(DAEMON_SRC) $(BACKEND_SRC) $(LIB_SRC)
# trainctl-shim, one per running job, is its own small executable: only the
# library files it uses (listed, so that a new file does not slip in), and
# Jansson; no SQLite, no ncurses.
SHIM_SRC   := $(wildcard src/shim/*.c)
SHIM_LIB_SRC := src/lib/ansi.c src/lib/cgroup.c src/lib/err.c src/lib/frame.c \
	src/lib/job.c src/lib/logindex.c src/lib/loop.c src/lib/parse.c src/lib/paths.c \
	src/lib/proc.c src/lib/program.c src/lib/progress.c src/lib/proto.c src/lib/signals.c \
	src/lib/sock.c \
	src/lib/strbuf.c src/lib/xmalloc.c
JANSSON_LIBS := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)

# Quiet by default; `make V=1` shows the commands.
ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
endif

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

TRAINCTL := $(BUILD)/trainctl
SHIM     := $(BUILD)/trainctl-shim
TRAINSIM := $(BUILD)/train-sim
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(patsubst tests/helpers/%.c,$(BUILD)/tests/%,$(HELPER_SRC))
# The tests' fake NVML (tests/fake-nvml/README.md), selected with TRAINCTL_NVML_LIB.
FAKE_NVML := $(BUILD)/tests/fake-nvml/libnvidia-ml.so.1

.PHONY: FORCE all check check-e2e unit bats asan fuzz soak valgrind lint install uninstall clean deps demo bench
all: $(TRAINCTL) $(SHIM) $(TRAINSIM) $(FAKE_NVML)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(TRAINCTL): $(call obj,$(TRAINCTL_SRC))
	$(call say,LINK,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ $(CURSES_LIBS) $(LDLIBS) -o $@

# One shim runs per live job, so what counts is the memory each one dirties.
# Linked statically, libc included, it has no dynamic loader and no private
# pages of shared libraries. Not -static-pie, because of what was measured
# (bench section 3, 100 running jobs, PSS of the daemon and its shims): a
# static PIE relocates glibc's own pointer tables in every shim at start-up,
# and it came to 11.9 MB in all, 1.10x tsp's server and clients, missing the
# target; -static came to 9.85 MB, 0.91x (77 kB a shim). Heap, stack and
# mmaps stay randomized; only the shim's own image is at a fixed address.
# `make asan` sets SHIM_LINK= (a dynamic link): ASan cannot be linked statically.
SHIM_LINK ?= -static
$(SHIM): $(call obj,$(SHIM_SRC) $(SHIM_LIB_SRC))
	$(call say,LINK,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(SHIM_LINK) $^ $(JANSSON_LIBS) -lm -o $@

# The daemon finds the shim in LIBEXECDIR when it is not beside it; the
# stamp rebuilds daemon.c when LIBEXECDIR changes.
LIBEXEC_DEFINE := -DTRAINCTL_LIBEXECDIR='"$(LIBEXECDIR)"'
$(call obj,src/daemon/daemon.c): CPPFLAGS += $(LIBEXEC_DEFINE)
$(call obj,src/daemon/daemon.c): $(BUILD)/libexecdir.stamp
$(BUILD)/libexecdir.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(LIBEXECDIR)' | cmp -s - $@ || echo '$(LIBEXECDIR)' >$@

$(TRAINSIM): $(call obj,tools/train-sim.c)
	$(call say,LINK,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -lm -o $@

$(call obj,tests/fake-nvml/fake_nvml.c): ALL_CFLAGS += -fPIC
$(FAKE_NVML): $(call obj,tests/fake-nvml/fake_nvml.c)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libnvidia-ml.so.1 $^ -o $@

# Unit tests link the library objects (no main) with cmocka; test_nvml loads the fake NVML.
$(BUILD)/tests/test_nvml: | $(FAKE_NVML)
$(BUILD)/tests/test_%: $(call obj,tests/unit/test_%.c) $(call obj,$(LIB_SRC))
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/tests/%: $(call obj,tests/helpers/%.c)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@

# Benchmark helpers; sampler-cost links the library to time the daemon's own sampling pass.
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

$(BUILD)/bench/sampler-cost: $(call obj,bench/sampler-cost.c) $(call obj,$(LIB_SRC))
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bench/%: $(call obj,bench/%.c)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@

check: all $(UNIT_BIN) $(HELPER_BIN)
	@BUILD=$(BUILD) tests/run-all

# The PyTorch example under trainctl, with an interpreter that can import
# torch and sklearn (tests/e2e/find-python); without one there is nothing to run.
check-e2e: all
	@if PYTHON=$$(tests/e2e/find-python); then \
		PYTHON=$$PYTHON BUILD=$(BUILD) tests/run-all tests/e2e; \
	else \
		echo "check-e2e: skipped: no python3 can import torch and sklearn" \
		     "(Debian: apt-get install python3-torch python3-sklearn; or set PYTHON)"; \
	fi

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do $$t; done

bats: all $(HELPER_BIN)
	BUILD=$(BUILD) bats tests/cli tests/crash tests/slurm

asan:
	$(MAKE) BUILD=build/asan EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" SHIM_LINK= check

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang and the sanitizers
# from their own objects. Each runs FUZZ_SECONDS on a scratch copy of its
# corpus (tests/fuzz/corpus/<target>, left as it is); a crash stops `make fuzz`
# and leaves the input in $(BUILD)/fuzz/. The run counts go to
# $(BUILD)/fuzz/runs.tsv for docs/RELIABILITY.md (scripts/reliability-report).
FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
# The analyze target includes src/cli/monitor.c, so it links everything but main and monitor.
FUZZ_ANALYZE_SRC := $(filter-out src/main.c src/cli/monitor.c,$(TRAINCTL_SRC))
fuzz_obj = $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(1))
$(call fuzz_obj,src/daemon/daemon.c): CPPFLAGS += $(LIBEXEC_DEFINE)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call say,FUZZCC,$<)$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(FUZZ_FLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/fuzz_analyze: $(call fuzz_obj,tests/fuzz/fuzz_analyze.c $(FUZZ_ANALYZE_SRC))
	$(call say,LINK,$@)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ $(CURSES_LIBS) $(LDLIBS) -o $@

$(BUILD)/fuzz/fuzz_%: $(call fuzz_obj,tests/fuzz/fuzz_%.c $(LIB_SRC))
	$(call say,LINK,$@)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

fuzz: $(FUZZ_BIN)
	@tests/fuzz/run-all $(BUILD)/fuzz $(FUZZ_SECONDS)

# Long runs, outside make check: 2,000 jobs and a 1 GB flood (SOAK_JOBS=N to change).
soak: all $(HELPER_BIN)
	BUILD=$(BUILD) bats tests/soak

# Static checks, configured by .clang-tidy and tests/lint/ (cppcheck's view of
# Jansson's macros, and its suppressions, each with its reason).
LINT_SRC  := $(TRAINCTL_SRC) $(SHIM_SRC) tools/train-sim.c $(UNIT_SRC) $(HELPER_SRC) $(FUZZ_SRC)
LINT_JOBS ?= 2
lint:
	cppcheck -q --enable=warning,portability,performance --std=c11 -D_GNU_SOURCE -Isrc \
	    $(LIBEXEC_DEFINE) \
	    --library=tests/lint/jansson.cfg --suppressions-list=tests/lint/cppcheck.supp \
	    --inline-suppr --error-exitcode=1 -j$(LINT_JOBS) $(LINT_SRC)
	printf '%s\n' $(filter-out $(UNIT_SRC),$(LINT_SRC)) | xargs -P$(LINT_JOBS) -I{} clang-tidy -quiet {} \
	    -- -std=gnu11 -D_GNU_SOURCE -Isrc $(LIBEXEC_DEFINE) $(PKG_CFLAGS)

valgrind: all
	@BUILD=$(BUILD) tests/valgrind/run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(TRAINCTL) $(TRAINSIM) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(SHIM) $(DESTDIR)$(LIBEXECDIR)/
	install -m 0644 docs/trainctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/trainctl $(DESTDIR)$(PREFIX)/bin/train-sim \
	      $(DESTDIR)$(LIBEXECDIR)/trainctl-shim $(DESTDIR)$(PREFIX)/share/man/man1/trainctl.1
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null

bench: all $(BENCH_BIN)
	BUILD=$(BUILD) bench/run

deps:
	scripts/install-deps

demo:
	scripts/demo

clean:
	rm -rf $(BUILD)

# Keep intermediate objects (and keep make from printing their removal after the tests).
.SECONDARY:

-include $(shell find $(BUILD)/obj $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)
