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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "halo/halo.h"
#include "tests/support_usbtpu/usbtpu_session.h"
#include "tests/support_usbtpu/usbtpu_testbed.h"
#include "tools/common/npy.h"
#include "tools/vtpu/vtpu_umockdev.h"

#define MNV2_FIXTURE "net_mobilenet_v2_035_96_i8"

/* ---- setup: the firmware the devices boot is chosen before enumeration -- */

static int start_testbed(void **state, const char *firmware) {
  if (firmware) {
    char path[1024];
    snprintf(path, sizeof path, "%s/firmware/%s", ut_build_dir(), firmware);
    if (access(path, R_OK) != 0) {
      fprintf(stderr, "%s is missing: build it with make (drivers/usbtpu/usbtpu.mk)\n", path);
      return -1;
    }
    setenv("HALO_USBTPU_FIRMWARE", path, 1);
  } else {
    unsetenv("HALO_USBTPU_FIRMWARE");
  }
  return ut_testbed_setup(state, 1, NULL);
}

static int setup_default(void **state) { return start_testbed(state, NULL); }
static int setup_small_params(void **state) {
  return start_testbed(state, "usbtpu-fw-param128k.bin");
}
static int setup_no_add(void **state) { return start_testbed(state, "usbtpu-fw-no-add.bin"); }

static int teardown(void **state) {
  ut_teardown(state);
  unsetenv("HALO_USBTPU_FIRMWARE");
  return 0;
}

/* ---- helpers ------------------------------------------------------------- */

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
  ut_case c;
  ut_case_start(&c, "mobilenet_v2_quantized_1x3x224x224.tflite", 7, "usbtpu,cpu", 0);
  halo_session *s = c.s;
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
  if (!strstr(note, "cached") || !strstr(note, "of 4 MiB")) fail_msg("note: %s", note);

  ut_case_invoke_matches(&c, "first invoke");
  vtpu_stats a = ut_device_stats(tb, 0);
  assert_true(a.program_bytes > 0 && a.param_bytes > 3000000);
  ut_case_invoke_matches(&c, "second invoke");
  vtpu_stats b = ut_device_stats(tb, 0);
  assert_int_equal(b.program_bytes, a.program_bytes);
  assert_int_equal(b.param_bytes, a.param_bytes);
  assert_int_equal(b.runs, a.runs + 1);
  assert_int_equal(b.errors, 0);
  size_t in_size = halo_tensor_byte_size(halo_session_input(s, 0));
  assert_true(b.bulk_out_bytes - a.bulk_out_bytes < in_size + 4096);

  ut_case_end(&c);
}

/* Firmware without ADD: every residual ADD of the MobileNetV2 fixture runs
 * on the CPU, cutting the device's share into several partitions (the Edge
 * TPU compiler allows one). Output equal to the CPU's and to TFLite's. */
static void several_device_partitions(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *m = ut_load_model("tests/fixtures/models/" MNV2_FIXTURE ".tflite");
  npy_array in, ref;
  halo_error e;
  if (npy_read_file("tests/fixtures/golden/" MNV2_FIXTURE "/input_0.npy", &in, &e) != HALO_OK ||
      npy_read_file("tests/fixtures/golden/" MNV2_FIXTURE "/output_0.npy", &ref, &e) != HALO_OK)
    fail_msg("golden: %s", e.message);

  uint8_t *outs[2];
  size_t sizes[2];
  const char *lists[2] = {"cpu", "usbtpu,cpu"};
  for (int k = 0; k < 2; k++) {
    halo_session *s = ut_session(m, lists[k], 0);
    if (k == 1) {
      const char *note = "";
      int parts = usbtpu_partitions(s, &note);
      if (parts < 2) fail_msg("%d usbtpu partitions", parts);
      if (!strstr(note, "cached")) fail_msg("note: %s", note);
    }
    halo_tensor *t = halo_session_input(s, 0);
    assert_int_equal(halo_tensor_byte_size(t), in.byte_size);
    memcpy(halo_tensor_data(t), in.data, in.byte_size);
    outs[k] = ut_invoke_copy(s, &sizes[k], lists[k]);
    halo_session_destroy(s);
  }
  assert_int_equal(sizes[1], sizes[0]);
  assert_memory_equal(outs[1], outs[0], sizes[0]);
  assert_int_equal(ref.byte_size, sizes[1]);
  assert_memory_equal(outs[1], ref.data, ref.byte_size);
  assert_int_equal(ut_device_stats(tb, 0).errors, 0);
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
  ut_case c;
  ut_case_start(&c, "person_detect.tflite", 11, "usbtpu,cpu", 0);
  size_t size2 = 0;
  uint8_t *want2 = ut_cpu_output(c.model, 99, &size2);
  const char *note = "";
  assert_int_equal(usbtpu_partitions(c.s, &note), 1);
  if (!strstr(note, "streamed") || !strstr(note, "> 128 KiB of parameter memory")) fail_msg("note: %s", note);

  vtpu_stats a0 = ut_device_stats(tb, 0);
  ut_case_invoke_matches(&c, "first streamed invoke");
  vtpu_stats a = ut_device_stats(tb, 0);
  uint64_t params = a.param_bytes - a0.param_bytes;
  assert_true(params > 128 * 1024);
  /* Another input: the parameters travel again, all of them. */
  ut_invoke_matches(c.s, 99, want2, size2, "second streamed invoke");
  vtpu_stats b = ut_device_stats(tb, 0);
  assert_int_equal(b.param_bytes - a.param_bytes, params);
  assert_true(b.program_bytes > a.program_bytes);
  assert_int_equal(b.runs, a.runs + 1);
  assert_int_equal(b.errors, 0);
  ut_case_end(&c);
  free(want2);
}

