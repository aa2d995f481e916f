/* libusb transport of the USB accelerator: see usbtpu_usb.h. */
#include "drivers/usbtpu/usbtpu_usb.h"

#include <ctype.h>
#include <libusb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/usbtpu/usbtpu_protocol.h"

/* Set by the build (drivers/usbtpu/usbtpu.mk); these fallbacks keep a
 * build without them honest about where the rule would be. */
#ifndef USBTPU_UDEV_RULES_INSTALLED
#define USBTPU_UDEV_RULES_INSTALLED "/usr/local/lib/udev/rules.d/" USBTPU_UDEV_RULES_NAME
#endif
#ifndef USBTPU_UDEV_RULES_SOURCE
#define USBTPU_UDEV_RULES_SOURCE "tools/udev/" USBTPU_UDEV_RULES_NAME
#endif

#define MAX_PORTS 8
/* How long reopen waits for a hotplug event before scanning the bus again
 * anyway (an event can be missed; without hotplug support it is the poll
 * interval). */
#define REOPEN_RESCAN_MS 10

struct usbtpu_usb {
  libusb_context *ctx;
  libusb_device_handle *handle; /* NULL once closed or gone */
  unsigned timeout_ms;
  usbtpu_usb_id id; /* the ID table entry the device matched */
  uint16_t pid;
  usbtpu_usb_mode mode;
  uint8_t bus;
  uint8_t ports[MAX_PORTS];
  int n_ports;
  bool last_stalled;
  bool last_gone;
  /* Application mode: the real address of each of the protocol's endpoints
   * (indexed by ep_role), found in the descriptors; a gadget's UDC may
   * number them differently from the reference device. Boot mode has
   * none (have_eps false). */
  uint8_t ep_addr[4];
  bool have_eps;
  char serial[64];
  char name[96];
};

const char *usbtpu_usb_udev_rules_installed(void) { return USBTPU_UDEV_RULES_INSTALLED; }
const char *usbtpu_usb_udev_rules_source(void) { return USBTPU_UDEV_RULES_SOURCE; }

/* ---- the ID table ----------------------------------------------------------- */

/* One hex field of 1..4 digits at *p, ended by `stop` or the entry's end. */
static bool parse_hex16(const char **p, const char *end, uint16_t *out) {
  unsigned v = 0;
  int digits = 0;
  while (*p < end && isxdigit((unsigned char)**p)) {
    if (++digits > 4) return false;
    char c = (char)tolower((unsigned char)**p);
    v = v * 16u + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
    (*p)++;
  }
  *out = (uint16_t)v;
  return digits > 0;
}

/* One entry text[0..len): "vvvv:bbbb:aaaa" with optional spaces around. */
static bool parse_entry(const char *text, size_t len, usbtpu_usb_id *id) {
  const char *p = text, *end = text + len;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
  uint16_t f[3];
  for (int i = 0; i < 3; i++) {
    if (!parse_hex16(&p, end, &f[i])) return false;
    if (i < 2) {
      if (p >= end || *p != ':') return false;
      p++;
    }
  }
  if (p != end || f[0] == 0 || f[1] == f[2]) return false;
  *id = (usbtpu_usb_id){f[0], f[1], f[2]};
  return true;
}

halo_status usbtpu_usb_ids_parse(const char *text, usbtpu_usb_id *out, int max, int *count,
                                 halo_err *err) {
  *count = 0;
  if (!text) return HALO_OK;
  const char *q = text;
  while (*q == ' ' || *q == '\t') q++;
  if (!*q) return HALO_OK;
  int index = 0, bad = 0, too_many = 0;
  char first_bad[48] = "";
  int first_bad_index = 0;
  for (const char *p = text;; index++) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    usbtpu_usb_id id;
    if (!parse_entry(p, len, &id)) {
      if (bad++ == 0) {
        first_bad_index = index + 1;
        snprintf(first_bad, sizeof first_bad, "%.*s", len > 40 ? 40 : (int)len, p);
      }
    } else if (*count < max) {
      out[(*count)++] = id;
    } else {
      too_many++;
    }
    if (!comma) break;
    p = comma + 1;
  }
  if (bad)
    return halo_err_set(err, HALO_EINVAL,
                        "%s entry %d '%s' is not vvvv:bbbb:aaaa (vendor, boot PID, application "
                        "PID in hex, vendor non-zero, the PIDs different); %d of %d entr%s "
                        "left out",
                        USBTPU_USB_IDS_ENV, first_bad_index, first_bad, bad + too_many,
                        index + 1, index ? "ies" : "y");
  if (too_many)
    return halo_err_set(err, HALO_EINVAL, "%s: %d entries over the table's %d left out",
                        USBTPU_USB_IDS_ENV, too_many, max);
  return HALO_OK;
}

