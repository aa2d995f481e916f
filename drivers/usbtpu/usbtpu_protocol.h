/* The USB accelerator's wire protocol as constants: USB identities, DFU
 * requests and states, vendor CSR requests and the register map, bulk frame
 * layout and tags, program and event records, and the protocol's own enums
 * (op kinds, dtypes, activations) that the capability table and the program
 * use instead of halo's enums, so that halo can renumber its ops without
 * breaking firmware. docs/usbtpu-protocol.md is the prose of this file; the
 * two must agree. Every multi-byte field on the wire is little-endian. */
#ifndef DRIVERS_USBTPU_USBTPU_PROTOCOL_H
#define DRIVERS_USBTPU_USBTPU_PROTOCOL_H

#include <stdint.h>
#include <string.h>

/* ---- USB identity (placeholders: not assigned by the USB-IF) -------------
 * The built-in entry of the driver's ID table (usbtpu_usb.h); more
 * identities come from $HALO_USBTPU_IDS. tools/udev/60-halo-usbtpu.rules
 * names these IDs too: the two must agree (tests/test_usbtpu_usb_ids.c). */
#define USBTPU_VID 0x7A70u
#define USBTPU_PID_BOOT 0x0B00u /* DFU 1.1 mode, before firmware */
#define USBTPU_PID_APP 0x0A00u  /* application mode, after firmware */
#define USBTPU_BCD_DEVICE 0x0100u

/* Application-mode endpoints (interface 0, vendor class 0xFF). */
#define USBTPU_EP_BULK_OUT 0x01u  /* commands and data, framed */
#define USBTPU_EP_OUTPUT_IN 0x81u /* output activations, framed */
#define USBTPU_EP_EVENT_IN 0x82u  /* completion records (32 bytes each) */
#define USBTPU_EP_INTR_IN 0x83u   /* error / thermal records (16 bytes each) */

/* ---- DFU 1.1 (boot mode, interface 0, class 0xFE subclass 1 protocol 2) -- */
#define USBTPU_DFU_TRANSFER_SIZE 1024u /* wTransferSize */
#define USBTPU_DFU_DETACH_TIMEOUT_MS 1000u
#define USBTPU_DFU_POLL_TIMEOUT_MS 5u /* bwPollTimeout reported by GETSTATUS */
/* bmAttributes: bitCanDnload | bitCanUpload | bitManifestationTolerant. */
#define USBTPU_DFU_ATTRIBUTES 0x07u

enum usbtpu_dfu_request {
  USBTPU_DFU_DETACH = 0,
  USBTPU_DFU_DNLOAD = 1,
  USBTPU_DFU_UPLOAD = 2,
  USBTPU_DFU_GETSTATUS = 3,
  USBTPU_DFU_CLRSTATUS = 4,
  USBTPU_DFU_GETSTATE = 5,
  USBTPU_DFU_ABORT = 6,
};

enum usbtpu_dfu_state {
  USBTPU_DFU_APP_IDLE = 0,
  USBTPU_DFU_APP_DETACH = 1,
  USBTPU_DFU_IDLE = 2,
  USBTPU_DFU_DNLOAD_SYNC = 3,
  USBTPU_DFU_DNBUSY = 4,
  USBTPU_DFU_DNLOAD_IDLE = 5,
  USBTPU_DFU_MANIFEST_SYNC = 6,
  USBTPU_DFU_MANIFEST = 7,
  USBTPU_DFU_MANIFEST_WAIT_RESET = 8,
  USBTPU_DFU_UPLOAD_IDLE = 9,
  USBTPU_DFU_ERROR = 10,
};

