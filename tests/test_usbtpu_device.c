/* The USB accelerator as a HAL device (drivers/usbtpu/usbtpu_device.c)
 * through a whole session, against virtual accelerators plugged in with
 * umockdev (tools/vtpu/vtpu_umockdev.c): enumeration boots the devices from
 * DFU with the committed firmware, the nodes the device supports are placed
 * on it, the output is byte-identical to a CPU-only session, and a second
 * invoke sends only the input (the parameter cache holds). Faults: each
 * one is recovered or ends in a clear error; an unplug, mid-inference or
 * between invokes, is HALO_ENODEV naming the device, and once the device is
 * plugged back in the next invoke re-attaches it (DFU boot) and works.
 * Sessions set no_fallback: these tests check the driver's own error, not
 * the session moving nodes to the CPU. Needs person_detect.tflite from the
 * shared models folder (HALO_SHARED, else ../shared). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "drivers/usbtpu/usbtpu_device.h"
#include "drivers/usbtpu/usbtpu_protocol.h"
#include "halo/halo.h"
#include "hal/registry.h"
#include "tests/support_usbtpu/usbtpu_session.h"
#include "tests/support_usbtpu/usbtpu_testbed.h"
#include "tools/vtpu/vtpu_umockdev.h"

#define MODEL "person_detect.tflite"
#define SEED 12345u /* every invoke here uses the same input */

/* person_detect, the CPU's output, and a session on "usbtpu,cpu" that has
 * run once and matched it. Sessions set no_fallback (see the top). */
static void start_clean(ut_case *c) {
  ut_case_start(c, MODEL, SEED, "usbtpu,cpu", UT_NO_FALLBACK);
  ut_case_invoke_matches(c, "clean");
}

static void enumerates_and_boots(void **state) {
  vtpu_testbed *tb = *state;
  halo_device **devs = NULL;
  int n = 0;
  halo_err err;
  assert_int_equal(halo_registry_create_devices(&devs, &n, NULL, 0, &err), HALO_OK);
  int found = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(devs[i]->kind, "usbtpu") != 0) continue;
    char want[32];
    snprintf(want, sizeof want, "usbtpu%d", found);
    assert_string_equal(devs[i]->name, want);
    assert_non_null(strstr(devs[i]->description, "firmware 1.0.0"));
    assert_non_null(strstr(devs[i]->description, "SuperSpeed"));
    assert_non_null(strstr(devs[i]->description, "VTPU000"));
    assert_true(devs[i]->vt->op_dtypes(devs[i], HALO_OP_CONV_2D) & (1u << HALO_INT8));
    found++;
  }
  assert_int_equal(found, 2);
  assert_int_equal(vtpu_testbed_enumerations(tb, 0), 1);
  assert_int_equal(vtpu_testbed_enumerations(tb, 1), 1);
  halo_registry_destroy_devices(devs, n);
}

static void session_matches_cpu_and_caches(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  ut_case_start(&c, MODEL, SEED, "usbtpu,cpu", UT_NO_FALLBACK | UT_PROFILING);
  halo_session *s = c.s;
  int on_tpu = 0;
  for (int i = 0; i < halo_session_node_count(s); i++) {
    const char *op, *dev, *reason;
    assert_int_equal(halo_session_node_info(s, i, &op, &dev, &reason), HALO_OK);
    if (strcmp(dev, "usbtpu0") == 0) {
      on_tpu++;
    } else if (strcmp(op, "COPY") != 0) {
      /* Passed over: the device said why. */
      if (!reason || !*reason) fail_msg("node %d (%s) on %s without a reason", i, op, dev);
    }
  }
  assert_true(on_tpu > 0);

  ut_case_invoke_matches(&c, "first invoke");

  bool usb_out = false, usb_in = false, layer = false;
  for (int i = 0; i < halo_session_profile_count(s); i++) {
    const halo_profile_entry *pe = halo_session_profile_entry(s, i);
    if (strcmp(pe->device, "usbtpu0") != 0) continue;
    usb_out |= strcmp(pe->op, "USB OUT") == 0;
    usb_in |= strcmp(pe->op, "USB IN") == 0;
    layer |= strcmp(pe->op, "CONV_2D") == 0 && pe->duration_ns > 0;
  }
  assert_true(usb_out && usb_in && layer);

  /* Second invoke: the program and its parameters stay on the device. */
  vtpu_stats a = ut_total_stats(tb);
  assert_true(a.program_bytes > 0 && a.param_bytes > 0);
  ut_case_invoke_matches(&c, "second invoke");
  vtpu_stats b = ut_total_stats(tb);
  assert_int_equal(b.program_bytes, a.program_bytes);
  assert_int_equal(b.param_bytes, a.param_bytes);
  assert_int_equal(b.runs, a.runs + 1);
  size_t in_size = halo_tensor_byte_size(halo_session_input(s, 0));
  assert_true(b.input_bytes - a.input_bytes >= in_size);
  /* Only INPUT and RUN frames: payload plus headers, no more. */
  assert_true(b.bulk_out_bytes - a.bulk_out_bytes < in_size + 4096);

  ut_case_end(&c);
}