int usbtpu_usb_id_table(usbtpu_usb_id *out, int max, halo_err *env_err) {
  if (env_err) halo_err_clear(env_err);
  if (max < 1) return 0;
  out[0] = (usbtpu_usb_id){USBTPU_VID, USBTPU_PID_BOOT, USBTPU_PID_APP};
  usbtpu_usb_id extra[USBTPU_USB_IDS_MAX];
  int n_extra = 0;
  (void)usbtpu_usb_ids_parse(getenv(USBTPU_USB_IDS_ENV), extra, USBTPU_USB_IDS_MAX, &n_extra,
                             env_err);
  int n = 1;
  for (int i = 0; i < n_extra && n < max; i++) {
    bool dup = false;
    for (int k = 0; k < n; k++) dup |= memcmp(&out[k], &extra[i], sizeof extra[i]) == 0;
    if (!dup) out[n++] = extra[i];
  }
  return n;
}

/* The table entry a device descriptor matches, in which mode; NULL when it
 * is no accelerator. */
static const usbtpu_usb_id *match_id(const usbtpu_usb_id *ids, int n,
                                     const struct libusb_device_descriptor *desc,
                                     usbtpu_usb_mode *mode) {
  for (int i = 0; i < n; i++) {
    if (desc->idVendor != ids[i].vid) continue;
    if (desc->idProduct == ids[i].pid_boot) {
      *mode = USBTPU_USB_BOOT;
      return &ids[i];
    }
    if (desc->idProduct == ids[i].pid_app) {
      *mode = USBTPU_USB_APP;
      return &ids[i];
    }
  }
  return NULL;
}

static const char *mode_name(usbtpu_usb_mode mode) {
  return mode == USBTPU_USB_BOOT ? "boot" : "application";
}

/* "7a70:0b00, 1234:0001": the table's IDs of one mode. */
static void format_ids(const usbtpu_usb_id *ids, int n, usbtpu_usb_mode mode, char *buf,
                       size_t size) {
  size_t len = 0;
  buf[0] = 0;
  for (int i = 0; i < n && len < size; i++) {
    int w = snprintf(buf + len, size - len, "%s%04x:%04x", i ? ", " : "", ids[i].vid,
                     mode == USBTPU_USB_BOOT ? ids[i].pid_boot : ids[i].pid_app);
    if (w < 0) break;
    len += (size_t)w;
  }
}

/* ---- opening ------------------------------------------------------------ */

static void node_path(libusb_device *dev, char *buf, size_t size) {
  snprintf(buf, size, "/dev/bus/usb/%03u/%03u", libusb_get_bus_number(dev),
           libusb_get_device_address(dev));
}

static halo_status no_permission(halo_err *err, libusb_device *dev, uint16_t vid, uint16_t pid) {
  char node[32];
  node_path(dev, node, sizeof node);
  return halo_err_set(err, HALO_EDEVICE,
                      "usbtpu %04x:%04x: no permission to open %s; install the udev rule "
                      "tools/udev/" USBTPU_UDEV_RULES_NAME " (`make install` copies it to %s): sudo cp it to "
                      "/etc/udev/rules.d/ && sudo udevadm control --reload && sudo udevadm "
                      "trigger, then replug ('halo doctor' checks this)",
                      vid, pid, node, USBTPU_UDEV_RULES_INSTALLED);
}

static void set_name(usbtpu_usb *d) {
  int n = snprintf(d->name, sizeof d->name, "usbtpu %u-", d->bus);
  for (int i = 0; i < d->n_ports && n > 0 && (size_t)n < sizeof d->name; i++)
    n += snprintf(d->name + n, sizeof d->name - (size_t)n, i ? ".%u" : "%u", d->ports[i]);
  if (n > 0 && (size_t)n < sizeof d->name)
    snprintf(d->name + n, sizeof d->name - (size_t)n, " %s", d->serial[0] ? d->serial : "(no serial)");
}

/* "1-2.3": bus and port path. */
static void port_path(libusb_device *dev, char *buf, size_t size) {
  uint8_t ports[MAX_PORTS];
  int np = libusb_get_port_numbers(dev, ports, MAX_PORTS);
  int n = snprintf(buf, size, "%u-", libusb_get_bus_number(dev));
  for (int i = 0; i < np && n > 0 && (size_t)n < size; i++)
    n += snprintf(buf + n, size - (size_t)n, i ? ".%u" : "%u", ports[i]);
}

/* Reads the serial of an open handle into buf ("" when it has none). */
static int read_serial(libusb_device_handle *h, uint8_t index, char *buf, size_t cap) {
  buf[0] = 0;
  if (index == 0) return 0;
  unsigned char s[64];
  int r = libusb_get_string_descriptor_ascii(h, index, s, sizeof s);
  if (r < 0) return r;
  size_t n = (size_t)r < cap - 1 ? (size_t)r : cap - 1;
  for (size_t i = 0; i < n; i++) buf[i] = (s[i] >= 0x20 && s[i] < 0x7F) ? (char)s[i] : '?';
  buf[n] = 0;
  return 0;
}

