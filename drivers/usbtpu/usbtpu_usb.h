/* The USB accelerator's libusb transport (docs/usbtpu-protocol.md): finding
 * and opening the device by its identity (ID table below, boot or
 * application mode) and serial, claiming interface 0, vendor control CSR
 * access, framed bulk OUT, bulk and interrupt IN, port reset and waiting for
 * re-enumeration.
 *
 * Every failure names the device ("usbtpu 1-2 VTPU0001") and the endpoint,
 * register or request at fault. Everything read from the device is
 * untrusted: lengths are checked against what was asked. Timeouts are
 * short by design (milliseconds, given per handle). */
#ifndef DRIVERS_USBTPU_USBTPU_USB_H
#define DRIVERS_USBTPU_USBTPU_USB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/usbtpu/usbtpu_protocol.h"
#include "hal/status.h"

typedef struct usbtpu_usb usbtpu_usb;

#define USBTPU_USB_DEFAULT_TIMEOUT_MS 500u

/* ---- which USB devices are accelerators ---------------------------------- */

/* One identity: a vendor ID with the product IDs of boot (DFU) mode and of
 * application mode. */
typedef struct usbtpu_usb_id {
  uint16_t vid, pid_boot, pid_app;
} usbtpu_usb_id;

/* The ID table is the built-in identity (USBTPU_VID, USBTPU_PID_BOOT,
 * USBTPU_PID_APP) followed by the entries of this environment variable:
 * "vvvv:bbbb:aaaa[,vvvv:bbbb:aaaa...]", each field 1 to 4 hex digits. */
#define USBTPU_USB_IDS_ENV "HALO_USBTPU_IDS"
#define USBTPU_USB_IDS_MAX 16

/* Parses `text` in the HALO_USBTPU_IDS syntax strictly: three hex fields
 * per entry, a non-zero vendor ID, boot PID != application PID, entries
 * separated by commas (spaces around an entry allowed, nothing else). The
 * well-formed entries go to out[max] (*count of them), the malformed ones
 * are left out: HALO_EINVAL then names the first one by number and text and
 * says how many were left out. An empty text is no entries, HALO_OK. */
halo_status usbtpu_usb_ids_parse(const char *text, usbtpu_usb_id *out, int max, int *count,
                                 halo_err *err);

/* The ID table the driver matches against (see USBTPU_USB_IDS_ENV): the
 * built-in identity first, then the well-formed entries of the environment
 * variable that are not already in it. Returns the number of entries
 * (>= 1, <= max). `env_err` (may be NULL) gets the variable's parse error,
 * or code HALO_OK. Malformed entries never stop the driver: they are left
 * out. */
int usbtpu_usb_id_table(usbtpu_usb_id *out, int max, halo_err *env_err);

/* Which of its two identities a device shows. The values are the built-in
 * identity's PIDs, so a caller that names the mode by USBTPU_PID_BOOT or
 * USBTPU_PID_APP means the same mode; either matches every table entry's
 * PID of that mode. */
typedef enum usbtpu_usb_mode {
  USBTPU_USB_BOOT = USBTPU_PID_BOOT,
  USBTPU_USB_APP = USBTPU_PID_APP,
} usbtpu_usb_mode;

/* The udev rule that lets a user without root open the device nodes:
 * tools/udev/60-halo-usbtpu.rules in the source tree, installed by
 * `make install` into $(PREFIX)/lib/udev/rules.d. */
#define USBTPU_UDEV_RULES_NAME "60-halo-usbtpu.rules"
/* Absolute paths fixed at build time: the installed copy and the source
 * tree's. Static strings. */
const char *usbtpu_usb_udev_rules_installed(void);
const char *usbtpu_usb_udev_rules_source(void);

/* ---- opening -------------------------------------------------------------- */

