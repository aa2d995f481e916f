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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "drivers/usbtpu/usbtpu_device.h"
#include "drivers/usbtpu/usbtpu_protocol.h"
#include "halo/halo.h"
#include "hal/registry.h"
#include "tools/vtpu/vtpu_umockdev.h"

static char model_path[1024];

static int setup(void **state) {
  halo_err err;
  vtpu_testbed *tb = NULL;
  if (vtpu_testbed_create(2, NULL, &tb, &err) != HALO_OK) {
    fprintf(stderr, "testbed: %s\n", err.msg);
    return -1;
  }
  *state = tb;
  return 0;
}

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

static halo_session *session(halo_model *m, const char *devices, int profiling) {
  halo_options o;
  halo_options_init(&o);
  o.devices = devices;
  o.profiling = profiling;
  o.no_fallback = 1;
  halo_session *s = NULL;
  halo_error e;
  if (halo_session_create(m, &o, &s, &e) != HALO_OK) fail_msg("session %s: %s", devices, e.message);
  return s;
}

static void fill_input(halo_session *s) {
  halo_tensor *in = halo_session_input(s, 0);
  size_t n = halo_tensor_byte_size(in);
  uint8_t *p = halo_tensor_data(in);
  uint32_t x = 12345;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 16);
  }
}

static void sum_stats(vtpu_testbed *tb, vtpu_stats *out) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < vtpu_testbed_count(tb); i++) {
    vtpu_stats st;
    vtpu_get_stats(vtpu_testbed_lock(tb, i), &st);
    vtpu_testbed_unlock(tb);
    out->bulk_out_bytes += st.bulk_out_bytes;
    out->program_bytes += st.program_bytes;
    out->param_bytes += st.param_bytes;
    out->input_bytes += st.input_bytes;
    out->runs += st.runs;
  }
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
  halo_model *m = load_model();

  halo_session *cpu = session(m, "cpu", 0);
  fill_input(cpu);
  assert_int_equal(halo_session_invoke(cpu), HALO_OK);
  const halo_tensor *cout = halo_session_output(cpu, 0);
  size_t out_size = halo_tensor_byte_size(cout);
  uint8_t *want = malloc(out_size);
  memcpy(want, halo_tensor_data_const(cout), out_size);
  halo_session_destroy(cpu);

  halo_session *s = session(m, "usbtpu,cpu", 1);
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

  fill_input(s);
  if (halo_session_invoke(s) != HALO_OK) fail_msg("invoke: %s", halo_session_error(s));
  assert_memory_equal(halo_tensor_data_const(halo_session_output(s, 0)), want, out_size);

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
  vtpu_stats a, b;
  sum_stats(tb, &a);
  assert_true(a.program_bytes > 0 && a.param_bytes > 0);
  fill_input(s);
  assert_int_equal(halo_session_invoke(s), HALO_OK);
  sum_stats(tb, &b);
  assert_memory_equal(halo_tensor_data_const(halo_session_output(s, 0)), want, out_size);
  assert_int_equal(b.program_bytes, a.program_bytes);
  assert_int_equal(b.param_bytes, a.param_bytes);
  assert_int_equal(b.runs, a.runs + 1);
  size_t in_size = halo_tensor_byte_size(halo_session_input(s, 0));
  assert_true(b.input_bytes - a.input_bytes >= in_size);
  /* Only INPUT and RUN frames: payload plus headers, no more. */
  assert_true(b.bulk_out_bytes - a.bulk_out_bytes < in_size + 4096);

  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
}

/* The CPU's output for fill_input's input; *size gets its byte size. */
static uint8_t *cpu_output(halo_model *m, size_t *size) {
  halo_session *cpu = session(m, "cpu", 0);
  fill_input(cpu);
  assert_int_equal(halo_session_invoke(cpu), HALO_OK);
  const halo_tensor *t = halo_session_output(cpu, 0);
  *size = halo_tensor_byte_size(t);
  uint8_t *want = malloc(*size);
  memcpy(want, halo_tensor_data_const(t), *size);
  halo_session_destroy(cpu);
  return want;
}

static void invoke_matches(halo_session *s, const uint8_t *want, size_t size, const char *what) {
  fill_input(s);
  if (halo_session_invoke(s) != HALO_OK) fail_msg("%s: invoke: %s", what, halo_session_error(s));
  assert_memory_equal(halo_tensor_data_const(halo_session_output(s, 0)), want, size);
}

