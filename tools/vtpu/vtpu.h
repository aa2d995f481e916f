/* The virtual USB accelerator: a plain C model of the device described in
 * docs/usbtpu-protocol.md, with no USB underneath. A umockdev ioctl handler
 * (the halo-vtpu launcher, next step) turns URBs into these calls:
 * control transfers into vtpu_control, bulk/interrupt OUT into
 * vtpu_bulk_out, IN into vtpu_bulk_in, a port reset into vtpu_usb_reset.
 *
 * Lives in tools/ rather than drivers/usbtpu/ because it is the device, not
 * the driver: it must never be linked into libhalo, and keeping it apart
 * makes it impossible for the driver to "know" the device except through
 * the protocol. It reuses the CPU device's int8 kernels to execute programs,
 * so its results are bit-exact with TFLite's.
 *
 * Not thread-safe: the caller serialises calls (umockdev serialises ioctls). */
#ifndef TOOLS_VTPU_VTPU_H
#define TOOLS_VTPU_VTPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/status.h"

typedef struct vtpu vtpu;

typedef struct vtpu_config {
  const char *serial; /* iSerialNumber, kept across re-enumeration; NULL: "VTPU0001" */
  bool usb2;          /* enumerate at USB 2.0 high speed instead of USB 3 SuperSpeed */
  /* USB identity; 0: the built-in USBTPU_VID, USBTPU_PID_BOOT, USBTPU_PID_APP. */
  uint16_t vid, pid_boot, pid_app;
  /* Application-mode endpoint numbers, as a gadget's UDC may assign them:
   * 0 gives the reference addresses (USBTPU_EP_BULK_OUT 0x01, then IN 0x81,
   * 0x82, 0x83); 1..12 gives bulk OUT `endpoint_base` and the three INs
   * 0x80 | (endpoint_base + 1, + 2, + 3), in the same roles and order. */
  uint8_t endpoint_base;
  /* A broken device: the application-mode descriptors leave out these
   * endpoints (bit 0 bulk OUT, 1 the output bulk IN, 2 the event bulk IN,
   * 3 the interrupt IN); the model behind them is unchanged. 0: none. */
  uint8_t endpoints_omitted;
} vtpu_config;

/* A USB SETUP packet. */
typedef struct vtpu_setup {
  uint8_t bmRequestType, bRequest;
  uint16_t wValue, wIndex, wLength;
} vtpu_setup;

/* Negative results of the transfer calls. */
enum {
  VTPU_STALL = -1,   /* the endpoint or control request stalled (EPIPE) */
  VTPU_NAK = -2,     /* nothing to send yet (the URB stays pending) */
  VTPU_GONE = -3,    /* unplugged (ENODEV) */
  VTPU_TIMEOUT = -4, /* fault injection: the device swallowed the transfer */
};

/* Fault injection knobs; each one-shot knob fires once and clears. */
typedef struct vtpu_faults {
  bool refuse_dfu;        /* every DFU_DNLOAD stalls, status errVENDOR */
  bool stall_next_out;    /* next bulk OUT stalls (endpoint halted) */
  bool drop_next_in;      /* next bulk IN packet (output or event) is lost */
  bool timeout_next;      /* next bulk transfer answers VTPU_TIMEOUT */
  bool corrupt_next_out;  /* next bulk OUT frame has one payload byte flipped on arrival */
  int unplug_after_runs;  /* > 0: unplug when this many more RUN frames arrive */
  /* Not faults: device behaviours the protocol tolerates (they stay set). */
  bool pack_output_frames; /* an OUTPUT header and its payload in one transfer */
  bool zlp_after_output;   /* a zero-length packet after each OUTPUT payload */
} vtpu_faults;

