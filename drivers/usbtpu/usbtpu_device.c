#include "drivers/usbtpu/usbtpu_device.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/usbtpu/usbtpu_capabilities.h"
#include "drivers/usbtpu/usbtpu_dfu.h"
#include "drivers/usbtpu/usbtpu_firmware.h"
#include "drivers/usbtpu/usbtpu_program.h"
#include "drivers/usbtpu/usbtpu_protocol.h"
#include "drivers/usbtpu/usbtpu_usb.h"
#include "hal/profile.h"

#ifndef USBTPU_FW_INSTALLED
#define USBTPU_FW_INSTALLED "/usr/local/share/halo/usbtpu-fw-1.0.bin"
#endif
#ifndef USBTPU_FW_SOURCE
#define USBTPU_FW_SOURCE "firmware_blobs/usbtpu-fw-1.0.bin"
#endif

/* Every transfer, control and bulk (docs §10): a bulk OUT frame is at most
 * 1 MiB, which USB 2 moves in well under a second. */
#define USBTPU_DEV_TIMEOUT_MS 1100u
#define USBTPU_DFU_DEADLINE_MS 2000u
#define USBTPU_CAPS_MAX_BYTES 65536u

/* One per accelerator per process, shared by the halo_device of every
 * session that enumerated it: interface 0 can be claimed by one handle
 * only, the frame sequence is the device's, and what is resident (program,
 * parameter token) is the device's too. */
typedef struct usbtpu_device {
  char name[32]; /* "usbtpu0": the name of its first enumeration, in messages */
  char serial[USBTPU_USB_SERIAL_MAX];
  int refs;             /* halo_devices pointing here (open_devices_lock) */
  pthread_mutex_t lock; /* one invoke at a time talks to the device */
  usbtpu_usb *usb;
  usbtpu_caps caps;
  uint32_t fw_version, link_speed, max_payload;
  uint32_t sequence; /* of the last frame sent */
  uint64_t run_id;
  bool force_upload; /* the device was reset: send PROGRAM + PARAMS whatever PARAM_TOKEN says */
  bool gone;         /* unplugged: the next run re-attaches first */
  usbtpu_device_stats stats;
} usbtpu_device;

/* A session's halo_device for an accelerator. */
typedef struct usbtpu_hal_device {
  halo_device base;
  usbtpu_device *dev;
} usbtpu_hal_device;

/* The accelerators this process has open, found by serial number. */
#define USBTPU_MAX_OPEN 16
static pthread_mutex_t open_devices_lock = PTHREAD_MUTEX_INITIALIZER;
static usbtpu_device *open_devices[USBTPU_MAX_OPEN];
static int n_open_devices;

static halo_status read_caps(usbtpu_device *ud, halo_err *err);

struct halo_exec {
  usbtpu_device *dev;
  const halo_graph *graph;
  const int32_t *nodes;
  int n_nodes;
  usbtpu_program program;
  uint8_t *output_stage; /* header + the largest output: an OUTPUT frame's first transfer */
};

const char *usbtpu_firmware_path(char *buf, size_t size) {
  const char *env = getenv("HALO_USBTPU_FIRMWARE");
  const char *path = env && *env                         ? env
                     : access(USBTPU_FW_INSTALLED, R_OK) == 0 ? USBTPU_FW_INSTALLED
                                                              : USBTPU_FW_SOURCE;
  snprintf(buf, size, "%s", path);
  return buf;
}

static usbtpu_device *as_usbtpu(halo_device *d) { return ((usbtpu_hal_device *)d)->dev; }

/* ---- vtable ------------------------------------------------------------ */

static void dev_destroy(halo_device *d) {
  if (!d) return;
  usbtpu_device *ud = as_usbtpu(d);
  pthread_mutex_lock(&open_devices_lock);
  bool last = --ud->refs == 0;
  if (last) {
    for (int i = 0; i < n_open_devices; i++) {
      if (open_devices[i] != ud) continue;
      open_devices[i] = open_devices[--n_open_devices];
      break;
    }
  }
  pthread_mutex_unlock(&open_devices_lock);
  if (last) {
    usbtpu_usb_close(ud->usb);
    pthread_mutex_destroy(&ud->lock);
    free(ud);
  }
  free(d);
}

static bool dev_supports(halo_device *d, const halo_graph *g, int node, char *why,
                         size_t why_size) {
  usbtpu_support sup;
  bool ok = usbtpu_caps_check_node(&as_usbtpu(d)->caps, g, node, &sup);
  if (!ok && why && why_size) snprintf(why, why_size, "%s", sup.why);
  return ok;
}

static uint32_t dev_op_dtypes(halo_device *d, halo_op op) {
  const usbtpu_op_caps *oc = usbtpu_caps_find(&as_usbtpu(d)->caps, usbtpu_op_from_halo(op));
  if (!oc || usbtpu_op_from_halo(op) == USBTPU_OP_NONE) return 0;
  uint32_t mask = 0;
  for (uint32_t dt = 1; dt < 16; dt++) {
    if (!(oc->dtypes & (1u << dt))) continue;
    halo_dtype h = usbtpu_dtype_to_halo(dt);
    if (h != HALO_DTYPE_UNKNOWN && (unsigned)h < 32) mask |= 1u << h;
  }
  return mask;
}

