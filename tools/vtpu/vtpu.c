/* The virtual accelerator's device model: USB identity and descriptors, the
 * DFU 1.1 boot loader, the CSR register bank, the bulk frame processor with
 * the parameter cache, IN queues and fault injection. Execution and timing
 * are in vtpu_exec.c. docs/usbtpu-protocol.md is the specification. */
#include "tools/vtpu/vtpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/usbtpu/usbtpu_firmware.h"
#include "drivers/usbtpu/usbtpu_program.h"
#include "drivers/usbtpu/usbtpu_protocol.h"

/* Effective bulk throughput of the link, bytes per microsecond. */
#define LINK_USB2_BPUS 40.0
#define LINK_USB3_BPUS 350.0
#define TEMPERATURE_MC 45000u

typedef struct packet {
  struct packet *next;
  size_t size, read;
  uint8_t data[];
} packet;

typedef struct queue {
  packet *head, *tail;
} queue;

struct vtpu {
  char serial[32];
  uint16_t vid, pid_boot, pid_app;
  bool usb2, plugged, app_mode;
  /* Application-mode endpoint addresses (see vtpu_config.endpoint_base). */
  uint8_t ep_out, ep_output_in, ep_event_in, ep_intr_in;
  uint8_t endpoints_omitted;
  vtpu_faults faults;
  vtpu_stats stats;

  /* DFU */
  uint8_t dfu_state, dfu_status;
  uint8_t *image;
  size_t image_len;
  uint16_t next_block;
  bool image_ok; /* manifested: verified and ready to boot */
  usbtpu_fw_info fw;

  /* application mode */
  uint8_t *caps_bytes;
  size_t caps_size;
  uint8_t *param_mem, *act_mem;
  uint32_t status_bits, error_code, error_seq, error_count;
  bool out_halted;
  uint8_t *rx; /* partial frame bytes on bulk OUT */
  size_t rx_len, rx_cap;
  bool seq_valid;
  uint32_t last_seq;
  /* program and cache */
  uint8_t *program;
  size_t program_size;
  usbtpu_program_header ph;
  uint64_t cached_token; /* params complete in param_mem for this token */
  uint32_t params_received;
  uint32_t input_received[USBTPU_PROGRAM_MAX_IO];
  vtpu_exec *exec;
  uint64_t *perf;
  uint32_t perf_layers;
  uint64_t last_cycles;
  queue q_output, q_event, q_irq;
};

/* ---- queues ---------------------------------------------------------------- */

static void queue_clear(queue *q) {
  while (q->head) {
    packet *p = q->head;
    q->head = p->next;
    free(p);
  }
  q->tail = NULL;
}

static void queue_push(queue *q, const void *a, size_t na, const void *b, size_t nb) {
  packet *p = malloc(sizeof *p + na + nb);
  if (!p) return; /* the host sees a lost packet and times out, as on hardware */
  p->next = NULL;
  p->size = na + nb;
  p->read = 0;
  if (na) memcpy(p->data, a, na);
  if (nb) memcpy(p->data + na, b, nb);
  if (q->tail)
    q->tail->next = p;
  else
    q->head = p;
  q->tail = p;
}

/* ---- lifecycle -------------------------------------------------------------------- */

static void drop_program(vtpu *d) {
  vtpu_exec_destroy(d->exec);
  d->exec = NULL;
  free(d->program);
  d->program = NULL;
  d->program_size = 0;
  d->cached_token = 0;
  d->params_received = 0;
  memset(d->input_received, 0, sizeof d->input_received);
  memset(&d->ph, 0, sizeof d->ph);
  d->status_bits &= ~(uint32_t)(USBTPU_STATUS_PROGRAM | USBTPU_STATUS_PARAMS);
}

static void soft_reset(vtpu *d) {
  drop_program(d);
  queue_clear(&d->q_output);
  queue_clear(&d->q_event);
  queue_clear(&d->q_irq);
  d->rx_len = 0;
  d->seq_valid = false;
  d->out_halted = false;
  d->error_code = 0;
  d->status_bits = USBTPU_STATUS_READY;
}

static void enter_boot_mode(vtpu *d) {
  soft_reset(d);
  free(d->param_mem);
  free(d->act_mem);
  free(d->caps_bytes);
  free(d->perf);
  d->param_mem = d->act_mem = d->caps_bytes = NULL;
  d->perf = NULL;
  d->app_mode = false;
  d->dfu_state = USBTPU_DFU_IDLE;
  d->dfu_status = USBTPU_DFU_OK;
  d->image_len = 0;
  d->next_block = 0;
  d->image_ok = false;
  d->error_count = 0;
}

