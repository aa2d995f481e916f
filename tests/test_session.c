/* The runtime layer: memory planning, placement across devices through
 * supports(), COPY insertion at device boundaries, and the public session
 * API on hand-built graphs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/cpu/cpu_device.h"
#include "hal/registry.h"
#include "runtime/model.h"
#include "hal/plan.h"
#include "runtime/session.h"
#include "tests/support/op_harness.h"

/* ---- planner ------------------------------------------------------------- */

static bool overlaps(const halo_plan_tensor *a, const halo_plan_tensor *b) {
  bool in_time = a->first <= b->last && b->first <= a->last;
  bool in_space = a->offset < b->offset + b->size && b->offset < a->offset + a->size;
  return a->size && b->size && in_time && in_space;
}

static void test_plan_reuses_dead_memory(void **state) {
  (void)state;
  /* A chain: t0 -> t1 -> t2 -> t3, each alive for two steps. t2 can reuse
   * t0's memory, t3 t1's: the peak is two tensors, not four. */
  halo_plan_tensor t[4] = {
      {1000, 0, 1, 0}, {1000, 1, 2, 0}, {1000, 2, 3, 0}, {1000, 3, 4, 0}};
  size_t arena = 0;
  assert_int_equal(halo_plan_offsets(t, 4, 64, &arena, NULL), HALO_OK);
  assert_int_equal(arena, 2 * 1024); /* 1000 rounded up to 64 = 1024 */
  for (int i = 0; i < 4; i++) {
    assert_int_equal(t[i].offset % 64, 0);
    for (int j = i + 1; j < 4; j++) assert_false(overlaps(&t[i], &t[j]));
  }
}

static void test_plan_random_lifetimes_never_collide(void **state) {
  (void)state;
  enum { N = 200 };
  halo_plan_tensor t[N];
  unsigned seed = 12345;
  size_t total = 0;
  for (int i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    int first = (int)(seed >> 8) % 100;
    seed = seed * 1103515245u + 12345u;
    int len = (int)(seed >> 8) % 20;
    seed = seed * 1103515245u + 12345u;
    size_t size = (seed >> 8) % 5000;
    t[i] = (halo_plan_tensor){size, first, first + len, 0};
    total += size + 64;
  }
  size_t arena = 0;
  assert_int_equal(halo_plan_offsets(t, N, 64, &arena, NULL), HALO_OK);
  for (int i = 0; i < N; i++) {
    assert_true(t[i].offset + t[i].size <= arena);
    for (int j = i + 1; j < N; j++) assert_false(overlaps(&t[i], &t[j]));
  }
  assert_true(arena < total); /* memory was reused */
}

static void test_plan_rejects_bad_alignment(void **state) {
  (void)state;
  halo_plan_tensor t[1] = {{10, 0, 1, 0}};
  size_t arena;
  halo_err err;
  assert_int_equal(halo_plan_offsets(t, 1, 48, &arena, &err), HALO_EINVAL);
  assert_non_null(strstr(err.msg, "power of two"));
}

/* ---- placement ----------------------------------------------------------- */

/* A second device for placement tests: the CPU's kernels behind a device
 * that only accepts ADD, as an accelerator with a small op table would. */
static halo_device_vtable adder_vtable;

static bool adder_supports(halo_device *dev, const halo_graph *g, int node, char *why,
                           size_t why_size) {
  if (g->nodes[node].op != HALO_OP_ADD) {
    snprintf(why, why_size, "only ADD");
    return false;
  }
  return true;
}

static halo_status adder_enumerate(halo_device **out, int max, int *found, halo_err *err) {
  *found = 0;
  if (max < 1) return HALO_OK;
  halo_status st = cpu_device_create(&out[0], err);
  if (st != HALO_OK) return st;
  adder_vtable = *out[0]->vt;
  adder_vtable.supports = adder_supports;
  out[0]->vt = &adder_vtable;
  out[0]->kind = "adder";
  snprintf(out[0]->name, sizeof out[0]->name, "adder0");
  *found = 1;
  return HALO_OK;
}