static halo_status dev_buffer_alloc(halo_device *d, size_t size, halo_buffer **out,
                                    halo_err *err) {
  *out = NULL;
  halo_buffer *b = calloc(1, sizeof *b);
  void *mem = NULL;
  size_t padded = size + 64;
  if (!b || padded < size || posix_memalign(&mem, 64, padded) != 0) {
    free(b);
    return halo_err_set(err, HALO_ENOMEM, "%s: out of memory allocating %zu host bytes", d->name,
                        size);
  }
  memset(mem, 0, padded);
  b->device = d;
  b->size = size;
  b->host = mem;
  *out = b;
  return HALO_OK;
}

static void dev_buffer_free(halo_device *d, halo_buffer *b) {
  (void)d;
  if (!b) return;
  free(b->host);
  free(b);
}

static void dev_release(halo_exec *ex) {
  if (!ex) return;
  free(ex->output_stage);
  usbtpu_program_free(&ex->program);
  free(ex);
}

static halo_status dev_prepare(halo_device *d, const halo_partition *part,
                               const halo_device_config *config, halo_exec **out,
                               halo_err *err) {
  (void)config;
  *out = NULL;
  usbtpu_device *ud = as_usbtpu(d);
  halo_exec *ex = calloc(1, sizeof *ex);
  if (!ex) return halo_err_set(err, HALO_ENOMEM, "%s: out of memory preparing", d->name);
  ex->dev = ud;
  ex->graph = part->graph;
  ex->nodes = part->nodes;
  ex->n_nodes = part->n_nodes;
  halo_status st =
      usbtpu_program_build(part->graph, part->nodes, part->n_nodes, &ud->caps, &ex->program, err);
  if (st != HALO_OK) {
    free(ex);
    return halo_err_prefix(err, "%s: lowering a partition of %d nodes: ", d->name, part->n_nodes);
  }
  if (ex->program.size > ud->max_payload) {
    st = halo_err_set(err, HALO_EUNSUPPORTED,
                      "%s: program of %zu bytes exceeds the device's frame payload of %u bytes",
                      d->name, ex->program.size, ud->max_payload);
    dev_release(ex);
    return st;
  }
  for (int i = 0; i < ex->program.n_inputs; i++) {
    int32_t t = ex->program.input_tensor[i];
    if (t < 0 || t >= part->graph->n_tensors || ex->program.input_bytes[i] > 0xFFFFFFu) {
      st = halo_err_set(err, HALO_EUNSUPPORTED,
                        "%s: program input %d (%u bytes) cannot be addressed by INPUT frames",
                        d->name, i, ex->program.input_bytes[i]);
      dev_release(ex);
      return st;
    }
  }
  size_t largest = 0;
  for (int i = 0; i < ex->program.n_outputs; i++)
    if (ex->program.output_bytes[i] > largest) largest = ex->program.output_bytes[i];
  ex->output_stage = malloc(USBTPU_FRAME_HEADER_SIZE + largest);
  if (!ex->output_stage) {
    dev_release(ex);
    return halo_err_set(err, HALO_ENOMEM, "%s: out of memory preparing", d->name);
  }
  *out = ex;
  return HALO_OK;
}

/* How the partition runs: where its parameters live and the activation
 * memory it takes (for `halo inspect`). */
static void dev_describe(halo_exec *ex, char *note, size_t size) {
  const usbtpu_program *p = &ex->program;
  const usbtpu_caps *c = &ex->dev->caps;
  char pb[32], pm[32], ab[32], am[32];
  usbtpu_bytes_str(p->param_size, pb, sizeof pb);
  usbtpu_bytes_str(c->param_mem_bytes, pm, sizeof pm);
  usbtpu_bytes_str(p->act_bytes, ab, sizeof ab);
  usbtpu_bytes_str(c->act_mem_bytes, am, sizeof am);
  if (p->streamed)
    snprintf(note, size,
             "parameters streamed with every invoke: %s > %s of parameter memory, in %d "
             "segments; activations %s of %s",
             pb, pm, p->n_segments, ab, am);
  else
    snprintf(note, size,
             "parameters cached on the device: %s of %s (token 0x%016llx); activations %s of %s",
             pb, pm, (unsigned long long)p->token, ab, am);
}

static halo_status send_frame(usbtpu_device *ud, uint8_t tag, uint32_t arg, const void *payload,
                              size_t len, bool crc, halo_err *err) {
  uint32_t seq = ud->sequence + 1;
  halo_status st = usbtpu_usb_send_frame(ud->usb, tag, seq, arg, payload, len, crc, err);
  if (st != HALO_OK) return halo_err_prefix(err, "%s: ", ud->name);
  ud->sequence = seq;
  ud->stats.bytes_out += USBTPU_FRAME_HEADER_SIZE + len;
  return HALO_OK;
}

static halo_status send_params(usbtpu_device *ud, const usbtpu_program *p, halo_err *err) {
  size_t chunk = ud->max_payload;
  for (size_t off = 0; off < p->param_size; off += chunk) {
    size_t n = p->param_size - off < chunk ? p->param_size - off : chunk;
    halo_status st =
        send_frame(ud, USBTPU_TAG_PARAMS, (uint32_t)off, p->params + off, n, true, err);
    if (st != HALO_OK) return halo_err_prefix(err, "PARAMS at offset %zu: ", off);
  }
  return HALO_OK;
}

