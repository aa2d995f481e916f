/* DFU 1.1 firmware download: see usbtpu_dfu.h. */
#include "drivers/usbtpu/usbtpu_dfu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/usbtpu/usbtpu_protocol.h"

#define DFU_OUT 0x21u
#define DFU_IN 0xA1u
#define MAX_POLL_MS 1000u /* cap on the bwPollTimeout a device may ask for */

const char *usbtpu_dfu_status_name(uint8_t status) {
  switch (status) {
    case USBTPU_DFU_OK: return "OK";
    case USBTPU_DFU_ERR_TARGET: return "errTARGET (wrong target)";
    case USBTPU_DFU_ERR_FILE: return "errFILE (bad image header, size or table)";
    case USBTPU_DFU_ERR_WRITE: return "errWRITE (write failed)";
    case 0x04: return "errERASE (erase failed)";
    case 0x05: return "errCHECK_ERASED (erase check failed)";
    case 0x06: return "errPROG (program failed)";
    case USBTPU_DFU_ERR_VERIFY: return "errVERIFY (CRC mismatch)";
    case USBTPU_DFU_ERR_ADDRESS: return "errADDRESS (image too large)";
    case USBTPU_DFU_ERR_NOTDONE: return "errNOTDONE (no data downloaded)";
    case USBTPU_DFU_ERR_FIRMWARE: return "errFIRMWARE (firmware corrupt)";
    case USBTPU_DFU_ERR_VENDOR: return "errVENDOR (refused by the device)";
    case 0x0C: return "errUSBR (unexpected USB reset)";
    case 0x0D: return "errPOR (unexpected power-on reset)";
    case 0x0E: return "errUNKNOWN";
    case USBTPU_DFU_ERR_STALLEDPKT: return "errSTALLEDPKT (request out of sequence)";
    default: return "unknown DFU status";
  }
}

typedef struct dfu_status {
  uint8_t status, state;
  unsigned poll_ms;
} dfu_status;

static halo_status get_status(usbtpu_usb *dev, dfu_status *out, const char *ctx, halo_err *err) {
  uint8_t b[6];
  size_t got;
  char what[80];
  snprintf(what, sizeof what, "DFU_GETSTATUS after %s", ctx);
  halo_status st = usbtpu_usb_control(dev, DFU_IN, USBTPU_DFU_GETSTATUS, 0, 0, b, 6, &got, what,
                                      err);
  if (st != HALO_OK) return st;
  if (got != 6)
    return halo_err_set(err, HALO_EIO, "%s: %s: %zu bytes instead of 6", usbtpu_usb_name(dev),
                        what, got);
  out->status = b[0];
  out->poll_ms = (unsigned)(b[1] | b[2] << 8 | b[3] << 16);
  if (out->poll_ms > MAX_POLL_MS) out->poll_ms = MAX_POLL_MS;
  out->state = b[4];
  return HALO_OK;
}