/* input x[4] -> RELU -> ADD(+c) -> RELU -> output */
static halo_graph *relu_add_relu_graph(void) {
  halo_graph *g = th_graph_new();
  int32_t dims[1] = {4};
  static const float c[4] = {1.f, -2.f, 0.5f, -10.f};
  int x = th_tensor(g, HALO_FLOAT32, 1, dims, NULL);
  int a = th_tensor(g, HALO_FLOAT32, 1, dims, NULL);
  int k = th_tensor(g, HALO_FLOAT32, 1, dims, c);
  int b = th_tensor(g, HALO_FLOAT32, 1, dims, NULL);
  int y = th_tensor(g, HALO_FLOAT32, 1, dims, NULL);
  th_input(g, x);
  th_output(g, y);
  th_node(g, HALO_OP_RELU, NULL, 1, (int32_t[]){x}, 1, (int32_t[]){a});
  th_node(g, HALO_OP_ADD, NULL, 2, (int32_t[]){a, k}, 1, (int32_t[]){b});
  th_node(g, HALO_OP_RELU, NULL, 1, (int32_t[]){b}, 1, (int32_t[]){y});
  return g;
}

static void run_relu_add_relu(const char *devices, float out[4]) {
  halo_graph *g = relu_add_relu_graph();
  halo_model model = {NULL, 0, g};
  halo_options o;
  halo_options_init(&o);
  o.devices = devices;
  o.profiling = 1;
  halo_session *s = NULL;
  halo_error e;
  halo_status st = halo_session_create(&model, &o, &s, &e);
  if (st != HALO_OK) fail_msg("session: %s", e.message);
  const float x[4] = {-1.f, 2.f, 3.f, 4.f};
  assert_int_equal(halo_tensor_copy_from(halo_session_input(s, 0), x, sizeof x), HALO_OK);
  st = halo_session_invoke(s);
  if (st != HALO_OK) fail_msg("invoke: %s", halo_session_error(s));
  assert_int_equal(halo_tensor_copy_to(halo_session_output(s, 0), out, 4 * sizeof(float)),
                   HALO_OK);
  halo_session_destroy(s);
  halo_graph_destroy(g);
}

static void test_placement_splits_and_copies(void **state) {
  (void)state;
  assert_int_equal(halo_registry_add_driver(adder_enumerate), HALO_OK);
  halo_graph *g = relu_add_relu_graph();
  halo_model model = {NULL, 0, g};
  halo_options o;
  halo_options_init(&o);
  o.devices = "adder,cpu";
  o.profiling = 1;
  halo_session *s = NULL;
  halo_error e;
  if (halo_session_create(&model, &o, &s, &e) != HALO_OK) fail_msg("session: %s", e.message);

  /* RELU (cpu), COPY to adder0, ADD (adder0), COPY to cpu, RELU (cpu). */
  const char *expect_op[] = {"RELU", "COPY", "ADD", "COPY", "RELU"};
  const char *expect_dev[] = {"cpu", "adder0", "adder0", "cpu", "cpu"};
  assert_int_equal(halo_session_node_count(s), 5);
  for (int i = 0; i < 5; i++) {
    const char *op, *dev, *why;
    assert_int_equal(halo_session_node_info(s, i, &op, &dev, &why), HALO_OK);
    assert_string_equal(op, expect_op[i]);
    assert_string_equal(dev, expect_dev[i]);
    if (strcmp(op, "RELU") == 0) {
      assert_non_null(why);
      assert_non_null(strstr(why, "adder0: only ADD"));
    }
  }
  const float x[4] = {-1.f, 2.f, 3.f, 4.f};
  float y[4];
  assert_int_equal(halo_tensor_copy_from(halo_session_input(s, 0), x, sizeof x), HALO_OK);
  if (halo_session_invoke(s) != HALO_OK) fail_msg("invoke: %s", halo_session_error(s));
  assert_int_equal(halo_tensor_copy_to(halo_session_output(s, 0), y, sizeof y), HALO_OK);
  /* relu(x) + c = {0+1, 2-2, 3+0.5, 4-10} -> relu -> {1, 0, 3.5, 0} */
  const float want[4] = {1.f, 0.f, 3.5f, 0.f};
  for (int i = 0; i < 4; i++) assert_float_equal(y[i], want[i], 0.f);
  /* One profile event per node, copies included. */
  assert_int_equal(halo_session_profile_count(s), 5);
  assert_string_equal(halo_session_profile_entry(s, 1)->op, "COPY");
  halo_session_destroy(s);
  halo_graph_destroy(g);
  halo_registry_reset_drivers();
}