halo_status vtpu_create(const vtpu_config *config, vtpu **out, halo_err *err) {
  *out = NULL;
  uint8_t base = config ? config->endpoint_base : 0;
  if (base > 12) /* base + 3 must still be an endpoint number (1..15) */
    return halo_err_set(err, HALO_EINVAL, "vtpu: endpoint_base %u over 12", base);
  vtpu *d = calloc(1, sizeof *d);
  if (d) d->image = malloc(USBTPU_DFU_MAX_IMAGE);
  if (!d || !d->image) {
    free(d);
    return halo_err_set(err, HALO_ENOMEM, "vtpu: out of memory");
  }
  snprintf(d->serial, sizeof d->serial, "%s",
           config && config->serial ? config->serial : "VTPU0001");
  d->usb2 = config && config->usb2;
  d->vid = config && config->vid ? config->vid : USBTPU_VID;
  d->pid_boot = config && config->pid_boot ? config->pid_boot : USBTPU_PID_BOOT;
  d->pid_app = config && config->pid_app ? config->pid_app : USBTPU_PID_APP;
  d->ep_out = base ? base : USBTPU_EP_BULK_OUT;
  d->ep_output_in = base ? (uint8_t)(0x80 | (base + 1)) : USBTPU_EP_OUTPUT_IN;
  d->ep_event_in = base ? (uint8_t)(0x80 | (base + 2)) : USBTPU_EP_EVENT_IN;
  d->ep_intr_in = base ? (uint8_t)(0x80 | (base + 3)) : USBTPU_EP_INTR_IN;
  d->endpoints_omitted = config ? config->endpoints_omitted & 0x0F : 0;
  d->plugged = true;
  enter_boot_mode(d);
  *out = d;
  return HALO_OK;
}

void vtpu_destroy(vtpu *d) {
  if (!d) return;
  enter_boot_mode(d);
  free(d->image);
  free(d->rx);
  free(d);
}

uint16_t vtpu_product_id(const vtpu *d) { return d->app_mode ? d->pid_app : d->pid_boot; }
bool vtpu_plugged(const vtpu *d) { return d->plugged; }
void vtpu_set_faults(vtpu *d, const vtpu_faults *f) { d->faults = *f; }
void vtpu_get_stats(const vtpu *d, vtpu_stats *out) { *out = d->stats; }

void vtpu_unplug(vtpu *d) { d->plugged = false; }

void vtpu_replug(vtpu *d) {
  enter_boot_mode(d);
  d->plugged = true;
}

/* Boots the manifested image: allocates the memories its table declares. */
static void boot(vtpu *d) {
  const usbtpu_caps *c = &d->fw.caps;
  d->caps_bytes = malloc(d->fw.caps_size);
  d->param_mem = calloc(1, (size_t)c->param_mem_bytes + 64);
  /* CPU kernels may read a vector past a tensor's end: pad. */
  d->act_mem = calloc(1, (size_t)c->act_mem_bytes + 64);
  d->perf = calloc(USBTPU_CSR_PERF_MAX_LAYERS, sizeof *d->perf);
  if (!d->caps_bytes || !d->param_mem || !d->act_mem || !d->perf) {
    enter_boot_mode(d); /* stays in boot mode: the host sees the boot PID again */
    return;
  }
  memcpy(d->caps_bytes, d->image + d->fw.caps_offset, d->fw.caps_size);
  d->caps_size = d->fw.caps_size;
  d->app_mode = true;
  soft_reset(d);
}

void vtpu_usb_reset(vtpu *d) {
  if (!d->plugged) return;
  if (!d->app_mode) {
    if (d->image_ok) boot(d);
    return;
  }
  soft_reset(d);
}

/* ---- descriptors and strings ------------------------------------------------- */

static size_t put_bytes(uint8_t *buf, size_t cap, size_t at, const uint8_t *src, size_t n) {
  if (at + n <= cap) memcpy(buf + at, src, n);
  return at + n;
}