/* ---- the application-mode endpoints ------------------------------------------ */

/* The protocol's endpoints in descriptor order within their kind: the
 * logical constants of usbtpu_protocol.h name them. */
enum { EP_BULK_OUT, EP_OUTPUT_IN, EP_EVENT_IN, EP_INTR_IN, EP_ROLES };

static int ep_role(uint8_t logical) {
  switch (logical) {
    case USBTPU_EP_BULK_OUT: return EP_BULK_OUT;
    case USBTPU_EP_OUTPUT_IN: return EP_OUTPUT_IN;
    case USBTPU_EP_EVENT_IN: return EP_EVENT_IN;
    case USBTPU_EP_INTR_IN: return EP_INTR_IN;
    default: return -1;
  }
}

static const char *ep_kind(uint8_t type, bool in) {
  switch (type) {
    case LIBUSB_TRANSFER_TYPE_BULK: return in ? "bulk IN" : "bulk OUT";
    case LIBUSB_TRANSFER_TYPE_INTERRUPT: return in ? "interrupt IN" : "interrupt OUT";
    case LIBUSB_TRANSFER_TYPE_ISOCHRONOUS: return in ? "isochronous IN" : "isochronous OUT";
    default: return in ? "control IN" : "control OUT";
  }
}

/* Fills d->ep_addr from interface 0, alternate setting 0, of the active
 * configuration: exactly one bulk OUT, two bulk IN (outputs, then events,
 * in descriptor order) and one interrupt IN, nothing else. The
 * descriptors come from the device: anything else is refused, naming what
 * was found. */
static halo_status map_endpoints(usbtpu_usb *d, libusb_device *dev, halo_err *err) {
  d->have_eps = false;
  struct libusb_config_descriptor *cfg = NULL;
  int r = libusb_get_active_config_descriptor(dev, &cfg);
  if (r != 0)
    return halo_err_set(err, HALO_EDEVICE, "%s: reading the active configuration descriptor: %s",
                        d->name, libusb_strerror(r));
  const struct libusb_interface_descriptor *alt = NULL;
  for (int i = 0; i < cfg->bNumInterfaces && !alt; i++)
    for (int a = 0; a < cfg->interface[i].num_altsetting && !alt; a++) {
      const struct libusb_interface_descriptor *cand = &cfg->interface[i].altsetting[a];
      if (cand->bInterfaceNumber == 0 && cand->bAlternateSetting == 0) alt = cand;
    }
  if (!alt) {
    libusb_free_config_descriptor(cfg);
    return halo_err_set(err, HALO_EDEVICE,
                        "%s: the active configuration has no interface 0 (alternate setting 0)",
                        d->name);
  }
  int n_out = 0, n_in = 0, n_intr = 0, n_other = 0;
  uint8_t in_addr[2] = {0, 0};
  char found[160] = "";
  size_t len = 0;
  for (int e = 0; e < alt->bNumEndpoints; e++) {
    uint8_t addr = alt->endpoint[e].bEndpointAddress;
    uint8_t type = alt->endpoint[e].bmAttributes & LIBUSB_TRANSFER_TYPE_MASK;
    bool in = addr & LIBUSB_ENDPOINT_IN;
    if (type == LIBUSB_TRANSFER_TYPE_BULK && !in) {
      if (n_out++ == 0) d->ep_addr[EP_BULK_OUT] = addr;
    } else if (type == LIBUSB_TRANSFER_TYPE_BULK) {
      if (n_in < 2) in_addr[n_in] = addr;
      n_in++;
    } else if (type == LIBUSB_TRANSFER_TYPE_INTERRUPT && in) {
      if (n_intr++ == 0) d->ep_addr[EP_INTR_IN] = addr;
    } else {
      n_other++;
    }
    if (len < sizeof found) {
      int w = snprintf(found + len, sizeof found - len, "%s0x%02x %s", e ? ", " : "", addr,
                       ep_kind(type, in));
      if (w > 0) len += (size_t)w;
    }
  }
  libusb_free_config_descriptor(cfg);
  if (n_out != 1 || n_in != 2 || n_intr != 1 || n_other != 0) {
    char other[48] = "";
    if (n_other) snprintf(other, sizeof other, " and %d of other kinds", n_other);
    return halo_err_set(err, HALO_EDEVICE,
                        "%s: interface 0 has %d bulk OUT, %d bulk IN, %d interrupt IN "
                        "endpoints%s (%s); the protocol needs 1, 2, 1",
                        d->name, n_out, n_in, n_intr, other, found[0] ? found : "none");
  }
  d->ep_addr[EP_OUTPUT_IN] = in_addr[0];
  d->ep_addr[EP_EVENT_IN] = in_addr[1];
  d->have_eps = true;
  return HALO_OK;
}

