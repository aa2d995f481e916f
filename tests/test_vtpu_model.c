/* The virtual accelerator (tools/vtpu/) driven as the future libusb driver
 * will drive it, without USB: DFU download of the committed image (and a
 * corrupted one refused), re-enumeration, CSR reads of the capability table,
 * a framed program for an int8 CONV_2D + DEPTHWISE_CONV_2D + RESHAPE +
 * FULLY_CONNECTED graph executed bit-exactly with the CPU device, and the
 * parameter cache (the second run sends only the input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/usbtpu/usbtpu_firmware.h"
#include "drivers/usbtpu/usbtpu_program.h"
#include "drivers/usbtpu/usbtpu_protocol.h"
#include "tests/support/op_harness.h"
#include "tools/vtpu/vtpu.h"

#define FW_BLOB "firmware_blobs/usbtpu-fw-1.0.bin"

static uint8_t *read_blob(size_t *size) {
  FILE *f = fopen(FW_BLOB, "rb");
  assert_non_null(f);
  uint8_t *b = malloc(USBTPU_DFU_MAX_IMAGE);
  *size = fread(b, 1, USBTPU_DFU_MAX_IMAGE, f);
  fclose(f);
  return b;
}

static int ctrl(vtpu *d, uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint8_t *data,
                uint16_t len) {
  vtpu_setup s = {type, req, value, index, len};
  return vtpu_control(d, &s, data);
}

static void dfu_status(vtpu *d, uint8_t *status, uint8_t *state) {
  uint8_t b[6];
  assert_int_equal(ctrl(d, 0xA1, USBTPU_DFU_GETSTATUS, 0, 0, b, 6), 6);
  *status = b[0];
  *state = b[4];
}

/* DNLOAD blocks with GETSTATUS after each, the zero-length end, then
 * GETSTATUS through manifestation. Returns the final DFU status. */
static uint8_t dfu_download(vtpu *d, const uint8_t *img, size_t size) {
  uint8_t status, state;
  uint16_t block = 0;
  for (size_t off = 0; off < size; off += USBTPU_DFU_TRANSFER_SIZE, block++) {
    size_t n = size - off < USBTPU_DFU_TRANSFER_SIZE ? size - off : USBTPU_DFU_TRANSFER_SIZE;
    int r = ctrl(d, 0x21, USBTPU_DFU_DNLOAD, block, 0, (uint8_t *)img + off, (uint16_t)n);
    if (r < 0) {
      dfu_status(d, &status, &state);
      return status;
    }
    dfu_status(d, &status, &state);
    assert_int_equal(state, USBTPU_DFU_DNLOAD_IDLE);
  }
  assert_int_equal(ctrl(d, 0x21, USBTPU_DFU_DNLOAD, block, 0, NULL, 0), 0);
  dfu_status(d, &status, &state);
  if (status != USBTPU_DFU_OK) {
    assert_int_equal(state, USBTPU_DFU_ERROR);
    return status;
  }
  assert_int_equal(state, USBTPU_DFU_MANIFEST);
  dfu_status(d, &status, &state);
  assert_int_equal(state, USBTPU_DFU_IDLE);
  return status;
}

static vtpu *booted_device(void) {
  vtpu *d;
  halo_err err;
  assert_int_equal(vtpu_create(NULL, &d, &err), HALO_OK);
  size_t size;
  uint8_t *img = read_blob(&size);
  assert_int_equal(dfu_download(d, img, size), USBTPU_DFU_OK);
  free(img);
  vtpu_usb_reset(d);
  assert_int_equal(vtpu_product_id(d), USBTPU_PID_APP);
  return d;
}

static uint64_t csr_read(vtpu *d, uint32_t addr, int width) {
  uint8_t b[8];
  int req = width == 8 ? USBTPU_REQ_CSR_READ64 : USBTPU_REQ_CSR_READ32;
  assert_int_equal(ctrl(d, USBTPU_REQTYPE_VENDOR_IN, (uint8_t)req, (uint16_t)addr,
                        (uint16_t)(addr >> 16), b, (uint16_t)width),
                   width);
  return width == 8 ? usbtpu_get64(b) : usbtpu_get32(b);
}

