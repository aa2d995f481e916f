/* umockdev testbed for the virtual accelerator: see vtpu_umockdev.h. */
#include "tools/vtpu/vtpu_umockdev.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <umockdev.h>

#define MAX_URBS 64
#define MAX_HANDLERS 8 /* generations per device (each re-enumeration adds one) */

typedef struct vtpu_slot vtpu_slot;

typedef struct urb_ref {
  UMockdevIoctlData *urb;    /* the client's struct usbdevfs_urb */
  UMockdevIoctlData *buffer; /* its buffer */
  int generation;            /* of the handler (device node) it was submitted to */
  bool swallowed;            /* VTPU_TIMEOUT: never delivered, completes only when discarded */
} urb_ref;

/* One ioctl handler, attached to one device node. Handlers of earlier
 * generations stay alive (libusb may still hold their fds): like the kernel
 * after a disconnect, they still hand back their completed URBs (REAPURB*)
 * and answer ENODEV to everything else. */
typedef struct handler_ctx {
  vtpu_slot *slot;
  int generation;
  UMockdevIoctlBase *base;
} handler_ctx;

struct vtpu_slot {
  vtpu_testbed *tb;
  vtpu *dev;
  int port;       /* 1-based port on bus 1 */
  int devnum;     /* current address */
  int generation; /* current handler generation */
  int enumerations;
  bool present;   /* sysfs entry exists */
  char syspath[128];
  handler_ctx handlers[MAX_HANDLERS];
  int n_handlers;
  urb_ref pending[MAX_URBS]; /* current generation's, not completed (NAK or swallowed) */
  int n_pending;
  urb_ref done[MAX_URBS]; /* completed, waiting for REAP by their generation's client */
  int n_done;
};

struct vtpu_testbed {
  UMockdevTestbed *bed;
  pthread_mutex_t lock;
  int n;
  vtpu_slot slots[VTPU_TESTBED_MAX_DEVICES];
};

static void urb_release(urb_ref *r) {
  if (r->buffer) g_object_unref(r->buffer);
  if (r->urb) g_object_unref(r->urb);
  r->buffer = r->urb = NULL;
}

static void drop_urbs(vtpu_slot *s) {
  for (int i = 0; i < s->n_pending; i++) urb_release(&s->pending[i]);
  for (int i = 0; i < s->n_done; i++) urb_release(&s->done[i]);
  s->n_pending = s->n_done = 0;
}

static void urb_complete(vtpu_slot *s, urb_ref r, int status) {
  struct usbdevfs_urb *urb = (struct usbdevfs_urb *)r.urb->data;
  urb->status = status;
  urb->actual_length = 0;
  s->done[s->n_done++] = r; /* n_pending + n_done <= MAX_URBS: always room */
}

/* The device left the bus (unplug, or re-enumeration after a reset): as the
 * kernel does, every URB in flight completes with `status` and stays
 * reapable by its client, whose REAP then answers ENODEV once none is left.
 * Completed URBs of clients two generations back are dropped: those fds
 * were closed long ago, and nothing bounds the queue otherwise. */
static void retire_urbs(vtpu_slot *s, int status) {
  for (int i = 0; i < s->n_pending; i++) urb_complete(s, s->pending[i], status);
  s->n_pending = 0;
  int keep = 0;
  for (int i = 0; i < s->n_done; i++) {
    if (s->done[i].generation < s->generation)
      urb_release(&s->done[i]);
    else
      s->done[keep++] = s->done[i];
  }
  s->n_done = keep;
}

static void node_path(const vtpu_slot *s, char *buf, size_t cap) {
  snprintf(buf, cap, "/dev/bus/usb/001/%03d", s->devnum);
}

/* Attaches a new handler to the current node, then creates the sysfs entry
 * with the current mode's descriptors. Caller holds the lock. */
static halo_status plug_entry(vtpu_slot *s, halo_err *err);

static gboolean handle_ioctl(UMockdevIoctlBase *base, UMockdevIoctlClient *client, gpointer user);

/* Runs the device for one URB. Returns true when it completed (status and
 * actual_length set), false when it stays pending. */
