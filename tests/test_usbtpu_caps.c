/* Support answers of the USB accelerator (usbtpu_capabilities.h) on
 * hand-built graphs, against the table of the committed firmware image:
 * what it runs, what it declines and the reason it gives, and when a node's
 * parameters must stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/usbtpu/usbtpu_capabilities.h"
#include "tests/support/op_harness.h"

#define FW_BLOB "firmware_blobs/usbtpu-fw-1.0.bin"

static usbtpu_caps caps;

static int load_caps(void **state) {
  (void)state;
  FILE *f = fopen(FW_BLOB, "rb");
  if (!f) return -1;
  static uint8_t buf[USBTPU_DFU_MAX_IMAGE];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  usbtpu_fw_info info;
  halo_err err;
  if (usbtpu_fw_parse(buf, n, &info, &err) != HALO_OK) return -1;
  caps = info.caps;
  return 0;
}

/* An int8 activation with per-tensor quantization. */
static int act(halo_graph *g, halo_dtype dt, int rank, const int32_t *dims) {
  int t = th_tensor(g, dt, rank, dims, NULL);
  if (dt == HALO_INT8) th_quant(g, t, 0.05f, 3);
  return t;
}

/* A constant int8 weight tensor (zeros), per-channel when channels > 1. */
static int weights(halo_graph *g, int rank, const int32_t *dims, int channels) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  void *data = calloc((size_t)n, 1);
  int t = th_tensor(g, HALO_INT8, rank, dims, data);
  free(data);
  float scales[64];
  int64_t zps[64];
  for (int i = 0; i < channels; i++) scales[i] = 0.01f, zps[i] = 0;
  th_quant_channels(g, t, 0, channels, scales, zps);
  return t;
}

static usbtpu_support check(halo_graph *g, int node) {
  halo_err err = {0};
  if (th_validate(g, &err) != HALO_OK) fail_msg("graph invalid: %s", err.msg);
  usbtpu_support s;
  usbtpu_caps_check_node(&caps, g, node, &s);
  return s;
}

static void expect_declined(halo_graph *g, int node, const char *why) {
  usbtpu_support s = check(g, node);
  assert_false(s.supported);
  if (strcmp(s.why, why) != 0) fail_msg("reason '%s', expected '%s'", s.why, why);
}

/* CONV_2D [1,H,W,Cin] * [Cout,K,K,Cin]; dt sets the activation dtype. */
static halo_graph *conv_graph(halo_dtype dt, int k, int stride, halo_activation a, int *node) {
  halo_graph *g = th_graph_new();
  int32_t in_d[4] = {1, 16, 16, 8}, w_d[4] = {4, k, k, 8};
  int in = act(g, dt, 4, in_d);
  int w;
  if (dt == HALO_INT8) {
    w = weights(g, 4, w_d, 4);
  } else {
    float *z = calloc((size_t)(4 * k * k * 8), sizeof *z);
    w = th_tensor(g, HALO_FLOAT32, 4, w_d, z);
    free(z);
  }
  int32_t o = (16 - k) / stride + 1;
  int32_t out_d[4] = {1, o, o, 4};
  int out = act(g, dt, 4, out_d);
  th_input(g, in);
  th_output(g, out);
  halo_op_params p = {.conv = {HALO_PAD_VALID, stride, stride, 1, 1, a}};
  *node = th_node(g, HALO_OP_CONV_2D, &p, 3, (int32_t[]){in, w, HALO_NO_TENSOR}, 1,
                  (int32_t[]){out});
  return g;
}

static void test_conv_supported(void **state) {
  (void)state;
  int n;
  halo_graph *g = conv_graph(HALO_INT8, 3, 1, HALO_ACT_RELU6, &n);
  usbtpu_support s = check(g, n);
  assert_true(s.supported);
  assert_int_equal(s.param_bytes, 4 * 3 * 3 * 8);
  assert_int_equal(s.macs, 14 * 14 * 4 * 3 * 3 * 8);
  halo_graph_destroy(g);
}

static void test_float_declined(void **state) {
  (void)state;
  int n;
  halo_graph *g = conv_graph(HALO_FLOAT32, 3, 1, HALO_ACT_NONE, &n);
  expect_declined(g, n, "int8 only");
  halo_graph_destroy(g);
}