static void test_cpu_only_matches_split(void **state) {
  (void)state;
  float y[4];
  run_relu_add_relu("cpu", y);
  const float want[4] = {1.f, 0.f, 3.5f, 0.f};
  for (int i = 0; i < 4; i++) assert_float_equal(y[i], want[i], 0.f);
}

static void test_unknown_device_is_an_error(void **state) {
  (void)state;
  halo_graph *g = relu_add_relu_graph();
  halo_model model = {NULL, 0, g};
  halo_options o;
  halo_options_init(&o);
  o.devices = "tpu9";
  halo_session *s = NULL;
  halo_error e;
  assert_int_equal(halo_session_create(&model, &o, &s, &e), HALO_ENOTFOUND);
  assert_null(s);
  assert_non_null(strstr(e.message, "'tpu9'"));
  assert_non_null(strstr(e.message, "available: cpu"));
  halo_graph_destroy(g);
}

static void test_unsupported_op_fails_at_create(void **state) {
  (void)state;
  /* Only the adder device is allowed: RELU has nowhere to run. */
  assert_int_equal(halo_registry_add_driver(adder_enumerate), HALO_OK);
  halo_graph *g = relu_add_relu_graph();
  halo_model model = {NULL, 0, g};
  halo_options o;
  halo_options_init(&o);
  o.devices = "adder";
  halo_session *s = NULL;
  halo_error e;
  assert_int_equal(halo_session_create(&model, &o, &s, &e), HALO_EUNSUPPORTED);
  assert_non_null(strstr(e.message, "operator 0 (RELU)"));
  assert_non_null(strstr(e.message, "only ADD"));
  halo_graph_destroy(g);
  halo_registry_reset_drivers();
}

static void test_unknown_op_named_at_create(void **state) {
  (void)state;
  halo_graph *g = th_graph_new();
  int32_t dims[1] = {4};
  int x = th_tensor(g, HALO_FLOAT32, 1, dims, NULL);
  int y = th_tensor(g, HALO_FLOAT32, 1, dims, NULL);
  th_input(g, x);
  th_output(g, y);
  int n = th_node(g, HALO_OP_INVALID, NULL, 1, (int32_t[]){x}, 1, (int32_t[]){y});
  g->nodes[n].source_op = "LSTM";
  halo_model model = {NULL, 0, g};
  halo_session *s = NULL;
  halo_error e;
  assert_int_equal(halo_session_create(&model, NULL, &s, &e), HALO_EUNSUPPORTED);
  assert_non_null(strstr(e.message, "operator 0 (LSTM)"));
  halo_graph_destroy(g);
}