/* Opens the first device of the ID table in `mode` whose serial equals
 * `serial` (NULL: any) and claims interface 0. timeout_ms (0:
 * USBTPU_USB_DEFAULT_TIMEOUT_MS) bounds every transfer. HALO_ENOTFOUND when
 * no such device is plugged in; HALO_EDEVICE naming the device node
 * (/dev/bus/usb/BBB/DDD) and the udev rule to install when the node is not
 * accessible.
 *
 * In application mode (here and in usbtpu_usb_reopen) the endpoints are
 * found by kind and order in interface 0, alternate setting 0, of the
 * active configuration, since a gadget's UDC may number them differently
 * from the reference device: exactly one bulk OUT, two bulk IN (the first
 * in descriptor order carries OUTPUT frames, the second completion
 * events) and one interrupt IN. Anything else is HALO_EDEVICE naming the
 * device and what it has ("interface 0 has 1 bulk OUT, 1 bulk IN, 0
 * interrupt IN endpoints (...); the protocol needs 1, 2, 1"). Callers name
 * endpoints by the protocol's logical constants (USBTPU_EP_BULK_OUT,
 * USBTPU_EP_OUTPUT_IN, USBTPU_EP_EVENT_IN, USBTPU_EP_INTR_IN); the transport
 * maps them to the real addresses, and its messages name the real ones.
 * Boot mode has no such endpoints. */
halo_status usbtpu_usb_open(usbtpu_usb_mode mode, const char *serial, unsigned timeout_ms,
                            usbtpu_usb **out, halo_err *err);
void usbtpu_usb_close(usbtpu_usb *dev);

#define USBTPU_USB_SERIAL_MAX 64

/* One USB device of the ID table as found on the bus, for `halo doctor`. */
typedef struct usbtpu_usb_node {
  usbtpu_usb_id id; /* the table entry it matched */
  usbtpu_usb_mode mode;
  uint16_t pid;
  char path[32];  /* "/dev/bus/usb/001/002" */
  char port[32];  /* "1-2", "1-2.3" */
  char serial[USBTPU_USB_SERIAL_MAX]; /* "" when unreadable or absent */
  halo_err open;  /* code HALO_OK when this process could open it, else why not */
  bool denied;    /* the node's permissions refused this user (udev rule missing) */
} usbtpu_usb_node;

/* Every device of the ID table (either mode) on the bus, opened and closed
 * again to see whether this process may (nothing is claimed). *bus_devices
 * (may be NULL) gets the number of USB devices of any kind libusb listed.
 * HALO_EDEVICE when libusb cannot start or list the bus. */
halo_status usbtpu_usb_scan(usbtpu_usb_node *out, int max, int *count, int *bus_devices,
                            halo_err *err);

/* The serial numbers of the nodes (from usbtpu_usb_scan) in `mode` that
 * this process could open, each once, at most `max`: what usbtpu_usb_open
 * can find by serial (nodes without a serial are left out). Returns how
 * many; no I/O. */
int usbtpu_usb_node_serials(const usbtpu_usb_node *nodes, int n, usbtpu_usb_mode mode,
                            char (*serials)[USBTPU_USB_SERIAL_MAX], int max);

/* "usbtpu 1-2 VTPU0001": bus-port path and serial. */
const char *usbtpu_usb_name(const usbtpu_usb *dev);
const char *usbtpu_usb_serial(const usbtpu_usb *dev);
uint16_t usbtpu_usb_product_id(const usbtpu_usb *dev);
usbtpu_usb_mode usbtpu_usb_current_mode(const usbtpu_usb *dev);

/* A control transfer on endpoint 0. IN requests (bmRequestType bit 7) read
 * up to len bytes into data; *transferred (may be NULL) gets the count.
 * `what` names the request in messages ("DFU_DNLOAD block 3").
 * HALO_EDEVICE with "stalled" when the device stalled the request. */
halo_status usbtpu_usb_control(usbtpu_usb *dev, uint8_t request_type, uint8_t request,
                               uint16_t value, uint16_t index, void *data, uint16_t len,
                               size_t *transferred, const char *what, halo_err *err);