static bool run_urb(vtpu_slot *s, urb_ref *r) {
  struct usbdevfs_urb *urb = (struct usbdevfs_urb *)r->urb->data;
  uint8_t *buf = r->buffer ? r->buffer->data : NULL;
  size_t len = urb->buffer_length > 0 ? (size_t)urb->buffer_length : 0;
  int res;
  if (!vtpu_plugged(s->dev)) {
    res = VTPU_GONE;
  } else if (urb->type == USBDEVFS_URB_TYPE_CONTROL) {
    if (len < 8) {
      urb->status = -EINVAL;
      urb->actual_length = 0;
      return true;
    }
    vtpu_setup setup = {buf[0], buf[1], (uint16_t)(buf[2] | buf[3] << 8),
                        (uint16_t)(buf[4] | buf[5] << 8), (uint16_t)(buf[6] | buf[7] << 8)};
    if (setup.wLength > len - 8) setup.wLength = (uint16_t)(len - 8);
    res = vtpu_control(s->dev, &setup, buf + 8);
  } else if (urb->endpoint & 0x80) {
    res = vtpu_bulk_in(s->dev, urb->endpoint, buf, len);
  } else {
    res = vtpu_bulk_out(s->dev, urb->endpoint, buf, len);
  }
  switch (res) {
    case VTPU_NAK:
      return false;
    case VTPU_TIMEOUT: /* swallowed: never delivered; libusb's timeout discards it */
      r->swallowed = true;
      return false;
    case VTPU_STALL:
      urb->status = -EPIPE;
      urb->actual_length = 0;
      return true;
    case VTPU_GONE:
      urb->status = -ENODEV;
      urb->actual_length = 0;
      return true;
    default:
      urb->status = res < 0 ? -EIO : 0;
      urb->actual_length = res < 0 ? 0 : res;
      return true;
  }
}

/* Retries pending URBs in order; completed ones move to the done queue. */
static void progress(vtpu_slot *s) {
  int keep = 0;
  for (int i = 0; i < s->n_pending; i++) {
    if (!s->pending[i].swallowed && run_urb(s, &s->pending[i]))
      s->done[s->n_done++] = s->pending[i];
    else
      s->pending[keep++] = s->pending[i];
  }
  s->n_pending = keep;
}

/* Removes the sysfs entry: URBs in flight complete with -ENODEV. */
static void disconnect(vtpu_slot *s) {
  if (s->present) umockdev_testbed_remove_device(s->tb->bed, s->syspath);
  s->present = false;
  retire_urbs(s, -ENODEV);
}

/* The device appears again on the same port with a new address, as the
 * kernel would give it, and the descriptors of its current mode. */
static halo_status plug_again(vtpu_slot *s, halo_err *err) {
  disconnect(s);
  s->devnum += 16;
  return plug_entry(s, err);
}

static halo_status reenumerate(vtpu_slot *s, halo_err *err) {
  s->enumerations++;
  return plug_again(s, err);
}