/* Each fault once: the driver cancels, clears the halt, soft-resets,
 * re-sends program and parameters and retries; the output is the CPU's. */
static void one_fault_is_recovered(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  start_clean(&c);
  static const char *names[] = {"drop IN packet", "stall OUT", "timeout", "corrupt OUT frame"};
  for (int k = 0; k < 4; k++) {
    vtpu_faults f = {0};
    f.drop_next_in = k == 0;
    f.stall_next_out = k == 1;
    f.timeout_next = k == 2;
    f.corrupt_next_out = k == 3;
    ut_set_faults(tb, 0, &f);
    vtpu_stats a = ut_total_stats(tb);
    ut_case_invoke_matches(&c, names[k]);
    vtpu_stats b = ut_total_stats(tb);
    /* The knob fired and the recovery's reset dropped the parameter cache:
     * program and parameters again. */
    if (b.program_bytes <= a.program_bytes || b.param_bytes <= a.param_bytes)
      fail_msg("%s: program and parameters were not re-sent after the reset", names[k]);
    /* One-shot knobs clear themselves: the next invoke is an ordinary cached one. */
    a = ut_total_stats(tb);
    ut_case_invoke_matches(&c, "after recovery");
    b = ut_total_stats(tb);
    assert_int_equal(b.program_bytes, a.program_bytes);
  }
  ut_case_end(&c);
}

/* What a device may do that the protocol tolerates (docs §5): an OUTPUT
 * header sent together with its payload, a zero-length packet after a
 * payload. Each invoke matches the CPU with no recovery and no device
 * error. */
static void tolerated_device_behaviours(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  start_clean(&c); /* caches the program */
  for (int k = 0; k < 4; k++) {
    vtpu_faults f = {0};
    f.pack_output_frames = k & 1;
    f.zlp_after_output = k & 2;
    ut_set_faults(tb, 0, &f);
    vtpu_stats a = ut_total_stats(tb);
    ut_case_invoke_matches(&c, k & 1 ? "packed OUTPUT frame" : "OUTPUT header on its own");
    ut_case_invoke_matches(&c, "second invoke");
    vtpu_stats b = ut_total_stats(tb);
    /* A recovery would show as a device error or the program sent again. */
    if (b.errors != a.errors || b.program_bytes != a.program_bytes)
      fail_msg("case %d: %llu device errors, program re-sent: %d", k,
               (unsigned long long)(b.errors - a.errors), b.program_bytes != a.program_bytes);
  }
  vtpu_faults none = {0};
  ut_set_faults(tb, 0, &none);
  ut_case_end(&c);
}

/* A fault on the first attempt and another on the retry: a clear error
 * naming the device and the endpoint; with the knobs cleared the next
 * invoke works. */