static bool same_port(const usbtpu_usb *d, libusb_device *dev) {
  uint8_t ports[MAX_PORTS];
  int n = libusb_get_port_numbers(dev, ports, MAX_PORTS);
  return n == d->n_ports && libusb_get_bus_number(dev) == d->bus &&
         memcmp(ports, d->ports, (size_t)n) == 0;
}

/* Scans the bus once. *found: a matching device was opened and claimed
 * (HALO_OK); a failed claim is the status. A matching device whose node this
 * process may not open leaves the reason in *denied (code HALO_OK when there
 * was none): right after a re-enumeration udev may not have applied its
 * rule yet, so callers decide whether that is final. When `match_port` is
 * set only the bus and port of d are considered. */
static halo_status try_open(usbtpu_usb *d, usbtpu_usb_mode mode, const char *serial,
                            bool match_port, bool *found, halo_err *denied, halo_err *err) {
  *found = false;
  usbtpu_usb_id ids[USBTPU_USB_IDS_MAX];
  int n_ids = usbtpu_usb_id_table(ids, USBTPU_USB_IDS_MAX, NULL);
  libusb_device **list = NULL;
  ssize_t n = libusb_get_device_list(d->ctx, &list);
  if (n < 0)
    return halo_err_set(err, HALO_EDEVICE, "usbtpu: listing USB devices: %s",
                        libusb_strerror((int)n));
  halo_status st = HALO_OK;
  halo_err_clear(denied);
  for (ssize_t i = 0; i < n && !*found; i++) {
    struct libusb_device_descriptor desc;
    if (libusb_get_device_descriptor(list[i], &desc) != 0) continue;
    usbtpu_usb_mode dev_mode;
    const usbtpu_usb_id *id = match_id(ids, n_ids, &desc, &dev_mode);
    if (!id || dev_mode != mode) continue;
    if (match_port && !same_port(d, list[i])) continue;
    libusb_device_handle *h = NULL;
    int r = libusb_open(list[i], &h);
    if (r == LIBUSB_ERROR_ACCESS) {
      if (denied->code == HALO_OK) no_permission(denied, list[i], desc.idVendor, desc.idProduct);
      continue;
    }
    if (r != 0) continue; /* gone meanwhile, or busy */
    char sn[64];
    if (read_serial(h, desc.iSerialNumber, sn, sizeof sn) != 0 ||
        (serial && strcmp(sn, serial) != 0)) {
      libusb_close(h);
      continue;
    }
    d->handle = h;
    d->id = *id;
    d->pid = desc.idProduct;
    d->mode = mode;
    d->bus = libusb_get_bus_number(list[i]);
    int np = libusb_get_port_numbers(list[i], d->ports, MAX_PORTS);
    d->n_ports = np < 0 ? 0 : np;
    memcpy(d->serial, sn, sizeof d->serial);
    set_name(d);
    d->have_eps = false;
    r = libusb_claim_interface(h, 0);
    if (r != 0) {
      st = halo_err_set(err, HALO_EDEVICE, "%s: claiming interface 0: %s", d->name,
                        libusb_strerror(r));
      libusb_close(h);
      d->handle = NULL;
      break;
    }
    if (mode == USBTPU_USB_APP) {
      st = map_endpoints(d, list[i], err);
      if (st != HALO_OK) {
        libusb_release_interface(h, 0);
        libusb_close(h);
        d->handle = NULL;
        break;
      }
    }
    *found = true;
  }
  libusb_free_device_list(list, 1);
  return st;
}

halo_status usbtpu_usb_open(usbtpu_usb_mode mode, const char *serial, unsigned timeout_ms,
                            usbtpu_usb **out, halo_err *err) {
  *out = NULL;
  usbtpu_usb *d = calloc(1, sizeof *d);
  if (!d) return halo_err_set(err, HALO_ENOMEM, "usbtpu: out of memory");
  d->timeout_ms = timeout_ms ? timeout_ms : USBTPU_USB_DEFAULT_TIMEOUT_MS;
  int r = libusb_init(&d->ctx);
  if (r != 0) {
    free(d);
    return halo_err_set(err, HALO_EDEVICE, "usbtpu: libusb_init: %s", libusb_strerror(r));
  }
  bool found;
  halo_err denied;
  halo_status st = try_open(d, mode, serial, false, &found, &denied, err);
  if (st == HALO_OK && !found && denied.code != HALO_OK) {
    if (err) *err = denied;
    st = denied.code;
  } else if (st == HALO_OK && !found) {
    usbtpu_usb_id ids[USBTPU_USB_IDS_MAX];
    int n_ids = usbtpu_usb_id_table(ids, USBTPU_USB_IDS_MAX, NULL);
    char which[160];
    format_ids(ids, n_ids, mode, which, sizeof which);
    st = halo_err_set(err, HALO_ENOTFOUND, "usbtpu: no device in %s mode (%s)%s%s plugged in",
                      mode_name(mode), which, serial ? " with serial " : "",
                      serial ? serial : "");
  }
  if (st != HALO_OK) {
    usbtpu_usb_close(d);
    return st;
  }
  *out = d;
  return HALO_OK;
}