static void *binding_ptr(const halo_binding *b) {
  return b->buffer && b->buffer->host ? (unsigned char *)b->buffer->host + b->offset : NULL;
}

/* Reads at least `min` and at most `cap` bytes from `ep` into buf (a unit
 * may span transfers, or arrive with what follows it in one transfer);
 * *got (may be NULL) gets the count. A zero-length packet (a device ending
 * a payload of whole packets with one) is skipped, once in a row. */
static halo_status read_at_least(usbtpu_device *ud, uint8_t ep, uint8_t *buf, size_t min,
                                 size_t cap, size_t *got, halo_err *err) {
  size_t have = 0;
  bool empty_before = false;
  while (have < min) {
    size_t n = 0;
    halo_status st = usbtpu_usb_read(ud->usb, ep, buf + have, cap - have, &n, err);
    if (st != HALO_OK) return halo_err_prefix(err, "%s: ", ud->name);
    if (n == 0 && empty_before)
      return halo_err_set(err, HALO_EDEVICE, "%s: endpoint 0x%02x: empty transfers", ud->name,
                          usbtpu_usb_endpoint_address(ud->usb, ep));
    empty_before = n == 0;
    have += n;
  }
  if (got) *got = have;
  return HALO_OK;
}

static halo_status read_exact(usbtpu_device *ud, uint8_t ep, uint8_t *buf, size_t len,
                              halo_err *err) {
  return read_at_least(ud, ep, buf, len, len, NULL, err);
}

/* An OUTPUT frame: the header comes as a transfer of its own (docs §5) or,
 * from a device that packs them, with the payload in one transfer; the
 * first read takes either. `stage` holds header + `bytes`. */
static halo_status read_output(usbtpu_device *ud, int index, uint32_t run_seq, uint8_t *stage,
                               uint8_t *dst, size_t bytes, halo_err *err) {
  const uint8_t *h = stage;
  size_t got = 0;
  halo_status st = read_at_least(ud, USBTPU_EP_OUTPUT_IN, stage, USBTPU_FRAME_HEADER_SIZE,
                                 USBTPU_FRAME_HEADER_SIZE + bytes, &got, err);
  if (st != HALO_OK) return halo_err_prefix(err, "output %d: ", index);
  uint32_t len = usbtpu_get32(h + 12);
  if (usbtpu_get32(h) != USBTPU_FRAME_MAGIC || h[4] != USBTPU_FRAME_VERSION ||
      h[5] != USBTPU_TAG_OUTPUT || usbtpu_get32(h + 20) != (uint32_t)index || len != bytes ||
      usbtpu_get32(h + 8) != run_seq)
    return halo_err_set(err, HALO_EDEVICE,
                        "%s: endpoint 0x%02x: bad OUTPUT frame for output %d (tag 0x%02x, arg %u, "
                        "length %u, expected %zu bytes, sequence %u for RUN %u)",
                        ud->name, usbtpu_usb_endpoint_address(ud->usb, USBTPU_EP_OUTPUT_IN), index,
                        h[5], usbtpu_get32(h + 20), len, bytes,
                        usbtpu_get32(h + 8), run_seq);
  size_t early = got - USBTPU_FRAME_HEADER_SIZE;
  memcpy(dst, stage + USBTPU_FRAME_HEADER_SIZE, early);
  st = read_exact(ud, USBTPU_EP_OUTPUT_IN, dst + early, bytes - early, err);
  if (st != HALO_OK) return halo_err_prefix(err, "output %d payload: ", index);
  uint16_t flags = usbtpu_get16(h + 6);
  if ((flags & USBTPU_FRAME_CRC) && usbtpu_crc32(0, dst, bytes) != usbtpu_get32(h + 16))
    return halo_err_set(err, HALO_EDEVICE, "%s: endpoint 0x%02x: output %d: CRC mismatch",
                        ud->name, usbtpu_usb_endpoint_address(ud->usb, USBTPU_EP_OUTPUT_IN),
                        index);
  return HALO_OK;
}

/* One profile event per layer, from the device's cycle counters, laid end
 * to end from start_ns. Returns their total (0 when the device gave none). */
static int64_t add_layer_events(halo_exec *ex, halo_profile *profile, int64_t start_ns) {
  usbtpu_device *ud = ex->dev;
  uint32_t layers = 0;
  halo_err ignored;
  if (ud->caps.clock_khz == 0) return 0;
  if (usbtpu_usb_csr_read32(ud->usb, USBTPU_CSR_LAYER_COUNT, &layers, &ignored) != HALO_OK)
    return 0;
  if (layers != (uint32_t)ex->n_nodes || layers == 0 || layers > USBTPU_CSR_PERF_MAX_LAYERS)
    return 0; /* untrusted: a count that does not match the program is ignored */
  /* The PERF window is 64-bit registers only (no block reads): one
   * CSR_READ64 per layer, done only when profiling. */
  int64_t t = start_ns;
  for (uint32_t i = 0; i < layers; i++) {
    uint64_t cycles = 0;
    if (usbtpu_usb_csr_read64(ud->usb, USBTPU_CSR_PERF_BASE + 8 * i, &cycles, &ignored) != HALO_OK)
      return t - start_ns;
    if (cycles > (uint64_t)1 << 40) cycles = (uint64_t)1 << 40; /* untrusted */
    int64_t ns = (int64_t)(cycles * 1000000u / ud->caps.clock_khz);
    int32_t node = ex->nodes[i];
    halo_profile_add(profile, node, halo_op_name(ex->graph->nodes[node].op), ud->name, t, ns);
    t += ns;
  }
  return t - start_ns;
}

