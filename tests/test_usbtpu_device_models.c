/* Real models on the USB accelerator (drivers/usbtpu) through whole
 * sessions, against the virtual accelerator plugged in with umockdev
 * (tools/vtpu/vtpu_umockdev.c), so the real libusb path runs:
 *   - the int8 MobileNetV2 at 224x224: its activations fit the device's
 *     4 MiB only with address reuse; output byte-identical to the CPU's and
 *     the parameters stay cached;
 *   - several device partitions in one model (firmware without ADD, so the
 *     residual ADDs of a MobileNetV2 run on the CPU between them), against
 *     the CPU and TFLite's golden output;
 *   - parameters streamed with every invoke (firmware with 128 KiB of
 *     parameter memory, person_detect has 214 KiB);
 *   - two models on one device taking turns: each invoke evicts the other's
 *     program and parameters.
 * Needs the shared models (HALO_SHARED, else ../shared) and the firmware
 * variants drivers/usbtpu/usbtpu.mk builds into $HALO_BUILD/firmware. */
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
#include "tools/common/npy.h"
#include "tools/vtpu/vtpu_umockdev.h"

static char shared_dir[1024], build_dir[512];

#define MNV2_FIXTURE "net_mobilenet_v2_035_96_i8"

/* ---- setup: the firmware the devices boot is chosen before enumeration -- */

static int start_testbed(void **state, const char *firmware) {
  if (firmware) {
    char path[1024];
    snprintf(path, sizeof path, "%s/firmware/%s", build_dir, firmware);
    if (access(path, R_OK) != 0) {
      fprintf(stderr, "%s is missing: build it with make (drivers/usbtpu/usbtpu.mk)\n", path);
      return -1;
    }
    setenv("HALO_USBTPU_FIRMWARE", path, 1);
  } else {
    unsetenv("HALO_USBTPU_FIRMWARE");
  }
  halo_err err;
  vtpu_testbed *tb = NULL;
  if (vtpu_testbed_create(1, NULL, &tb, &err) != HALO_OK) {
    fprintf(stderr, "testbed: %s\n", err.msg);
    return -1;
  }
  *state = tb;
  return 0;
}

static int setup_default(void **state) { return start_testbed(state, NULL); }
static int setup_small_params(void **state) {
  return start_testbed(state, "usbtpu-fw-param128k.bin");
}
static int setup_no_add(void **state) { return start_testbed(state, "usbtpu-fw-no-add.bin"); }

static int teardown(void **state) {
  vtpu_testbed_destroy(*state);
  unsetenv("HALO_USBTPU_FIRMWARE");
  return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static halo_model *load(const char *path) {
  if (access(path, R_OK) != 0)
    fail_msg("%s is missing: set HALO_SHARED to the shared folder holding models/", path);
  halo_model *m = NULL;
  halo_error e;
  if (halo_model_load_file(path, &m, &e) != HALO_OK) fail_msg("load %s: %s", path, e.message);
  return m;
}

static halo_model *load_shared(const char *name) {
  char path[1200];
  snprintf(path, sizeof path, "%s/models/%s", shared_dir, name);
  return load(path);
}

static halo_session *session(halo_model *m, const char *devices) {
  halo_options o;
  halo_options_init(&o);
  o.devices = devices;
  halo_session *s = NULL;
  halo_error e;
  if (halo_session_create(m, &o, &s, &e) != HALO_OK) fail_msg("session %s: %s", devices, e.message);
  return s;
}

/* A deterministic pattern (seed) in every input byte. */
static void fill_input(halo_session *s, uint32_t seed) {
  halo_tensor *in = halo_session_input(s, 0);
  size_t n = halo_tensor_byte_size(in);
  uint8_t *p = halo_tensor_data(in);
  uint32_t x = seed;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 16);
  }
}

