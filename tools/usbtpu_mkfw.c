/* usbtpu_mkfw: builds the USB accelerator's firmware image
 * (docs/firmware-format.md), or checks and prints an existing one.
 *
 *   usbtpu_mkfw OUTPUT.bin [--fw-version MAJOR.MINOR.PATCH] [--param-mem BYTES]
 *               [--act-mem BYTES] [--without-op OP]...
 *   usbtpu_mkfw --print IMAGE.bin
 *
 * The capability table below is the one place the device's abilities are
 * written down: the device reports it after boot and the driver reads it
 * from there, never from here. The image is deterministic, so
 * firmware_blobs/usbtpu-fw-1.0.bin can be rebuilt byte for byte. The
 * options make variants for tests (a small parameter memory so that small
 * models stream, an op left out so that a model splits into several device
 * partitions); the committed image uses none. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/usbtpu/usbtpu_firmware.h"
#include "drivers/usbtpu/usbtpu_protocol.h"

#define INT8_ONLY (1u << USBTPU_DT_INT8)
#define RELU USBTPU_OPF_FUSED_RELU

/* Version 1.0 of the device: an Edge-TPU-like int8 engine with 8 MiB of
 * parameter memory, a 64x64 MAC array at 500 MHz. Limits: 0 = none. */
static const usbtpu_op_caps fw_ops[] = {
    /* op, flags, dtypes, max_dilation, kw, kh, sw, sh, max_elements, max_channels */
    {USBTPU_OP_CONV_2D, RELU | USBTPU_OPF_PER_CHANNEL, INT8_ONLY, 2, 7, 7, 4, 4, 0, 4096},
    {USBTPU_OP_DEPTHWISE_CONV_2D, RELU | USBTPU_OPF_PER_CHANNEL, INT8_ONLY, 2, 5, 5, 2, 2, 0, 4096},
    {USBTPU_OP_FULLY_CONNECTED, RELU | USBTPU_OPF_OUTPUT_1D | USBTPU_OPF_PER_CHANNEL, INT8_ONLY, 0,
     0, 0, 0, 0, 0, 0},
    {USBTPU_OP_AVERAGE_POOL_2D, RELU, INT8_ONLY, 0, 16, 16, 4, 4, 0, 4096},
    {USBTPU_OP_MAX_POOL_2D, RELU, INT8_ONLY, 0, 16, 16, 4, 4, 0, 4096},
    {USBTPU_OP_ADD, RELU, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_SUB, RELU, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_MUL, RELU, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_SOFTMAX, USBTPU_OPF_INPUT_1D, INT8_ONLY, 0, 0, 0, 0, 0, 16000, 0},
    {USBTPU_OP_LOGISTIC, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_TANH, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_RELU, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_RELU6, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_HARD_SWISH, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_LEAKY_RELU, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_RESHAPE, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_CONCATENATION, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_MEAN, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_RESIZE_BILINEAR, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_PAD, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
    {USBTPU_OP_QUANTIZE, 0, INT8_ONLY, 0, 0, 0, 0, 0, 0, 0},
};

static void fill_caps(usbtpu_caps *caps) {
  memset(caps, 0, sizeof *caps);
  caps->param_mem_bytes = 8u << 20;
  caps->act_mem_bytes = 4u << 20;
  caps->macs_per_cycle = 4096;
  caps->clock_khz = 500000;
  caps->max_rank = 4;
  caps->max_dims_gt1 = 3;
  caps->max_dim = 65535;
  caps->max_payload = 1u << 20;
  caps->n_ops = (int)(sizeof fw_ops / sizeof fw_ops[0]);
  memcpy(caps->ops, fw_ops, sizeof fw_ops);
}

/* The code section: microcode on a real device; here a fixed, recognisable
 * 4 KiB pattern, so that a download takes several DFU blocks. */
#define CODE_SIZE 4096
static void fill_code(uint8_t *code) {
  static const char banner[] = "halo usbtpu virtual microcode v1\n";
  for (size_t i = 0; i < CODE_SIZE; i++) code[i] = (uint8_t)(i * 131u + 7u);
  memcpy(code, banner, sizeof banner - 1);
}

static int print_image(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 1;
  }
  static uint8_t buf[USBTPU_DFU_MAX_IMAGE + 1];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  usbtpu_fw_info info;
  halo_err err;
  if (usbtpu_fw_parse(buf, n, &info, &err) != HALO_OK) {
    fprintf(stderr, "%s: %s\n", path, err.msg);
    return 1;
  }
  printf("%s: format %u, firmware %u.%u.%u (\"%s\"), %u bytes, crc32 0x%08x\n", path,
         info.format_version, info.fw_version >> 16, (info.fw_version >> 8) & 0xff,
         info.fw_version & 0xff, info.build, info.image_size, info.crc32);
  const usbtpu_caps *c = &info.caps;
  printf("parameter memory %llu bytes, activation memory %llu bytes, %u MACs/cycle at %u kHz\n",
         (unsigned long long)c->param_mem_bytes, (unsigned long long)c->act_mem_bytes,
         c->macs_per_cycle, c->clock_khz);
  printf("rank <= %u, dims > 1 only in the %u innermost, dim <= %u, frame payload <= %u\n",
         c->max_rank, c->max_dims_gt1, c->max_dim, c->max_payload);
  for (int i = 0; i < c->n_ops; i++) {
    const usbtpu_op_caps *o = &c->ops[i];
    printf("  %-20s flags 0x%02x dtypes 0x%02x kernel %ux%u stride %ux%u dilation %u "
           "elements %u channels %u\n",
           usbtpu_op_name(o->op), o->flags, o->dtypes, o->max_kernel_w, o->max_kernel_h,
           o->max_stride_w, o->max_stride_h, o->max_dilation, o->max_elements, o->max_channels);
  }
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: usbtpu_mkfw OUTPUT.bin [--fw-version MAJOR.MINOR.PATCH] [--param-mem BYTES]\n"
          "                   [--act-mem BYTES] [--without-op OP]...\n"
          "       usbtpu_mkfw --print IMAGE.bin\n"
          "Builds the USB accelerator firmware image (docs/firmware-format.md).\n"
          "  --param-mem, --act-mem  parameter / activation memory (suffix K or M: KiB, MiB;\n"
          "                          default 8M and 4M)\n"
          "  --without-op OP         leave protocol op OP (e.g. ADD) out of the op table\n");
}

