#include "drivers/usbtpu/usbtpu_protocol.h"

#include <stddef.h>

const char *usbtpu_op_name(uint32_t op) {
  switch (op) {
#define USBTPU_OP_CASE(name, value) \
  case value: return #name;
    USBTPU_OP_LIST(USBTPU_OP_CASE)
#undef USBTPU_OP_CASE
    default: return "unknown";
  }
}

const char *usbtpu_error_name(uint32_t code) {
  static const char *const names[] = {
      "NONE",      "FRAME_MAGIC", "FRAME_VERSION", "FRAME_CRC", "FRAME_LENGTH",
      "FRAME_TAG", "PROGRAM",     "PARAM_RANGE",   "NO_PROGRAM", "NO_PARAMS",
      "INPUT",     "EXEC",        "SEQUENCE",      "NOT_BOOTED",
  };
  return code < sizeof names / sizeof names[0] ? names[code] : "unknown";
}

/* Bitwise CRC-32: images and frames are small and the table would cost 1 KiB
 * of device ROM for no measurable gain at USB speeds. */
uint32_t usbtpu_crc32(uint32_t crc, const void *data, size_t size) {
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < size; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}