/* One attempt at an invoke. *run_failed is set when the device ran the
 * program and reported an error status (not a transport fault). */
static halo_status run_once(halo_exec *ex, const halo_binding *bindings, halo_profile *profile,
                            bool *run_failed, halo_err *err) {
  usbtpu_device *ud = ex->dev;
  const char *name = ud->name;
  const usbtpu_program *p = &ex->program;
  int64_t t0 = halo_now_ns();
  halo_status st;

  if (!p->streamed) {
    uint64_t token = 0;
    st = usbtpu_usb_csr_read64(ud->usb, USBTPU_CSR_PARAM_TOKEN, &token, err);
    if (st != HALO_OK) return halo_err_prefix(err, "%s: reading PARAM_TOKEN: ", name);
    if (token != p->token || ud->force_upload) {
      st = send_frame(ud, USBTPU_TAG_PROGRAM, 0, p->bytes, p->size, true, err);
      if (st != HALO_OK) return halo_err_prefix(err, "PROGRAM: ");
      st = send_params(ud, p, err);
      if (st != HALO_OK) return st;
      ud->stats.program_sends++;
      ud->force_upload = false;
    }
  } else {
    /* One program resident: a streamed one is loaded afresh every run. */
    st = send_frame(ud, USBTPU_TAG_PROGRAM, 0, p->bytes, p->size, true, err);
    if (st != HALO_OK) return halo_err_prefix(err, "PROGRAM: ");
    ud->stats.program_sends++;
  }

  for (int i = 0; i < p->n_inputs; i++) {
    const uint8_t *src = binding_ptr(&bindings[p->input_tensor[i]]);
    if (!src)
      return halo_err_set(err, HALO_EINTERNAL, "%s: input tensor %d has no host binding", name,
                          (int)p->input_tensor[i]);
    size_t bytes = p->input_bytes[i];
    size_t off = 0;
    do {
      size_t n = bytes - off < ud->max_payload ? bytes - off : ud->max_payload;
      st = send_frame(ud, USBTPU_TAG_INPUT, (uint32_t)i << 24 | (uint32_t)off, src + off, n,
                      true, err);
      if (st != HALO_OK) return halo_err_prefix(err, "INPUT %d at offset %zu: ", i, off);
      off += n;
    } while (off < bytes);
  }
  if (p->streamed) {
    st = send_params(ud, p, err);
    if (st != HALO_OK) return st;
  }
  uint8_t run_id[8];
  usbtpu_put64(run_id, ++ud->run_id);
  st = send_frame(ud, USBTPU_TAG_RUN, 0, run_id, sizeof run_id, true, err);
  if (st != HALO_OK) return halo_err_prefix(err, "RUN: ");
  uint32_t run_seq = ud->sequence;
  int64_t t1 = halo_now_ns();

  uint8_t ev[USBTPU_EVENT_SIZE];
  st = read_exact(ud, USBTPU_EP_EVENT_IN, ev, sizeof ev, err);
  if (st != HALO_OK) return halo_err_prefix(err, "completion event: ");
  if (ev[0] != USBTPU_EVENT_RUN_DONE || usbtpu_get32(ev + 4) != run_seq ||
      usbtpu_get64(ev + 8) != ud->run_id)
    return halo_err_set(err, HALO_EDEVICE,
                        "%s: endpoint 0x%02x: unexpected completion event (type %u, sequence %u, "
                        "expected RUN_DONE for sequence %u)",
                        name, usbtpu_usb_endpoint_address(ud->usb, USBTPU_EP_EVENT_IN), ev[0], usbtpu_get32(ev + 4), run_seq);
  if (ev[1] != USBTPU_ERR_NONE) {
    *run_failed = true;
    halo_status code = ev[1] == USBTPU_ERR_EXEC ? HALO_EDEVICE : HALO_EINTERNAL;
    return halo_err_set(err, code, "%s: run failed on the device: error %s (%u)%s", name,
                        usbtpu_error_name(ev[1]), ev[1],
                        ev[1] == USBTPU_ERR_EXEC ? ": a layer failed"
                                                  : ": the host sent a bad program or input");
  }
  if (usbtpu_get32(ev + 28) != (uint32_t)p->n_outputs)
    return halo_err_set(err, HALO_EDEVICE, "%s: endpoint 0x%02x: %u outputs reported, %d expected",
                        name, usbtpu_usb_endpoint_address(ud->usb, USBTPU_EP_EVENT_IN),
                        usbtpu_get32(ev + 28), p->n_outputs);
  for (int i = 0; i < p->n_outputs; i++) {
    uint8_t *dst = binding_ptr(&bindings[p->output_tensor[i]]);
    if (!dst)
      return halo_err_set(err, HALO_EINTERNAL, "%s: output tensor %d has no host binding", name,
                          (int)p->output_tensor[i]);
    st = read_output(ud, i, run_seq, ex->output_stage, dst, p->output_bytes[i], err);
    if (st != HALO_OK) return st;
  }
  int64_t t2 = halo_now_ns();
  ud->stats.runs++;
  if (profile) {
    halo_profile_add(profile, -1, "USB OUT", name, t0, t1 - t0);
    /* Waiting for the completion includes the device's own time: the
     * layers get that, USB IN the rest (completion and outputs). */
    int64_t device_ns = add_layer_events(ex, profile, t1);
    if (device_ns > t2 - t1) device_ns = t2 - t1;
    halo_profile_add(profile, -1, "USB IN", name, t1 + device_ns, t2 - t1 - device_ns);
  }
  return HALO_OK;
}