/* "131072", "128K", "8M" -> bytes; false when malformed or out of range. */
static bool parse_size(const char *text, uint64_t *out) {
  char *end = NULL;
  unsigned long long v = strtoull(text, &end, 10);
  if (end == text) return false;
  if (*end == 'K' || *end == 'k') v <<= 10, end++;
  else if (*end == 'M' || *end == 'm') v <<= 20, end++;
  if (*end || v == 0 || v > (1ull << 31)) return false;
  *out = v;
  return true;
}

static bool drop_op(usbtpu_caps *caps, const char *name) {
  for (int i = 0; i < caps->n_ops; i++) {
    if (strcmp(usbtpu_op_name(caps->ops[i].op), name) != 0) continue;
    memmove(&caps->ops[i], &caps->ops[i + 1], (size_t)(caps->n_ops - i - 1) * sizeof caps->ops[0]);
    caps->n_ops--;
    return true;
  }
  return false;
}

int main(int argc, char **argv) {
  const char *output = NULL;
  unsigned major = 1, minor = 0, patch = 0;
  usbtpu_caps caps;
  fill_caps(&caps);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--print") && i + 1 < argc) {
      return print_image(argv[i + 1]);
    } else if (!strcmp(argv[i], "--fw-version") && i + 1 < argc) {
      if (sscanf(argv[++i], "%u.%u.%u", &major, &minor, &patch) < 2 || major > 0xffff ||
          minor > 0xff || patch > 0xff) {
        fprintf(stderr, "usbtpu_mkfw: bad --fw-version '%s' (MAJOR.MINOR[.PATCH])\n", argv[i]);
        return 2;
      }
    } else if ((!strcmp(argv[i], "--param-mem") || !strcmp(argv[i], "--act-mem")) &&
               i + 1 < argc) {
      bool param = !strcmp(argv[i], "--param-mem");
      if (!parse_size(argv[++i], param ? &caps.param_mem_bytes : &caps.act_mem_bytes)) {
        fprintf(stderr, "usbtpu_mkfw: bad size '%s' for %s (BYTES, or with K or M)\n", argv[i],
                argv[i - 1]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--without-op") && i + 1 < argc) {
      if (!drop_op(&caps, argv[++i])) {
        fprintf(stderr, "usbtpu_mkfw: --without-op: no op '%s' in the table\n", argv[i]);
        return 2;
      }
    } else if (argv[i][0] != '-' && !output) {
      output = argv[i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (!output) {
    usage(stderr);
    return 2;
  }
  uint8_t code[CODE_SIZE];
  fill_code(code);
  char build[32];
  snprintf(build, sizeof build, "halo-usbtpu %u.%u.%u", major, minor, patch);
  uint8_t *image = NULL;
  size_t size = 0;
  halo_err err;
  if (usbtpu_fw_build(major << 16 | minor << 8 | patch, build, &caps, code, sizeof code, &image,
                      &size, &err) != HALO_OK) {
    fprintf(stderr, "usbtpu_mkfw: %s\n", err.msg);
    return 1;
  }
  FILE *f = fopen(output, "wb");
  if (!f || fwrite(image, 1, size, f) != size || fclose(f) != 0) {
    perror(output);
    free(image);
    return 1;
  }
  free(image);
  printf("wrote %s (%zu bytes)\n", output, size);
  return 0;
}