size_t vtpu_descriptors(const vtpu *d, uint8_t *buf, size_t cap) {
  uint16_t bcd_usb = d->usb2 ? 0x0210 : 0x0320;
  uint16_t pid = vtpu_product_id(d);
  uint8_t dev[18] = {18, 1, (uint8_t)bcd_usb, (uint8_t)(bcd_usb >> 8), 0, 0, 0,
                     d->usb2 ? 64 : 9, (uint8_t)d->vid, (uint8_t)(d->vid >> 8),
                     (uint8_t)pid, (uint8_t)(pid >> 8), (uint8_t)USBTPU_BCD_DEVICE,
                     (uint8_t)(USBTPU_BCD_DEVICE >> 8), 1, 2, 3, 1};
  uint8_t cfg[128];
  size_t n = 9;
  if (!d->app_mode) {
    const uint8_t intf[9] = {9, 4, 0, 0, 0, 0xFE, 0x01, 0x02, 4};
    const uint8_t func[9] = {9, 0x21, USBTPU_DFU_ATTRIBUTES,
                             (uint8_t)USBTPU_DFU_DETACH_TIMEOUT_MS,
                             (uint8_t)(USBTPU_DFU_DETACH_TIMEOUT_MS >> 8),
                             (uint8_t)USBTPU_DFU_TRANSFER_SIZE,
                             (uint8_t)(USBTPU_DFU_TRANSFER_SIZE >> 8), 0x10, 0x01};
    memcpy(cfg + n, intf, 9), n += 9;
    memcpy(cfg + n, func, 9), n += 9;
  } else {
    const uint8_t eps[4][2] = {
        {d->ep_out, 2}, {d->ep_output_in, 2}, {d->ep_event_in, 2}, {d->ep_intr_in, 3}};
    uint8_t n_eps = 0;
    for (int i = 0; i < 4; i++) n_eps += !(d->endpoints_omitted & (1u << i));
    const uint8_t intf[9] = {9, 4, 0, 0, n_eps, 0xFF, 0xFF, 0xFF, 5};
    memcpy(cfg + n, intf, 9), n += 9;
    for (int i = 0; i < 4; i++) {
      if (d->endpoints_omitted & (1u << i)) continue;
      bool intr = eps[i][1] == 3;
      uint16_t mps = intr ? 64 : (d->usb2 ? 512 : 1024);
      uint8_t ep[7] = {7, 5, eps[i][0], eps[i][1], (uint8_t)mps, (uint8_t)(mps >> 8),
                       intr ? (d->usb2 ? 8 : 4) : 0};
      memcpy(cfg + n, ep, 7), n += 7;
      if (!d->usb2) { /* SuperSpeed endpoint companion */
        uint8_t comp[6] = {6, 0x30, intr ? 0 : 15, 0, intr ? 64 : 0, 0};
        memcpy(cfg + n, comp, 6), n += 6;
      }
    }
  }
  const uint8_t head[9] = {9, 2, (uint8_t)n, (uint8_t)(n >> 8), 1, 1, 0, 0x80, 250};
  memcpy(cfg, head, 9);
  size_t total = sizeof dev + n;
  if (cap < total) return total;
  size_t at = put_bytes(buf, cap, 0, dev, sizeof dev);
  put_bytes(buf, cap, at, cfg, n);
  return total;
}

static int string_descriptor(const vtpu *d, uint8_t index, uint8_t *data, uint16_t len) {
  uint8_t s[128];
  size_t n;
  if (index == 0) {
    const uint8_t langs[4] = {4, 3, 0x09, 0x04};
    memcpy(s, langs, 4);
    n = 4;
  } else {
    const char *text = index == 1   ? "halo project"
                       : index == 2 ? "halo USB accelerator (virtual)"
                       : index == 3 ? d->serial
                       : index == 4 ? "DFU boot loader"
                       : index == 5 ? "accelerator"
                                    : NULL;
    if (!text) return VTPU_STALL;
    size_t chars = strlen(text);
    if (chars > 60) chars = 60;
    n = 2 + 2 * chars;
    s[0] = (uint8_t)n;
    s[1] = 3;
    for (size_t i = 0; i < chars; i++) s[2 + 2 * i] = (uint8_t)text[i], s[3 + 2 * i] = 0;
  }
  if (n > len) n = len;
  memcpy(data, s, n);
  return (int)n;
}

/* ---- DFU ---------------------------------------------------------------------- */

static int dfu_fail(vtpu *d, uint8_t status) {
  d->dfu_state = USBTPU_DFU_ERROR;
  d->dfu_status = status;
  return VTPU_STALL;
}

/* Manifestation: the boot ROM checks what it received. */
static void dfu_manifest(vtpu *d) {
  halo_err err;
  if (usbtpu_fw_parse(d->image, d->image_len, &d->fw, &err) != HALO_OK) {
    /* A CRC failure means the bytes changed on the way; anything else means
     * the file is not an image for this device (or format version). */
    uint8_t status = strstr(err.msg, "(crc32)") ? USBTPU_DFU_ERR_VERIFY : USBTPU_DFU_ERR_FILE;
    d->dfu_state = USBTPU_DFU_ERROR;
    d->dfu_status = status;
    return;
  }
  d->image_ok = true;
  d->dfu_state = USBTPU_DFU_MANIFEST;
}

