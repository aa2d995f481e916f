/* The USB accelerator as a HAL device (hal/device.h).
 *
 * Enumeration (usbtpu_enumerate, in hal/registry.c's drivers[]): one walk
 * of the bus (usbtpu_usb_scan); every accelerator still in boot (DFU) mode
 * gets the firmware image (usbtpu_firmware_path) downloaded and boots, and
 * the bus is walked again; then every device in application mode is opened,
 * soft-reset (so that the frame sequence starts afresh) and its capability
 * table read through the CSR window and parsed as untrusted, or shared when
 * this process has it open already (one connection per accelerator per
 * process, shared by sessions). Devices are "usbtpu0", "usbtpu1", ... in
 * the order of their serial numbers. Nothing plugged in adds no device and
 * succeeds; a device found but unusable (no permission, firmware missing or
 * refused, claim failed) makes enumeration return the first such error
 * while still adding the devices that work.
 *
 * supports() is usbtpu_caps_check_node on the device's own table. Arenas
 * are host memory (the device's activation memory is internal to it);
 * prepare() lowers the partition with usbtpu_program_build and keeps the
 * program and its parameter blob; run() sends PROGRAM + PARAMS only when
 * the device's PARAM_TOKEN differs from the program's (or always, for a
 * streamed program), then INPUT frames, RUN, reads the completion event
 * and the OUTPUT frames (docs/usbtpu-protocol.md §4). */
#ifndef DRIVERS_USBTPU_USBTPU_DEVICE_H
#define DRIVERS_USBTPU_USBTPU_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "hal/device.h"

/* The firmware image enumeration downloads, first found of:
 *   1. $HALO_USBTPU_FIRMWARE (a file path; used as is, even if missing),
 *   2. the installed copy, $(PREFIX)/share/halo/usbtpu-fw-1.0.bin,
 *   3. the source tree's firmware_blobs/usbtpu-fw-1.0.bin (absolute path
 *      fixed at build time, for running from the build tree).
 * Writes the path into buf[size]; returns buf. */
const char *usbtpu_firmware_path(char *buf, size_t size);

/* Reads and checks the image at usbtpu_firmware_path (path[path_size]
 * receives it): *image (malloc'd, the caller frees) and *size on success,
 * *info (may be NULL) from the parsed header. Errors name the path:
 * HALO_ENOTFOUND "cannot open: ...", HALO_EIO "read error", HALO_EFORMAT
 * "larger than the boot ROM's N bytes" or the parser's message. */
typedef struct usbtpu_fw_info usbtpu_fw_info;
halo_status usbtpu_firmware_load(char *path, size_t path_size, uint8_t **image, size_t *size,
                                 usbtpu_fw_info *info, halo_err *err);

/* A hal/registry.h enumerate function. Never fails for lack of devices. */
halo_status usbtpu_enumerate(halo_device **out, int max, int *found, halo_err *err);

/* Host-side counters of one device (for tests and tools). */
typedef struct usbtpu_device_stats {
  uint64_t bytes_out;     /* bulk OUT bytes, frame headers included */
  uint64_t program_sends; /* PROGRAM + PARAMS uploads (parameter cache misses) */
  uint64_t runs;
  uint64_t recoveries; /* timeouts/stalls recovered from (reset, then one retry) */
} usbtpu_device_stats;

/* HALO_EINVAL when dev is not a usbtpu device. */
halo_status usbtpu_device_get_stats(const halo_device *dev, usbtpu_device_stats *out);

#endif