static gboolean handle_ioctl(UMockdevIoctlBase *base, UMockdevIoctlClient *client, gpointer user) {
  (void)base;
  handler_ctx *h = user;
  vtpu_slot *s = h->slot;
  vtpu_testbed *tb = s->tb;
  gulong request = umockdev_ioctl_client_get_request(client);
  UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
  long res = 0;
  int eno = 0;

  pthread_mutex_lock(&tb->lock);
  /* The device model may have pulled its own plug (unplug_after_runs). */
  if (h->generation == s->generation && s->present && !vtpu_plugged(s->dev)) disconnect(s);
  bool connected = h->generation == s->generation && s->present;
  if (!connected && request != USBDEVFS_REAPURB && request != USBDEVFS_REAPURBNDELAY) {
    /* As the kernel: after a disconnect only REAPURB* still work. */
    pthread_mutex_unlock(&tb->lock);
    umockdev_ioctl_client_complete(client, -1, ENODEV);
    return TRUE;
  }
  switch (request) {
    case USBDEVFS_GET_CAPABILITIES: {
      UMockdevIoctlData *d = umockdev_ioctl_data_resolve(arg, 0, sizeof(uint32_t), NULL);
      if (!d) {
        res = -1, eno = EFAULT;
        break;
      }
      uint32_t caps = USBDEVFS_CAP_BULK_CONTINUATION | USBDEVFS_CAP_NO_PACKET_SIZE_LIM |
                      USBDEVFS_CAP_REAP_AFTER_DISCONNECT | USBDEVFS_CAP_ZERO_PACKET;
      memcpy(d->data, &caps, sizeof caps);
      g_object_unref(d);
      break;
    }
    case USBDEVFS_GETDRIVER:
      res = -1, eno = ENODATA; /* no kernel driver bound */
      break;
    case USBDEVFS_CLAIMINTERFACE:
    case USBDEVFS_RELEASEINTERFACE:
    case USBDEVFS_DISCONNECT_CLAIM:
    case USBDEVFS_SETINTERFACE:
    case USBDEVFS_RESETEP:
      break;
    case USBDEVFS_CLEAR_HALT: {
      UMockdevIoctlData *d = umockdev_ioctl_data_resolve(arg, 0, sizeof(unsigned int), NULL);
      if (!d) {
        res = -1, eno = EFAULT;
        break;
      }
      unsigned int ep;
      memcpy(&ep, d->data, sizeof ep);
      g_object_unref(d);
      vtpu_setup clear = {0x02, 1, 0, (uint16_t)(ep & 0xFF), 0};
      if (vtpu_control(s->dev, &clear, NULL) == VTPU_GONE) res = -1, eno = ENODEV;
      break;
    }
    case USBDEVFS_SUBMITURB: {
      if (s->n_pending + s->n_done >= MAX_URBS) {
        res = -1, eno = ENOMEM;
        break;
      }
      urb_ref r = {umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_urb), NULL), NULL,
                   s->generation, false};
      if (!r.urb) {
        res = -1, eno = EFAULT;
        break;
      }
      struct usbdevfs_urb *urb = (struct usbdevfs_urb *)r.urb->data;
      if (urb->buffer_length < 0 ||
          (urb->type != USBDEVFS_URB_TYPE_CONTROL && urb->type != USBDEVFS_URB_TYPE_BULK &&
           urb->type != USBDEVFS_URB_TYPE_INTERRUPT)) {
        urb_release(&r);
        res = -1, eno = EINVAL;
        break;
      }
      if (urb->buffer_length > 0) {
        r.buffer = umockdev_ioctl_data_resolve(r.urb, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer),
                                               (gsize)urb->buffer_length, NULL);
        if (!r.buffer) {
          urb_release(&r);
          res = -1, eno = EFAULT;
          break;
        }
      }
      urb->status = -EINPROGRESS;
      urb->actual_length = 0;
      if (s->n_pending == 0 && run_urb(s, &r))
        s->done[s->n_done++] = r;
      else
        s->pending[s->n_pending++] = r;
      /* The transfer may have unplugged the device (unplug_after_runs). */
      if (!vtpu_plugged(s->dev)) disconnect(s);
      break;
    }
    case USBDEVFS_REAPURB:
    case USBDEVFS_REAPURBNDELAY: {
      if (connected) {
        progress(s);
        if (!vtpu_plugged(s->dev)) disconnect(s);
      }
      int at = 0;
      while (at < s->n_done && s->done[at].generation != h->generation) at++;
      if (at == s->n_done) {
        /* The kernel's answer: nothing yet, or nothing ever again. */
        res = -1, eno = connected ? EAGAIN : ENODEV;
        break;
      }
      urb_ref r = s->done[at];
      memmove(s->done + at, s->done + at + 1, (size_t)(s->n_done - at - 1) * sizeof s->done[0]);
      s->n_done--;
      UMockdevIoctlData *ptr = umockdev_ioctl_data_resolve(arg, 0, sizeof(void *), NULL);
      if (ptr) {
        umockdev_ioctl_data_set_ptr(ptr, 0, r.urb);
        g_object_unref(ptr);
      } else {
        res = -1, eno = EFAULT;
      }
      urb_release(&r);
      break;
    }
    case USBDEVFS_DISCARDURB: {
      gulong addr = 0;
      memcpy(&addr, arg->data, sizeof addr < (size_t)arg->data_len ? sizeof addr : (size_t)arg->data_len);
      res = -1, eno = EINVAL; /* already completed, or unknown */
      for (int i = 0; i < s->n_pending; i++) {
        if (s->pending[i].urb->client_addr != addr) continue;
        urb_ref r = s->pending[i];
        memmove(s->pending + i, s->pending + i + 1,
                (size_t)(s->n_pending - i - 1) * sizeof s->pending[0]);
        s->n_pending--;
        urb_complete(s, r, -ENOENT);
        res = 0, eno = 0;
        break;
      }
      break;
    }
    case USBDEVFS_RESET: {
      uint16_t before = vtpu_product_id(s->dev);
      vtpu_usb_reset(s->dev);
      /* URBs in flight die with the reset. */
      retire_urbs(s, -ENOENT);
      if (vtpu_product_id(s->dev) != before) {
        /* New descriptors: the kernel drops the old device and enumerates a
         * new one on the same port; the reset reports ENODEV. */
        halo_err e;
        (void)reenumerate(s, &e);
        res = -1, eno = ENODEV;
      }
      break;
    }
    default:
      res = -1, eno = ENOTTY;
      break;
  }
  pthread_mutex_unlock(&tb->lock);
  umockdev_ioctl_client_complete(client, res, eno);
  return TRUE;
}