static int dfu_control(vtpu *d, const vtpu_setup *s, uint8_t *data) {
  uint8_t st = d->dfu_state;
  switch (s->bRequest) {
    case USBTPU_DFU_DNLOAD:
      if (s->bmRequestType != 0x21) return VTPU_STALL;
      if (d->faults.refuse_dfu) return dfu_fail(d, USBTPU_DFU_ERR_VENDOR);
      if (st != USBTPU_DFU_IDLE && st != USBTPU_DFU_DNLOAD_IDLE)
        return dfu_fail(d, USBTPU_DFU_ERR_STALLEDPKT);
      if (s->wLength == 0) {
        if (st == USBTPU_DFU_IDLE) return dfu_fail(d, USBTPU_DFU_ERR_NOTDONE);
        d->dfu_state = USBTPU_DFU_MANIFEST_SYNC;
        return 0;
      }
      if (st == USBTPU_DFU_IDLE) { /* a new download starts at block 0 */
        d->image_len = 0;
        d->next_block = 0;
        d->image_ok = false;
      }
      if (s->wLength > USBTPU_DFU_TRANSFER_SIZE || s->wValue != d->next_block)
        return dfu_fail(d, USBTPU_DFU_ERR_STALLEDPKT);
      if (d->image_len + s->wLength > USBTPU_DFU_MAX_IMAGE)
        return dfu_fail(d, USBTPU_DFU_ERR_ADDRESS);
      memcpy(d->image + d->image_len, data, s->wLength);
      d->image_len += s->wLength;
      d->next_block++;
      d->dfu_state = USBTPU_DFU_DNLOAD_SYNC;
      return s->wLength;
    case USBTPU_DFU_GETSTATUS: {
      if (s->bmRequestType != 0xA1 || s->wLength < 6) return VTPU_STALL;
      uint32_t poll = 0;
      if (st == USBTPU_DFU_DNLOAD_SYNC) {
        d->dfu_state = USBTPU_DFU_DNLOAD_IDLE;
        poll = USBTPU_DFU_POLL_TIMEOUT_MS;
      } else if (st == USBTPU_DFU_MANIFEST_SYNC) {
        dfu_manifest(d);
        poll = USBTPU_DFU_POLL_TIMEOUT_MS;
      } else if (st == USBTPU_DFU_MANIFEST) {
        d->dfu_state = USBTPU_DFU_IDLE; /* manifestation tolerant */
      }
      data[0] = d->dfu_status;
      data[1] = (uint8_t)poll, data[2] = (uint8_t)(poll >> 8), data[3] = (uint8_t)(poll >> 16);
      data[4] = d->dfu_state;
      data[5] = 0;
      return 6;
    }
    case USBTPU_DFU_GETSTATE:
      if (s->bmRequestType != 0xA1 || s->wLength < 1) return VTPU_STALL;
      data[0] = d->dfu_state;
      return 1;
    case USBTPU_DFU_CLRSTATUS:
      if (st != USBTPU_DFU_ERROR) return dfu_fail(d, USBTPU_DFU_ERR_STALLEDPKT);
      d->dfu_state = USBTPU_DFU_IDLE;
      d->dfu_status = USBTPU_DFU_OK;
      d->image_len = 0;
      d->image_ok = false;
      return 0;
    case USBTPU_DFU_ABORT:
      if (st != USBTPU_DFU_IDLE && st != USBTPU_DFU_DNLOAD_IDLE && st != USBTPU_DFU_UPLOAD_IDLE)
        return dfu_fail(d, USBTPU_DFU_ERR_STALLEDPKT);
      if (st == USBTPU_DFU_DNLOAD_IDLE) d->image_len = 0, d->image_ok = false;
      d->dfu_state = USBTPU_DFU_IDLE;
      return 0;
    case USBTPU_DFU_UPLOAD: {
      if (s->bmRequestType != 0xA1) return VTPU_STALL;
      if ((st != USBTPU_DFU_IDLE && st != USBTPU_DFU_UPLOAD_IDLE) || !d->image_ok ||
          s->wLength == 0 || s->wLength > USBTPU_DFU_TRANSFER_SIZE)
        return dfu_fail(d, USBTPU_DFU_ERR_STALLEDPKT);
      size_t off = (size_t)s->wValue * USBTPU_DFU_TRANSFER_SIZE;
      size_t n = off >= d->image_len ? 0 : d->image_len - off;
      if (n > s->wLength) n = s->wLength;
      if (n) memcpy(data, d->image + off, n);
      d->dfu_state = n < s->wLength ? USBTPU_DFU_IDLE : USBTPU_DFU_UPLOAD_IDLE;
      return (int)n;
    }
    default: return dfu_fail(d, USBTPU_DFU_ERR_STALLEDPKT);
  }
}

/* ---- CSRs --------------------------------------------------------------------------- */

