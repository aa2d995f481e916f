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

#include <cmocka.h>

#include "halo/halo.h"
#include "tests/support_usbtpu/usbtpu_session.h"
#include "tests/support_usbtpu/usbtpu_testbed.h"
#include "tools/vtpu/vtpu_umockdev.h"

#define MODEL "person_detect.tflite"

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

static void assert_contains(const char *text, const char *part, const char *what) {
  if (!strstr(text, part)) fail_msg("%s: no '%s' in: %s", what, part, text);
}

/* person_detect, the CPU's output for the input from `seed`, and a session
 * on `devices` that has run that input once (`what` names where). */
static void start_on_device(ut_case *c, uint32_t seed, const char *devices, int flags,
                            const char *what) {
  ut_case_start(c, MODEL, seed, devices, flags);
  ut_fill_input(c->s, seed);
  ut_invoke_ok(c->s, what);
}

/* Plugs usbtpu0 back in: the next invoke, on the input already there, gives
 * the CPU's output. */
static void replug_and_match(vtpu_testbed *tb, ut_case *c) {
  halo_err err;
  if (vtpu_testbed_replug(tb, 0, &err) != HALO_OK) fail_msg("replug: %s", err.msg);
  ut_invoke_ok(c->s, "after the replug");
  ut_assert_output(c->s, c->want, c->size, "after the replug");
}

/* a. Default options, "usbtpu,cpu": the invoke after the unplug falls back
 * to the CPU with the CPU's output, says so once, and the views the caller
 * took before keep working. */
static void unplug_falls_back_to_cpu(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  ut_case_start(&c, MODEL, 1, "usbtpu,cpu", 0);
  halo_session *s = c.s;
  size_t size = c.size, size_b = 0;
  uint8_t *want_b = ut_cpu_output(c.model, 2, &size_b);
  int total = halo_session_node_count(s);
  assert_true(nodes_on(s, "usbtpu0") > 0);
  halo_tensor *in = halo_session_input(s, 0);
  const halo_tensor *out = halo_session_output(s, 0);
  void *in_data = halo_tensor_data(in);
  const void *out_data = halo_tensor_data_const(out);
  ut_fill(in_data, halo_tensor_byte_size(in), 1);
  ut_invoke_ok(s, "on the device");
  assert_memory_equal(out_data, c.want, size);
  assert_string_equal(halo_session_notice(s), "");

  vtpu_testbed_unplug(tb, 0);
  /* The input is not written again: it must survive the move. */
  ut_invoke_ok(s, "after the unplug");
  ut_assert_output(s, c.want, size, "after the unplug");
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
  ut_fill(in_data, halo_tensor_byte_size(in), 2);
  ut_invoke_ok(s, "second invoke on the CPU");
  assert_memory_equal(out_data, want_b, size_b);
  /* The notice was about the invoke that moved the nodes. */
  assert_string_equal(halo_session_notice(s), "");

  ut_case_end(&c);
  free(want_b);
}

/* With two accelerators allowed the nodes move to the other one first, and
 * to the CPU when that one goes too. */
static void unplug_moves_to_the_next_device_in_order(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  start_on_device(&c, 3, "usbtpu0,usbtpu1,cpu", 0, "on usbtpu0");
  halo_session *s = c.s;
  assert_true(nodes_on(s, "usbtpu0") > 0);
  assert_int_equal(nodes_on(s, "usbtpu1"), 0);

  vtpu_testbed_unplug(tb, 0);
  ut_invoke_ok(s, "after usbtpu0 left");
  ut_assert_output(s, c.want, c.size, "after usbtpu0 left");
  assert_contains(halo_session_notice(s), "usbtpu0 is gone", "notice");
  assert_contains(halo_session_notice(s), "now run on usbtpu1", "notice");
  assert_int_equal(nodes_on(s, "usbtpu0"), 0);
  assert_true(nodes_on(s, "usbtpu1") > 0);

  vtpu_testbed_unplug(tb, 1);
  ut_invoke_ok(s, "after usbtpu1 left");
  ut_assert_output(s, c.want, c.size, "after usbtpu1 left");
  assert_contains(halo_session_notice(s), "usbtpu1 is gone", "notice");
  assert_contains(halo_session_notice(s), "now run on cpu", "notice");
  assert_int_equal(nodes_on(s, "cpu"), halo_session_node_count(s));
  ut_case_end(&c);
}

/* b. no_fallback: HALO_ENODEV with the device's message, the placement
 * stays, and once the device is back the next invoke runs on it. */
static void no_fallback_returns_enodev(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  start_on_device(&c, 4, "usbtpu,cpu", UT_NO_FALLBACK, "on the device");
  halo_session *s = c.s;
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

  replug_and_match(tb, &c);
  assert_int_equal(nodes_on(s, "usbtpu0"), on_device);
  ut_case_end(&c);
}

/* c. Only the accelerator allowed: nowhere to move, a clear error that
 * says the device is gone and why nothing can take its nodes; the session
 * keeps its placement and works again once the device is back. */
static void nowhere_to_go_fails_clearly(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  start_on_device(&c, 5, "usbtpu", 0, "on the device");
  halo_session *s = c.s;
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

  replug_and_match(tb, &c);
  ut_case_end(&c);
}

/* d. The plug pulled while the RUN frame is on its way: the same fallback,
 * from inside a transfer. */
static void unplug_during_the_run_falls_back(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  start_on_device(&c, 6, "usbtpu,cpu", 0, "on the device");
  vtpu_faults f = {0};
  f.unplug_after_runs = 1;
  ut_set_faults(tb, 0, &f);
  ut_invoke_ok(c.s, "unplugged mid-run");
  ut_assert_output(c.s, c.want, c.size, "unplugged mid-run");
  assert_contains(halo_session_notice(c.s), "usbtpu0 is gone", "notice");
  assert_int_equal(nodes_on(c.s, "cpu"), halo_session_node_count(c.s));
  ut_case_end(&c);
}

int main(void) {
  ut_init();
  /* One accelerator unless the test needs two, so "usbtpu" names usbtpu0 alone. */
  const struct CMUnitTest tests[] = {
      UT_TEST_ON_ONE(unplug_falls_back_to_cpu),
      UT_TEST_ON_TWO(unplug_moves_to_the_next_device_in_order),
      UT_TEST_ON_ONE(no_fallback_returns_enodev),
      UT_TEST_ON_ONE(nowhere_to_go_fails_clearly),
      UT_TEST_ON_ONE(unplug_during_the_run_falls_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