static void test_dfu_boot_and_upload_verify(void **state) {
  (void)state;
  vtpu *d;
  halo_err err;
  vtpu_config cfg = {.serial = "SERIAL42", .usb2 = true};
  assert_int_equal(vtpu_create(&cfg, &d, &err), HALO_OK);
  assert_int_equal(vtpu_product_id(d), USBTPU_PID_BOOT);
  size_t size;
  uint8_t *img = read_blob(&size);
  assert_int_equal(dfu_download(d, img, size), USBTPU_DFU_OK);
  /* UPLOAD reads back what the device holds. */
  uint8_t *back = malloc(size + USBTPU_DFU_TRANSFER_SIZE);
  size_t got = 0;
  for (uint16_t block = 0;; block++) {
    int n = ctrl(d, 0xA1, USBTPU_DFU_UPLOAD, block, 0, back + got, USBTPU_DFU_TRANSFER_SIZE);
    assert_true(n >= 0);
    got += (size_t)n;
    if (n < (int)USBTPU_DFU_TRANSFER_SIZE) break;
  }
  assert_int_equal(got, size);
  assert_memory_equal(back, img, size);
  /* Reset: re-enumerates with the application PID and the same serial. */
  vtpu_usb_reset(d);
  assert_int_equal(vtpu_product_id(d), USBTPU_PID_APP);
  uint8_t s[64];
  int n = ctrl(d, 0x80, 6, 0x0303, 0x0409, s, sizeof s);
  assert_int_equal(n, 2 + 2 * 8);
  assert_int_equal(s[2], 'S');
  uint8_t desc[256];
  size_t dn = vtpu_descriptors(d, desc, sizeof desc);
  assert_true(dn > 18 && dn <= sizeof desc);
  assert_int_equal(usbtpu_get16(desc + 10), USBTPU_PID_APP);
  assert_int_equal(csr_read(d, USBTPU_CSR_LINK_SPEED, 4), 2);
  free(back);
  free(img);
  vtpu_destroy(d);
}

static void test_dfu_refuses_bad_images(void **state) {
  (void)state;
  size_t size;
  uint8_t *img = read_blob(&size);
  vtpu *d;
  halo_err err;
  assert_int_equal(vtpu_create(NULL, &d, &err), HALO_OK);
  img[size - 10] ^= 1; /* a code byte: only the CRC notices */
  assert_int_equal(dfu_download(d, img, size), USBTPU_DFU_ERR_VERIFY);
  vtpu_usb_reset(d);
  assert_int_equal(vtpu_product_id(d), USBTPU_PID_BOOT); /* nothing to boot */
  assert_int_equal(ctrl(d, 0x21, USBTPU_DFU_CLRSTATUS, 0, 0, NULL, 0), 0);
  img[size - 10] ^= 1;
  usbtpu_put16(img + 4, 2); /* format version 2, resealed */
  usbtpu_put32(img + 32, usbtpu_fw_compute_crc(img, size));
  assert_int_equal(dfu_download(d, img, size), USBTPU_DFU_ERR_FILE);
  assert_int_equal(ctrl(d, 0x21, USBTPU_DFU_CLRSTATUS, 0, 0, NULL, 0), 0);
  vtpu_faults f = {.refuse_dfu = true};
  vtpu_set_faults(d, &f);
  usbtpu_put16(img + 4, 1);
  usbtpu_put32(img + 32, usbtpu_fw_compute_crc(img, size));
  assert_int_equal(dfu_download(d, img, size), USBTPU_DFU_ERR_VENDOR);
  vtpu_destroy(d);
  free(img);
}

/* CAPS_SIZE, then the capability table through the CSR window, parsed. */
static void read_caps(vtpu *d, usbtpu_caps *caps) {
  uint32_t size = (uint32_t)csr_read(d, USBTPU_CSR_CAPS_SIZE, 4);
  assert_true(size >= USBTPU_CAPS_HEADER_SIZE && size <= USBTPU_CSR_BLOCK_MAX);
  uint8_t table[USBTPU_CSR_BLOCK_MAX];
  assert_int_equal(ctrl(d, USBTPU_REQTYPE_VENDOR_IN, USBTPU_REQ_CSR_READ_BLOCK, 0,
                        USBTPU_CSR_CAPS_BASE >> 16, table, (uint16_t)size),
                   (int)size);
  halo_err err;
  assert_int_equal(usbtpu_caps_parse(table, size, "vtpu", caps, &err), HALO_OK);
}

