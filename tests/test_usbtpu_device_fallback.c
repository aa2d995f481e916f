/* Session-level fallback when a USB accelerator goes away
 * (runtime/session.c), through the real libusb path against virtual
 * accelerators plugged in with umockdev (tools/vtpu/vtpu_umockdev.c): the
 * device's run says HALO_ENODEV, the session places the whole model again
 * on the remaining allowed devices and runs the invoke again, so the
 * caller gets the CPU's output, a notice, and tensor views that still
 * work; with no_fallback, or with no device left, a clear error and a
 * session that works again once the device is back. Needs
 * person_detect.tflite from the shared models folder (HALO_SHARED, else
 * ../shared). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "halo/halo.h"
#include "tools/vtpu/vtpu_umockdev.h"

static char model_path[1024];

static int plug_in(void **state, int n) {
  halo_err err;
  vtpu_testbed *tb = NULL;
  if (vtpu_testbed_create(n, NULL, &tb, &err) != HALO_OK) {
    fprintf(stderr, "testbed: %s\n", err.msg);
    return -1;
  }
  *state = tb;
  return 0;
}

/* One accelerator, so "usbtpu" names usbtpu0 alone. */
static int setup_one(void **state) { return plug_in(state, 1); }
static int setup_two(void **state) { return plug_in(state, 2); }

static int teardown(void **state) {
  vtpu_testbed_destroy(*state);
  return 0;
}

static halo_model *load_model(void) {
  if (access(model_path, R_OK) != 0)
    fail_msg("%s is missing: set HALO_SHARED to the shared folder holding models/", model_path);
  halo_model *m = NULL;
  halo_error e;
  if (halo_model_load_file(model_path, &m, &e) != HALO_OK) fail_msg("load: %s", e.message);
  return m;
}

static halo_session *session(halo_model *m, const char *devices, int no_fallback) {
  halo_options o;
  halo_options_init(&o);
  o.devices = devices;
  o.no_fallback = no_fallback;
  halo_session *s = NULL;
  halo_error e;
  if (halo_session_create(m, &o, &s, &e) != HALO_OK) fail_msg("session %s: %s", devices, e.message);
  return s;
}

/* A pseudo-random input from `seed`, written to `data`. */
static void fill(void *data, size_t n, uint32_t seed) {
  uint8_t *p = data;
  uint32_t x = seed;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 16);
  }
}

/* The CPU's output for the input fill() makes from `seed`. */
static uint8_t *cpu_output(halo_model *m, uint32_t seed, size_t *size) {
  halo_session *cpu = session(m, "cpu", 0);
  halo_tensor *in = halo_session_input(cpu, 0);
  fill(halo_tensor_data(in), halo_tensor_byte_size(in), seed);
  if (halo_session_invoke(cpu) != HALO_OK) fail_msg("cpu: %s", halo_session_error(cpu));
  const halo_tensor *t = halo_session_output(cpu, 0);
  *size = halo_tensor_byte_size(t);
  uint8_t *want = malloc(*size);
  assert_non_null(want);
  memcpy(want, halo_tensor_data_const(t), *size);
  halo_session_destroy(cpu);
  return want;
}

/* Nodes placed on `device` (COPY nodes included). */
static int nodes_on(const halo_session *s, const char *device) {
  int n = 0;
  for (int i = 0; i < halo_session_node_count(s); i++) {
    const char *dev = NULL;
    assert_int_equal(halo_session_node_info(s, i, NULL, &dev, NULL), HALO_OK);
    n += strcmp(dev, device) == 0;
  }
  return n;
}

static void invoke_ok(halo_session *s, const char *what) {
  halo_status st = halo_session_invoke(s);
  if (st != HALO_OK) fail_msg("%s: %s: %s", what, halo_status_name(st), halo_session_error(s));
}

static void assert_contains(const char *text, const char *part, const char *what) {
  if (!strstr(text, part)) fail_msg("%s: no '%s' in: %s", what, part, text);
}

/* a. Default options, "usbtpu,cpu": the invoke after the unplug falls back
 * to the CPU with the CPU's output, says so once, and the views the caller
 * took before keep working. */