int usbtpu_usb_node_serials(const usbtpu_usb_node *nodes, int n, usbtpu_usb_mode mode,
                            char (*serials)[USBTPU_USB_SERIAL_MAX], int max) {
  int count = 0;
  for (int i = 0; i < n && count < max; i++) {
    const usbtpu_usb_node *node = &nodes[i];
    /* No permission, gone, busy, or no serial to find it again by. */
    if (node->mode != mode || node->open.code != HALO_OK || !node->serial[0]) continue;
    bool dup = false;
    for (int k = 0; k < count; k++) dup |= strcmp(serials[k], node->serial) == 0;
    if (!dup) memcpy(serials[count++], node->serial, USBTPU_USB_SERIAL_MAX);
  }
  return count;
}

halo_status usbtpu_usb_scan(usbtpu_usb_node *out, int max, int *count, int *bus_devices,
                            halo_err *err) {
  *count = 0;
  if (bus_devices) *bus_devices = 0;
  usbtpu_usb_id ids[USBTPU_USB_IDS_MAX];
  int n_ids = usbtpu_usb_id_table(ids, USBTPU_USB_IDS_MAX, NULL);
  libusb_context *ctx = NULL;
  int r = libusb_init(&ctx);
  if (r != 0)
    return halo_err_set(err, HALO_EDEVICE, "usbtpu: libusb_init: %s", libusb_strerror(r));
  libusb_device **list = NULL;
  ssize_t n = libusb_get_device_list(ctx, &list);
  if (n < 0) {
    libusb_exit(ctx);
    return halo_err_set(err, HALO_EDEVICE, "usbtpu: listing USB devices: %s",
                        libusb_strerror((int)n));
  }
  if (bus_devices) *bus_devices = (int)n;
  for (ssize_t i = 0; i < n && *count < max; i++) {
    struct libusb_device_descriptor desc;
    if (libusb_get_device_descriptor(list[i], &desc) != 0) continue;
    usbtpu_usb_mode mode;
    const usbtpu_usb_id *id = match_id(ids, n_ids, &desc, &mode);
    if (!id) continue;
    usbtpu_usb_node *node = &out[(*count)++];
    memset(node, 0, sizeof *node);
    node->id = *id;
    node->mode = mode;
    node->pid = desc.idProduct;
    node_path(list[i], node->path, sizeof node->path);
    port_path(list[i], node->port, sizeof node->port);
    halo_err_clear(&node->open);
    libusb_device_handle *h = NULL;
    r = libusb_open(list[i], &h);
    if (r == LIBUSB_ERROR_ACCESS) {
      node->denied = true;
      no_permission(&node->open, list[i], desc.idVendor, desc.idProduct);
    } else if (r != 0) {
      halo_err_set(&node->open, HALO_EDEVICE, "usbtpu %04x:%04x: opening %s: %s", desc.idVendor,
                   desc.idProduct, node->path, libusb_strerror(r));
    } else {
      (void)read_serial(h, desc.iSerialNumber, node->serial, sizeof node->serial);
      libusb_close(h);
    }
  }
  libusb_free_device_list(list, 1);
  libusb_exit(ctx);
  return HALO_OK;
}

void usbtpu_usb_close(usbtpu_usb *d) {
  if (!d) return;
  if (d->handle) {
    libusb_release_interface(d->handle, 0);
    libusb_close(d->handle);
  }
  if (d->ctx) libusb_exit(d->ctx);
  free(d);
}

const char *usbtpu_usb_name(const usbtpu_usb *d) { return d->name; }
const char *usbtpu_usb_serial(const usbtpu_usb *d) { return d->serial; }
uint16_t usbtpu_usb_product_id(const usbtpu_usb *d) { return d->pid; }
usbtpu_usb_mode usbtpu_usb_current_mode(const usbtpu_usb *d) { return d->mode; }
bool usbtpu_usb_last_stalled(const usbtpu_usb *d) { return d->last_stalled; }
bool usbtpu_usb_last_gone(const usbtpu_usb *d) { return d->last_gone || !d->handle; }