static void test_caps_through_csrs(void **state) {
  (void)state;
  vtpu *d = booted_device();
  assert_int_equal(csr_read(d, USBTPU_CSR_ID, 4), USBTPU_DEVICE_ID);
  assert_int_equal(csr_read(d, USBTPU_CSR_FW_VERSION, 4), 0x010000);
  usbtpu_caps caps;
  read_caps(d, &caps);
  assert_int_equal(caps.param_mem_bytes, 8u << 20);
  /* 64-bit reads of the same window agree. */
  assert_int_equal(csr_read(d, USBTPU_CSR_CAPS_BASE + 16, 8), 8u << 20);
  /* Unknown registers stall. */
  uint8_t b[4];
  assert_int_equal(ctrl(d, USBTPU_REQTYPE_VENDOR_IN, USBTPU_REQ_CSR_READ32, 0x0FFC, 0, b, 4),
                   VTPU_STALL);
  vtpu_destroy(d);
}

/* ---- the program -------------------------------------------------------------- */

static uint32_t rng = 12345;
static uint8_t rnd(void) {
  rng = rng * 1103515245u + 12345u;
  return (uint8_t)(rng >> 16);
}

static halo_graph *small_net(void) {
  halo_graph *g = th_graph_new();
  int32_t in_d[4] = {1, 8, 8, 3}, c_w[4] = {8, 3, 3, 3}, c_o[4] = {1, 8, 8, 8};
  int32_t dw_w[4] = {1, 3, 3, 8}, dw_o[4] = {1, 4, 4, 8}, flat[2] = {1, 128};
  int32_t fc_w[2] = {10, 128}, fc_o[2] = {1, 10}, shape_d[1] = {2}, b8[1] = {8}, b10[1] = {10};
  int8_t w1[8 * 27], w2[72], w3[1280];
  int32_t bias1[8], bias2[8], bias3[10];
  for (size_t i = 0; i < sizeof w1; i++) w1[i] = (int8_t)(rnd() % 255 - 127);
  for (size_t i = 0; i < sizeof w2; i++) w2[i] = (int8_t)(rnd() % 255 - 127);
  for (size_t i = 0; i < sizeof w3; i++) w3[i] = (int8_t)(rnd() % 255 - 127);
  for (int i = 0; i < 8; i++) bias1[i] = (int32_t)rnd() * 7 - 900, bias2[i] = (int32_t)rnd() - 128;
  for (int i = 0; i < 10; i++) bias3[i] = (int32_t)rnd() * 3 - 400;
  float s8[8], s10[10];
  int64_t z[10] = {0};
  for (int i = 0; i < 8; i++) s8[i] = 0.004f + 0.0007f * (float)i;
  for (int i = 0; i < 10; i++) s10[i] = 0.003f + 0.0002f * (float)i;

  int x = th_tensor(g, HALO_INT8, 4, in_d, NULL);
  th_quant(g, x, 0.02f, -3);
  int cw = th_tensor(g, HALO_INT8, 4, c_w, w1);
  th_quant_channels(g, cw, 0, 8, s8, z);
  int cb = th_tensor(g, HALO_INT32, 1, b8, bias1);
  int co = th_tensor(g, HALO_INT8, 4, c_o, NULL);
  th_quant(g, co, 0.03f, -20);
  int dw = th_tensor(g, HALO_INT8, 4, dw_w, w2);
  th_quant_channels(g, dw, 3, 8, s8, z);
  int db = th_tensor(g, HALO_INT32, 1, b8, bias2);
  int dwo = th_tensor(g, HALO_INT8, 4, dw_o, NULL);
  th_quant(g, dwo, 0.04f, 5);
  int shp = th_tensor(g, HALO_INT32, 1, shape_d, flat);
  int r = th_tensor(g, HALO_INT8, 2, flat, NULL);
  th_quant(g, r, 0.04f, 5);
  int fw = th_tensor(g, HALO_INT8, 2, fc_w, w3);
  th_quant_channels(g, fw, 0, 10, s10, z);
  int fb = th_tensor(g, HALO_INT32, 1, b10, bias3);
  int y = th_tensor(g, HALO_INT8, 2, fc_o, NULL);
  th_quant(g, y, 0.1f, 2);
  th_input(g, x);
  th_output(g, y);
  halo_op_params p = {.conv = {HALO_PAD_SAME, 1, 1, 1, 1, HALO_ACT_RELU6}};
  th_node(g, HALO_OP_CONV_2D, &p, 3, (int32_t[]){x, cw, cb}, 1, (int32_t[]){co});
  p = (halo_op_params){.depthwise = {HALO_PAD_SAME, 2, 2, 1, 1, 1, HALO_ACT_RELU}};
  th_node(g, HALO_OP_DEPTHWISE_CONV_2D, &p, 3, (int32_t[]){co, dw, db}, 1, (int32_t[]){dwo});
  th_node(g, HALO_OP_RESHAPE, NULL, 2, (int32_t[]){dwo, shp}, 1, (int32_t[]){r});
  p = (halo_op_params){.fc = {HALO_ACT_NONE, false}};
  th_node(g, HALO_OP_FULLY_CONNECTED, &p, 3, (int32_t[]){r, fw, fb}, 1, (int32_t[]){y});
  return g;
}