halo_status usbtpu_firmware_load(char *path, size_t path_size, uint8_t **image, size_t *size,
                                 usbtpu_fw_info *info, halo_err *err) {
  *image = NULL;
  *size = 0;
  usbtpu_firmware_path(path, path_size);
  FILE *f = fopen(path, "rb");
  if (!f) return halo_err_set(err, HALO_ENOTFOUND, "%s: cannot open: %s", path, strerror(errno));
  uint8_t *img = malloc(USBTPU_DFU_MAX_IMAGE + 1);
  size_t n = img ? fread(img, 1, USBTPU_DFU_MAX_IMAGE + 1, f) : 0;
  bool read_error = ferror(f) != 0;
  fclose(f);
  usbtpu_fw_info parsed;
  halo_status st = HALO_OK;
  if (!img)
    st = halo_err_set(err, HALO_ENOMEM, "%s: out of memory", path);
  else if (read_error)
    st = halo_err_set(err, HALO_EIO, "%s: read error", path);
  else if (n > USBTPU_DFU_MAX_IMAGE)
    st = halo_err_set(err, HALO_EFORMAT, "%s: larger than the boot ROM's %u bytes", path,
                      USBTPU_DFU_MAX_IMAGE);
  else if ((st = usbtpu_fw_parse(img, n, &parsed, err)) != HALO_OK)
    halo_err_prefix(err, "%s: ", path);
  if (st != HALO_OK) {
    free(img);
    return st;
  }
  if (info) *info = parsed;
  *image = img;
  *size = n;
  return HALO_OK;
}

/* Re-opens the device by port and serial after it left the bus: in
 * application mode if it is there within deadline_ms, else in boot mode
 * followed by the firmware download. Then re-reads the capability table.
 * HALO_ENODEV when it is on its port in neither mode. */
static halo_status reattach(usbtpu_device *ud, unsigned deadline_ms, halo_err *err) {
  halo_status st = usbtpu_usb_reopen(ud->usb, USBTPU_PID_APP, deadline_ms, err);
  if (st == HALO_ETIMEOUT) {
    halo_err boot_err;
    st = usbtpu_usb_reopen(ud->usb, USBTPU_PID_BOOT, 1, &boot_err);
    if (st == HALO_ETIMEOUT)
      return halo_err_set(err, HALO_ENODEV, "%s: not on its port in application or boot mode",
                          usbtpu_usb_name(ud->usb));
    if (st != HALO_OK) {
      *err = boot_err;
      return st;
    }
    size_t size = 0;
    uint8_t *img = NULL;
    char path[1024];
    halo_err why;
    if (usbtpu_firmware_load(path, sizeof path, &img, &size, NULL, &why) != HALO_OK)
      return halo_err_set(err, HALO_EDEVICE,
                          "%s: came back in boot mode and the firmware image is unusable: %s",
                          usbtpu_usb_name(ud->usb), why.msg);
    st = usbtpu_dfu_download(ud->usb, img, size, USBTPU_DFU_DEADLINE_MS, err);
    free(img);
    if (st != HALO_OK) return halo_err_prefix(err, "reloading the firmware: ");
  } else if (st != HALO_OK) {
    return st;
  }
  st = read_caps(ud, err);
  if (st != HALO_OK) return halo_err_prefix(err, "re-reading the capability table: ");
  ud->gone = false;
  ud->force_upload = true;
  return HALO_OK;
}

/* After a timeout or a stall. The synchronous libusb transfer that failed
 * was already cancelled (discarded) by libusb before it returned. Clears the
 * halt on the bulk endpoints, then soft-resets the device and re-reads the
 * capability table (read_caps writes RESET = SOFT|CLEAR_ERROR, which drops
 * the program, the parameter cache and any queued event or output). When
 * control transfers fail too: USB port reset, re-open by port and serial if
 * the device re-enumerated (DFU download if it came back in boot mode), and
 * the capability table again. HALO_ENODEV when the device left the bus. */