/* Each fault once: the driver cancels, clears the halt, soft-resets,
 * re-sends program and parameters and retries; the output is the CPU's. */
static void one_fault_is_recovered(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_model();
  size_t size = 0;
  uint8_t *want = cpu_output(m, &size);
  halo_session *s = session(m, "usbtpu,cpu", 0);
  invoke_matches(s, want, size, "clean");
  static const char *names[] = {"drop IN packet", "stall OUT", "timeout", "corrupt OUT frame"};
  for (int k = 0; k < 4; k++) {
    vtpu_faults f = {0};
    f.drop_next_in = k == 0;
    f.stall_next_out = k == 1;
    f.timeout_next = k == 2;
    f.corrupt_next_out = k == 3;
    vtpu_set_faults(vtpu_testbed_lock(tb, 0), &f);
    vtpu_testbed_unlock(tb);
    vtpu_stats a, b;
    sum_stats(tb, &a);
    invoke_matches(s, want, size, names[k]);
    sum_stats(tb, &b);
    /* The knob fired and the recovery's reset dropped the parameter cache:
     * program and parameters again. */
    if (b.program_bytes <= a.program_bytes || b.param_bytes <= a.param_bytes)
      fail_msg("%s: program and parameters were not re-sent after the reset", names[k]);
    /* One-shot knobs clear themselves: the next invoke is an ordinary cached one. */
    sum_stats(tb, &a);
    invoke_matches(s, want, size, "after recovery");
    sum_stats(tb, &b);
    assert_int_equal(b.program_bytes, a.program_bytes);
  }
  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
}

/* What a device may do that the protocol tolerates (docs §5): an OUTPUT
 * header sent together with its payload, a zero-length packet after a
 * payload. Each invoke matches the CPU with no recovery and no device
 * error. */
static void tolerated_device_behaviours(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_model();
  size_t size = 0;
  uint8_t *want = cpu_output(m, &size);
  halo_session *s = session(m, "usbtpu,cpu", 0);
  invoke_matches(s, want, size, "clean"); /* caches the program */
  for (int k = 0; k < 4; k++) {
    vtpu_faults f = {0};
    f.pack_output_frames = k & 1;
    f.zlp_after_output = k & 2;
    vtpu_set_faults(vtpu_testbed_lock(tb, 0), &f);
    vtpu_testbed_unlock(tb);
    vtpu_stats a, b;
    sum_stats(tb, &a);
    invoke_matches(s, want, size, k & 1 ? "packed OUTPUT frame" : "OUTPUT header on its own");
    invoke_matches(s, want, size, "second invoke");
    sum_stats(tb, &b);
    /* A recovery would show as a device error or the program sent again. */
    if (b.errors != a.errors || b.program_bytes != a.program_bytes)
      fail_msg("case %d: %llu device errors, program re-sent: %d", k,
               (unsigned long long)(b.errors - a.errors), b.program_bytes != a.program_bytes);
  }
  vtpu_faults none = {0};
  vtpu_set_faults(vtpu_testbed_lock(tb, 0), &none);
  vtpu_testbed_unlock(tb);
  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
}

/* A fault on the first attempt and another on the retry: a clear error
 * naming the device and the endpoint; with the knobs cleared the next
 * invoke works. */