static halo_status xfer_error(usbtpu_usb *d, int r, const char *what, halo_err *err) {
  d->last_stalled = r == LIBUSB_ERROR_PIPE;
  d->last_gone = r == LIBUSB_ERROR_NO_DEVICE;
  switch (r) {
    case LIBUSB_ERROR_TIMEOUT:
      return halo_err_set(err, HALO_ETIMEOUT, "%s: %s: no answer within %u ms", d->name, what,
                          d->timeout_ms);
    case LIBUSB_ERROR_PIPE:
      return halo_err_set(err, HALO_EDEVICE, "%s: %s: stalled by the device", d->name, what);
    case LIBUSB_ERROR_NO_DEVICE:
      return halo_err_set(err, HALO_EDEVICE, "%s: %s: the device is gone (unplugged?)", d->name,
                          what);
    default:
      return halo_err_set(err, HALO_EIO, "%s: %s: %s", d->name, what, libusb_strerror(r));
  }
}

static halo_status need_handle(usbtpu_usb *d, const char *what, halo_err *err) {
  if (d->handle) {
    d->last_gone = false;
    return HALO_OK;
  }
  return halo_err_set(err, HALO_EDEVICE, "%s: %s: the device is not open", d->name, what);
}

halo_status usbtpu_usb_control(usbtpu_usb *d, uint8_t request_type, uint8_t request,
                               uint16_t value, uint16_t index, void *data, uint16_t len,
                               size_t *transferred, const char *what, halo_err *err) {
  if (transferred) *transferred = 0;
  d->last_stalled = false;
  halo_status st = need_handle(d, what, err);
  if (st != HALO_OK) return st;
  int r = libusb_control_transfer(d->handle, request_type, request, value, index, data, len,
                                  d->timeout_ms);
  if (r < 0) return xfer_error(d, r, what, err);
  if (r > len)
    return halo_err_set(err, HALO_EIO, "%s: %s: device returned %d bytes for %u", d->name, what,
                        r, len);
  if (transferred) *transferred = (size_t)r;
  return HALO_OK;
}

static halo_status csr_xfer(usbtpu_usb *d, uint8_t type, uint8_t req, uint32_t addr, uint8_t *buf,
                            uint16_t len, const char *op, halo_err *err) {
  char what[64];
  snprintf(what, sizeof what, "%s of register 0x%05x", op, addr);
  size_t got;
  halo_status st = usbtpu_usb_control(d, type, req, (uint16_t)addr, (uint16_t)(addr >> 16), buf,
                                      len, &got, what, err);
  if (st != HALO_OK) return st;
  if (got != len)
    return halo_err_set(err, HALO_EIO, "%s: %s: %zu bytes instead of %u", d->name, what, got, len);
  return HALO_OK;
}

halo_status usbtpu_usb_csr_read32(usbtpu_usb *d, uint32_t addr, uint32_t *value, halo_err *err) {
  uint8_t b[4];
  halo_status st = csr_xfer(d, USBTPU_REQTYPE_VENDOR_IN, USBTPU_REQ_CSR_READ32, addr, b, 4,
                            "CSR_READ32", err);
  *value = st == HALO_OK ? usbtpu_get32(b) : 0;
  return st;
}

halo_status usbtpu_usb_csr_write32(usbtpu_usb *d, uint32_t addr, uint32_t value, halo_err *err) {
  uint8_t b[4];
  usbtpu_put32(b, value);
  return csr_xfer(d, USBTPU_REQTYPE_VENDOR_OUT, USBTPU_REQ_CSR_WRITE32, addr, b, 4, "CSR_WRITE32",
                  err);
}

halo_status usbtpu_usb_csr_read64(usbtpu_usb *d, uint32_t addr, uint64_t *value, halo_err *err) {
  uint8_t b[8];
  halo_status st = csr_xfer(d, USBTPU_REQTYPE_VENDOR_IN, USBTPU_REQ_CSR_READ64, addr, b, 8,
                            "CSR_READ64", err);
  *value = st == HALO_OK ? usbtpu_get64(b) : 0;
  return st;
}

halo_status usbtpu_usb_csr_write64(usbtpu_usb *d, uint32_t addr, uint64_t value, halo_err *err) {
  uint8_t b[8];
  usbtpu_put64(b, value);
  return csr_xfer(d, USBTPU_REQTYPE_VENDOR_OUT, USBTPU_REQ_CSR_WRITE64, addr, b, 8, "CSR_WRITE64",
                  err);
}

halo_status usbtpu_usb_csr_read_block(usbtpu_usb *d, uint32_t addr, void *buf, size_t size,
                                      halo_err *err) {
  if (size % 4 != 0)
    return halo_err_set(err, HALO_EINVAL, "%s: CSR_READ_BLOCK of %zu bytes (not a multiple of 4)",
                        d->name, size);
  uint8_t *p = buf;
  for (size_t off = 0; off < size; off += USBTPU_CSR_BLOCK_MAX) {
    size_t n = size - off < USBTPU_CSR_BLOCK_MAX ? size - off : USBTPU_CSR_BLOCK_MAX;
    halo_status st = csr_xfer(d, USBTPU_REQTYPE_VENDOR_IN, USBTPU_REQ_CSR_READ_BLOCK,
                              addr + (uint32_t)off, p + off, (uint16_t)n, "CSR_READ_BLOCK", err);
    if (st != HALO_OK) return st;
  }
  return HALO_OK;
}