static void test_conv_limits(void **state) {
  (void)state;
  int n;
  halo_graph *g = conv_graph(HALO_INT8, 9, 1, HALO_ACT_NONE, &n);
  expect_declined(g, n, "kernel 9x9 exceeds 7x7");
  halo_graph_destroy(g);
  g = conv_graph(HALO_INT8, 3, 5, HALO_ACT_NONE, &n);
  expect_declined(g, n, "stride 5x5 exceeds 4x4");
  halo_graph_destroy(g);
}

static void test_depthwise_kernel(void **state) {
  (void)state;
  halo_graph *g = th_graph_new();
  int32_t in_d[4] = {1, 16, 16, 8}, w_d[4] = {1, 7, 7, 8}, out_d[4] = {1, 10, 10, 8};
  int in = act(g, HALO_INT8, 4, in_d);
  int w = weights(g, 4, w_d, 1);
  int out = act(g, HALO_INT8, 4, out_d);
  th_input(g, in);
  th_output(g, out);
  halo_op_params p = {.depthwise = {HALO_PAD_VALID, 1, 1, 1, 1, 1, HALO_ACT_NONE}};
  int n = th_node(g, HALO_OP_DEPTHWISE_CONV_2D, &p, 3, (int32_t[]){in, w, HALO_NO_TENSOR}, 1,
                  (int32_t[]){out});
  expect_declined(g, n, "kernel 7x7 exceeds 5x5");
  halo_graph_destroy(g);
}

/* FULLY_CONNECTED [batch, K] x [cout, K]. */
static halo_graph *fc_graph(int batch, int k, int cout, int *node) {
  halo_graph *g = th_graph_new();
  int32_t in_d[2] = {batch, k}, w_d[2] = {cout, k}, out_d[2] = {batch, cout};
  int in = act(g, HALO_INT8, 2, in_d);
  int w = weights(g, 2, w_d, 1);
  int out = act(g, HALO_INT8, 2, out_d);
  th_input(g, in);
  th_output(g, out);
  halo_op_params p = {.fc = {HALO_ACT_NONE, false}};
  *node = th_node(g, HALO_OP_FULLY_CONNECTED, &p, 3, (int32_t[]){in, w, HALO_NO_TENSOR}, 1,
                  (int32_t[]){out});
  return g;
}

static void test_fc_output_1d(void **state) {
  (void)state;
  int n;
  halo_graph *g = fc_graph(1, 32, 10, &n);
  assert_true(check(g, n).supported);
  halo_graph_destroy(g);
  g = fc_graph(2, 32, 10, &n);
  expect_declined(g, n, "FULLY_CONNECTED output 2x10 is not 1-D");
  halo_graph_destroy(g);
}

static void test_fc_parameters_must_fit(void **state) {
  (void)state;
  int n;
  /* 9 MiB of weights: more than the 8 MiB parameter memory. A partition
   * streams its parameters layer by layer, but one layer must fit. */
  halo_graph *g = fc_graph(1, 1024, 9 * 1024, &n);
  expect_declined(g, n,
                  "FULLY_CONNECTED: 9437184 bytes of constants exceed the 8388608 bytes of "
                  "parameter memory");
  halo_graph_destroy(g);
  /* 7 MiB fits. */
  g = fc_graph(1, 1024, 7 * 1024, &n);
  usbtpu_support s = check(g, n);
  assert_true(s.supported);
  assert_int_equal(s.param_bytes, 7u << 20);
  halo_graph_destroy(g);
}

static halo_graph *softmax_graph(int rank, const int32_t *dims, int *node) {
  halo_graph *g = th_graph_new();
  int in = act(g, HALO_INT8, rank, dims);
  int out = th_tensor(g, HALO_INT8, rank, dims, NULL);
  th_quant(g, out, 1.f / 256, -128);
  th_input(g, in);
  th_output(g, out);
  halo_op_params p = {.softmax = {1.f}};
  *node = th_node(g, HALO_OP_SOFTMAX, &p, 1, (int32_t[]){in}, 1, (int32_t[]){out});
  return g;
}

