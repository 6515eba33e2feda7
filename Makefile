# buse — top-level build.  Sources are found by wildcard, so a new .c file in a module
# folder, a new tests/unit/test-*.c or tests/fuzz/fuzz-*.c needs no change here.
#   make            build ./buse
#   make check      install what is missing, build, run every test (tests/run.sh)
#   make check-asan the same suite under AddressSanitizer + UBSan
#   make check-style clang-format check      make fuzz   libFuzzer targets (FUZZ_SECONDS)
#   make check-kernel QEMU kernel tier         make bench  benchmarks (QUICK=1)
#   make demo (Docker 28 on the snapshotter) / demo-graphdriver (dockerd 20.10) / demo-stop
#   make deps   install build/test packages

BUILD   ?= build
CC      ?= gcc
PKGS    := libmicrohttpd jansson libarchive devmapper libnl-genl-3.0 ext2fs
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN    := -Wall -Wextra -Wshadow -Wvla -Werror
CFLAGS  ?= -O2 -g
override CFLAGS += -std=gnu11 $(WARN) -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -pthread -I. $(PKG_CFLAGS)
override LDLIBS += $(PKG_LIBS) -pthread -lm
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Module folders, bottom first (the order DESIGN's layering runs in; tests/meta/test-layering.sh
# checks that includes only run downwards).
MODULES  := common nbd attach layers mounts archive graphdriver cli
LIB_SRCS := $(sort $(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
LIB_SRCS := $(filter-out cli/main.c,$(LIB_SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(TOOL_SRCS:%.c=$(BUILD)/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
HDRS := $(wildcard */*.h)
BUSE := $(if $(filter build,$(BUILD)),buse,$(BUILD)/buse)

.PHONY: all deps check check-asan check-style check-kernel check-reliability fuzz bench \
        demo demo-graphdriver demo-stop clean format tests plugin install

all: $(BUSE) tests

tests: $(UNIT_BINS) $(TOOL_BINS)

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libbuse.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUSE): $(BUILD)/cli/main.o $(BUILD)/libbuse.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- snapshotter/ (containerd snapshotter: gRPC C core + protobuf-c) -- owner: snapshotter/ --
# The message code is generated at build time into $(SNAP_GEN) from the .proto files of
# Debian's golang-github-containerd-containerd-dev (gogoproto options stripped first) and the
# well-known types of libprotobuf-dev; nothing generated is committed.
SNAP_API    ?= /usr/share/gocode/src/github.com/containerd/containerd/api
SNAP_GEN    := $(BUILD)/gen
SNAP_CTRD   := github.com/containerd/containerd/api
SNAP_PROTOS := $(SNAP_CTRD)/services/snapshots/v1/snapshots.proto $(SNAP_CTRD)/types/mount.proto
SNAP_WKT    := google/protobuf/empty.proto google/protobuf/field_mask.proto \
               google/protobuf/timestamp.proto
SNAP_GEN_C  := $(patsubst %.proto,$(SNAP_GEN)/%.pb-c.c,$(SNAP_PROTOS) $(SNAP_WKT))
SNAP_STRIP  := /^import weak "gogoproto/d; /^[[:space:]]*option (gogoproto\./d; \
               s/[[:space:]]*\[(gogoproto\.[^]]*\]//g
SNAP_PKGS   := grpc_unsecure libprotobuf-c
SNAP_CFLAGS := -I$(SNAP_GEN) $(shell pkg-config --cflags $(SNAP_PKGS) 2>/dev/null)
SNAP_LIBS   := $(shell pkg-config --libs $(SNAP_PKGS) 2>/dev/null)
SNAP_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard snapshotter/*.c))) $(SNAP_GEN_C:.c=.o)
override LDLIBS += $(SNAP_LIBS)

$(SNAP_GEN)/.stamp: $(addprefix $(SNAP_API)/,$(SNAP_PROTOS:$(SNAP_CTRD)/%=%))
	@rm -rf $(SNAP_GEN) && mkdir -p $(SNAP_GEN)/proto
	for p in $(SNAP_PROTOS); do mkdir -p $(SNAP_GEN)/proto/$$(dirname $$p); \
	  sed -e '$(SNAP_STRIP)' $(SNAP_API)/$${p#$(SNAP_CTRD)/} >$(SNAP_GEN)/proto/$$p || exit 1; done
	! grep -rn gogo $(SNAP_GEN)/proto
	protoc-c -I$(SNAP_GEN)/proto -I/usr/include --c_out=$(SNAP_GEN) $(SNAP_PROTOS) $(SNAP_WKT)
	@touch $@
$(SNAP_GEN_C) $(SNAP_GEN_C:.c=.h): $(SNAP_GEN)/.stamp
$(SNAP_GEN)/%.pb-c.o: $(SNAP_GEN)/%.pb-c.c
	$(CC) -O2 -g -I$(SNAP_GEN) $(SNAP_CFLAGS) -c -o $@ $<
$(BUILD)/snapshotter/%.o: override CFLAGS += $(SNAP_CFLAGS)
$(filter $(BUILD)/snapshotter/%,$(SNAP_OBJS)): $(SNAP_GEN)/.stamp
$(BUILD)/libbuse.a: $(SNAP_OBJS)
# the conformance test's client: raw gRPC calls (any method, any bytes) and their status
$(BUILD)/tests/snapshotter/snapcall: tests/snapshotter/snapcall.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SNAP_CFLAGS) -o $@ $< $(SNAP_LIBS)
tests: $(BUILD)/tests/snapshotter/snapcall
# ---- end of snapshotter/ block ----------------------------------------------------------------

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libbuse.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libbuse.a $(LDLIBS)

$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libbuse.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libbuse.a $(LDLIBS) $(shell pkg-config --libs libnbd 2>/dev/null)

deps:
	@bash tests/deps.sh

check: deps
	$(MAKE) all
	BUSE=$(CURDIR)/$(BUSE) BUILD=$(CURDIR)/$(BUILD) bash tests/run.sh

check-asan: deps
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g $(SAN)" LDFLAGS="$(SAN)" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  BUSE=$(CURDIR)/build-asan/buse BUILD=$(CURDIR)/build-asan bash tests/run.sh

check-style:
	@files=$$(git ls-files '*.c' '*.h'); clang-format --dry-run -Werror $$files && echo "style ok"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-kernel: all
	bash tests/kernel/run.sh

check-reliability: all
	bash tests/reliability/run.sh

FUZZ_SECONDS ?= 20
fuzz:
	@mkdir -p $(BUILD)/fuzz
	@for f in $(FUZZ_SRCS); do \
	  b=$(BUILD)/fuzz/$$(basename $$f .c); \
	  clang -g -O1 -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -pthread -I. $(PKG_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined -o $$b $$f $(LIB_SRCS) $(LDLIBS) || exit 1; \
	  mkdir -p $(BUILD)/fuzz/corpus-$$(basename $$f .c); \
	  $$b -max_total_time=$(FUZZ_SECONDS) $(BUILD)/fuzz/corpus-$$(basename $$f .c) \
	    tests/fuzz/seeds-$$(basename $$f .c) 2>&1 | tail -n 3 || exit 1; \
	done

bench: deps all
	bash bench/run.sh

demo: deps
	$(MAKE) all
	bash tests/demo28.sh start

demo-graphdriver: deps
	$(MAKE) all
	bash tests/demo.sh start

demo-stop:
	bash tests/demo28.sh stop
	bash tests/demo.sh stop

# make plugin [DOCKER_HOST=...]: the managed plugin bundle plugin/build (config.json + a rootfs
# with buse, its tools and their libraries), then `docker plugin create $(PLUGIN_NAME)`.
# make install [PREFIX=/usr/local] [DESTDIR=]: buse, the systemd units (graphdriver, snapshotter),
# daemon.json.example and the snapshotter's containerd / Docker 28 snippets.
PLUGIN_NAME ?= buse
PLUGIN_BUILD ?= plugin/build
PREFIX ?= /usr/local
DOCKER ?= docker
plugin: $(BUSE)
	bash plugin/build-rootfs.sh $(BUSE) $(PLUGIN_BUILD)
	! $(DOCKER) plugin inspect $(PLUGIN_NAME) >/dev/null 2>&1 || $(DOCKER) plugin rm $(PLUGIN_NAME)
	$(DOCKER) plugin create $(PLUGIN_NAME) $(PLUGIN_BUILD)

install: $(BUSE)
	install -D -m 0755 $(BUSE) $(DESTDIR)$(PREFIX)/bin/buse
	install -d $(DESTDIR)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/doc/buse
	sed 's|@PREFIX@|$(PREFIX)|g' plugin/buse.service >$(DESTDIR)/lib/systemd/system/buse.service
	install -m 0644 plugin/daemon.json.example $(DESTDIR)$(PREFIX)/share/doc/buse/
	sed 's|@PREFIX@|$(PREFIX)|g' plugin/buse-snapshotter.service \
	  >$(DESTDIR)/lib/systemd/system/buse-snapshotter.service
	install -d $(DESTDIR)$(PREFIX)/share/doc/buse/snapshotter
	install -m 0644 plugin/snapshotter/* $(DESTDIR)$(PREFIX)/share/doc/buse/snapshotter/

clean:
	rm -rf build build-asan buse plugin/build