static void test_tensor_api(void **state) {
  (void)state;
  halo_graph *g = relu_add_relu_graph();
  g->tensors[0].name = "image";
  g->tensors[4].name = "scores";
  halo_model model = {NULL, 0, g};
  halo_session *s = NULL;
  halo_error e;
  if (halo_session_create(&model, NULL, &s, &e) != HALO_OK) fail_msg("%s", e.message);
  assert_int_equal(halo_session_input_count(s), 1);
  assert_int_equal(halo_session_output_count(s), 1);
  assert_ptr_equal(halo_session_input_by_name(s, "image"), halo_session_input(s, 0));
  assert_ptr_equal(halo_session_output_by_name(s, "scores"), halo_session_output(s, 0));
  assert_null(halo_session_input_by_name(s, "nope"));
  assert_null(halo_session_input(s, 1));
  const halo_tensor *t = halo_session_input(s, 0);
  assert_int_equal(halo_tensor_dtype(t), HALO_FLOAT32);
  assert_int_equal(halo_tensor_rank(t), 1);
  assert_int_equal(halo_tensor_dim(t, 0), 4);
  assert_int_equal(halo_tensor_dim(t, 1), 0);
  assert_int_equal(halo_tensor_byte_size(t), 16);
  float tiny[2] = {0};
  assert_int_equal(halo_tensor_copy_from(halo_session_input(s, 0), tiny, sizeof tiny),
                   HALO_EINVAL);
  assert_non_null(strstr(halo_session_error(s), "holds 16 bytes, 8 were given"));
  assert_true(halo_session_arena_bytes(s) > 0);
  halo_session_destroy(s);
  halo_graph_destroy(g);
}

/* The model's inputs and outputs live in the session's io buffer: an
 * output that is also an input, or an output listed twice, is one slot;
 * every other tensor has its own; the memory stays put across invokes. */
static void test_io_slots_alias_and_stay(void **state) {
  (void)state;
  halo_graph *g = th_graph_new();
  int32_t dims[1] = {4};
  int x = th_tensor(g, HALO_FLOAT32, 1, dims, NULL);
  int y = th_tensor(g, HALO_FLOAT32, 1, dims, NULL);
  th_input(g, x);
  th_output(g, y);
  th_output(g, x);
  th_output(g, y);
  th_node(g, HALO_OP_RELU, NULL, 1, (int32_t[]){x}, 1, (int32_t[]){y});
  halo_model model = {NULL, 0, g};
  halo_session *s = NULL;
  halo_error e;
  if (halo_session_create(&model, NULL, &s, &e) != HALO_OK) fail_msg("%s", e.message);
  halo_tensor *in = halo_session_input(s, 0);
  float *px = halo_tensor_data(in);
  const float *py = halo_tensor_data_const(halo_session_output(s, 0));
  assert_non_null(px);
  assert_non_null(py);
  assert_ptr_equal(halo_tensor_data_const(halo_session_output(s, 1)), px);
  assert_ptr_equal(halo_tensor_data_const(halo_session_output(s, 2)), py);
  assert_true(py >= px + 4 || py + 4 <= px); /* y has a slot of its own */
  for (int run = 0; run < 2; run++) {
    const float x0[4] = {-1.f, 2.f, -3.f, 4.f};
    for (int i = 0; i < 4; i++) px[i] = x0[i] * (float)(run + 1);
    if (halo_session_invoke(s) != HALO_OK) fail_msg("invoke: %s", halo_session_error(s));
    assert_string_equal(halo_session_notice(s), "");
    assert_ptr_equal(halo_tensor_data(in), px);
    assert_ptr_equal(halo_tensor_data_const(halo_session_output(s, 0)), py);
    for (int i = 0; i < 4; i++) {
      float want = x0[i] * (float)(run + 1);
      assert_float_equal(px[i], want, 0.f); /* the input is left as written */
      assert_float_equal(py[i], want > 0.f ? want : 0.f, 0.f);
    }
  }
  halo_session_destroy(s);
  halo_graph_destroy(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plan_reuses_dead_memory),
      cmocka_unit_test(test_plan_random_lifetimes_never_collide),
      cmocka_unit_test(test_plan_rejects_bad_alignment),
      cmocka_unit_test(test_cpu_only_matches_split),
      cmocka_unit_test(test_placement_splits_and_copies),
      cmocka_unit_test(test_unknown_device_is_an_error),
      cmocka_unit_test(test_unsupported_op_fails_at_create),
      cmocka_unit_test(test_unknown_op_named_at_create),
      cmocka_unit_test(test_tensor_api),
      cmocka_unit_test(test_io_slots_alias_and_stay),
  };
  return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