static halo_status recover(usbtpu_device *ud, halo_err *err) {
  static const uint8_t eps[] = {USBTPU_EP_BULK_OUT, USBTPU_EP_OUTPUT_IN, USBTPU_EP_EVENT_IN};
  halo_err ignored;
  for (size_t i = 0; i < sizeof eps; i++) {
    if (usbtpu_usb_clear_halt(ud->usb, eps[i], &ignored) != HALO_OK &&
        usbtpu_usb_last_gone(ud->usb))
      return halo_err_set(err, HALO_ENODEV, "%s", ignored.msg);
  }
  ud->force_upload = true;
  halo_status st = read_caps(ud, err);
  if (st == HALO_OK) return HALO_OK;
  if (usbtpu_usb_last_gone(ud->usb)) {
    err->code = HALO_ENODEV;
    return HALO_ENODEV;
  }
  bool left = false;
  st = usbtpu_usb_reset(ud->usb, &left, err);
  if (st != HALO_OK) return halo_err_prefix(err, "port reset: ");
  if (left) return reattach(ud, USBTPU_DFU_DEADLINE_MS, err);
  st = read_caps(ud, err);
  if (st != HALO_OK) return halo_err_prefix(err, "after a port reset: ");
  return HALO_OK;
}

/* After a transport fault, what the device says went wrong (ERROR_CODE and
 * ERROR_SEQ, best effort: nothing when it does not answer or saw no error)
 * is appended to the message, before recovery's soft reset clears it. */
static void add_device_error(usbtpu_device *ud, halo_err *err) {
  uint32_t code = 0, seq = 0;
  halo_err ignored;
  if (usbtpu_usb_csr_read32(ud->usb, USBTPU_CSR_ERROR_CODE, &code, &ignored) != HALO_OK ||
      code == USBTPU_ERR_NONE ||
      usbtpu_usb_csr_read32(ud->usb, USBTPU_CSR_ERROR_SEQ, &seq, &ignored) != HALO_OK)
    return;
  size_t len = strlen(err->msg);
  snprintf(err->msg + len, sizeof err->msg - len, " (the device reports %s at frame %u)",
           usbtpu_error_name(code), seq);
}

static bool recoverable(halo_status st) {
  return st == HALO_ETIMEOUT || st == HALO_EDEVICE || st == HALO_EIO;
}

/* The device left the bus `when` (detail: the failure that found it
 * gone): HALO_ENODEV naming it by HAL name, port and serial. The next run
 * re-attaches it first if it is back. */
static halo_status unplugged(usbtpu_device *ud, const char *when, const char *detail,
                             halo_err *err) {
  ud->gone = true;
  return halo_err_set(err, HALO_ENODEV, "%s (%s): the device was unplugged %s: %s",
                      ud->name, usbtpu_usb_name(ud->usb), when, detail);
}

static halo_status run_locked(halo_exec *ex, const halo_binding *bindings,
                              halo_profile *profile, halo_err *err) {
  usbtpu_device *ud = ex->dev;
  const char *name = ud->name;
  if (ud->gone) {
    /* Unplugged earlier: it may be back (in boot mode after losing power). */
    halo_err why;
    halo_status st = reattach(ud, 100, &why);
    if (st == HALO_ENODEV)
      return halo_err_set(err, HALO_ENODEV, "%s (%s): the device was unplugged and is not back",
                          name, usbtpu_usb_name(ud->usb));
    if (st != HALO_OK)
      return halo_err_set(err, st, "%s: re-attaching the device after an unplug: %s", name,
                          why.msg);
  }
  bool run_failed = false;
  halo_err first;
  halo_status st = run_once(ex, bindings, profile, &run_failed, &first);
  if (st == HALO_OK) return HALO_OK;
  if (usbtpu_usb_last_gone(ud->usb)) return unplugged(ud, "during the invoke", first.msg, err);
  if (run_failed || !recoverable(st)) {
    *err = first;
    return st;
  }
  add_device_error(ud, &first);
  halo_err rec;
  halo_status rst = recover(ud, &rec);
  if (rst == HALO_ENODEV || (rst != HALO_OK && usbtpu_usb_last_gone(ud->usb))) {
    char detail[sizeof first.msg];
    snprintf(detail, sizeof detail, "%.250s (recovering from: %.200s)", rec.msg, first.msg);
    return unplugged(ud, "during recovery", detail, err);
  }
  if (rst != HALO_OK) return halo_err_set(err, st, "%s; recovery failed: %s", first.msg, rec.msg);
  ud->stats.recoveries++;
  run_failed = false;
  halo_err again;
  st = run_once(ex, bindings, profile, &run_failed, &again);
  if (st == HALO_OK) return HALO_OK;
  if (usbtpu_usb_last_gone(ud->usb)) return unplugged(ud, "during the retry", again.msg, err);
  if (!run_failed) add_device_error(ud, &again);
  /* Leave the device clean for the next invoke. */
  if (!run_failed && recover(ud, &rec) != HALO_OK && usbtpu_usb_last_gone(ud->usb))
    ud->gone = true;
  *err = again;
  return halo_err_prefix(err, "%s: failed again after recovery (first attempt: %.200s); ", name,
                         first.msg);
}

/* Sessions on other threads may share the device: their invokes take turns. */
static halo_status dev_run(halo_exec *ex, const halo_binding *bindings, halo_profile *profile,
                           halo_err *err) {
  pthread_mutex_lock(&ex->dev->lock);
  halo_status st = run_locked(ex, bindings, profile, err);
  pthread_mutex_unlock(&ex->dev->lock);
  return st;
}

static const halo_device_vtable usbtpu_vtable = {
    .destroy = dev_destroy,
    .supports = dev_supports,
    .estimate_us = NULL,
    .op_dtypes = dev_op_dtypes,
    .buffer_alloc = dev_buffer_alloc,
    .buffer_free = dev_buffer_free,
    .buffer_write = NULL, /* host memory */
    .buffer_read = NULL,
    .prepare = dev_prepare,
    .run = dev_run,
    .describe = dev_describe,
    .release = dev_release,
};

