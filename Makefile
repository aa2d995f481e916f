# halo: top-level GNU Makefile.
#   make            library (static + shared) and the halo CLI
#   make test       build and run every test (SANITIZE=1: under ASan+UBSan)
#   make demo       run the CLI on a real model
#   make install    PREFIX=/usr/local (DESTDIR honoured)
#   make deps       install missing Debian packages (as root) or print the apt-get line
#   make fixtures   regenerate test fixtures with TFLite (Python venv under build/)

PREFIX ?= /usr/local
VERSION := 0.1.0
SANITIZE ?= 0

CC ?= cc
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT := -O1
# halo-vtpu runs its command with umockdev's preload library in LD_PRELOAD,
# ahead of the ASan runtime the command links: allow that order.
SAN_TEST_ENV := ASAN_OPTIONS=verify_asan_link_order=0
else
BUILD ?= build
SAN_FLAGS :=
OPT := -O2
endif

DEB_PACKAGES := build-essential pkg-config libcmocka-dev unzip python3-pip
PKGS := cmocka

CFLAGS ?= $(OPT) -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter -fPIC \
          -fvisibility=hidden $(SAN_FLAGS)
CPPFLAGS += -Iinclude -I. -MMD -MP -DHALO_VERSION=\"$(VERSION)\"
LDFLAGS += $(SAN_FLAGS)
# What libhalo.a needs from the system; the drivers' .mk files add theirs.
HALO_SYSTEM_LIBS := -lm -lpthread
LDLIBS = $(HALO_SYSTEM_LIBS)

LIB_SRCS := $(wildcard hal/*.c runtime/*.c drivers/cpu/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_COMMON_SRCS := $(wildcard tools/common/*.c)
TOOL_COMMON_OBJS := $(TOOL_COMMON_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_SRCS := $(wildcard tools/halo/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT_SRCS := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(BUILD)/obj/%.o)

# The Vulkan device: its sources, shaders (glslc), libdrm, -ldl.
include drivers/vulkan/vulkan.mk
# The USB accelerator: protocol, firmware images (usbtpu_mkfw), virtual device.
include drivers/usbtpu/usbtpu.mk

STATIC_LIB := $(BUILD)/libhalo.a
SHARED_LIB := $(BUILD)/libhalo.so.$(VERSION)
CLI := $(BUILD)/halo

.PHONY: all test demo install deps fixtures docs examples models clean check-deps
# Objects of tests/support are shared by every test: keep them.
.SECONDARY:
all: $(STATIC_LIB) $(SHARED_LIB) $(CLI)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(STATIC_LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libhalo.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS)
	ln -sf libhalo.so.$(VERSION) $(BUILD)/libhalo.so.0
	ln -sf libhalo.so.$(VERSION) $(BUILD)/libhalo.so

$(CLI): $(CLI_OBJS) $(TOOL_COMMON_OBJS) $(STATIC_LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(TOOL_COMMON_OBJS) $(STATIC_LIB) $(LDLIBS)

# Tests link the static library (internal symbols included) and cmocka.
$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJS) $(TOOL_COMMON_OBJS) $(STATIC_LIB) | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MF $@.d $(LDFLAGS) -o $@ $< $(TEST_SUPPORT_OBJS) \
	  $(TOOL_COMMON_OBJS) $(STATIC_LIB) $$(pkg-config --cflags --libs $(PKGS)) $(LDLIBS)

# The test runner prints each suite's cmocka summary and a final
# "N passed, N failed" line over all suites.
test: check-deps all examples models $(TEST_BINS)
	@HALO_CLI=$(abspath $(CLI)) HALO_SHARED=$(abspath ../shared) HALO_BUILD=$(BUILD) $(VK_TEST_ENV) $(SAN_TEST_ENV) \
	  tests/run_tests.sh $(TEST_BINS)

check-deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing missing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing Debian packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

deps: check-deps

demo: check-deps all
	tools/demo.sh $(CLI)

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/halo \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libhalo.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libhalo.so.0
	ln -sf libhalo.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libhalo.so
	install -m 644 include/halo/halo.h $(DESTDIR)$(PREFIX)/include/halo/
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' halo.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/halo.pc

# The examples build the way users build: against an installed copy (in
# $(BUILD)/stage), found through its halo.pc.
STAGE := $(abspath $(BUILD)/stage)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c $(STATIC_LIB) $(SHARED_LIB) $(CLI) halo.pc.in include/halo/halo.h
	@$(MAKE) -s install PREFIX=$(STAGE) DESTDIR= >/dev/null
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) $$(PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig pkg-config \
	  --cflags --libs halo) -Wl,-rpath,$(STAGE)/lib

# The fixture models too large to commit (MediaPipe's, from the pinned wheel
# on PyPI). A failed download is not fatal: the model tests then report those
# fixtures as skipped, never as passed.
models:
	-@tests/fixtures/fetch_models.sh $(BUILD)

# Regenerates the coverage table in docs/ops.md from `halo ops`.
docs: all
	tools/update_ops_doc.sh $(CLI)

fixtures:
	tests/fixtures/generate.sh $(BUILD)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