static bool csr_read(const vtpu *d, uint32_t addr, int width, uint64_t *v) {
  if (addr >= USBTPU_CSR_CAPS_BASE && addr < USBTPU_CSR_CAPS_BASE + 0x10000) {
    uint32_t off = addr - USBTPU_CSR_CAPS_BASE;
    if (off % 4 || off + (uint32_t)width > d->caps_size) return false;
    *v = width == 8 ? usbtpu_get64(d->caps_bytes + off) : usbtpu_get32(d->caps_bytes + off);
    return true;
  }
  if (addr >= USBTPU_CSR_PERF_BASE && addr < USBTPU_CSR_PERF_BASE + 8 * USBTPU_CSR_PERF_MAX_LAYERS) {
    uint32_t i = (addr - USBTPU_CSR_PERF_BASE) / 8;
    if (addr % 8 || width != 8 || i >= d->perf_layers) return false;
    *v = d->perf[i];
    return true;
  }
  if (width == 8) {
    switch (addr) {
      case USBTPU_CSR_PARAM_TOKEN: *v = d->cached_token; return true;
      case USBTPU_CSR_CYCLES_LAST: *v = d->last_cycles; return true;
      default: return false;
    }
  }
  switch (addr) {
    case USBTPU_CSR_ID: *v = USBTPU_DEVICE_ID; return true;
    case USBTPU_CSR_PROTOCOL: *v = USBTPU_PROTOCOL_VERSION; return true;
    case USBTPU_CSR_FW_VERSION: *v = d->fw.fw_version; return true;
    case USBTPU_CSR_STATUS: *v = d->status_bits; return true;
    case USBTPU_CSR_CAPS_SIZE: *v = d->caps_size; return true;
    case USBTPU_CSR_LINK_SPEED: *v = d->usb2 ? 2 : 3; return true;
    case USBTPU_CSR_MAX_PAYLOAD: *v = d->fw.caps.max_payload; return true;
    case USBTPU_CSR_PARAM_BYTES: *v = d->cached_token ? d->ph.param_bytes : 0; return true;
    case USBTPU_CSR_ERROR_CODE: *v = d->error_code; return true;
    case USBTPU_CSR_ERROR_SEQ: *v = d->error_seq; return true;
    case USBTPU_CSR_ERROR_COUNT: *v = d->error_count; return true;
    case USBTPU_CSR_TEMPERATURE: *v = TEMPERATURE_MC; return true;
    case USBTPU_CSR_LAYER_COUNT: *v = d->perf_layers; return true;
    default: return false;
  }
}

static bool csr_write(vtpu *d, uint32_t addr, uint64_t v) {
  if (addr != USBTPU_CSR_RESET) return false;
  if (v & USBTPU_RESET_SOFT) soft_reset(d);
  if (v & USBTPU_RESET_CLEAR_ERROR) {
    d->error_code = 0;
    d->status_bits &= ~(uint32_t)USBTPU_STATUS_ERROR;
  }
  return true;
}

static int app_control(vtpu *d, const vtpu_setup *s, uint8_t *data) {
  uint32_t addr = (uint32_t)s->wIndex << 16 | s->wValue;
  uint64_t v = 0;
  if (s->bmRequestType == USBTPU_REQTYPE_VENDOR_IN) {
    switch (s->bRequest) {
      case USBTPU_REQ_CSR_READ32:
      case USBTPU_REQ_CSR_READ64: {
        int w = s->bRequest == USBTPU_REQ_CSR_READ32 ? 4 : 8;
        if (s->wLength != w || !csr_read(d, addr, w, &v)) return VTPU_STALL;
        if (w == 4) usbtpu_put32(data, (uint32_t)v);
        else usbtpu_put64(data, v);
        return w;
      }
      case USBTPU_REQ_CSR_READ_BLOCK:
        if (s->wLength == 0 || s->wLength % 4 || s->wLength > USBTPU_CSR_BLOCK_MAX)
          return VTPU_STALL;
        for (uint32_t i = 0; i < s->wLength; i += 4) {
          if (!csr_read(d, addr + i, 4, &v)) return VTPU_STALL;
          usbtpu_put32(data + i, (uint32_t)v);
        }
        return s->wLength;
      default: return VTPU_STALL;
    }
  }
  if (s->bmRequestType == USBTPU_REQTYPE_VENDOR_OUT) {
    if (s->bRequest == USBTPU_REQ_CSR_WRITE32 && s->wLength == 4)
      return csr_write(d, addr, usbtpu_get32(data)) ? 4 : VTPU_STALL;
    if (s->bRequest == USBTPU_REQ_CSR_WRITE64 && s->wLength == 8)
      return csr_write(d, addr, usbtpu_get64(data)) ? 8 : VTPU_STALL;
    return VTPU_STALL;
  }
  return VTPU_STALL;
}

int vtpu_control(vtpu *d, const vtpu_setup *s, uint8_t *data) {
  if (!d->plugged) return VTPU_GONE;
  /* Standard requests both modes answer. */
  if (s->bmRequestType == 0x80 && s->bRequest == 6 && (s->wValue >> 8) == 3)
    return string_descriptor(d, (uint8_t)s->wValue, data, s->wLength);
  if (s->bmRequestType == 0x02 && s->bRequest == 1 && s->wValue == 0) { /* CLEAR_FEATURE(HALT) */
    if ((s->wIndex & 0xFF) == d->ep_out) {
      d->out_halted = false;
      d->rx_len = 0;
    }
    return 0;
  }
  if ((s->bmRequestType & 0x60) == 0x20) /* class: DFU */
    return d->app_mode ? VTPU_STALL : dfu_control(d, s, data);
  if (!d->app_mode) return VTPU_STALL;
  return app_control(d, s, data);
}

/* ---- frames --------------------------------------------------------------------- */