halo_status usbtpu_device_get_stats(const halo_device *d, usbtpu_device_stats *out) {
  if (!d || d->vt != &usbtpu_vtable) return HALO_EINVAL;
  usbtpu_device *ud = ((const usbtpu_hal_device *)d)->dev;
  pthread_mutex_lock(&ud->lock);
  *out = ud->stats;
  pthread_mutex_unlock(&ud->lock);
  return HALO_OK;
}

/* ---- enumeration ------------------------------------------------------- */

static halo_status read_caps(usbtpu_device *ud, halo_err *err) {
  uint32_t id = 0, proto = 0, caps_size = 0;
  halo_status st = usbtpu_usb_csr_read32(ud->usb, USBTPU_CSR_ID, &id, err);
  if (st == HALO_OK) st = usbtpu_usb_csr_read32(ud->usb, USBTPU_CSR_PROTOCOL, &proto, err);
  if (st != HALO_OK) return st;
  if (id != USBTPU_DEVICE_ID)
    return halo_err_set(err, HALO_EDEVICE, "%s: not a halo accelerator (ID register 0x%08x)",
                        usbtpu_usb_name(ud->usb), id);
  if (proto >> 16 != USBTPU_PROTOCOL_VERSION >> 16)
    return halo_err_set(err, HALO_EDEVICE,
                        "%s: protocol version mismatch: the firmware speaks %u.%u, this driver "
                        "%u.x; update halo or boot a matching firmware image",
                        usbtpu_usb_name(ud->usb), proto >> 16, proto & 0xFFFF,
                        USBTPU_PROTOCOL_VERSION >> 16);
  st = usbtpu_usb_csr_write32(ud->usb, USBTPU_CSR_RESET,
                              USBTPU_RESET_SOFT | USBTPU_RESET_CLEAR_ERROR, err);
  if (st == HALO_OK) st = usbtpu_usb_csr_read32(ud->usb, USBTPU_CSR_FW_VERSION, &ud->fw_version, err);
  if (st == HALO_OK) st = usbtpu_usb_csr_read32(ud->usb, USBTPU_CSR_LINK_SPEED, &ud->link_speed, err);
  if (st == HALO_OK) st = usbtpu_usb_csr_read32(ud->usb, USBTPU_CSR_MAX_PAYLOAD, &ud->max_payload, err);
  if (st == HALO_OK) st = usbtpu_usb_csr_read32(ud->usb, USBTPU_CSR_CAPS_SIZE, &caps_size, err);
  if (st != HALO_OK) return st;
  if (caps_size == 0 || caps_size > USBTPU_CAPS_MAX_BYTES)
    return halo_err_set(err, HALO_EDEVICE, "%s: CAPS_SIZE %u out of range",
                        usbtpu_usb_name(ud->usb), caps_size);
  size_t padded = (caps_size + 3u) & ~3u;
  uint8_t *table = calloc(1, padded);
  if (!table) return halo_err_set(err, HALO_ENOMEM, "usbtpu: out of memory");
  st = usbtpu_usb_csr_read_block(ud->usb, USBTPU_CSR_CAPS_BASE, table, padded, err);
  if (st == HALO_OK) {
    char what[128];
    snprintf(what, sizeof what, "device %s", usbtpu_usb_name(ud->usb));
    st = usbtpu_caps_parse(table, caps_size, what, &ud->caps, err);
  }
  free(table);
  if (st != HALO_OK) return st;
  uint32_t mp = ud->max_payload;
  if (ud->caps.max_payload && ud->caps.max_payload < mp) mp = ud->caps.max_payload;
  if (mp > USBTPU_FRAME_MAX_PAYLOAD) mp = USBTPU_FRAME_MAX_PAYLOAD;
  if (mp < 64)
    return halo_err_set(err, HALO_EDEVICE, "%s: MAX_PAYLOAD %u too small",
                        usbtpu_usb_name(ud->usb), ud->max_payload);
  ud->max_payload = mp;
  return HALO_OK;
}

/* Opens the accelerator with this serial, or shares the connection when the
 * process has it open already (another session). */