static void fault_on_every_attempt_fails_clearly(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  start_clean(&c);
  struct {
    vtpu_faults f;
    halo_status code;
    const char *endpoint;
    const char *first; /* what the message says of the first attempt */
    const char *device_says; /* the device's ERROR_CODE, read before recovery */
  } cases[4];
  memset(cases, 0, sizeof cases);
  cases[0].f.stall_next_out = cases[0].f.corrupt_next_out = true; /* stall, then a bad CRC */
  cases[0].code = HALO_EDEVICE;
  cases[0].endpoint = "endpoint 0x01";
  cases[0].device_says = "the device reports FRAME_CRC at frame ";
  cases[1].f.stall_next_out = cases[1].f.drop_next_in = true; /* stall, then the event is lost */
  cases[1].code = HALO_ETIMEOUT;
  cases[1].endpoint = "endpoint 0x82";
  cases[2].f.corrupt_next_out = cases[2].f.drop_next_in = true; /* bad CRC, then event lost */
  cases[2].code = HALO_ETIMEOUT;
  cases[2].endpoint = "endpoint 0x82";
  cases[2].first = "the device reports FRAME_CRC at frame ";
  /* A timeout on each attempt: the INPUT frame is swallowed (libusb gives
   * up on it), then the retry's completion event is lost. */
  cases[3].f.timeout_next = cases[3].f.drop_next_in = true;
  cases[3].code = HALO_ETIMEOUT;
  cases[3].endpoint = "endpoint 0x82";
  cases[3].first = "endpoint 0x01: no answer within";
  for (int k = 0; k < 4; k++) {
    ut_set_faults(tb, 0, &cases[k].f);
    ut_fill_input(c.s, SEED);
    halo_status st = halo_session_invoke(c.s);
    const char *msg = halo_session_error(c.s);
    if (st != cases[k].code || !strstr(msg, "usbtpu0") || !strstr(msg, cases[k].endpoint) ||
        !strstr(msg, "after recovery") || (cases[k].first && !strstr(msg, cases[k].first)) ||
        (cases[k].device_says && !strstr(msg, cases[k].device_says)))
      fail_msg("case %d: status %d: %s", k, (int)st, msg);
    vtpu_faults none = {0};
    ut_set_faults(tb, 0, &none);
    ut_case_invoke_matches(&c, "after the knob was cleared");
  }
  ut_case_end(&c);
}

/* The message of a failed invoke names the device (HAL name, and the USB
 * name with port and serial) and says it was unplugged. */
static void assert_unplugged_error(halo_session *s, halo_status st, const char *what) {
  const char *msg = halo_session_error(s);
  if (st != HALO_ENODEV || !strstr(msg, "usbtpu0") || !strstr(msg, "usbtpu 1-1 VTPU0001") ||
      !strstr(msg, "unplugged"))
    fail_msg("%s: status %s: %s", what, halo_status_name(st), msg);
}

/* Plugs device 0 back in: the next invoke re-attaches it (boot mode, DFU
 * download, application mode: one more enumeration) and the output is the
 * CPU's again, program and parameters sent afresh. */
static void replug_and_match(vtpu_testbed *tb, ut_case *c) {
  int before = vtpu_testbed_enumerations(tb, 0);
  vtpu_stats a = ut_device_stats(tb, 0);
  halo_err err;
  if (vtpu_testbed_replug(tb, 0, &err) != HALO_OK) fail_msg("replug: %s", err.msg);
  assert_int_equal(vtpu_product_id(vtpu_testbed_lock(tb, 0)), USBTPU_PID_BOOT);
  vtpu_testbed_unlock(tb);
  ut_case_invoke_matches(c, "after the replug");
  assert_int_equal(vtpu_testbed_enumerations(tb, 0), before + 1);
  vtpu_stats b = ut_device_stats(tb, 0);
  assert_true(b.program_bytes > a.program_bytes && b.param_bytes > a.param_bytes);
  ut_case_invoke_matches(c, "cached, after the replug");
}

/* Unplugged between invokes: HALO_ENODEV naming the device, no retry, no
 * crash, and the next invoke fails the same clear way; plugged back in, the
 * next invoke works. */
static void unplugged_device_fails_clearly(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  start_clean(&c);
  vtpu_testbed_unplug(tb, 0);
  ut_fill_input(c.s, SEED);
  assert_unplugged_error(c.s, halo_session_invoke(c.s), "unplug");
  ut_fill_input(c.s, SEED);
  halo_status st = halo_session_invoke(c.s);
  assert_unplugged_error(c.s, st, "after unplug");
  assert_non_null(strstr(halo_session_error(c.s), "not back"));
  replug_and_match(tb, &c);
  ut_case_end(&c);
}

/* Unplugged mid-inference: the device drops off the bus when the RUN frame
 * arrives, while the driver waits on the event endpoint. The invoke fails
 * with HALO_ENODEV (no hang, no crash), so does the next one while the
 * device is away, and after the replug the next invoke works. */