static void unplug_falls_back_to_cpu(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_model();
  size_t size = 0, size_b = 0;
  uint8_t *want = cpu_output(m, 1, &size);
  uint8_t *want_b = cpu_output(m, 2, &size_b);
  halo_session *s = session(m, "usbtpu,cpu", 0);
  int total = halo_session_node_count(s);
  assert_true(nodes_on(s, "usbtpu0") > 0);
  halo_tensor *in = halo_session_input(s, 0);
  const halo_tensor *out = halo_session_output(s, 0);
  void *in_data = halo_tensor_data(in);
  const void *out_data = halo_tensor_data_const(out);
  fill(in_data, halo_tensor_byte_size(in), 1);
  invoke_ok(s, "on the device");
  assert_memory_equal(out_data, want, size);
  assert_string_equal(halo_session_notice(s), "");

  vtpu_testbed_unplug(tb, 0);
  /* The input is not written again: it must survive the move. */
  invoke_ok(s, "after the unplug");
  assert_memory_equal(halo_tensor_data_const(halo_session_output(s, 0)), want, size);
  const char *notice = halo_session_notice(s);
  assert_contains(notice, "usbtpu0", "notice");
  assert_contains(notice, "gone", "notice");
  assert_contains(notice, "on cpu", "notice");
  assert_contains(notice, "unplugged", "notice"); /* the device's own words */
  /* Every node on the CPU now: no device left to copy to. */
  int n = halo_session_node_count(s);
  assert_true(n > 0 && n <= total);
  assert_int_equal(nodes_on(s, "cpu"), n);
  assert_int_equal(halo_session_partition_count(s), 1);
  const char *dev = NULL;
  assert_int_equal(halo_session_partition_info(s, 0, &dev, NULL, NULL, NULL), HALO_OK);
  assert_string_equal(dev, "cpu");

  /* The views taken before the move: the same objects, the same memory. */
  assert_ptr_equal(halo_session_input(s, 0), in);
  assert_ptr_equal(halo_session_output(s, 0), out);
  assert_ptr_equal(halo_tensor_data(in), in_data);
  assert_ptr_equal(halo_tensor_data_const(out), out_data);
  assert_int_equal(halo_tensor_byte_size(out), size_b);
  fill(in_data, halo_tensor_byte_size(in), 2);
  invoke_ok(s, "second invoke on the CPU");
  assert_memory_equal(out_data, want_b, size_b);
  /* The notice was about the invoke that moved the nodes. */
  assert_string_equal(halo_session_notice(s), "");

  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
  free(want_b);
}

/* With two accelerators allowed the nodes move to the other one first, and
 * to the CPU when that one goes too. */
static void unplug_moves_to_the_next_device_in_order(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_model();
  size_t size = 0;
  uint8_t *want = cpu_output(m, 3, &size);
  halo_session *s = session(m, "usbtpu0,usbtpu1,cpu", 0);
  halo_tensor *in = halo_session_input(s, 0);
  fill(halo_tensor_data(in), halo_tensor_byte_size(in), 3);
  invoke_ok(s, "on usbtpu0");
  assert_true(nodes_on(s, "usbtpu0") > 0);
  assert_int_equal(nodes_on(s, "usbtpu1"), 0);

  vtpu_testbed_unplug(tb, 0);
  invoke_ok(s, "after usbtpu0 left");
  assert_memory_equal(halo_tensor_data_const(halo_session_output(s, 0)), want, size);
  assert_contains(halo_session_notice(s), "usbtpu0 is gone", "notice");
  assert_contains(halo_session_notice(s), "now run on usbtpu1", "notice");
  assert_int_equal(nodes_on(s, "usbtpu0"), 0);
  assert_true(nodes_on(s, "usbtpu1") > 0);

  vtpu_testbed_unplug(tb, 1);
  invoke_ok(s, "after usbtpu1 left");
  assert_memory_equal(halo_tensor_data_const(halo_session_output(s, 0)), want, size);
  assert_contains(halo_session_notice(s), "usbtpu1 is gone", "notice");
  assert_contains(halo_session_notice(s), "now run on cpu", "notice");
  assert_int_equal(nodes_on(s, "cpu"), halo_session_node_count(s));
  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
}

/* b. no_fallback: HALO_ENODEV with the device's message, the placement
 * stays, and once the device is back the next invoke runs on it. */
