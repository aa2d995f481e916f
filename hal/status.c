#include "hal/status.h"

#include <stdio.h>
#include <string.h>

halo_status halo_err_set(halo_err *err, halo_status code, const char *fmt, ...) {
  if (!err) return code;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

halo_status halo_err_prefix(halo_err *err, const char *fmt, ...) {
  if (!err) return HALO_OK;
  char prefix[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  /* Keep as much of the original message as fits after the prefix. */
  char joined[sizeof err->msg];
  size_t plen = strnlen(prefix, sizeof joined - 1);
  memcpy(joined, prefix, plen);
  size_t rest = sizeof joined - 1 - plen;
  size_t mlen = strnlen(err->msg, rest);
  memcpy(joined + plen, err->msg, mlen);
  joined[plen + mlen] = '\0';
  memcpy(err->msg, joined, sizeof joined);
  return err->code;
}

void halo_err_clear(halo_err *err) {
  if (!err) return;
  err->code = HALO_OK;
  err->msg[0] = '\0';
}

const char *halo_status_name(halo_status status) {
  switch (status) {
    case HALO_OK: return "HALO_OK";
    case HALO_EINVAL: return "HALO_EINVAL";
    case HALO_EFORMAT: return "HALO_EFORMAT";
    case HALO_ENOMEM: return "HALO_ENOMEM";
    case HALO_EUNSUPPORTED: return "HALO_EUNSUPPORTED";
    case HALO_ENOTFOUND: return "HALO_ENOTFOUND";
    case HALO_EIO: return "HALO_EIO";
    case HALO_EDEVICE: return "HALO_EDEVICE";
    case HALO_ETIMEOUT: return "HALO_ETIMEOUT";
    case HALO_EINTERNAL: return "HALO_EINTERNAL";
    case HALO_ENODEV: return "HALO_ENODEV";
  }
  return "HALO_E?";
}