static halo_status open_device(const char *serial, int index, halo_device **out, halo_err *err) {
  usbtpu_hal_device *hd = calloc(1, sizeof *hd);
  if (!hd) return halo_err_set(err, HALO_ENOMEM, "usbtpu: out of memory");
  pthread_mutex_lock(&open_devices_lock);
  usbtpu_device *ud = NULL;
  for (int i = 0; i < n_open_devices && !ud; i++)
    if (strcmp(open_devices[i]->serial, serial) == 0) ud = open_devices[i];
  halo_status st = HALO_OK;
  if (!ud) {
    if (n_open_devices == USBTPU_MAX_OPEN)
      st = halo_err_set(err, HALO_EDEVICE, "usbtpu: more than %d accelerators open",
                        USBTPU_MAX_OPEN);
    else if (!(ud = calloc(1, sizeof *ud)))
      st = halo_err_set(err, HALO_ENOMEM, "usbtpu: out of memory");
    if (ud) {
      snprintf(ud->name, sizeof ud->name, "usbtpu%d", index);
      snprintf(ud->serial, sizeof ud->serial, "%.*s", (int)sizeof ud->serial - 1, serial);
      st = usbtpu_usb_open(USBTPU_PID_APP, serial, USBTPU_DEV_TIMEOUT_MS, &ud->usb, err);
      if (st == HALO_OK) st = read_caps(ud, err);
      if (st == HALO_OK && pthread_mutex_init(&ud->lock, NULL) != 0)
        st = halo_err_set(err, HALO_ENOMEM, "usbtpu: creating a mutex");
      if (st == HALO_OK) {
        open_devices[n_open_devices++] = ud;
      } else if (ud) {
        usbtpu_usb_close(ud->usb);
        free(ud);
        ud = NULL;
      }
    }
  }
  if (ud) ud->refs++;
  pthread_mutex_unlock(&open_devices_lock);
  if (st != HALO_OK) {
    free(hd);
    return st;
  }
  hd->dev = ud;
  hd->base.vt = &usbtpu_vtable;
  hd->base.kind = "usbtpu";
  snprintf(hd->base.name, sizeof hd->base.name, "usbtpu%d", index);
  snprintf(hd->base.description, sizeof hd->base.description,
           "halo USB accelerator, firmware %u.%u.%u, %s, serial %.40s", ud->fw_version >> 16,
           (ud->fw_version >> 8) & 0xFF, ud->fw_version & 0xFF,
           ud->link_speed == 3   ? "USB 3 SuperSpeed"
           : ud->link_speed == 2 ? "USB 2.0 high speed"
                                 : "unknown link speed",
           serial);
  *out = &hd->base;
  return HALO_OK;
}

/* Keeps the first problem met while enumerating (later ones are alike). */
static void keep_problem(halo_err *problem, const halo_err *e) {
  if (problem->code == HALO_OK) *problem = *e;
}

/* Boots the accelerators of nodes[] still in boot (DFU) mode with the
 * firmware image. Returns how many it tried. */
static int boot_devices(const usbtpu_usb_node *nodes, int n, halo_err *problem) {
  int in_boot = 0;
  for (int i = 0; i < n; i++)
    in_boot += nodes[i].mode == USBTPU_USB_BOOT && nodes[i].open.code == HALO_OK;
  if (in_boot == 0) return 0;
  halo_err e, why;
  size_t size = 0;
  uint8_t *img = NULL;
  char path[1024];
  halo_status st = usbtpu_firmware_load(path, sizeof path, &img, &size, NULL, &why);
  if (st != HALO_OK) {
    halo_err_set(&e, st, "usbtpu: %d accelerator%s in boot mode, but the firmware image is "
                 "unusable: %s", in_boot, in_boot == 1 ? "" : "s", why.msg);
    keep_problem(problem, &e);
    return 0;
  }
  for (int i = 0; i < n; i++) {
    if (nodes[i].mode != USBTPU_USB_BOOT || nodes[i].open.code != HALO_OK) continue;
    usbtpu_usb *usb = NULL;
    st = usbtpu_usb_open(USBTPU_USB_BOOT, nodes[i].serial[0] ? nodes[i].serial : NULL,
                         USBTPU_DEV_TIMEOUT_MS, &usb, &e);
    if (st == HALO_OK) st = usbtpu_dfu_download(usb, img, size, USBTPU_DFU_DEADLINE_MS, &e);
    if (st != HALO_OK) keep_problem(problem, &e);
    usbtpu_usb_close(usb);
  }
  free(img);
  return in_boot;
}

static int cmp_serial(const void *a, const void *b) { return strcmp(a, b); }

halo_status usbtpu_enumerate(halo_device **out, int max, int *found, halo_err *err) {
  *found = 0;
  if (max < 1) return HALO_OK;
  enum { MAX_NODES = 16 };
  usbtpu_usb_node nodes[MAX_NODES];
  int n = 0;
  halo_err problem, e;
  halo_err_clear(&problem);
  halo_status st = usbtpu_usb_scan(nodes, MAX_NODES, &n, NULL, &e);
  /* Booted devices come back in application mode: look again. */
  if (st == HALO_OK && boot_devices(nodes, n, &problem) > 0)
    st = usbtpu_usb_scan(nodes, MAX_NODES, &n, NULL, &e);
  if (st != HALO_OK) {
    *err = e;
    return st;
  }
  /* No permission, gone or busy: the node says why. */
  for (int i = 0; i < n; i++)
    if (nodes[i].open.code != HALO_OK) keep_problem(&problem, &nodes[i].open);
  char serials[MAX_NODES][USBTPU_USB_SERIAL_MAX];
  int n_serials = usbtpu_usb_node_serials(nodes, n, USBTPU_USB_APP, serials, MAX_NODES);
  /* Names follow serial order, not the bus's listing order. */
  qsort(serials, (size_t)n_serials, sizeof serials[0], cmp_serial);
  for (int i = 0; i < n_serials && *found < max; i++) {
    halo_device *d = NULL;
    if (open_device(serials[i], *found, &d, &e) == HALO_OK)
      out[(*found)++] = d;
    else
      keep_problem(&problem, &e);
  }
  if (problem.code == HALO_OK) return HALO_OK;
  *err = problem;
  return problem.code;
}