static uint32_t seq;

/* The header of the next frame (sequence number `seq`, CRC of the payload). */
static void frame_header(uint8_t h[USBTPU_FRAME_HEADER_SIZE], uint8_t tag, uint32_t arg,
                         const void *payload, uint32_t len) {
  memset(h, 0, USBTPU_FRAME_HEADER_SIZE);
  usbtpu_put32(h, USBTPU_FRAME_MAGIC);
  h[4] = USBTPU_FRAME_VERSION;
  h[5] = tag;
  usbtpu_put16(h + 6, USBTPU_FRAME_CRC);
  usbtpu_put32(h + 8, seq++);
  usbtpu_put32(h + 12, len);
  usbtpu_put32(h + 16, usbtpu_crc32(0, payload, len));
  usbtpu_put32(h + 20, arg);
}

static void send_frame(vtpu *d, uint8_t tag, uint32_t arg, const void *payload, uint32_t len) {
  uint8_t h[USBTPU_FRAME_HEADER_SIZE];
  frame_header(h, tag, arg, payload, len);
  /* Header and payload in separate transfers: the device must reassemble. */
  assert_int_equal(vtpu_bulk_out(d, USBTPU_EP_BULK_OUT, h, sizeof h), (int)sizeof h);
  assert_int_equal(vtpu_bulk_out(d, USBTPU_EP_BULK_OUT, payload, len), (int)len);
}

/* An OUTPUT frame: the header comes as a transfer of its own, then the
 * payload, even when the host asks for more (docs §5). */
static void read_output(vtpu *d, int8_t *output, uint32_t bytes) {
  uint8_t buf[USBTPU_FRAME_HEADER_SIZE + 64];
  assert_int_equal(vtpu_bulk_in(d, USBTPU_EP_OUTPUT_IN, buf, sizeof buf),
                   (int)USBTPU_FRAME_HEADER_SIZE);
  assert_int_equal(buf[5], USBTPU_TAG_OUTPUT);
  assert_int_equal(usbtpu_get32(buf + 12), bytes);
  assert_int_equal(vtpu_bulk_in(d, USBTPU_EP_OUTPUT_IN, buf, sizeof buf), (int)bytes);
  memcpy(output, buf, bytes);
}

/* The program's parameters in PARAMS frames of at most `chunk` bytes. */
static void send_params(vtpu *d, const usbtpu_program *prog, size_t chunk) {
  for (size_t off = 0; off < prog->param_size; off += chunk) {
    size_t n = prog->param_size - off < chunk ? prog->param_size - off : chunk;
    send_frame(d, USBTPU_TAG_PARAMS, (uint32_t)off, prog->params + off, (uint32_t)n);
  }
}