enum usbtpu_dfu_status {
  USBTPU_DFU_OK = 0x00,
  USBTPU_DFU_ERR_TARGET = 0x01,
  USBTPU_DFU_ERR_FILE = 0x02, /* bad magic, format version, sizes */
  USBTPU_DFU_ERR_WRITE = 0x03,
  USBTPU_DFU_ERR_VERIFY = 0x07, /* CRC-32 mismatch */
  USBTPU_DFU_ERR_ADDRESS = 0x08, /* image larger than the device's slot */
  USBTPU_DFU_ERR_NOTDONE = 0x09, /* zero-length DNLOAD with no data */
  USBTPU_DFU_ERR_FIRMWARE = 0x0A,
  USBTPU_DFU_ERR_VENDOR = 0x0B, /* refused by policy (fault injection) */
  USBTPU_DFU_ERR_STALLEDPKT = 0x0F,
};

/* Largest image the boot ROM accepts. */
#define USBTPU_DFU_MAX_IMAGE (1u << 20)

/* ---- vendor control requests (application mode) -------------------------
 * bmRequestType 0x40 (OUT, vendor, device) for writes, 0xC0 (IN) for reads.
 * CSR address = (wIndex << 16) | wValue; wLength is 4 or 8 (block: 4..4096,
 * a multiple of 4). */
#define USBTPU_REQTYPE_VENDOR_OUT 0x40u
#define USBTPU_REQTYPE_VENDOR_IN 0xC0u
enum usbtpu_vendor_request {
  USBTPU_REQ_CSR_READ32 = 0x01,
  USBTPU_REQ_CSR_WRITE32 = 0x02,
  USBTPU_REQ_CSR_READ64 = 0x03,
  USBTPU_REQ_CSR_WRITE64 = 0x04,
  USBTPU_REQ_CSR_READ_BLOCK = 0x05,
};
#define USBTPU_CSR_BLOCK_MAX 4096u

/* ---- register map ------------------------------------------------------- */
enum usbtpu_csr {
  USBTPU_CSR_ID = 0x0000,            /* RO 32: USBTPU_DEVICE_ID */
  USBTPU_CSR_PROTOCOL = 0x0004,      /* RO 32: major << 16 | minor */
  USBTPU_CSR_FW_VERSION = 0x0008,    /* RO 32: firmware version from the image */
  USBTPU_CSR_STATUS = 0x000C,        /* RO 32: USBTPU_STATUS_* bits */
  USBTPU_CSR_CAPS_SIZE = 0x0010,     /* RO 32: bytes of the capability table */
  USBTPU_CSR_LINK_SPEED = 0x0014,    /* RO 32: 2 = USB 2.0 high speed, 3 = USB 3 */
  USBTPU_CSR_MAX_PAYLOAD = 0x0018,   /* RO 32: largest frame payload accepted */
  USBTPU_CSR_PARAM_TOKEN = 0x0020,   /* RO 64: token of the cached program, 0: none */
  USBTPU_CSR_PARAM_BYTES = 0x0028,   /* RO 32: parameter bytes held in the cache */
  USBTPU_CSR_ERROR_CODE = 0x0030,    /* RO 32: last USBTPU_ERR_*, 0: none */
  USBTPU_CSR_ERROR_SEQ = 0x0034,     /* RO 32: sequence of the frame at fault */
  USBTPU_CSR_ERROR_COUNT = 0x0038,   /* RO 32: errors since boot (a soft reset keeps it) */
  USBTPU_CSR_RESET = 0x0040,         /* WO 32: USBTPU_RESET_* */
  USBTPU_CSR_CYCLES_LAST = 0x0048,   /* RO 64: device cycles of the last run */
  USBTPU_CSR_TEMPERATURE = 0x0050,   /* RO 32: milli-degrees Celsius */
  USBTPU_CSR_LAYER_COUNT = 0x0054,   /* RO 32: layers of the last run */
  USBTPU_CSR_CAPS_BASE = 0x10000,    /* RO window: the capability table */
  USBTPU_CSR_PERF_BASE = 0x20000,    /* RO window: 64-bit cycles per layer, last run */
};
#define USBTPU_CSR_PERF_MAX_LAYERS 4096u
#define USBTPU_DEVICE_ID 0x55505448u /* "HTPU" */
#define USBTPU_PROTOCOL_VERSION 0x00010000u