static void raise_error(vtpu *d, uint32_t code, uint32_t seq, uint32_t detail) {
  d->error_code = code;
  d->error_seq = seq;
  d->error_count++;
  d->stats.errors++;
  d->status_bits |= USBTPU_STATUS_ERROR;
  uint8_t rec[USBTPU_IRQ_SIZE] = {0};
  rec[0] = USBTPU_IRQ_ERROR;
  rec[1] = (uint8_t)code;
  usbtpu_put32(rec + 4, seq);
  usbtpu_put32(rec + 8, detail);
  queue_push(&d->q_irq, rec, sizeof rec, NULL, 0);
}

static void push_event(vtpu *d, uint32_t status, uint32_t seq, uint64_t run_id) {
  uint8_t ev[USBTPU_EVENT_SIZE] = {0};
  ev[0] = USBTPU_EVENT_RUN_DONE;
  ev[1] = (uint8_t)status;
  usbtpu_put32(ev + 4, seq);
  usbtpu_put64(ev + 8, run_id);
  usbtpu_put64(ev + 16, d->last_cycles);
  usbtpu_put32(ev + 24, d->perf_layers);
  usbtpu_put32(ev + 28, d->ph.n_outputs);
  queue_push(&d->q_event, ev, sizeof ev, NULL, 0);
}

static void frame_program(vtpu *d, uint32_t seq, const uint8_t *p, uint32_t len) {
  usbtpu_program_header h;
  halo_err err;
  drop_program(d);
  if (usbtpu_program_parse_header(p, len, d->fw.caps.act_mem_bytes, d->fw.caps.param_mem_bytes,
                                  &h, &err) != HALO_OK) {
    raise_error(d, USBTPU_ERR_PROGRAM, seq, 0);
    return;
  }
  d->program = malloc(len);
  if (!d->program) {
    raise_error(d, USBTPU_ERR_PROGRAM, seq, 0);
    return;
  }
  memcpy(d->program, p, len);
  d->program_size = len;
  d->ph = h;
  d->status_bits |= USBTPU_STATUS_PROGRAM;
  d->stats.program_bytes += len;
  if (h.param_bytes == 0 && !(h.flags & USBTPU_PROGRAM_STREAMED)) {
    /* Nothing to wait for: the (empty) parameters are complete. */
    d->cached_token = h.token;
    d->status_bits |= USBTPU_STATUS_PARAMS;
  }
}

/* Decodes the loaded program against the device's memories. */
static bool create_exec(vtpu *d, uint32_t seq) {
  halo_err err;
  if (vtpu_exec_create(d->program, d->program_size, d->param_mem, d->fw.caps.param_mem_bytes,
                       d->act_mem, d->fw.caps.act_mem_bytes, &d->fw.caps, &d->exec,
                       &err) == HALO_OK)
    return true;
  raise_error(d, USBTPU_ERR_PROGRAM, seq, 0);
  return false;
}

static void frame_params(vtpu *d, uint32_t seq, uint32_t offset, const uint8_t *p, uint32_t len) {
  if (!d->program) return raise_error(d, USBTPU_ERR_NO_PROGRAM, seq, 0);
  bool streamed = d->ph.flags & USBTPU_PROGRAM_STREAMED;
  /* In order, inside the program's parameter blob. */
  if (offset != d->params_received || len > d->ph.param_bytes - offset)
    return raise_error(d, USBTPU_ERR_PARAM_RANGE, seq, offset);
  if (streamed) {
    /* Parameter memory holds one segment at a time: each segment's layers
     * run as soon as its last byte is in, so the inputs come first. A
     * failed layer is reported by the RUN that follows (ERR_EXEC). */
    for (uint32_t i = 0; i < d->ph.n_inputs; i++)
      if (d->input_received[i] != d->ph.input_bytes[i])
        return raise_error(d, USBTPU_ERR_INPUT, seq, i);
    if (!d->exec && !create_exec(d, seq)) return;
    d->params_received += len;
    d->stats.param_bytes += len;
    halo_err err;
    if (vtpu_exec_stream(d->exec, d->param_mem, offset, p, len, &err) != HALO_OK)
      raise_error(d, USBTPU_ERR_EXEC, seq, offset);
    return;
  }
  memcpy(d->param_mem + offset, p, len);
  d->params_received += len;
  d->stats.param_bytes += len;
  if (!streamed && d->params_received == d->ph.param_bytes) {
    d->cached_token = d->ph.token;
    d->status_bits |= USBTPU_STATUS_PARAMS;
  }
}

static void frame_input(vtpu *d, uint32_t seq, uint32_t arg, const uint8_t *p, uint32_t len) {
  if (!d->program) return raise_error(d, USBTPU_ERR_NO_PROGRAM, seq, 0);
  uint32_t index = arg >> 24, offset = arg & 0xFFFFFF;
  if (index >= d->ph.n_inputs || offset != d->input_received[index] ||
      len > d->ph.input_bytes[index] - offset)
    return raise_error(d, USBTPU_ERR_INPUT, seq, arg);
  memcpy(d->act_mem + d->ph.input_offset[index] + offset, p, len);
  d->input_received[index] += len;
  d->stats.input_bytes += len;
}