static void invoke(vtpu *d, const usbtpu_program *prog, const int8_t *input, int8_t *output,
                   bool cached) {
  if (!cached) {
    send_frame(d, USBTPU_TAG_PROGRAM, 0, prog->bytes, (uint32_t)prog->size);
    send_params(d, prog, 1000);
  }
  send_frame(d, USBTPU_TAG_INPUT, 0, input, prog->input_bytes[0]);
  uint8_t run_id[8] = {7};
  send_frame(d, USBTPU_TAG_RUN, 0, run_id, 8);
  uint8_t ev[USBTPU_EVENT_SIZE];
  assert_int_equal(vtpu_bulk_in(d, USBTPU_EP_EVENT_IN, ev, sizeof ev), (int)USBTPU_EVENT_SIZE);
  assert_int_equal(ev[0], USBTPU_EVENT_RUN_DONE);
  if (ev[1] != 0) {
    uint8_t irq[USBTPU_IRQ_SIZE] = {0};
    vtpu_bulk_in(d, USBTPU_EP_INTR_IN, irq, sizeof irq);
    fail_msg("run failed: status %d, irq code %d", ev[1], irq[1]);
  }
  assert_int_equal(usbtpu_get64(ev + 8), 7);
  assert_true(usbtpu_get64(ev + 16) > 0);
  read_output(d, output, prog->output_bytes[0]);
  uint8_t buf[64];
  assert_int_equal(vtpu_bulk_in(d, USBTPU_EP_OUTPUT_IN, buf, sizeof buf), VTPU_NAK);
}