/* Invokes and returns a copy of output 0 (*size bytes). */
static uint8_t *invoke_copy(halo_session *s, size_t *size, const char *what) {
  if (halo_session_invoke(s) != HALO_OK) fail_msg("%s: invoke: %s", what, halo_session_error(s));
  const halo_tensor *t = halo_session_output(s, 0);
  *size = halo_tensor_byte_size(t);
  uint8_t *out = malloc(*size);
  assert_non_null(out);
  memcpy(out, halo_tensor_data_const(t), *size);
  return out;
}

static uint8_t *cpu_output(halo_model *m, uint32_t seed, size_t *size) {
  halo_session *cpu = session(m, "cpu");
  fill_input(cpu, seed);
  uint8_t *out = invoke_copy(cpu, size, "cpu");
  halo_session_destroy(cpu);
  return out;
}

static void invoke_matches(halo_session *s, uint32_t seed, const uint8_t *want, size_t size,
                           const char *what) {
  fill_input(s, seed);
  size_t got_size = 0;
  uint8_t *got = invoke_copy(s, &got_size, what);
  assert_int_equal(got_size, size);
  if (memcmp(got, want, size) != 0) fail_msg("%s: output differs from the CPU's", what);
  free(got);
}

static vtpu_stats stats(vtpu_testbed *tb) {
  vtpu_stats st;
  vtpu_get_stats(vtpu_testbed_lock(tb, 0), &st);
  vtpu_testbed_unlock(tb);
  return st;
}

/* Partitions on usbtpu0; *note gets the last one's note. */
static int usbtpu_partitions(const halo_session *s, const char **note) {
  int n = 0;
  for (int i = 0; i < halo_session_partition_count(s); i++) {
    const char *dev = NULL, *nt = NULL;
    int first = -1, count = 0;
    assert_int_equal(halo_session_partition_info(s, i, &dev, &first, &count, &nt), HALO_OK);
    assert_true(first >= 0 && count > 0);
    if (strcmp(dev, "usbtpu0") != 0) continue;
    n++;
    if (note) *note = nt;
  }
  return n;
}

/* ---- tests ---------------------------------------------------------------- */

/* 83 int8 nodes whose activations need 11 MiB without reuse: with the
 * planner they fit 4 MiB of activation memory. Convolutions on the device,
 * the layout TRANSPOSE on the CPU; byte-identical to the CPU; the second
 * invoke sends neither program nor parameters. */
static void mobilenet_v2_runs_cached(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_shared("mobilenet_v2_quantized_1x3x224x224.tflite");
  size_t size = 0;
  uint8_t *want = cpu_output(m, 7, &size);

  halo_session *s = session(m, "usbtpu,cpu");
  int convs = 0;
  bool transpose_on_cpu = false;
  for (int i = 0; i < halo_session_node_count(s); i++) {
    const char *op, *dev, *reason;
    assert_int_equal(halo_session_node_info(s, i, &op, &dev, &reason), HALO_OK);
    if (!strcmp(op, "CONV_2D") || !strcmp(op, "DEPTHWISE_CONV_2D")) {
      if (strcmp(dev, "usbtpu0") != 0) fail_msg("node %d (%s) on %s: %s", i, op, dev, reason);
      convs++;
    }
    if (!strcmp(op, "TRANSPOSE")) transpose_on_cpu = !strcmp(dev, "cpu");
  }
  assert_true(convs >= 50);
  assert_true(transpose_on_cpu);
  const char *note = "";
  assert_int_equal(usbtpu_partitions(s, &note), 1);
  if (!strstr(note, "cached") || !strstr(note, "of 4.0 MiB")) fail_msg("note: %s", note);

  invoke_matches(s, 7, want, size, "first invoke");
  vtpu_stats a = stats(tb);
  assert_true(a.program_bytes > 0 && a.param_bytes > 3000000);
  invoke_matches(s, 7, want, size, "second invoke");
  vtpu_stats b = stats(tb);
  assert_int_equal(b.program_bytes, a.program_bytes);
  assert_int_equal(b.param_bytes, a.param_bytes);
  assert_int_equal(b.runs, a.runs + 1);
  assert_int_equal(b.errors, 0);
  size_t in_size = halo_tensor_byte_size(halo_session_input(s, 0));
  assert_true(b.bulk_out_bytes - a.bulk_out_bytes < in_size + 4096);

  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
}