typedef struct vtpu_stats {
  uint64_t bulk_out_bytes;   /* every byte received on bulk OUT, headers included */
  uint64_t payload_bytes;    /* frame payload bytes received */
  uint64_t program_bytes, param_bytes, input_bytes;
  uint64_t frames, runs, cache_hits, cache_misses, errors;
  uint64_t last_cycles;      /* device cycles of the last run */
  double last_compute_us;    /* last run's cycles at the firmware's clock */
  double link_us;            /* modelled time on the link for all bulk bytes so far */
} vtpu_stats;

/* Creates a device in boot (DFU) mode, plugged in. */
halo_status vtpu_create(const vtpu_config *config, vtpu **out, halo_err *err);
void vtpu_destroy(vtpu *dev);

/* Control transfer on endpoint 0. For IN requests `data` receives up to
 * wLength bytes; for OUT requests it holds wLength bytes. Returns bytes
 * transferred or VTPU_STALL / VTPU_GONE. */
int vtpu_control(vtpu *dev, const vtpu_setup *setup, uint8_t *data);
/* Bulk OUT on `ep`: returns len or a VTPU_* error. */
int vtpu_bulk_out(vtpu *dev, uint8_t ep, const void *data, size_t len);
/* Bulk or interrupt IN on `ep`: bytes copied (up to cap) or VTPU_NAK etc. */
int vtpu_bulk_in(vtpu *dev, uint8_t ep, void *buf, size_t cap);
/* USB port reset: boots a downloaded, verified image (re-enumerating with
 * the application PID), or in application mode drops queued work. */
void vtpu_usb_reset(vtpu *dev);
void vtpu_unplug(vtpu *dev);
/* Plugs back in after an unplug: power was lost, so the device is in boot mode. */
void vtpu_replug(vtpu *dev);

uint16_t vtpu_product_id(const vtpu *dev);
bool vtpu_plugged(const vtpu *dev);
/* Device descriptor followed by the configuration descriptor set of the
 * current mode (what sysfs `descriptors` holds). Returns bytes written, or
 * the size needed when cap is too small (nothing written then). */
size_t vtpu_descriptors(const vtpu *dev, uint8_t *buf, size_t cap);

void vtpu_set_faults(vtpu *dev, const vtpu_faults *faults);
void vtpu_get_stats(const vtpu *dev, vtpu_stats *out);

/* ---- vtpu_exec.c: the executor and timing model (used by vtpu.c) ---------- */

typedef struct vtpu_exec vtpu_exec;
typedef struct usbtpu_caps usbtpu_caps;

/* Decodes a program against the device's memories and prepares the CPU's
 * int8 kernels for it. param_mem must stay unchanged while the exec lives. */
halo_status vtpu_exec_create(const uint8_t *program, size_t size, const uint8_t *param_mem,
                             uint64_t param_mem_size, uint8_t *act_mem, uint64_t act_mem_size,
                             const usbtpu_caps *caps, vtpu_exec **out, halo_err *err);
void vtpu_exec_destroy(vtpu_exec *exec);
/* Streamed programs only: bytes [blob_offset, blob_offset + len) of the
 * parameter blob arrived (offsets contiguous from 0). Writes them to
 * param_mem (the memory given to vtpu_exec_create) at their address inside
 * their segment and runs each segment as soon as its last byte is in, so
 * the inputs must already be in activation memory. A failed segment is
 * returned here and again by vtpu_exec_run. */
halo_status vtpu_exec_stream(vtpu_exec *exec, uint8_t *param_mem, uint32_t blob_offset,
                             const uint8_t *bytes, uint32_t len, halo_err *err);
/* Runs every layer (a streamed program: the segments not run yet, after
 * checking that all parameters arrived; then it expects them again from
 * offset 0); cycles[i] (n_layers entries, may be NULL) receives the
 * modelled cycles of layer i, *total their sum. */
halo_status vtpu_exec_run(vtpu_exec *exec, uint64_t *cycles, uint64_t *total, halo_err *err);
int vtpu_exec_layers(const vtpu_exec *exec);

#endif