static void no_fallback_returns_enodev(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_model();
  size_t size = 0;
  uint8_t *want = cpu_output(m, 4, &size);
  halo_session *s = session(m, "usbtpu,cpu", 1);
  halo_tensor *in = halo_session_input(s, 0);
  fill(halo_tensor_data(in), halo_tensor_byte_size(in), 4);
  invoke_ok(s, "on the device");
  int on_device = nodes_on(s, "usbtpu0");
  assert_true(on_device > 0);

  vtpu_testbed_unplug(tb, 0);
  for (int k = 0; k < 2; k++) {
    halo_status st = halo_session_invoke(s);
    const char *msg = halo_session_error(s);
    if (st != HALO_ENODEV) fail_msg("attempt %d: %s: %s", k, halo_status_name(st), msg);
    assert_contains(msg, "usbtpu0", "error");
    assert_contains(msg, "unplugged", "error");
    assert_string_equal(halo_session_notice(s), "");
    assert_int_equal(nodes_on(s, "usbtpu0"), on_device);
  }

  halo_err err;
  if (vtpu_testbed_replug(tb, 0, &err) != HALO_OK) fail_msg("replug: %s", err.msg);
  invoke_ok(s, "after the replug");
  assert_memory_equal(halo_tensor_data_const(halo_session_output(s, 0)), want, size);
  assert_int_equal(nodes_on(s, "usbtpu0"), on_device);
  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
}

/* c. Only the accelerator allowed: nowhere to move, a clear error that
 * says the device is gone and why nothing can take its nodes; the session
 * keeps its placement and works again once the device is back. */
static void nowhere_to_go_fails_clearly(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_model();
  size_t size = 0;
  uint8_t *want = cpu_output(m, 5, &size);
  halo_session *s = session(m, "usbtpu", 0);
  halo_tensor *in = halo_session_input(s, 0);
  fill(halo_tensor_data(in), halo_tensor_byte_size(in), 5);
  invoke_ok(s, "on the device");
  int on_device = nodes_on(s, "usbtpu0");
  assert_true(on_device > 0);

  vtpu_testbed_unplug(tb, 0);
  halo_status st = halo_session_invoke(s);
  const char *msg = halo_session_error(s);
  if (st != HALO_ENODEV) fail_msg("%s: %s", halo_status_name(st), msg);
  assert_contains(msg, "usbtpu0 is gone", "error");
  assert_contains(msg, "unplugged", "error");               /* the device's message */
  assert_contains(msg, "no allowed device runs it", "error"); /* the placer's */
  assert_contains(msg, "operator 0 (", "error");
  assert_string_equal(halo_session_notice(s), "");
  assert_int_equal(nodes_on(s, "usbtpu0"), on_device);

  halo_err err;
  if (vtpu_testbed_replug(tb, 0, &err) != HALO_OK) fail_msg("replug: %s", err.msg);
  invoke_ok(s, "after the replug");
  assert_memory_equal(halo_tensor_data_const(halo_session_output(s, 0)), want, size);
  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
}

/* d. The plug pulled while the RUN frame is on its way: the same fallback,
 * from inside a transfer. */
static void unplug_during_the_run_falls_back(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_model();
  size_t size = 0;
  uint8_t *want = cpu_output(m, 6, &size);
  halo_session *s = session(m, "usbtpu,cpu", 0);
  halo_tensor *in = halo_session_input(s, 0);
  fill(halo_tensor_data(in), halo_tensor_byte_size(in), 6);
  invoke_ok(s, "on the device");
  vtpu_faults f = {0};
  f.unplug_after_runs = 1;
  vtpu_set_faults(vtpu_testbed_lock(tb, 0), &f);
  vtpu_testbed_unlock(tb);
  invoke_ok(s, "unplugged mid-run");
  assert_memory_equal(halo_tensor_data_const(halo_session_output(s, 0)), want, size);
  assert_contains(halo_session_notice(s), "usbtpu0 is gone", "notice");
  assert_int_equal(nodes_on(s, "cpu"), halo_session_node_count(s));
  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
}

int main(void) {
  const char *build = getenv("HALO_BUILD");
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s/tmp", build && *build ? build : "build");
  mkdir(tmp, 0755);
  char *abs = realpath(tmp, NULL);
  if (abs) setenv("TMPDIR", abs, 1);
  free(abs);
  const char *shared = getenv("HALO_SHARED");
  snprintf(model_path, sizeof model_path, "%s/models/person_detect.tflite",
           shared && *shared ? shared : "../shared");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(unplug_falls_back_to_cpu, setup_one, teardown),
      cmocka_unit_test_setup_teardown(unplug_moves_to_the_next_device_in_order, setup_two,
                                      teardown),
      cmocka_unit_test_setup_teardown(no_fallback_returns_enodev, setup_one, teardown),
      cmocka_unit_test_setup_teardown(nowhere_to_go_fails_clearly, setup_one, teardown),
      cmocka_unit_test_setup_teardown(unplug_during_the_run_falls_back, setup_one, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