static void test_softmax_limits(void **state) {
  (void)state;
  int n;
  halo_graph *g = softmax_graph(2, (int32_t[]){1, 16000}, &n);
  assert_true(check(g, n).supported);
  halo_graph_destroy(g);
  g = softmax_graph(2, (int32_t[]){1, 16001}, &n);
  expect_declined(g, n, "SOFTMAX over 16001 elements exceeds 16000");
  halo_graph_destroy(g);
  g = softmax_graph(2, (int32_t[]){4, 10}, &n);
  expect_declined(g, n, "SOFTMAX input 4x10 is not 1-D");
  halo_graph_destroy(g);
}

static void test_innermost_dims(void **state) {
  (void)state;
  /* A RELU over [2,4,4,8]: four dims > 1, only the three innermost may be. */
  halo_graph *g = th_graph_new();
  int32_t d[4] = {2, 4, 4, 8};
  int in = act(g, HALO_INT8, 4, d);
  int out = act(g, HALO_INT8, 4, d);
  th_input(g, in);
  th_output(g, out);
  int n = th_node(g, HALO_OP_RELU, NULL, 1, (int32_t[]){in}, 1, (int32_t[]){out});
  expect_declined(g, n, "input 2x4x4x8: only the 3 innermost dims may exceed 1");
  halo_graph_destroy(g);
}

static void test_op_not_in_table(void **state) {
  (void)state;
  halo_graph *g = th_graph_new();
  int32_t d[2] = {1, 8};
  int in = act(g, HALO_INT8, 2, d);
  int out = act(g, HALO_INT8, 2, d);
  th_input(g, in);
  th_output(g, out);
  int n = th_node(g, HALO_OP_RELU, NULL, 1, (int32_t[]){in}, 1, (int32_t[]){out});
  usbtpu_caps small = caps;
  small.n_ops = 1; /* CONV_2D only */
  usbtpu_support s;
  assert_false(usbtpu_caps_check_node(&small, g, n, &s));
  assert_string_equal(s.why, "RELU: not in the device's op table (firmware)");
  assert_true(usbtpu_caps_check_node(&caps, g, n, &s));
  halo_graph_destroy(g);
}

static void test_activation_memory(void **state) {
  (void)state;
  /* ADD of two [1,512,512,8] int8 tensors: 6 MiB of activations > 4 MiB. */
  halo_graph *g = th_graph_new();
  int32_t d[4] = {1, 512, 512, 8};
  int a = act(g, HALO_INT8, 4, d), b = act(g, HALO_INT8, 4, d), out = act(g, HALO_INT8, 4, d);
  th_input(g, a);
  th_input(g, b);
  th_output(g, out);
  halo_op_params p = {.binary = {HALO_ACT_NONE}};
  int n = th_node(g, HALO_OP_ADD, &p, 2, (int32_t[]){a, b}, 1, (int32_t[]){out});
  expect_declined(g, n, "activations of 6 MiB exceed 4 MiB activation memory");
  halo_graph_destroy(g);
}

static void test_enum_maps_round_trip(void **state) {
  (void)state;
  for (int op = 1; op < USBTPU_OP_LIMIT; op++) {
    halo_op h = usbtpu_op_to_halo((uint32_t)op);
    assert_int_not_equal(h, HALO_OP_INVALID);
    assert_int_equal(usbtpu_op_from_halo(h), op);
  }
  assert_int_equal(usbtpu_op_from_halo(HALO_OP_GATHER), USBTPU_OP_NONE);
  for (int dt = 1; dt <= USBTPU_DT_INT64; dt++)
    assert_int_equal(usbtpu_dtype_from_halo(usbtpu_dtype_to_halo((uint32_t)dt)), dt);
  assert_int_equal(usbtpu_act_from_halo(HALO_ACT_TANH), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_supported),     cmocka_unit_test(test_float_declined),
      cmocka_unit_test(test_conv_limits),        cmocka_unit_test(test_depthwise_kernel),
      cmocka_unit_test(test_fc_output_1d),       cmocka_unit_test(test_fc_parameters_must_fit),
      cmocka_unit_test(test_softmax_limits),     cmocka_unit_test(test_innermost_dims),
      cmocka_unit_test(test_op_not_in_table),    cmocka_unit_test(test_activation_memory),
      cmocka_unit_test(test_enum_maps_round_trip),
  };
  return cmocka_run_group_tests_name("usbtpu_caps", tests, load_caps, NULL);
}