static void test_program_bit_exact_and_cached(void **state) {
  (void)state;
  halo_graph *g = small_net();
  int8_t input[192], want[10], got[10];
  for (int i = 0; i < 192; i++) input[i] = (int8_t)rnd();
  halo_err err = {0};
  const void *ins[1] = {input};
  void *outs[1] = {want};
  assert_int_equal(th_run(g, ins, outs, 1, &err), HALO_OK);

  vtpu *d = booted_device();
  usbtpu_caps caps;
  read_caps(d, &caps);
  usbtpu_program prog;
  int32_t nodes[4] = {0, 1, 2, 3};
  assert_int_equal(usbtpu_program_build(g, nodes, 4, &caps, &prog, &err), HALO_OK);
  assert_int_equal(prog.n_inputs, 1);
  assert_int_equal(prog.n_outputs, 1);
  assert_false(prog.streamed);

  seq = 100;
  invoke(d, &prog, input, got, false);
  assert_memory_equal(got, want, sizeof want);
  assert_int_equal(csr_read(d, USBTPU_CSR_PARAM_TOKEN, 8), prog.token);
  assert_int_equal(csr_read(d, USBTPU_CSR_LAYER_COUNT, 4), 4);
  uint64_t conv_cycles = csr_read(d, USBTPU_CSR_PERF_BASE, 8);
  assert_int_equal(conv_cycles, 200 + (8 * 8 * 8 * 27 + 4095) / 4096);
  vtpu_stats s1, s2;
  vtpu_get_stats(d, &s1);
  assert_int_equal(s1.param_bytes, prog.param_size);

  /* Second invoke with another input: only the input travels. */
  for (int i = 0; i < 192; i++) input[i] = (int8_t)rnd();
  assert_int_equal(th_run(g, ins, outs, 1, &err), HALO_OK);
  invoke(d, &prog, input, got, true);
  assert_memory_equal(got, want, sizeof want);
  vtpu_get_stats(d, &s2);
  assert_int_equal(s2.payload_bytes - s1.payload_bytes, 192 + 8); /* input + run id */
  assert_int_equal(s2.input_bytes - s1.input_bytes, 192);
  assert_int_equal(s2.param_bytes, s1.param_bytes);
  assert_int_equal(s2.cache_hits, 1);

  /* A corrupted frame stalls the endpoint; clear halt + soft reset recover. */
  vtpu_faults f = {.corrupt_next_out = true};
  vtpu_set_faults(d, &f);
  uint8_t h[USBTPU_FRAME_HEADER_SIZE];
  frame_header(h, USBTPU_TAG_INPUT, 0, input, 192);
  uint8_t frame[USBTPU_FRAME_HEADER_SIZE + 192];
  memcpy(frame, h, sizeof h);
  memcpy(frame + sizeof h, input, 192);
  assert_int_equal(vtpu_bulk_out(d, USBTPU_EP_BULK_OUT, frame, sizeof frame), VTPU_STALL);
  assert_int_equal(csr_read(d, USBTPU_CSR_ERROR_CODE, 4), USBTPU_ERR_FRAME_CRC);
  uint8_t irq[USBTPU_IRQ_SIZE];
  assert_int_equal(vtpu_bulk_in(d, USBTPU_EP_INTR_IN, irq, sizeof irq), (int)USBTPU_IRQ_SIZE);
  assert_int_equal(irq[1], USBTPU_ERR_FRAME_CRC);
  assert_int_equal(ctrl(d, 0x02, 1, 0, USBTPU_EP_BULK_OUT, NULL, 0), 0);
  uint8_t reset[4];
  usbtpu_put32(reset, USBTPU_RESET_SOFT);
  assert_int_equal(ctrl(d, USBTPU_REQTYPE_VENDOR_OUT, USBTPU_REQ_CSR_WRITE32, USBTPU_CSR_RESET, 0,
                        reset, 4),
                   4);
  assert_int_equal(csr_read(d, USBTPU_CSR_PARAM_TOKEN, 8), 0);
  invoke(d, &prog, input, got, false);
  assert_memory_equal(got, want, sizeof want);

  /* A RUN that fails (no parameters after a soft reset) still consumes the
   * input: the next run computes on the input sent for it, never on the
   * failed run's. */
  assert_int_equal(ctrl(d, USBTPU_REQTYPE_VENDOR_OUT, USBTPU_REQ_CSR_WRITE32, USBTPU_CSR_RESET, 0,
                        reset, 4),
                   4);
  send_frame(d, USBTPU_TAG_PROGRAM, 0, prog.bytes, (uint32_t)prog.size);
  send_frame(d, USBTPU_TAG_INPUT, 0, input, 192); /* the old input */
  uint8_t failing_run[8] = {9};
  send_frame(d, USBTPU_TAG_RUN, 0, failing_run, 8);
  uint8_t failed_ev[USBTPU_EVENT_SIZE];
  assert_int_equal(vtpu_bulk_in(d, USBTPU_EP_EVENT_IN, failed_ev, sizeof failed_ev),
                   (int)USBTPU_EVENT_SIZE);
  assert_int_equal(failed_ev[1], USBTPU_ERR_NO_PARAMS);
  while (vtpu_bulk_in(d, USBTPU_EP_INTR_IN, irq, sizeof irq) > 0) {
  }
  send_params(d, &prog, 1000);
  for (int i = 0; i < 192; i++) input[i] = (int8_t)rnd();
  assert_int_equal(th_run(g, ins, outs, 1, &err), HALO_OK);
  invoke(d, &prog, input, got, true);
  assert_memory_equal(got, want, sizeof want);
  assert_int_equal(vtpu_bulk_in(d, USBTPU_EP_INTR_IN, irq, sizeof irq), VTPU_NAK);

  /* Unplug mid-inference: the device is gone. */
  f = (vtpu_faults){.unplug_after_runs = 1};
  vtpu_set_faults(d, &f);
  send_frame(d, USBTPU_TAG_INPUT, 0, input, 192);
  uint8_t run_id[8] = {0};
  send_frame(d, USBTPU_TAG_RUN, 0, run_id, 8);
  uint8_t ev[USBTPU_EVENT_SIZE];
  assert_int_equal(vtpu_bulk_in(d, USBTPU_EP_EVENT_IN, ev, sizeof ev), VTPU_GONE);
  vtpu_replug(d);
  assert_int_equal(vtpu_product_id(d), USBTPU_PID_BOOT);

  usbtpu_program_free(&prog);
  vtpu_destroy(d);
  halo_graph_destroy(g);
}

/* Activation reuse and parameter segments, device side. The same network
 * lowered for a device with 1408 bytes of parameter memory streams in two
 * segments (the FC's 1.3 KiB of constants in the second); the device runs
 * it from PARAMS frames that span segments, twice, bit-exact; it refuses
 * PARAMS before the inputs, and a program whose layer reads a constant
 * outside its segment. */