/* True when the last failed call was a stall (LIBUSB_ERROR_PIPE). */
bool usbtpu_usb_last_stalled(const usbtpu_usb *dev);
/* True when the last failed transfer found the device gone
 * (LIBUSB_ERROR_NO_DEVICE: unplugged), or the handle is closed. */
bool usbtpu_usb_last_gone(const usbtpu_usb *dev);

/* The transfers below take `ep` as a logical USBTPU_EP_* constant (see
 * usbtpu_usb_open): HALO_EINVAL for any other value, HALO_EDEVICE in boot
 * mode. */

/* The real address of the logical endpoint `ep` on this device (the
 * logical value itself in boot mode or for an unknown one), for callers'
 * own messages. */
uint8_t usbtpu_usb_endpoint_address(const usbtpu_usb *dev, uint8_t ep);

/* CLEAR_FEATURE(ENDPOINT_HALT) on ep (libusb_clear_halt): un-halts a
 * stalled endpoint and resets its data toggle. */
halo_status usbtpu_usb_clear_halt(usbtpu_usb *dev, uint8_t ep, halo_err *err);

/* CSRs through vendor requests (application mode). */
halo_status usbtpu_usb_csr_read32(usbtpu_usb *dev, uint32_t addr, uint32_t *value, halo_err *err);
halo_status usbtpu_usb_csr_write32(usbtpu_usb *dev, uint32_t addr, uint32_t value, halo_err *err);
halo_status usbtpu_usb_csr_read64(usbtpu_usb *dev, uint32_t addr, uint64_t *value, halo_err *err);
halo_status usbtpu_usb_csr_write64(usbtpu_usb *dev, uint32_t addr, uint64_t value, halo_err *err);
/* `size` bytes (a multiple of 4) of consecutive registers from addr, split
 * into requests of at most USBTPU_CSR_BLOCK_MAX bytes. */
halo_status usbtpu_usb_csr_read_block(usbtpu_usb *dev, uint32_t addr, void *buf, size_t size,
                                      halo_err *err);

/* One frame on the bulk OUT endpoint: the 24-byte header (sequence, tag,
 * arg, CRC when `crc`) then the payload (len <= USBTPU_FRAME_MAX_PAYLOAD). */
halo_status usbtpu_usb_send_frame(usbtpu_usb *dev, uint8_t tag, uint32_t sequence, uint32_t arg,
                                  const void *payload, size_t len, bool crc, halo_err *err);
/* Raw bulk OUT of len bytes on ep (USBTPU_EP_BULK_OUT). */
halo_status usbtpu_usb_bulk_out(usbtpu_usb *dev, uint8_t ep, const void *data, size_t len,
                                halo_err *err);
/* One bulk or interrupt IN transfer on ep into buf[cap]; *got = bytes read.
 * HALO_ETIMEOUT naming the endpoint when nothing arrives in time. */
halo_status usbtpu_usb_read(usbtpu_usb *dev, uint8_t ep, void *buf, size_t cap, size_t *got,
                            halo_err *err);

/* USB port reset. *gone is set when the device left the bus (it
 * re-enumerates with new descriptors: LIBUSB_ERROR_NOT_FOUND, expected after
 * a firmware download). */
halo_status usbtpu_usb_reset(usbtpu_usb *dev, bool *gone, halo_err *err);

/* Closes the handle and re-opens the device that appears on the same bus
 * and port in `mode` (any ID table entry) with the same serial, until
 * deadline_ms milliseconds have passed: woken by libusb's hotplug events
 * where libusb has them, re-scanning the bus at least every few
 * milliseconds either way. HALO_ETIMEOUT naming the deadline when it does
 * not come back. On failure the handle stays closed (further calls fail
 * with HALO_EDEVICE). */
halo_status usbtpu_usb_reopen(usbtpu_usb *dev, usbtpu_usb_mode mode, unsigned deadline_ms,
                              halo_err *err);

#endif