enum usbtpu_status_bits {
  USBTPU_STATUS_READY = 1u << 0,
  USBTPU_STATUS_BUSY = 1u << 1,
  USBTPU_STATUS_ERROR = 1u << 2,
  USBTPU_STATUS_PROGRAM = 1u << 3, /* a program is loaded */
  USBTPU_STATUS_PARAMS = 1u << 4,  /* its parameters are cached */
  USBTPU_STATUS_THERMAL = 1u << 5,
};

enum usbtpu_reset_bits {
  USBTPU_RESET_SOFT = 1u << 0,        /* drop program, cache, queued frames and events */
  USBTPU_RESET_CLEAR_ERROR = 1u << 1, /* clear ERROR_CODE and the STATUS error bit */
};

/* ---- bulk frames ---------------------------------------------------------- */
#define USBTPU_FRAME_MAGIC 0x52465448u /* "HTFR" */
#define USBTPU_FRAME_VERSION 1u
#define USBTPU_FRAME_HEADER_SIZE 24u
#define USBTPU_FRAME_MAX_PAYLOAD (1u << 20)

enum usbtpu_frame_flags {
  USBTPU_FRAME_CRC = 1u << 0, /* crc32 field covers the payload (else must be 0) */
};

enum usbtpu_tag {
  USBTPU_TAG_PROGRAM = 0x01,     /* program (descriptors); replaces the loaded one */
  USBTPU_TAG_PARAMS = 0x02,      /* parameter bytes at `arg` (offset) */
  USBTPU_TAG_INPUT = 0x03,       /* input activation `arg >> 24`, bytes at arg & 0xFFFFFF */
  USBTPU_TAG_RUN = 0x04,         /* run the loaded program; payload 8 bytes: run id */
  USBTPU_TAG_OUTPUT = 0x81,      /* bulk IN: output activation `arg` (whole tensor) */
};

/* ---- program ---------------------------------------------------------------- */
#define USBTPU_PROGRAM_MAGIC 0x47505448u /* "HTPG" */
/* 2: layer records name their parameter segment (streamed programs). */
#define USBTPU_PROGRAM_VERSION 2u
#define USBTPU_PROGRAM_HEADER_SIZE 64u
#define USBTPU_TENSOR_RECORD_SIZE 48u
#define USBTPU_LAYER_RECORD_SIZE 96u
#define USBTPU_LAYER_MAX_INPUTS 8
#define USBTPU_LAYER_MAX_OUTPUTS 2
#define USBTPU_LAYER_PARAMS 8 /* int32 params per layer */
#define USBTPU_PROGRAM_MAX_TENSORS 4096
#define USBTPU_PROGRAM_MAX_LAYERS 2048
#define USBTPU_PROGRAM_MAX_IO 16
#define USBTPU_NO_TENSOR 0xFFFFu

enum usbtpu_program_flags {
  USBTPU_PROGRAM_STREAMED = 1u << 0, /* parameters do not fit: sent with every run */
};

enum usbtpu_region {
  USBTPU_REGION_ACT = 0,   /* activation memory */
  USBTPU_REGION_PARAM = 1, /* parameter memory (constants) */
};

/* Protocol op kinds: stable numbers, never halo_op values. */
#define USBTPU_OP_LIST(X)            \
  X(CONV_2D, 1)                      \
  X(DEPTHWISE_CONV_2D, 2)            \
  X(FULLY_CONNECTED, 3)              \
  X(AVERAGE_POOL_2D, 4)              \
  X(MAX_POOL_2D, 5)                  \
  X(ADD, 6)                          \
  X(SUB, 7)                          \
  X(MUL, 8)                          \
  X(SOFTMAX, 9)                      \
  X(LOGISTIC, 10)                    \
  X(TANH, 11)                        \
  X(RELU, 12)                        \
  X(RELU6, 13)                       \
  X(HARD_SWISH, 14)                  \
  X(RESHAPE, 15)                     \
  X(CONCATENATION, 16)               \
  X(MEAN, 17)                        \
  X(RESIZE_BILINEAR, 18)             \
  X(PAD, 19)                         \
  X(QUANTIZE, 20)                    \
  X(LEAKY_RELU, 21)