/* Two models on one device, invoked in turns: each invoke finds the other's
 * program resident (PARAM_TOKEN differs), so it evicts it and sends its own
 * program and parameters again; outputs stay right. */
static void models_take_turns(void **state) {
  vtpu_testbed *tb = *state;
  halo_model *ma = ut_load_shared_model("person_detect.tflite");
  halo_model *mb = ut_load_model("tests/fixtures/models/" MNV2_FIXTURE ".tflite");
  size_t sa = 0, sb = 0;
  uint8_t *wa = ut_cpu_output(ma, 3, &sa), *wb = ut_cpu_output(mb, 4, &sb);
  halo_session *a = ut_session(ma, "usbtpu,cpu", 0);
  halo_session *b = ut_session(mb, "usbtpu,cpu", 0);
  assert_int_equal(usbtpu_partitions(a, NULL), 1);
  assert_int_equal(usbtpu_partitions(b, NULL), 1);
  for (int round = 0; round < 2; round++) {
    vtpu_stats s0 = ut_device_stats(tb, 0);
    ut_invoke_matches(a, 3, wa, sa, "person_detect");
    vtpu_stats s1 = ut_device_stats(tb, 0);
    ut_invoke_matches(b, 4, wb, sb, MNV2_FIXTURE);
    vtpu_stats s2 = ut_device_stats(tb, 0);
    if (s1.program_bytes <= s0.program_bytes || s1.param_bytes <= s0.param_bytes ||
        s2.program_bytes <= s1.program_bytes || s2.param_bytes <= s1.param_bytes)
      fail_msg("round %d: a model's program was not sent again after the other's", round);
  }
  /* Every run found the other model's program resident, and nothing went
   * wrong on the way: both sessions share the process's one connection to
   * the device (one claimed interface, one frame sequence). */
  vtpu_stats end = ut_device_stats(tb, 0);
  assert_int_equal(end.cache_hits, 0);
  assert_int_equal(end.errors, 0);
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
  char fw[700], model[1200], env[800], args[1400];
  snprintf(fw, sizeof fw, "%s/firmware/usbtpu-fw-param128k.bin", ut_build_dir());
  ut_shared_model_path("person_detect.tflite", model, sizeof model);
  if (access(fw, R_OK) != 0) fail_msg("%s not built", fw);
  if (access(model, R_OK) != 0) fail_msg("%s is missing: set HALO_SHARED", model);
  snprintf(env, sizeof env, "HALO_USBTPU_FIRMWARE='%s'", fw);
  snprintf(args, sizeof args, "inspect '%s' --devices usbtpu,cpu", model);
  static char out[65536];
  int rc = ut_run_under_vtpu(env, "", args, out, sizeof out);
  if (rc != 0 || !strstr(out, "Partitions (1):") || !strstr(out, "usbtpu0") ||
      !strstr(out, "parameters streamed with every invoke") || !strstr(out, "Placement:"))
    fail_msg("rc %d:\n%s", rc, out);
}

int main(void) {
  ut_init();
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
