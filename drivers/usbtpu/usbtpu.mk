# The USB accelerator, included by the top-level Makefile.
#
# drivers/usbtpu/*.c (protocol helpers, firmware image and capability
# table, support answers, program encoding) go into the library. The
# virtual device model (tools/vtpu/) is a test and development tool, never
# part of libhalo: it becomes $(BUILD)/libvtpu.a, linked into the
# tests/test_vtpu_*.c binaries. tools/usbtpu_mkfw.c builds firmware images;
# `make firmware` rewrites firmware_blobs/usbtpu-fw-1.0.bin with it.

.DEFAULT_GOAL := all

USBTPU_SRCS := $(wildcard drivers/usbtpu/*.c)
LIB_OBJS += $(USBTPU_SRCS:%.c=$(BUILD)/obj/%.o)

# The transport (usbtpu_usb.c, usbtpu_dfu.c) talks to the device through
# libusb-1.0: libhalo and everything linking it need it.
HALO_SYSTEM_LIBS += -lusb-1.0
USBTPU_LIBUSB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard drivers/usbtpu/usbtpu_usb.c drivers/usbtpu/usbtpu_dfu.c))
$(USBTPU_LIBUSB_OBJS): CFLAGS += $(patsubst -I%,-isystem %,$(shell pkg-config --cflags libusb-1.0 2>/dev/null))

VTPU_SRCS := $(wildcard tools/vtpu/*.c)
VTPU_OBJS := $(VTPU_SRCS:%.c=$(BUILD)/obj/%.o)
VTPU_LIB := $(BUILD)/libvtpu.a
USBTPU_MKFW := $(BUILD)/usbtpu_mkfw
USBTPU_FW_BLOB := firmware_blobs/usbtpu-fw-1.0.bin

# The umockdev testbed (tools/vtpu/vtpu_umockdev.c) and the tests that
# drive the device through real libusb need libumockdev and libusb-1.0. Test
# binaries link the umockdev preload library first, so its ioctl/open
# wrappers win without umockdev-wrapper.
DEB_PACKAGES += libusb-1.0-0-dev libumockdev-dev umockdev
VTPU_PKGS := umockdev-1.0 libusb-1.0
VTPU_CFLAGS = $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(VTPU_PKGS) 2>/dev/null))
VTPU_LIBS = $(shell pkg-config --libs $(VTPU_PKGS) 2>/dev/null)
UMOCKDEV_PRELOAD := -Wl,--push-state,--no-as-needed -lumockdev-preload -Wl,--pop-state
$(VTPU_OBJS): CFLAGS += $(VTPU_CFLAGS)

$(VTPU_LIB): $(VTPU_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# Test binaries that drive the virtual device link it, then the library
# again for what it uses.
VTPU_TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_vtpu_*.c))
$(VTPU_TEST_BINS): $(VTPU_LIB)
$(VTPU_TEST_BINS): LDLIBS += $(VTPU_LIB) $(BUILD)/libhalo.a $(HALO_SYSTEM_LIBS)

# What the umockdev suites share (tests/support_usbtpu/: the testbed,
# sessions against the CPU, the CLI under halo-vtpu). It needs libvtpu and
# libumockdev, so unlike tests/support/ it goes into those suites only, as
# an archive ahead of the archives it draws on: a suite takes only the
# objects it uses, and libhalo's system libraries follow. Their LDLIBS are
# private: a prerequisite linked on the way (usbtpu_mkfw, for the test
# firmware) must not inherit them.
USBTPU_TEST_SUPPORT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/support_usbtpu/*.c))
USBTPU_TEST_SUPPORT_LIB := $(BUILD)/libusbtpu_test.a
$(USBTPU_TEST_SUPPORT_OBJS): CFLAGS += $(VTPU_CFLAGS)
$(USBTPU_TEST_SUPPORT_LIB): $(USBTPU_TEST_SUPPORT_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# Tests of the libusb transport under the umockdev testbed.
USBTPU_USB_TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_usbtpu_usb*.c))
$(USBTPU_USB_TEST_BINS): $(VTPU_LIB) $(USBTPU_TEST_SUPPORT_LIB)
$(USBTPU_USB_TEST_BINS): CFLAGS += $(VTPU_CFLAGS)
$(USBTPU_USB_TEST_BINS): LDFLAGS += $(UMOCKDEV_PRELOAD)
$(USBTPU_USB_TEST_BINS): private LDLIBS += $(USBTPU_TEST_SUPPORT_LIB) $(VTPU_LIB) $(BUILD)/libhalo.a \
  $(VTPU_LIBS) $(HALO_SYSTEM_LIBS)

$(USBTPU_MKFW): $(BUILD)/obj/tools/usbtpu_mkfw.o $(BUILD)/libhalo.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

all: $(USBTPU_MKFW)

.PHONY: firmware
firmware: $(USBTPU_MKFW)
	$(USBTPU_MKFW) $(USBTPU_FW_BLOB) --fw-version 1.0.0

# The HAL device (usbtpu_device.c) downloads the firmware at enumeration:
# $HALO_USBTPU_FIRMWARE, else the installed copy, else this source tree's
# (usbtpu_firmware_path in usbtpu_device.h). `make install` installs it.
USBTPU_FW_INSTALLED := $(PREFIX)/share/halo/usbtpu-fw-1.0.bin
$(BUILD)/obj/drivers/usbtpu/usbtpu_device.o: CFLAGS += \
  -DUSBTPU_FW_INSTALLED=\"$(USBTPU_FW_INSTALLED)\" -DUSBTPU_FW_SOURCE=\"$(abspath $(USBTPU_FW_BLOB))\"
.PHONY: install-usbtpu-firmware
install: install-usbtpu-firmware
install-usbtpu-firmware:
	install -d $(DESTDIR)$(PREFIX)/share/halo
	install -m 644 $(USBTPU_FW_BLOB) $(DESTDIR)$(USBTPU_FW_INSTALLED)

# The udev rule that lets users open the device without root
# (tools/udev/60-halo-usbtpu.rules): the transport's "no permission" error
# and `halo doctor` name where `make install` puts it.
USBTPU_UDEV_RULES := tools/udev/60-halo-usbtpu.rules
USBTPU_UDEV_INSTALLED := $(PREFIX)/lib/udev/rules.d/60-halo-usbtpu.rules
$(BUILD)/obj/drivers/usbtpu/usbtpu_usb.o: CFLAGS += \
  -DUSBTPU_UDEV_RULES_INSTALLED=\"$(USBTPU_UDEV_INSTALLED)\" \
  -DUSBTPU_UDEV_RULES_SOURCE=\"$(abspath $(USBTPU_UDEV_RULES))\"
.PHONY: install-usbtpu-udev
install: install-usbtpu-udev
install-usbtpu-udev:
	install -d $(DESTDIR)$(PREFIX)/lib/udev/rules.d
	install -m 644 $(USBTPU_UDEV_RULES) $(DESTDIR)$(USBTPU_UDEV_INSTALLED)

# Tests of the HAL device through a session under the umockdev testbed.
USBTPU_DEV_TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_usbtpu_device*.c))
$(USBTPU_DEV_TEST_BINS): $(VTPU_LIB) $(USBTPU_TEST_SUPPORT_LIB)
$(USBTPU_DEV_TEST_BINS): CFLAGS += $(VTPU_CFLAGS)
$(USBTPU_DEV_TEST_BINS): LDFLAGS += $(UMOCKDEV_PRELOAD)
$(USBTPU_DEV_TEST_BINS): private LDLIBS += $(USBTPU_TEST_SUPPORT_LIB) $(VTPU_LIB) $(BUILD)/libhalo.a \
  $(VTPU_LIBS) $(HALO_SYSTEM_LIBS)

# Firmware variants for tests (tests/test_usbtpu_device_models.c points
# HALO_USBTPU_FIRMWARE at them): 128 KiB of parameter memory, so that
# person_detect streams its parameters; no ADD, so that a MobileNetV2 splits
# into several device partitions around CPU ADDs.
USBTPU_TEST_FW := $(BUILD)/firmware/usbtpu-fw-param128k.bin $(BUILD)/firmware/usbtpu-fw-no-add.bin
$(BUILD)/firmware/usbtpu-fw-param128k.bin: $(USBTPU_MKFW)
	@mkdir -p $(dir $@)
	$(USBTPU_MKFW) $@ --param-mem 128K >/dev/null
$(BUILD)/firmware/usbtpu-fw-no-add.bin: $(USBTPU_MKFW)
	@mkdir -p $(dir $@)
	$(USBTPU_MKFW) $@ --without-op ADD >/dev/null
$(BUILD)/tests/test_usbtpu_device_models: $(USBTPU_TEST_FW)

# halo-vtpu: runs a command with virtual accelerators plugged in
# (tools/halo_vtpu.c). Built with `all` where umockdev is installed.
HALO_VTPU := $(BUILD)/halo-vtpu
$(BUILD)/obj/tools/halo_vtpu.o: CFLAGS += $(VTPU_CFLAGS)
$(HALO_VTPU): $(BUILD)/obj/tools/halo_vtpu.o $(VTPU_LIB) $(BUILD)/libhalo.a
	$(CC) $(LDFLAGS) -o $@ $< $(VTPU_LIB) $(BUILD)/libhalo.a $(VTPU_LIBS) $(LDLIBS)
ifneq ($(shell pkg-config --exists umockdev-1.0 2>/dev/null && echo yes),)
all: $(HALO_VTPU)
endif