static void unplug_mid_inference_then_replug(void **state) {
  vtpu_testbed *tb = *state;
  ut_case c;
  start_clean(&c);
  vtpu_faults f = {0};
  f.unplug_after_runs = 1;
  ut_set_faults(tb, 0, &f);
  vtpu_stats a = ut_device_stats(tb, 0);
  ut_fill_input(c.s, SEED);
  assert_unplugged_error(c.s, halo_session_invoke(c.s), "unplug mid-inference");
  vtpu_stats b;
  vtpu *d = vtpu_testbed_lock(tb, 0);
  vtpu_get_stats(d, &b);
  bool plugged = vtpu_plugged(d);
  vtpu_testbed_unlock(tb);
  assert_false(plugged);
  assert_int_equal(b.runs, a.runs + 1); /* the RUN frame arrived: mid-inference indeed */
  ut_fill_input(c.s, SEED);
  assert_unplugged_error(c.s, halo_session_invoke(c.s), "while unplugged");
  replug_and_match(tb, &c);
  ut_case_end(&c);
}

static void no_device_adds_none(void **state) {
  /* Both devices unplugged: enumeration succeeds and adds no usbtpu. */
  vtpu_testbed *tb = *state;
  vtpu_testbed_unplug(tb, 0);
  vtpu_testbed_unplug(tb, 1);
  halo_device *out[8];
  int found = -1;
  halo_err err;
  assert_int_equal(usbtpu_enumerate(out, 8, &found, &err), HALO_OK);
  assert_int_equal(found, 0);
}

/* tools/halo_vtpu.c: the CLI in a child process sees the devices the
 * launcher plugged in, through LD_PRELOAD and umockdev's socket. */
static void launcher_serves_a_child(void **state) {
  (void)state;
  char out[8192];
  int rc = ut_run_under_vtpu(NULL, "--devices 2 --usb2", "devices", out, sizeof out);
  if (rc != 0) fail_msg("halo-vtpu --devices 2 --usb2 -- halo devices: exit %d: %s", rc, out);
  const char *a = strstr(out, "usbtpu0");
  if (!a) fail_msg("no usbtpu0 in: %s", out);
  assert_non_null(strstr(a, "USB 2.0 high speed, serial VTPU0001"));
  assert_non_null(strstr(out, "usbtpu1"));
  assert_non_null(strstr(out, "serial VTPU0002"));
}

/* One row of a `halo bench --profile` table: tab-separated columns, the
 * first ([node type]) right-aligned. Returns false for other lines. */
static bool profile_row(const char *line, char *op, size_t op_cap, double *first_ms,
                        double *avg_ms, char *device, size_t device_cap) {
  if (line[0] != '\t') return false;
  const char *cols[16];
  int n = 0;
  for (const char *p = line; *p && *p != '\n' && n < 16; p++)
    if (*p == '\t') cols[n++] = p + 1;
  if (n < 3) return false;
  const char *a = cols[0];
  while (*a == ' ') a++;
  size_t len = (size_t)(cols[1] - 1 - a);
  if (len == 0 || len >= op_cap) return false;
  memcpy(op, a, len);
  op[len] = 0;
  char *end;
  *first_ms = strtod(cols[1], &end);
  if (end == cols[1]) return false;
  *avg_ms = strtod(cols[2], &end);
  if (end == cols[2]) return false;
  snprintf(device, device_cap, "%.*s", (int)strcspn(cols[n - 1], "\r\n"), cols[n - 1]);
  return true;
}

/* The accelerator leaves the bus in the middle of `halo run`: by default
 * the CLI says so once and the answer comes from the CPU (person.bmp is a
 * person: 0.941); with --no-fallback the run fails naming the device. */