typedef enum usbtpu_op {
  USBTPU_OP_NONE = 0,
#define USBTPU_OP_ENUM(name, value) USBTPU_OP_##name = value,
  USBTPU_OP_LIST(USBTPU_OP_ENUM)
#undef USBTPU_OP_ENUM
  USBTPU_OP_LIMIT
} usbtpu_op;

/* Protocol dtypes; capability entries list them as a mask of 1 << dtype. */
typedef enum usbtpu_dtype {
  USBTPU_DT_NONE = 0,
  USBTPU_DT_INT8 = 1,
  USBTPU_DT_UINT8 = 2,
  USBTPU_DT_INT16 = 3,
  USBTPU_DT_INT32 = 4,
  USBTPU_DT_INT64 = 5,
} usbtpu_dtype;

/* Fused activation, protocol numbering. */
typedef enum usbtpu_act {
  USBTPU_ACT_NONE = 0,
  USBTPU_ACT_RELU = 1,
  USBTPU_ACT_RELU_N1_TO_1 = 2,
  USBTPU_ACT_RELU6 = 3,
} usbtpu_act;

/* ---- event and interrupt records --------------------------------------------- */
#define USBTPU_EVENT_SIZE 32u
#define USBTPU_IRQ_SIZE 16u
enum usbtpu_event_type { USBTPU_EVENT_RUN_DONE = 1 };
enum usbtpu_irq_type { USBTPU_IRQ_ERROR = 1, USBTPU_IRQ_THERMAL = 2 };

/* Device error codes (ERROR_CODE, completion status, interrupt records). */
enum usbtpu_error {
  USBTPU_ERR_NONE = 0,
  USBTPU_ERR_FRAME_MAGIC = 1,
  USBTPU_ERR_FRAME_VERSION = 2,
  USBTPU_ERR_FRAME_CRC = 3,
  USBTPU_ERR_FRAME_LENGTH = 4,
  USBTPU_ERR_FRAME_TAG = 5,
  USBTPU_ERR_PROGRAM = 6,     /* malformed or unsupported program */
  USBTPU_ERR_PARAM_RANGE = 7, /* parameters outside parameter memory */
  USBTPU_ERR_NO_PROGRAM = 8,  /* INPUT or RUN with no program */
  USBTPU_ERR_NO_PARAMS = 9,   /* RUN before all parameters arrived */
  USBTPU_ERR_INPUT = 10,      /* input index or range wrong, or missing at RUN */
  USBTPU_ERR_EXEC = 11,       /* a layer failed */
  USBTPU_ERR_SEQUENCE = 12,   /* frame sequence number out of order */
  USBTPU_ERR_NOT_BOOTED = 13,
};
/* "FRAME_CRC" for USBTPU_ERR_FRAME_CRC; "unknown" for codes it does not know. */
const char *usbtpu_error_name(uint32_t code);

/* ---- little-endian helpers ---------------------------------------------------- */
static inline uint16_t usbtpu_get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t usbtpu_get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t usbtpu_get64(const uint8_t *p) {
  return (uint64_t)usbtpu_get32(p) | (uint64_t)usbtpu_get32(p + 4) << 32;
}
static inline void usbtpu_put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void usbtpu_put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void usbtpu_put64(uint8_t *p, uint64_t v) {
  usbtpu_put32(p, (uint32_t)v);
  usbtpu_put32(p + 4, (uint32_t)(v >> 32));
}
static inline float usbtpu_get_f32(const uint8_t *p) {
  uint32_t bits = usbtpu_get32(p);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}
static inline void usbtpu_put_f32(uint8_t *p, float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  usbtpu_put32(p, bits);
}

/* "CONV_2D", ...; "unknown" for values outside the enum. */
const char *usbtpu_op_name(uint32_t op);

/* CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and
 * final XOR 0xFFFFFFFF, zlib's crc32()). Pass 0 as `crc` to start, the
 * previous result to continue. */
uint32_t usbtpu_crc32(uint32_t crc, const void *data, size_t size);

#endif