/* Firmware without ADD: every residual ADD of the MobileNetV2 fixture runs
 * on the CPU, cutting the device's share into several partitions (the Edge
 * TPU compiler allows one). Output equal to the CPU's and to TFLite's. */
static void several_device_partitions(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load("tests/fixtures/models/" MNV2_FIXTURE ".tflite");
  npy_array in, ref;
  halo_error e;
  if (npy_read_file("tests/fixtures/golden/" MNV2_FIXTURE "/input_0.npy", &in, &e) != HALO_OK ||
      npy_read_file("tests/fixtures/golden/" MNV2_FIXTURE "/output_0.npy", &ref, &e) != HALO_OK)
    fail_msg("golden: %s", e.message);

  uint8_t *outs[2];
  size_t sizes[2];
  const char *lists[2] = {"cpu", "usbtpu,cpu"};
  for (int k = 0; k < 2; k++) {
    halo_session *s = session(m, lists[k]);
    if (k == 1) {
      const char *note = "";
      int parts = usbtpu_partitions(s, &note);
      if (parts < 2) fail_msg("%d usbtpu partitions", parts);
      if (!strstr(note, "cached")) fail_msg("note: %s", note);
    }
    halo_tensor *t = halo_session_input(s, 0);
    assert_int_equal(halo_tensor_byte_size(t), in.byte_size);
    memcpy(halo_tensor_data(t), in.data, in.byte_size);
    outs[k] = invoke_copy(s, &sizes[k], lists[k]);
    halo_session_destroy(s);
  }
  assert_int_equal(sizes[1], sizes[0]);
  assert_memory_equal(outs[1], outs[0], sizes[0]);
  assert_int_equal(ref.byte_size, sizes[1]);
  assert_memory_equal(outs[1], ref.data, ref.byte_size);
  assert_int_equal(stats(tb).errors, 0);
  free(outs[0]);
  free(outs[1]);
  npy_array_free(&in);
  npy_array_free(&ref);
  halo_model_free(m);
}

/* 128 KiB of parameter memory, 214 KiB of person_detect parameters: the
 * program streams them with every invoke, segment by segment. */
static void person_detect_streams_parameters(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = load_shared("person_detect.tflite");
  size_t size = 0;
  uint8_t *want = cpu_output(m, 11, &size);
  size_t size2 = 0;
  uint8_t *want2 = cpu_output(m, 99, &size2);
  halo_session *s = session(m, "usbtpu,cpu");
  const char *note = "";
  assert_int_equal(usbtpu_partitions(s, &note), 1);
  if (!strstr(note, "streamed") || !strstr(note, "128.0 KiB")) fail_msg("note: %s", note);

  vtpu_stats a0 = stats(tb);
  invoke_matches(s, 11, want, size, "first streamed invoke");
  vtpu_stats a = stats(tb);
  uint64_t params = a.param_bytes - a0.param_bytes;
  assert_true(params > 128 * 1024);
  /* Another input: the parameters travel again, all of them. */
  invoke_matches(s, 99, want2, size2, "second streamed invoke");
  vtpu_stats b = stats(tb);
  assert_int_equal(b.param_bytes - a.param_bytes, params);
  assert_true(b.program_bytes > a.program_bytes);
  assert_int_equal(b.runs, a.runs + 1);
  assert_int_equal(b.errors, 0);
  halo_session_destroy(s);
  halo_model_free(m);
  free(want);
  free(want2);
}

/* Two models on one device, invoked in turns: each invoke finds the other's
 * program resident (PARAM_TOKEN differs), so it evicts it and sends its own
 * program and parameters again; outputs stay right. */