static void cli_falls_back_when_unplugged(void **state) {
  (void)state;
  char model_path[1200], image[1200], args[2600];
  ut_shared_model_path(MODEL, model_path, sizeof model_path);
  ut_shared_model_path("person.bmp", image, sizeof image);
  if (access(model_path, R_OK) != 0 || access(image, R_OK) != 0)
    fail_msg("%s or %s is missing: set HALO_SHARED", model_path, image);
  static char out[1 << 15];
  snprintf(args, sizeof args, "run '%s' --input '%s' --devices usbtpu,cpu", model_path, image);
  int rc = ut_run_under_vtpu(NULL, "--unplug-after-runs 1", args, out, sizeof out);
  if (rc != 0 || !strstr(out, "note: usbtpu0 is gone") || !strstr(out, "now run on cpu") ||
      !strstr(out, "0.941406"))
    fail_msg("fallback: exit %d:\n%s", rc, out);
  snprintf(args, sizeof args, "run '%s' --input '%s' --devices usbtpu,cpu --no-fallback",
           model_path, image);
  rc = ut_run_under_vtpu(NULL, "--unplug-after-runs 1", args, out, sizeof out);
  if (rc != 1 || !strstr(out, "usbtpu0") || !strstr(out, "unplugged during the invoke") ||
      strstr(out, "0.941406"))
    fail_msg("--no-fallback: exit %d:\n%s", rc, out);

  /* `halo bench --profile` when the device goes in the third timed run (the
   * fourth RUN, after one warmup): the profile starts over there, so every
   * row of its tables is a CPU row. */
  static char bench[1 << 16];
  snprintf(args, sizeof args, "bench --profile --runs 5 '%s' --devices usbtpu,cpu", model_path);
  rc = ut_run_under_vtpu(NULL, "--unplug-after-runs 4", args, bench, sizeof bench);
  if (rc != 0 || !strstr(bench, "the profile covers run 3 on, after the fallback"))
    fail_msg("bench: exit %d:\n%s", rc, bench);
  int rows = 0, off_cpu = 0;
  for (const char *line = strstr(bench, "Run Order"); line; line = strchr(line + 1, '\n')) {
    char op[64], device[64];
    double first_ms, avg_ms;
    if (!profile_row(line + 1, op, sizeof op, &first_ms, &avg_ms, device, sizeof device)) continue;
    rows++;
    off_cpu += strcmp(device, "cpu") != 0;
  }
  if (rows < 31 || off_cpu) fail_msg("bench: %d rows, %d not on cpu:\n%s", rows, off_cpu, bench);
}

/* The done-means: `halo-vtpu -- halo bench --profile MODEL` shows
 * the nodes placed on the device with their device time, and the transfer
 * rows. */
static void bench_profile_shows_device_nodes(void **state) {
  (void)state;
  char model_path[1200], args[1400];
  ut_shared_model_path(MODEL, model_path, sizeof model_path);
  if (access(model_path, R_OK) != 0)
    fail_msg("%s is missing: set HALO_SHARED to the shared folder holding models/", model_path);
  snprintf(args, sizeof args, "bench --profile --runs 3 '%s'", model_path);
  static char out[1 << 16];
  int rc = ut_run_under_vtpu(NULL, "", args, out, sizeof out);
  if (rc != 0) fail_msg("halo-vtpu -- halo %s: exit %d: %s", args, rc, out);
  if (!strstr(out, "Devices used: usbtpu0")) fail_msg("usbtpu0 not used: %s", out);
  /* Rows of the Run Order table (the first table): op, times, device. */
  const char *table = strstr(out, "Run Order");
  if (table) table = strchr(table, '\n');
  if (!table) fail_msg("no Run Order table: %s", out);
  const char *table_end = strstr(table, "=====");
  int conv_timed = 0, usb_out = 0, usb_in = 0, rows = 0;
  for (const char *line = table; line && (!table_end || line < table_end);
       line = strchr(line + 1, '\n')) {
    char op[64], device[64];
    double first_ms, avg_ms;
    if (!profile_row(line + 1, op, sizeof op, &first_ms, &avg_ms, device, sizeof device)) continue;
    rows++;
    if (strcmp(device, "usbtpu0") != 0) continue;
    conv_timed += strcmp(op, "CONV_2D") == 0 && avg_ms > 0;
    usb_out += strcmp(op, "USB OUT") == 0 && avg_ms > 0;
    usb_in += strcmp(op, "USB IN") == 0 && avg_ms > 0;
  }
  if (conv_timed == 0 || usb_out != 1 || usb_in != 1)
    fail_msg("%d rows: %d CONV_2D rows on usbtpu0 with device time, %d USB OUT, %d USB IN: %s",
             rows, conv_timed, usb_out, usb_in, out);
}

int main(void) {
  ut_init();
  const struct CMUnitTest tests[] = {
      UT_TEST_ON_TWO(enumerates_and_boots),
      UT_TEST_ON_TWO(session_matches_cpu_and_caches),
      UT_TEST_ON_TWO(one_fault_is_recovered),
      UT_TEST_ON_TWO(tolerated_device_behaviours),
      UT_TEST_ON_TWO(fault_on_every_attempt_fails_clearly),
      UT_TEST_ON_TWO(unplugged_device_fails_clearly),
      UT_TEST_ON_TWO(unplug_mid_inference_then_replug),
      UT_TEST_ON_TWO(no_device_adds_none),
      cmocka_unit_test(launcher_serves_a_child),
      cmocka_unit_test(cli_falls_back_when_unplugged),
      cmocka_unit_test(bench_profile_shows_device_nodes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