static void run_program(vtpu *d, uint32_t seq, uint64_t run_id) {
  if (!d->program) {
    raise_error(d, USBTPU_ERR_NO_PROGRAM, seq, 0);
    return push_event(d, USBTPU_ERR_NO_PROGRAM, seq, run_id);
  }
  bool streamed = d->ph.flags & USBTPU_PROGRAM_STREAMED;
  if (d->params_received != d->ph.param_bytes && !(!streamed && d->cached_token == d->ph.token)) {
    raise_error(d, USBTPU_ERR_NO_PARAMS, seq, d->params_received);
    return push_event(d, USBTPU_ERR_NO_PARAMS, seq, run_id);
  }
  for (uint32_t i = 0; i < d->ph.n_inputs; i++)
    if (d->input_received[i] != d->ph.input_bytes[i]) {
      raise_error(d, USBTPU_ERR_INPUT, seq, i);
      return push_event(d, USBTPU_ERR_INPUT, seq, run_id);
    }
  halo_err err;
  if (streamed || !d->exec)
    d->stats.cache_misses++;
  else
    d->stats.cache_hits++;
  if (!d->exec && !create_exec(d, seq)) return push_event(d, USBTPU_ERR_PROGRAM, seq, run_id);
  int layers = vtpu_exec_layers(d->exec);
  d->perf_layers = layers < (int)USBTPU_CSR_PERF_MAX_LAYERS ? (uint32_t)layers
                                                           : USBTPU_CSR_PERF_MAX_LAYERS;
  uint64_t *cycles = calloc((size_t)layers, sizeof *cycles);
  uint64_t total = 0;
  if (!cycles || vtpu_exec_run(d->exec, cycles, &total, &err) != HALO_OK) {
    free(cycles);
    raise_error(d, USBTPU_ERR_EXEC, seq, 0);
    return push_event(d, USBTPU_ERR_EXEC, seq, run_id);
  }
  memcpy(d->perf, cycles, d->perf_layers * sizeof *cycles);
  free(cycles);
  d->last_cycles = total;
  d->stats.last_cycles = total;
  d->stats.last_compute_us = (double)total * 1000.0 / d->fw.caps.clock_khz;
  for (uint32_t i = 0; i < d->ph.n_outputs; i++) {
    uint8_t h[USBTPU_FRAME_HEADER_SIZE] = {0};
    usbtpu_put32(h + 0, USBTPU_FRAME_MAGIC);
    h[4] = USBTPU_FRAME_VERSION;
    h[5] = USBTPU_TAG_OUTPUT;
    usbtpu_put32(h + 8, seq);
    usbtpu_put32(h + 12, d->ph.output_bytes[i]);
    usbtpu_put32(h + 20, i);
    /* The header as a transfer of its own, then the payload (docs §5);
     * or both in one, as a device that packs them (the driver copes). */
    const uint8_t *payload = d->act_mem + d->ph.output_offset[i];
    if (d->faults.pack_output_frames) {
      queue_push(&d->q_output, h, sizeof h, payload, d->ph.output_bytes[i]);
    } else {
      queue_push(&d->q_output, h, sizeof h, NULL, 0);
      queue_push(&d->q_output, payload, d->ph.output_bytes[i], NULL, 0);
    }
    if (d->faults.zlp_after_output) queue_push(&d->q_output, NULL, 0, NULL, 0);
  }
  push_event(d, USBTPU_ERR_NONE, seq, run_id);
}

/* Every RUN, whatever its outcome, consumes the inputs (and a streamed
 * program's parameters): the next run must get them afresh, so a failed
 * run can never make the next one compute on stale input. */
static void frame_run(vtpu *d, uint32_t seq, const uint8_t *p, uint32_t len) {
  d->stats.runs++;
  run_program(d, seq, len >= 8 ? usbtpu_get64(p) : 0);
  memset(d->input_received, 0, sizeof d->input_received);
  if (d->program && (d->ph.flags & USBTPU_PROGRAM_STREAMED)) d->params_received = 0;
}

/* A complete frame: header checked by the caller. */
static void frame_dispatch(vtpu *d, uint8_t tag, uint32_t seq, uint32_t arg, const uint8_t *p,
                           uint32_t len) {
  d->stats.frames++;
  d->stats.payload_bytes += len;
  switch (tag) {
    case USBTPU_TAG_PROGRAM: frame_program(d, seq, p, len); break;
    case USBTPU_TAG_PARAMS: frame_params(d, seq, arg, p, len); break;
    case USBTPU_TAG_INPUT: frame_input(d, seq, arg, p, len); break;
    case USBTPU_TAG_RUN: frame_run(d, seq, p, len); break;
    default: raise_error(d, USBTPU_ERR_FRAME_TAG, seq, tag); break;
  }
}

/* Framing errors desynchronise the stream: halt the endpoint until the host
 * clears it (and, by protocol, soft-resets). */
static int frame_fatal(vtpu *d, uint32_t code, uint32_t seq) {
  raise_error(d, code, seq, 0);
  d->out_halted = true;
  d->rx_len = 0;
  return VTPU_STALL;
}