/* Waits the time the device asked for before its next request. */
static void poll_wait(unsigned ms) {
  if (!ms) return;
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* After a stalled DNLOAD: the device's status names the reason. */
static halo_status refused(usbtpu_usb *dev, const char *ctx, halo_err *err) {
  halo_err e2;
  dfu_status s;
  if (get_status(dev, &s, ctx, &e2) != HALO_OK)
    return halo_err_set(err, HALO_EDEVICE, "%s: %s stalled and the status is unreadable: %s",
                        usbtpu_usb_name(dev), ctx, e2.msg);
  return halo_err_set(err, HALO_EDEVICE, "%s: device refused %s: %s (state %u)",
                      usbtpu_usb_name(dev), ctx, usbtpu_dfu_status_name(s.status), s.state);
}

halo_status usbtpu_dfu_download(usbtpu_usb *dev, const uint8_t *image, size_t size,
                                unsigned deadline_ms, halo_err *err) {
  const char *name = usbtpu_usb_name(dev);
  if (usbtpu_usb_current_mode(dev) != USBTPU_USB_BOOT)
    return halo_err_set(err, HALO_EINVAL, "%s: not in boot (DFU) mode", name);
  if (size == 0 || size > USBTPU_DFU_MAX_IMAGE)
    return halo_err_set(err, HALO_EINVAL, "%s: firmware image of %zu bytes (1..%u)", name, size,
                        USBTPU_DFU_MAX_IMAGE);
  if (!deadline_ms) deadline_ms = 2000;
  dfu_status s;
  char ctx[64];
  halo_status st;
  /* Leave a previous error or a partial download behind. */
  st = get_status(dev, &s, "opening", err);
  if (st != HALO_OK) return st;
  if (s.state == USBTPU_DFU_ERROR)
    st = usbtpu_usb_control(dev, DFU_OUT, USBTPU_DFU_CLRSTATUS, 0, 0, NULL, 0, NULL,
                            "DFU_CLRSTATUS", err);
  else if (s.state != USBTPU_DFU_IDLE)
    st = usbtpu_usb_control(dev, DFU_OUT, USBTPU_DFU_ABORT, 0, 0, NULL, 0, NULL, "DFU_ABORT", err);
  if (st != HALO_OK) return st;

  uint32_t block = 0;
  for (size_t off = 0; off < size; off += USBTPU_DFU_TRANSFER_SIZE, block++) {
    size_t n = size - off < USBTPU_DFU_TRANSFER_SIZE ? size - off : USBTPU_DFU_TRANSFER_SIZE;
    snprintf(ctx, sizeof ctx, "DFU_DNLOAD block %u", (unsigned)block);
    st = usbtpu_usb_control(dev, DFU_OUT, USBTPU_DFU_DNLOAD, (uint16_t)block, 0,
                            (void *)(uintptr_t)(image + off), (uint16_t)n, NULL, ctx, err);
    if (st != HALO_OK) return usbtpu_usb_last_stalled(dev) ? refused(dev, ctx, err) : st;
    st = get_status(dev, &s, ctx, err);
    if (st != HALO_OK) return st;
    if (s.status != USBTPU_DFU_OK || s.state != USBTPU_DFU_DNLOAD_IDLE)
      return halo_err_set(err, HALO_EDEVICE, "%s: %s: device reports %s, state %u", name, ctx,
                          usbtpu_dfu_status_name(s.status), s.state);
    poll_wait(s.poll_ms);
  }
  snprintf(ctx, sizeof ctx, "the end of the download (block %u)", (unsigned)block);
  st = usbtpu_usb_control(dev, DFU_OUT, USBTPU_DFU_DNLOAD, (uint16_t)block, 0, NULL, 0, NULL, ctx,
                          err);
  if (st != HALO_OK) return usbtpu_usb_last_stalled(dev) ? refused(dev, ctx, err) : st;
  st = get_status(dev, &s, ctx, err);
  if (st != HALO_OK) return st;
  if (s.status != USBTPU_DFU_OK)
    return halo_err_set(err, HALO_EDEVICE, "%s: device refused the firmware image: %s", name,
                        usbtpu_dfu_status_name(s.status));
  /* Manifestation: poll until the device is idle again. */
  for (int i = 0; s.state != USBTPU_DFU_IDLE; i++) {
    if (s.state != USBTPU_DFU_MANIFEST && s.state != USBTPU_DFU_MANIFEST_SYNC)
      return halo_err_set(err, HALO_EDEVICE, "%s: unexpected DFU state %u during manifestation",
                          name, s.state);
    if (i >= 16)
      return halo_err_set(err, HALO_ETIMEOUT, "%s: manifestation did not finish", name);
    poll_wait(s.poll_ms);
    st = get_status(dev, &s, "manifestation", err);
    if (st != HALO_OK) return st;
    if (s.status != USBTPU_DFU_OK)
      return halo_err_set(err, HALO_EDEVICE, "%s: device refused the firmware image: %s", name,
                          usbtpu_dfu_status_name(s.status));
  }

  /* Verify: read the image back. */
  uint8_t *back = malloc(USBTPU_DFU_TRANSFER_SIZE);
  if (!back) return halo_err_set(err, HALO_ENOMEM, "%s: out of memory", name);
  size_t off = 0;
  for (block = 0;; block++) {
    snprintf(ctx, sizeof ctx, "DFU_UPLOAD block %u", (unsigned)block);
    size_t got;
    st = usbtpu_usb_control(dev, DFU_IN, USBTPU_DFU_UPLOAD, (uint16_t)block, 0, back,
                            USBTPU_DFU_TRANSFER_SIZE, &got, ctx, err);
    if (st != HALO_OK) break;
    if (got > size - off || memcmp(back, image + off, got) != 0) {
      st = halo_err_set(err, HALO_EIO, "%s: %s: read-back differs from the image", name, ctx);
      break;
    }
    off += got;
    if (got < USBTPU_DFU_TRANSFER_SIZE) break;
  }
  free(back);
  if (st != HALO_OK) return st;
  if (off != size)
    return halo_err_set(err, HALO_EIO, "%s: read back %zu of %zu image bytes", name, off, size);
  /* Back to dfuIDLE if the short block left it in dfuUPLOAD-IDLE. */
  st = get_status(dev, &s, "DFU_UPLOAD", err);
  if (st != HALO_OK) return st;
  if (s.state != USBTPU_DFU_IDLE) {
    st = usbtpu_usb_control(dev, DFU_OUT, USBTPU_DFU_ABORT, 0, 0, NULL, 0, NULL, "DFU_ABORT", err);
    if (st != HALO_OK) return st;
  }

  bool gone;
  st = usbtpu_usb_reset(dev, &gone, err);
  if (st != HALO_OK) return st;
  return usbtpu_usb_reopen(dev, USBTPU_USB_APP, deadline_ms, err);
}