static void test_program_streamed_segments(void **state) {
  (void)state;
  halo_graph *g = small_net();
  int8_t input[192], want[10], got[10];
  halo_err err = {0};
  const void *ins[1] = {input};
  void *outs[1] = {want};
  vtpu *d = booted_device();
  usbtpu_caps caps;
  read_caps(d, &caps);
  caps.param_mem_bytes = 1408;
  usbtpu_program prog;
  int32_t nodes[4] = {0, 1, 2, 3};
  assert_int_equal(usbtpu_program_build(g, nodes, 4, &caps, &prog, &err), HALO_OK);
  assert_true(prog.streamed);
  assert_int_equal(prog.n_segments, 2);
  assert_true(prog.max_segment_bytes <= 1408);
  /* 192 + 512 + 128 + 128 + 10 bytes of activations; the input and the
   * conv output are alive together, the rest reuses their space. */
  assert_true(prog.act_bytes < 1024);

  seq = 500;
  send_frame(d, USBTPU_TAG_PROGRAM, 0, prog.bytes, (uint32_t)prog.size);
  for (int run = 0; run < 2; run++) {
    for (int i = 0; i < 192; i++) input[i] = (int8_t)rnd();
    assert_int_equal(th_run(g, ins, outs, 1, &err), HALO_OK);
    send_frame(d, USBTPU_TAG_INPUT, 0, input, 192);
    send_params(d, &prog, 500);
    uint8_t run_id[8] = {9};
    send_frame(d, USBTPU_TAG_RUN, 0, run_id, 8);
    uint8_t ev[USBTPU_EVENT_SIZE];
    assert_int_equal(vtpu_bulk_in(d, USBTPU_EP_EVENT_IN, ev, sizeof ev), (int)USBTPU_EVENT_SIZE);
    assert_int_equal(ev[1], USBTPU_ERR_NONE);
    read_output(d, got, 10);
    assert_memory_equal(got, want, sizeof want);
    assert_int_equal(csr_read(d, USBTPU_CSR_PARAM_TOKEN, 8), 0); /* nothing cached */
  }
  /* Parameters before the inputs: the first segment could not run. */
  send_frame(d, USBTPU_TAG_PARAMS, 0, prog.params, 64);
  assert_int_equal(csr_read(d, USBTPU_CSR_ERROR_CODE, 4), USBTPU_ERR_INPUT);

  /* Decoding untrusted programs: the layers' segments must tile the blob
   * and hold the constants each layer reads. */
  halo_graph *dg = NULL;
  usbtpu_program_layout layout;
  static uint8_t pm[4096];
  assert_int_equal(usbtpu_program_decode(prog.bytes, prog.size, pm, 1408, 1 << 20, &dg, &layout,
                                         &err),
                   HALO_OK);
  assert_int_equal(layout.n_segments, 2);
  assert_true(layout.streamed);
  assert_int_equal(layout.segments[1].first_layer, 3);
  halo_graph_destroy(dg);
  assert_int_equal(usbtpu_program_decode(prog.bytes, prog.size, pm, 1024, 1 << 20, &dg, &layout,
                                         &err),
                   HALO_EFORMAT); /* the second segment exceeds parameter memory */
  uint8_t *bad = malloc(prog.size);
  uint32_t layers_off = usbtpu_get32(prog.bytes + 36), tensors_off = usbtpu_get32(prog.bytes + 32);
  memcpy(bad, prog.bytes, prog.size);
  usbtpu_put32(bad + layers_off + 3 * USBTPU_LAYER_RECORD_SIZE + 60, 64); /* FC segment offset */
  assert_int_equal(usbtpu_program_decode(bad, prog.size, pm, 4096, 1 << 20, &dg, &layout, &err),
                   HALO_EFORMAT);
  assert_non_null(strstr(err.msg, "segment"));
  memcpy(bad, prog.bytes, prog.size);
  /* The conv weights (tensor 1) moved to the FC's segment. */
  usbtpu_put32(bad + tensors_off + 1 * USBTPU_TENSOR_RECORD_SIZE + 28, 640);
  assert_int_equal(usbtpu_program_decode(bad, prog.size, pm, 4096, 1 << 20, &dg, &layout, &err),
                   HALO_EFORMAT);
  assert_non_null(strstr(err.msg, "outside the layer's parameter segment"));
  free(bad);

  usbtpu_program_free(&prog);
  vtpu_destroy(d);
  halo_graph_destroy(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dfu_boot_and_upload_verify),
      cmocka_unit_test(test_dfu_refuses_bad_images),
      cmocka_unit_test(test_caps_through_csrs),
      cmocka_unit_test(test_program_bit_exact_and_cached),
      cmocka_unit_test(test_program_streamed_segments),
  };
  return cmocka_run_group_tests_name("vtpu_model", tests, NULL, NULL);
}