static void fault_on_every_attempt_fails_clearly(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_model();
  size_t size = 0;
  uint8_t *want = cpu_output(m, &size);
  halo_session *s = session(m, "usbtpu,cpu", 0);
  invoke_matches(s, want, size, "clean");
  struct {
    vtpu_faults f;
    halo_status code;
    const char *endpoint;
    const char *first; /* what the message says of the first attempt */
  } cases[4];
  memset(cases, 0, sizeof cases);
  cases[0].f.stall_next_out = cases[0].f.corrupt_next_out = true; /* stall, then a bad CRC */
  cases[0].code = HALO_EDEVICE;
  cases[0].endpoint = "endpoint 0x01";
  cases[1].f.stall_next_out = cases[1].f.drop_next_in = true; /* stall, then the event is lost */
  cases[1].code = HALO_ETIMEOUT;
  cases[1].endpoint = "endpoint 0x82";
  cases[2].f.corrupt_next_out = cases[2].f.drop_next_in = true; /* bad CRC, then event lost */
  cases[2].code = HALO_ETIMEOUT;
  cases[2].endpoint = "endpoint 0x82";
  /* A timeout on each attempt: the INPUT frame is swallowed (libusb gives
   * up on it), then the retry's completion event is lost. */
  cases[3].f.timeout_next = cases[3].f.drop_next_in = true;
  cases[3].code = HALO_ETIMEOUT;
  cases[3].endpoint = "endpoint 0x82";
  cases[3].first = "endpoint 0x01: no answer within";
  for (int k = 0; k < 4; k++) {
    vtpu_set_faults(vtpu_testbed_lock(tb, 0), &cases[k].f);
    vtpu_testbed_unlock(tb);
    fill_input(s);
    halo_status st = halo_session_invoke(s);
    const char *msg = halo_session_error(s);
    if (st != cases[k].code || !strstr(msg, "usbtpu0") || !strstr(msg, cases[k].endpoint) ||
        !strstr(msg, "after recovery") || (cases[k].first && !strstr(msg, cases[k].first)))
      fail_msg("case %d: status %d: %s", k, (int)st, msg);
    vtpu_faults none = {0};
    vtpu_set_faults(vtpu_testbed_lock(tb, 0), &none);
    vtpu_testbed_unlock(tb);
    invoke_matches(s, want, size, "after the knob was cleared");
  }
  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
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
static void replug_and_match(vtpu_testbed *tb, halo_session *s, const uint8_t *want,
                             size_t size) {
  int before = vtpu_testbed_enumerations(tb, 0);
  vtpu_stats a, b;
  vtpu_get_stats(vtpu_testbed_lock(tb, 0), &a);
  vtpu_testbed_unlock(tb);
  halo_err err;
  if (vtpu_testbed_replug(tb, 0, &err) != HALO_OK) fail_msg("replug: %s", err.msg);
  assert_int_equal(vtpu_product_id(vtpu_testbed_lock(tb, 0)), USBTPU_PID_BOOT);
  vtpu_testbed_unlock(tb);
  invoke_matches(s, want, size, "after the replug");
  assert_int_equal(vtpu_testbed_enumerations(tb, 0), before + 1);
  vtpu_get_stats(vtpu_testbed_lock(tb, 0), &b);
  vtpu_testbed_unlock(tb);
  assert_true(b.program_bytes > a.program_bytes && b.param_bytes > a.param_bytes);
  invoke_matches(s, want, size, "cached, after the replug");
}

/* Unplugged between invokes: HALO_ENODEV naming the device, no retry, no
 * crash, and the next invoke fails the same clear way; plugged back in, the
 * next invoke works. */
static void unplugged_device_fails_clearly(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_model();
  size_t size = 0;
  uint8_t *want = cpu_output(m, &size);
  halo_session *s = session(m, "usbtpu,cpu", 0);
  invoke_matches(s, want, size, "clean");
  vtpu_testbed_unplug(tb, 0);
  fill_input(s);
  assert_unplugged_error(s, halo_session_invoke(s), "unplug");
  fill_input(s);
  halo_status st = halo_session_invoke(s);
  assert_unplugged_error(s, st, "after unplug");
  assert_non_null(strstr(halo_session_error(s), "not back"));
  replug_and_match(tb, s, want, size);
  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
}

/* Unplugged mid-inference: the device drops off the bus when the RUN frame
 * arrives, while the driver waits on the event endpoint. The invoke fails
 * with HALO_ENODEV (no hang, no crash), so does the next one while the
 * device is away, and after the replug the next invoke works. */
static void unplug_mid_inference_then_replug(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_model();
  size_t size = 0;
  uint8_t *want = cpu_output(m, &size);
  halo_session *s = session(m, "usbtpu,cpu", 0);
  invoke_matches(s, want, size, "clean");
  vtpu_faults f = {0};
  f.unplug_after_runs = 1;
  vtpu_set_faults(vtpu_testbed_lock(tb, 0), &f);
  vtpu_testbed_unlock(tb);
  vtpu_stats a;
  vtpu_get_stats(vtpu_testbed_lock(tb, 0), &a);
  vtpu_testbed_unlock(tb);
  fill_input(s);
  assert_unplugged_error(s, halo_session_invoke(s), "unplug mid-inference");
  vtpu_stats b;
  vtpu *d = vtpu_testbed_lock(tb, 0);
  vtpu_get_stats(d, &b);
  bool plugged = vtpu_plugged(d);
  vtpu_testbed_unlock(tb);
  assert_false(plugged);
  assert_int_equal(b.runs, a.runs + 1); /* the RUN frame arrived: mid-inference indeed */
  fill_input(s);
  assert_unplugged_error(s, halo_session_invoke(s), "while unplugged");
  replug_and_match(tb, s, want, size);
  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
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

/* Runs `halo-vtpu LAUNCHER_ARGS -- halo CLI_ARGS 2>&1` into out[size];
 * returns the exit status. */
static int run_under_vtpu(const char *launcher_args, const char *cli_args, char *out,
                          size_t size) {
  const char *build = getenv("HALO_BUILD");
  char launcher[512], cli[512], cmd[3000];
  snprintf(launcher, sizeof launcher, "%s/halo-vtpu", build && *build ? build : "build");
  snprintf(cli, sizeof cli, "%s/halo", build && *build ? build : "build");
  if (access(launcher, X_OK) != 0 || access(cli, X_OK) != 0)
    fail_msg("%s or %s not built", launcher, cli);
  snprintf(cmd, sizeof cmd, "%s %s -- %s %s 2>&1", launcher, launcher_args, cli, cli_args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t n = fread(out, 1, size - 1, p);
  out[n] = 0;
  int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* tools/halo_vtpu.c: the CLI in a child process sees the devices the
 * launcher plugged in, through LD_PRELOAD and umockdev's socket. */
static void launcher_serves_a_child(void **state) {
  (void)state;
  char out[8192];
  int rc = run_under_vtpu("--devices 2 --usb2", "devices", out, sizeof out);
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
  char image[1100], args[2400];
  snprintf(image, sizeof image, "%s", model_path);
  char *slash = strrchr(image, '/');
  snprintf(slash ? slash + 1 : image, sizeof image - (size_t)(slash ? slash + 1 - image : 0),
           "person.bmp");
  if (access(model_path, R_OK) != 0 || access(image, R_OK) != 0)
    fail_msg("%s or %s is missing: set HALO_SHARED", model_path, image);
  static char out[1 << 15];
  snprintf(args, sizeof args, "run '%s' --input '%s' --devices usbtpu,cpu", model_path, image);
  int rc = run_under_vtpu("--unplug-after-runs 1", args, out, sizeof out);
  if (rc != 0 || !strstr(out, "note: usbtpu0 is gone") || !strstr(out, "now run on cpu") ||
      !strstr(out, "0.941406"))
    fail_msg("fallback: exit %d:\n%s", rc, out);
  snprintf(args, sizeof args, "run '%s' --input '%s' --devices usbtpu,cpu --no-fallback",
           model_path, image);
  rc = run_under_vtpu("--unplug-after-runs 1", args, out, sizeof out);
  if (rc != 1 || !strstr(out, "usbtpu0") || !strstr(out, "unplugged during the invoke") ||
      strstr(out, "0.941406"))
    fail_msg("--no-fallback: exit %d:\n%s", rc, out);
}

/* The done-means: `halo-vtpu -- halo bench --profile MODEL` shows
 * the nodes placed on the device with their device time, and the transfer
 * rows. */
static void bench_profile_shows_device_nodes(void **state) {
  (void)state;
  if (access(model_path, R_OK) != 0)
    fail_msg("%s is missing: set HALO_SHARED to the shared folder holding models/", model_path);
  char args[1200];
  snprintf(args, sizeof args, "bench --profile --runs 3 '%s'", model_path);
  static char out[1 << 16];
  int rc = run_under_vtpu("", args, out, sizeof out);
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
      cmocka_unit_test_setup_teardown(enumerates_and_boots, setup, teardown),
      cmocka_unit_test_setup_teardown(session_matches_cpu_and_caches, setup, teardown),
      cmocka_unit_test_setup_teardown(one_fault_is_recovered, setup, teardown),
      cmocka_unit_test_setup_teardown(tolerated_device_behaviours, setup, teardown),
      cmocka_unit_test_setup_teardown(fault_on_every_attempt_fails_clearly, setup, teardown),
      cmocka_unit_test_setup_teardown(unplugged_device_fails_clearly, setup, teardown),
      cmocka_unit_test_setup_teardown(unplug_mid_inference_then_replug, setup, teardown),
      cmocka_unit_test_setup_teardown(no_device_adds_none, setup, teardown),
      cmocka_unit_test(launcher_serves_a_child),
      cmocka_unit_test(cli_falls_back_when_unplugged),
      cmocka_unit_test(bench_profile_shows_device_nodes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