static halo_status plug_entry(vtpu_slot *s, halo_err *err) {
  vtpu_testbed *tb = s->tb;
  if (s->n_handlers >= MAX_HANDLERS)
    return halo_err_set(err, HALO_EINVAL, "vtpu testbed: port %d re-enumerated too often",
                        s->port);
  char node[64];
  node_path(s, node, sizeof node);
  handler_ctx *h = &s->handlers[s->n_handlers];
  h->slot = s;
  h->generation = ++s->generation;
  h->base = umockdev_ioctl_base_new();
  g_signal_connect(h->base, "handle-ioctl", G_CALLBACK(handle_ioctl), h);
  s->n_handlers++;
  GError *gerr = NULL;
  if (!umockdev_testbed_attach_ioctl(tb->bed, node, h->base, &gerr)) {
    halo_status st = halo_err_set(err, HALO_EINVAL, "vtpu testbed: attaching %s: %s", node,
                                  gerr ? gerr->message : "failed");
    g_clear_error(&gerr);
    return st;
  }
  uint8_t desc[512];
  size_t n = vtpu_descriptors(s->dev, desc, sizeof desc);
  if (n > sizeof desc)
    return halo_err_set(err, HALO_EINVAL, "vtpu testbed: descriptors of port %d too long",
                        s->port);
  /* The speed attribute: the device descriptor's bcdUSB says which. */
  const char *speed = desc[3] >= 3 ? "5000" : "480";
  char hex[2 * sizeof desc + 1];
  for (size_t i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", desc[i]);
  hex[2 * n] = 0;
  snprintf(s->syspath, sizeof s->syspath, "/sys/devices/usb1/1-%d", s->port);
  char *text = g_strdup_printf(
      "P: /devices/usb1/1-%d\n"
      "N: bus/usb/001/%03d\n"
      "E: SUBSYSTEM=usb\n"
      "E: DEVTYPE=usb_device\n"
      "E: DEVNAME=%s\n"
      "E: BUSNUM=001\n"
      "E: DEVNUM=%03d\n"
      "A: busnum=1\\n\n"
      "A: devnum=%d\\n\n"
      "A: speed=%s\\n\n"
      "A: bConfigurationValue=1\\n\n"
      "H: descriptors=%s\n",
      s->port, s->devnum, node, s->devnum, s->devnum, speed, hex);
  gboolean ok = umockdev_testbed_add_from_string(tb->bed, text, &gerr);
  g_free(text);
  if (!ok) {
    halo_status st = halo_err_set(err, HALO_EINVAL, "vtpu testbed: adding port %d: %s", s->port,
                                  gerr ? gerr->message : "failed");
    g_clear_error(&gerr);
    return st;
  }
  s->present = true;
  return HALO_OK;
}

halo_status vtpu_testbed_create(int n, const vtpu_config *configs, vtpu_testbed **out,
                                halo_err *err) {
  *out = NULL;
  if (n < 1 || n > VTPU_TESTBED_MAX_DEVICES)
    return halo_err_set(err, HALO_EINVAL, "vtpu testbed: %d devices (1..%d)", n,
                        VTPU_TESTBED_MAX_DEVICES);
  vtpu_testbed *tb = calloc(1, sizeof *tb);
  if (!tb) return halo_err_set(err, HALO_ENOMEM, "vtpu testbed: out of memory");
  pthread_mutex_init(&tb->lock, NULL);
  tb->bed = umockdev_testbed_new();
  halo_status st = HALO_OK;
  pthread_mutex_lock(&tb->lock);
  for (int i = 0; i < n && st == HALO_OK; i++) {
    vtpu_slot *s = &tb->slots[i];
    s->tb = tb;
    s->port = i + 1;
    s->devnum = i + 2; /* address 1 is the root hub's */
    char serial[16];
    snprintf(serial, sizeof serial, "VTPU%04d", i + 1);
    vtpu_config cfg = configs ? configs[i] : (vtpu_config){0};
    if (!cfg.serial) cfg.serial = serial;
    st = vtpu_create(&cfg, &s->dev, err);
    if (st == HALO_OK) st = plug_entry(s, err);
    tb->n = i + 1;
  }
  pthread_mutex_unlock(&tb->lock);
  if (st != HALO_OK) {
    vtpu_testbed_destroy(tb);
    return st;
  }
  *out = tb;
  return HALO_OK;
}

void vtpu_testbed_destroy(vtpu_testbed *tb) {
  if (!tb) return;
  g_clear_object(&tb->bed); /* removes the testbed; no more ioctls arrive */
  for (int i = 0; i < tb->n; i++) {
    vtpu_slot *s = &tb->slots[i];
    drop_urbs(s);
    for (int k = 0; k < s->n_handlers; k++) g_clear_object(&s->handlers[k].base);
    vtpu_destroy(s->dev);
  }
  pthread_mutex_destroy(&tb->lock);
  free(tb);
}

int vtpu_testbed_count(const vtpu_testbed *tb) { return tb->n; }

vtpu *vtpu_testbed_lock(vtpu_testbed *tb, int i) {
  pthread_mutex_lock(&tb->lock);
  return i >= 0 && i < tb->n ? tb->slots[i].dev : NULL;
}

void vtpu_testbed_unlock(vtpu_testbed *tb) { pthread_mutex_unlock(&tb->lock); }

int vtpu_testbed_enumerations(vtpu_testbed *tb, int i) {
  pthread_mutex_lock(&tb->lock);
  int n = i >= 0 && i < tb->n ? tb->slots[i].enumerations : 0;
  pthread_mutex_unlock(&tb->lock);
  return n;
}

void vtpu_testbed_unplug(vtpu_testbed *tb, int i) {
  pthread_mutex_lock(&tb->lock);
  if (i >= 0 && i < tb->n) {
    vtpu_slot *s = &tb->slots[i];
    vtpu_unplug(s->dev);
    disconnect(s);
  }
  pthread_mutex_unlock(&tb->lock);
}

halo_status vtpu_testbed_replug(vtpu_testbed *tb, int i, halo_err *err) {
  pthread_mutex_lock(&tb->lock);
  halo_status st;
  if (i < 0 || i >= tb->n) {
    st = halo_err_set(err, HALO_EINVAL, "vtpu testbed: no device %d (%d plugged)", i, tb->n);
  } else {
    vtpu_slot *s = &tb->slots[i];
    vtpu_unplug(s->dev); /* a power cycle when it was still plugged in */
    vtpu_replug(s->dev);
    st = plug_again(s, err);
  }
  pthread_mutex_unlock(&tb->lock);
  return st;
}