uint8_t usbtpu_usb_endpoint_address(const usbtpu_usb *d, uint8_t logical) {
  int role = ep_role(logical);
  return role >= 0 && d->have_eps ? d->ep_addr[role] : logical;
}

/* The real address of the protocol's endpoint `logical` (a USBTPU_EP_*
 * constant) into *addr, and `what` = "<op> on endpoint 0x<real>" for
 * messages. HALO_EINVAL for any other value; HALO_EDEVICE when the device
 * is closed or in boot mode (no such endpoints there). */
static halo_status endpoint(usbtpu_usb *d, uint8_t logical, const char *op, char *what,
                            size_t size, uint8_t *addr, halo_err *err) {
  int role = ep_role(logical);
  *addr = usbtpu_usb_endpoint_address(d, logical);
  snprintf(what, size, "%s on endpoint 0x%02x", op, *addr);
  if (role < 0)
    return halo_err_set(err, HALO_EINVAL, "%s: %s: not one of the protocol's endpoints", d->name,
                        what);
  halo_status st = need_handle(d, what, err);
  if (st != HALO_OK) return st;
  if (!d->have_eps)
    return halo_err_set(err, HALO_EDEVICE, "%s: %s: the device is in %s mode, which has no such "
                        "endpoint", d->name, what, mode_name(d->mode));
  return HALO_OK;
}

halo_status usbtpu_usb_bulk_out(usbtpu_usb *d, uint8_t logical, const void *data, size_t len,
                                halo_err *err) {
  char what[64];
  uint8_t ep;
  halo_status st = endpoint(d, logical, "bulk OUT", what, sizeof what, &ep, err);
  if (st != HALO_OK) return st;
  const uint8_t *p = data;
  size_t off = 0;
  do {
    size_t n = len - off < (1u << 20) ? len - off : (1u << 20);
    int done = 0;
    int r = libusb_bulk_transfer(d->handle, ep, (unsigned char *)(uintptr_t)(p + off), (int)n,
                                 &done, d->timeout_ms);
    if (r != 0) return xfer_error(d, r, what, err);
    if (done <= 0 && n > 0)
      return halo_err_set(err, HALO_EIO, "%s: %s: nothing accepted", d->name, what);
    off += (size_t)done;
  } while (off < len);
  return HALO_OK;
}

halo_status usbtpu_usb_send_frame(usbtpu_usb *d, uint8_t tag, uint32_t sequence, uint32_t arg,
                                  const void *payload, size_t len, bool crc, halo_err *err) {
  if (len > USBTPU_FRAME_MAX_PAYLOAD)
    return halo_err_set(err, HALO_EINVAL, "%s: frame tag 0x%02x: payload %zu bytes over %u",
                        d->name, tag, len, USBTPU_FRAME_MAX_PAYLOAD);
  uint8_t *buf = malloc(USBTPU_FRAME_HEADER_SIZE + len);
  if (!buf) return halo_err_set(err, HALO_ENOMEM, "%s: out of memory for a frame", d->name);
  usbtpu_put32(buf, USBTPU_FRAME_MAGIC);
  buf[4] = USBTPU_FRAME_VERSION;
  buf[5] = tag;
  usbtpu_put16(buf + 6, crc ? USBTPU_FRAME_CRC : 0);
  usbtpu_put32(buf + 8, sequence);
  usbtpu_put32(buf + 12, (uint32_t)len);
  usbtpu_put32(buf + 16, crc && len ? usbtpu_crc32(0, payload, len) : 0);
  usbtpu_put32(buf + 20, arg);
  if (len) memcpy(buf + USBTPU_FRAME_HEADER_SIZE, payload, len);
  halo_status st = usbtpu_usb_bulk_out(d, USBTPU_EP_BULK_OUT, buf, USBTPU_FRAME_HEADER_SIZE + len,
                                       err);
  free(buf);
  return st;
}

halo_status usbtpu_usb_read(usbtpu_usb *d, uint8_t logical, void *buf, size_t cap, size_t *got,
                            halo_err *err) {
  *got = 0;
  char what[64];
  uint8_t ep;
  bool intr = logical == USBTPU_EP_INTR_IN;
  halo_status st =
      endpoint(d, logical, intr ? "interrupt IN" : "bulk IN", what, sizeof what, &ep, err);
  if (st != HALO_OK) return st;
  if (cap > (size_t)INT32_MAX) cap = INT32_MAX;
  int done = 0;
  int r = intr
              ? libusb_interrupt_transfer(d->handle, ep, buf, (int)cap, &done, d->timeout_ms)
              : libusb_bulk_transfer(d->handle, ep, buf, (int)cap, &done, d->timeout_ms);
  if (r != 0) return xfer_error(d, r, what, err);
  if (done < 0 || (size_t)done > cap)
    return halo_err_set(err, HALO_EIO, "%s: %s: bad length %d", d->name, what, done);
  *got = (size_t)done;
  return HALO_OK;
}