int vtpu_bulk_out(vtpu *d, uint8_t ep, const void *data, size_t len) {
  if (!d->plugged) return VTPU_GONE;
  if (!d->app_mode || ep != d->ep_out) return VTPU_STALL;
  if (d->faults.timeout_next) {
    d->faults.timeout_next = false;
    return VTPU_TIMEOUT;
  }
  if (d->faults.stall_next_out) {
    d->faults.stall_next_out = false;
    d->out_halted = true;
  }
  if (d->out_halted) return VTPU_STALL;
  d->stats.bulk_out_bytes += len;
  d->stats.link_us += (double)len / (d->usb2 ? LINK_USB2_BPUS : LINK_USB3_BPUS);
  if (d->rx_len + len > d->rx_cap) {
    size_t cap = d->rx_len + len;
    if (cap > USBTPU_FRAME_HEADER_SIZE + USBTPU_FRAME_MAX_PAYLOAD + len) return frame_fatal(d, USBTPU_ERR_FRAME_LENGTH, 0);
    uint8_t *rx = realloc(d->rx, cap);
    if (!rx) return VTPU_STALL;
    d->rx = rx;
    d->rx_cap = cap;
  }
  memcpy(d->rx + d->rx_len, data, len);
  d->rx_len += len;
  if (d->faults.corrupt_next_out && d->rx_len > USBTPU_FRAME_HEADER_SIZE) {
    d->faults.corrupt_next_out = false;
    d->rx[d->rx_len - 1] ^= 0x40;
  }
  /* Process every complete frame in the buffer. */
  size_t at = 0;
  while (d->rx_len - at >= USBTPU_FRAME_HEADER_SIZE) {
    const uint8_t *h = d->rx + at;
    uint32_t seq = usbtpu_get32(h + 8), plen = usbtpu_get32(h + 12);
    if (usbtpu_get32(h) != USBTPU_FRAME_MAGIC) return frame_fatal(d, USBTPU_ERR_FRAME_MAGIC, seq);
    if (h[4] != USBTPU_FRAME_VERSION) return frame_fatal(d, USBTPU_ERR_FRAME_VERSION, seq);
    if (plen > d->fw.caps.max_payload) return frame_fatal(d, USBTPU_ERR_FRAME_LENGTH, seq);
    if (d->rx_len - at - USBTPU_FRAME_HEADER_SIZE < plen) break; /* wait for the rest */
    const uint8_t *payload = h + USBTPU_FRAME_HEADER_SIZE;
    uint16_t flags = usbtpu_get16(h + 6);
    if ((flags & USBTPU_FRAME_CRC) && usbtpu_crc32(0, payload, plen) != usbtpu_get32(h + 16))
      return frame_fatal(d, USBTPU_ERR_FRAME_CRC, seq);
    if (d->seq_valid && seq != d->last_seq + 1) return frame_fatal(d, USBTPU_ERR_SEQUENCE, seq);
    d->seq_valid = true;
    d->last_seq = seq;
    bool is_run = h[5] == USBTPU_TAG_RUN;
    frame_dispatch(d, h[5], seq, usbtpu_get32(h + 20), payload, plen);
    at += USBTPU_FRAME_HEADER_SIZE + plen;
    if (is_run && d->faults.unplug_after_runs > 0 && --d->faults.unplug_after_runs == 0) {
      queue_clear(&d->q_output);
      queue_clear(&d->q_event);
      vtpu_unplug(d);
      break;
    }
  }
  memmove(d->rx, d->rx + at, d->rx_len - at);
  d->rx_len -= at;
  return (int)len;
}

int vtpu_bulk_in(vtpu *d, uint8_t ep, void *buf, size_t cap) {
  if (!d->plugged) return VTPU_GONE;
  if (!d->app_mode) return VTPU_STALL;
  queue *q = ep == d->ep_output_in ? &d->q_output
             : ep == d->ep_event_in  ? &d->q_event
             : ep == d->ep_intr_in   ? &d->q_irq
                                     : NULL;
  if (!q) return VTPU_STALL;
  if (ep != d->ep_intr_in && d->faults.timeout_next) {
    d->faults.timeout_next = false;
    return VTPU_TIMEOUT;
  }
  packet *p = q->head;
  if (!p) return VTPU_NAK;
  if (d->faults.drop_next_in && ep != d->ep_intr_in) {
    d->faults.drop_next_in = false;
    q->head = p->next;
    if (!q->head) q->tail = NULL;
    free(p);
    return VTPU_NAK;
  }
  size_t n = p->size - p->read;
  if (n > cap) n = cap;
  memcpy(buf, p->data + p->read, n);
  p->read += n;
  d->stats.link_us += (double)n / (d->usb2 ? LINK_USB2_BPUS : LINK_USB3_BPUS);
  if (p->read == p->size) {
    q->head = p->next;
    if (!q->head) q->tail = NULL;
    free(p);
  }
  return (int)n;
}