static void models_take_turns(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *ma = load_shared("person_detect.tflite");
  halo_model *mb = load("tests/fixtures/models/" MNV2_FIXTURE ".tflite");
  size_t sa = 0, sb = 0;
  uint8_t *wa = cpu_output(ma, 3, &sa), *wb = cpu_output(mb, 4, &sb);
  halo_session *a = session(ma, "usbtpu,cpu");
  halo_session *b = session(mb, "usbtpu,cpu");
  assert_int_equal(usbtpu_partitions(a, NULL), 1);
  assert_int_equal(usbtpu_partitions(b, NULL), 1);
  for (int round = 0; round < 2; round++) {
    vtpu_stats s0 = stats(tb);
    invoke_matches(a, 3, wa, sa, "person_detect");
    vtpu_stats s1 = stats(tb);
    invoke_matches(b, 4, wb, sb, MNV2_FIXTURE);
    vtpu_stats s2 = stats(tb);
    if (s1.program_bytes <= s0.program_bytes || s1.param_bytes <= s0.param_bytes ||
        s2.program_bytes <= s1.program_bytes || s2.param_bytes <= s1.param_bytes)
      fail_msg("round %d: a model's program was not sent again after the other's", round);
  }
  /* Every run found the other model's program resident, and nothing went
   * wrong on the way: both sessions share the process's one connection to
   * the device (one claimed interface, one frame sequence). */
  assert_int_equal(stats(tb).cache_hits, 0);
  assert_int_equal(stats(tb).errors, 0);
  halo_session_destroy(a);
  halo_session_destroy(b);
  halo_model_free(ma);
  halo_model_free(mb);
  free(wa);
  free(wb);
}

/* `halo inspect` lists the partitions with the device's note (in a child
 * under halo-vtpu, with the small-parameter firmware). */
static void inspect_shows_partitions(void **state) {
  (void)state;
  char launcher[600], cli[600], fw[700], model[1200], cmd[4000];
  snprintf(launcher, sizeof launcher, "%s/halo-vtpu", build_dir);
  snprintf(cli, sizeof cli, "%s/halo", build_dir);
  snprintf(fw, sizeof fw, "%s/firmware/usbtpu-fw-param128k.bin", build_dir);
  snprintf(model, sizeof model, "%s/models/person_detect.tflite", shared_dir);
  if (access(launcher, X_OK) != 0 || access(cli, X_OK) != 0 || access(fw, R_OK) != 0)
    fail_msg("%s, %s or %s not built", launcher, cli, fw);
  if (access(model, R_OK) != 0) fail_msg("%s is missing: set HALO_SHARED", model);
  snprintf(cmd, sizeof cmd, "HALO_USBTPU_FIRMWARE='%s' %s -- %s inspect '%s' --devices usbtpu,cpu 2>&1",
           fw, launcher, cli, model);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  static char out[65536];
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = 0;
  int rc = pclose(p);
  if (rc != 0 || !strstr(out, "Partitions (1):") || !strstr(out, "usbtpu0") ||
      !strstr(out, "parameters streamed with every invoke") || !strstr(out, "Placement:"))
    fail_msg("rc %d:\n%s", rc, out);
}

int main(void) {
  const char *build = getenv("HALO_BUILD");
  snprintf(build_dir, sizeof build_dir, "%s", build && *build ? build : "build");
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s/tmp", build_dir);
  mkdir(tmp, 0755);
  char *abs = realpath(tmp, NULL);
  if (abs) setenv("TMPDIR", abs, 1);
  free(abs);
  const char *shared = getenv("HALO_SHARED");
  snprintf(shared_dir, sizeof shared_dir, "%s", shared && *shared ? shared : "../shared");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(mobilenet_v2_runs_cached, setup_default, teardown),
      cmocka_unit_test_setup_teardown(several_device_partitions, setup_no_add, teardown),
      cmocka_unit_test_setup_teardown(person_detect_streams_parameters, setup_small_params,
                                      teardown),
      cmocka_unit_test_setup_teardown(models_take_turns, setup_default, teardown),
      cmocka_unit_test(inspect_shows_partitions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