halo_status usbtpu_usb_reset(usbtpu_usb *d, bool *gone, halo_err *err) {
  *gone = false;
  halo_status st = need_handle(d, "port reset", err);
  if (st != HALO_OK) return st;
  int r = libusb_reset_device(d->handle);
  if (r == LIBUSB_ERROR_NOT_FOUND || r == LIBUSB_ERROR_NO_DEVICE) {
    *gone = true;
    return HALO_OK;
  }
  if (r != 0) return xfer_error(d, r, "port reset", err);
  return HALO_OK;
}

halo_status usbtpu_usb_clear_halt(usbtpu_usb *d, uint8_t logical, halo_err *err) {
  char what[64];
  uint8_t ep;
  halo_status st = endpoint(d, logical, "clearing the halt", what, sizeof what, &ep, err);
  if (st != HALO_OK) return st;
  int r = libusb_clear_halt(d->handle, ep);
  if (r != 0) return xfer_error(d, r, what, err);
  return HALO_OK;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Ends reopen's wait: some device arrived (the scan says whether it is ours). */
static int LIBUSB_CALL on_arrival(libusb_context *ctx, libusb_device *dev,
                                  libusb_hotplug_event event, void *user) {
  (void)ctx, (void)dev, (void)event;
  *(int *)user = 1;
  return 0; /* stay registered until reopen deregisters */
}

halo_status usbtpu_usb_reopen(usbtpu_usb *d, usbtpu_usb_mode mode, unsigned deadline_ms,
                              halo_err *err) {
  if (d->handle) {
    libusb_release_interface(d->handle, 0);
    libusb_close(d->handle);
    d->handle = NULL;
  }
  d->have_eps = false;
  char serial[64];
  memcpy(serial, d->serial, sizeof serial);
  /* Registered before the first scan, so an arrival between a scan and the
   * wait still ends the wait. */
  int arrived = 0;
  libusb_hotplug_callback_handle hotplug = 0;
  bool have_hotplug =
      libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG) &&
      libusb_hotplug_register_callback(d->ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED, 0,
                                       LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
                                       LIBUSB_HOTPLUG_MATCH_ANY, on_arrival, &arrived,
                                       &hotplug) == LIBUSB_SUCCESS;
  double end = now_ms() + deadline_ms;
  halo_status st = HALO_OK;
  bool found = false;
  halo_err denied;
  for (int pass = 0;; pass++) {
    arrived = 0;
    /* A context's device list follows udev events, which may never come
     * (no udev in a container or an initramfs, an emulated bus): after the
     * first look, each look is a fresh context's own walk of the bus, and
     * the handle stays with that context when the device is there. */
    libusb_context *own = d->ctx, *scan = NULL;
    if (pass > 0 && libusb_init(&scan) == 0) d->ctx = scan;
    st = try_open(d, mode, serial, true, &found, &denied, err);
    if (d->ctx != own) {
      if (found) {
        if (have_hotplug) libusb_hotplug_deregister_callback(own, hotplug);
        have_hotplug = false;
        libusb_exit(own);
      } else {
        d->ctx = own;
        libusb_exit(scan);
      }
    }
    if (st != HALO_OK || found) break;
    double left = end - now_ms();
    if (left <= 0) break;
    /* Returns when the hotplug callback fires, else after the slice: the
     * wait is event-driven where libusb has hotplug support and a bounded
     * poll where it has not. */
    long slice_ms = left < REOPEN_RESCAN_MS ? (long)left + 1 : REOPEN_RESCAN_MS;
    struct timeval tv = {0, slice_ms * 1000L};
    (void)libusb_handle_events_timeout_completed(d->ctx, &tv, &arrived);
  }
  if (have_hotplug) libusb_hotplug_deregister_callback(d->ctx, hotplug);
  if (st != HALO_OK || found) return st;
  if (denied.code != HALO_OK) {
    /* Still denied at the deadline: udev had time to apply a rule. */
    if (err) *err = denied;
    halo_err_prefix(err, "%s: re-enumerated in %s mode, but ", d->name, mode_name(mode));
    return denied.code;
  }
  return halo_err_set(err, HALO_ETIMEOUT,
                      "%s: did not re-enumerate in %s mode (%04x:%04x) on the same port within "
                      "%u ms",
                      d->name, mode_name(mode), d->id.vid,
                      mode == USBTPU_USB_BOOT ? d->id.pid_boot : d->id.pid_app, deadline_ms);
}
