/* The halo CLI, run as a user runs it: exit codes (0 ok, 1 runtime failure,
 * 2 usage error), one-line error messages, every command's --help, and
 * inspect / run / bench on real models.
 *
 * The binary comes from $HALO_CLI (set by `make test`), else build/halo
 * under the current directory (the repo root). The real int8 model comes
 * from $HALO_SHARED/models (set by `make test` to ../shared), else
 * ../shared/models. Float fixtures come from tests/fixtures. */
#include <limits.h>
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

#include "tools/common/npy.h"

/* A float model with two inputs the CPU runs (ADD + RELU), and the
 * inputs/output TFLite produced for it. */
#define ADD_MODEL "tests/fixtures/models/op_add_same_shape_relu.tflite"
#define ADD_GOLDEN "tests/fixtures/golden/op_add_same_shape_relu/"

static char cli[1024];
static char person_detect[1024];
static char tmp_dir[] = "/tmp/halo_test_cli_XXXXXX";

typedef struct cli_result {
  int code;
  char *out;
  char *err;
} cli_result;

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return calloc(1, 1);
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  size_t got;
  while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += got;
    if (cap - len - 1 == 0) {
      cap *= 2;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
  }
  buf[len] = '\0';
  fclose(f);
  return buf;
}

static void tmp_path(char *buf, size_t size, const char *name) {
  snprintf(buf, size, "%s/%s", tmp_dir, name);
}

/* Runs `ENV halo ARGS` (ENV and ARGS as shell fragments; ENV may set or
 * unset variables: "env -u X Y=1") and captures everything. */
static cli_result run_cli_v(const char *env, const char *fmt, va_list ap) {
  char args[2048];
  vsnprintf(args, sizeof args, fmt, ap);
  char out_path[512], err_path[512], command[8192];
  tmp_path(out_path, sizeof out_path, "stdout");
  tmp_path(err_path, sizeof err_path, "stderr");
  snprintf(command, sizeof command, "%s '%s' %s >'%s' 2>'%s' </dev/null", env, cli, args,
           out_path, err_path);
  int status = system(command);
  cli_result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static cli_result run_cli(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cli_result r = run_cli_v("", fmt, ap);
  va_end(ap);
  return r;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static cli_result run_cli_env(const char *env, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cli_result r = run_cli_v(env, fmt, ap);
  va_end(ap);
  return r;
}

static void free_result(cli_result *r) {
  free(r->out);
  free(r->err);
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

/* Prints the captured output when a check fails, so failures explain
 * themselves. */
static void expect(const cli_result *r, int code, const char *in_out, const char *in_err) {
  bool ok = r->code == code && (!in_out || strstr(r->out, in_out)) &&
            (!in_err || strstr(r->err, in_err));
  if (!ok) {
    print_error("exit %d (wanted %d)\n--- stdout (wanted '%s'):\n%s\n--- stderr (wanted '%s'):\n%s\n",
                r->code, code, in_out ? in_out : "", r->out, in_err ? in_err : "", r->err);
    fail();
  }
}

/* A failure is exactly one line on stderr. */
static void expect_one_error_line(const cli_result *r) {
  if (count_lines(r->err) != 1 || strncmp(r->err, "halo: ", 6) != 0) {
    print_error("wanted one 'halo: ...' line on stderr, got:\n%s", r->err);
    fail();
  }
}

static void require_file(const char *path, const char *what) {
  if (!file_exists(path)) {
    print_error("%s is missing: %s\n", what, path);
    fail();
  }
}

/* ---- setup --------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  const char *env = getenv("HALO_CLI");
  snprintf(cli, sizeof cli, "%s", env && *env ? env : "build/halo");
  if (access(cli, X_OK) != 0) {
    fprintf(stderr, "the halo CLI is missing: %s (run `make` first, or set HALO_CLI)\n", cli);
    return -1;
  }
  const char *shared = getenv("HALO_SHARED");
  snprintf(person_detect, sizeof person_detect, "%s/models/person_detect.tflite",
           shared && *shared ? shared : "../shared");
  if (!mkdtemp(tmp_dir)) {
    fprintf(stderr, "cannot create a temporary directory\n");
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char command[600];
  snprintf(command, sizeof command, "rm -rf '%s'", tmp_dir);
  return system(command) == 0 ? 0 : -1;
}

/* ---- help, version, usage errors ----------------------------------------- */

static void test_top_level_help_and_version(void **state) {
  (void)state;
  cli_result r = run_cli("--help");
  expect(&r, 0, "usage: halo", NULL);
  const char *commands[] = {"devices", "inspect", "run", "bench", "doctor"};
  for (int i = 0; i < 5; i++) assert_non_null(strstr(r.out, commands[i]));
  free_result(&r);
  r = run_cli("--version");
  expect(&r, 0, "halo ", NULL);
  assert_int_equal(count_lines(r.out), 1);
  free_result(&r);
  r = run_cli("%s", "");
  expect(&r, 2, NULL, "usage: halo");
  free_result(&r);
}

static void test_every_command_help_lists_its_options(void **state) {
  (void)state;
  static const struct {
    const char *command;
    const char *options[8];
  } commands[] = {
      {"devices", {NULL}},
      {"inspect", {"--devices", NULL}},
      {"run", {"--input", "--output", "--devices", "--threads", "--seed", NULL}},
      {"bench", {"--runs", "--warmup", "--threads", "--devices", "--profile", "--csv", NULL}},
      {"ops", {"--markdown", "--devices", NULL}},
      {"doctor", {NULL}},
  };
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    for (int form = 0; form < 3; form++) {
      cli_result r = form == 0   ? run_cli("%s --help", commands[i].command)
                     : form == 1 ? run_cli("%s -h", commands[i].command)
                                 : run_cli("help %s", commands[i].command);
      expect(&r, 0, "usage: halo", NULL);
      assert_non_null(strstr(r.out, commands[i].command));
      assert_non_null(strstr(r.out, "example"));
      for (int k = 0; commands[i].options[k]; k++) {
        if (!strstr(r.out, commands[i].options[k])) {
          print_error("'halo %s --help' does not mention %s:\n%s", commands[i].command,
                      commands[i].options[k], r.out);
          fail();
        }
      }
      assert_string_equal(r.err, "");
      free_result(&r);
    }
  }
}

static void test_unknown_command_and_options_are_usage_errors(void **state) {
  (void)state;
  cli_result r = run_cli("frobnicate");
  expect(&r, 2, NULL, "unknown command 'frobnicate'");
  expect_one_error_line(&r);
  assert_string_equal(r.out, "");
  free_result(&r);

  r = run_cli("--frobnicate");
  expect(&r, 2, NULL, "unknown option '--frobnicate'");
  expect_one_error_line(&r);
  free_result(&r);

  const char *commands[] = {"devices", "inspect x.tflite", "run x.tflite", "bench x.tflite"};
  for (int i = 0; i < 4; i++) {
    r = run_cli("%s --bogus", commands[i]);
    expect(&r, 2, NULL, "unknown option '--bogus'");
    expect_one_error_line(&r);
    assert_string_equal(r.out, "");
    free_result(&r);
  }
}

static void test_malformed_arguments_are_usage_errors(void **state) {
  (void)state;
  static const struct {
    const char *args;
    const char *message;
  } cases[] = {
      {"inspect", "missing MODEL"},
      {"run", "missing MODEL"},
      {"bench", "missing MODEL"},
      {"inspect a.tflite b.tflite", "unexpected argument 'b.tflite'"},
      {"devices extra", "unexpected argument 'extra'"},
      {"bench m.tflite --runs 0", "'--runs' needs an integer from 1"},
      {"bench m.tflite --runs lots", "not 'lots'"},
      {"bench m.tflite --runs", "'--runs' needs a value"},
      {"bench m.tflite --warmup -1", "'--warmup' needs an integer"},
      {"run m.tflite --threads -2", "'--threads' needs an integer"},
      {"run m.tflite --threads 1 --threads 2", "given twice"},
      {"bench m.tflite --profile=yes", "takes no value"},
      {"help nosuch", "unknown command 'nosuch'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cli_result r = run_cli("%s", cases[i].args);
    expect(&r, 2, NULL, cases[i].message);
    expect_one_error_line(&r);
    free_result(&r);
  }
}

/* ---- runtime failures ---------------------------------------------------- */

static void test_missing_model_names_the_file(void **state) {
  (void)state;
  const char *commands[] = {"inspect", "run", "bench"};
  for (int i = 0; i < 3; i++) {
    cli_result r = run_cli("%s does-not-exist.tflite", commands[i]);
    char wanted[128];
    snprintf(wanted, sizeof wanted, "halo: %s: cannot open 'does-not-exist.tflite': ",
             commands[i]);
    expect(&r, 1, NULL, wanted);
    assert_non_null(strstr(r.err, "No such file or directory"));
    expect_one_error_line(&r);
    free_result(&r);
  }
  cli_result r = run_cli("inspect '%s'", tmp_dir);
  expect(&r, 1, NULL, "Is a directory");
  expect_one_error_line(&r);
  free_result(&r);
}

static void test_a_file_that_is_not_a_model(void **state) {
  (void)state;
  char path[512];
  tmp_path(path, sizeof path, "garbage.tflite");
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("this is not a flatbuffer at all, just text that goes on for a while", f);
  fclose(f);
  cli_result r = run_cli("inspect '%s'", path);
  expect(&r, 1, NULL, path);
  expect_one_error_line(&r);
  free_result(&r);
}

/* ---- devices, inspect ---------------------------------------------------- */

static void test_devices_lists_the_cpu(void **state) {
  (void)state;
  cli_result r = run_cli("devices");
  expect(&r, 0, "NAME", NULL);
  assert_non_null(strstr(r.out, "KIND"));
  assert_non_null(strstr(r.out, "DESCRIPTION"));
  assert_non_null(strstr(r.out, "\ncpu "));
  free_result(&r);
}

static void test_inspect_a_float_model(void **state) {
  (void)state;
  require_file(ADD_MODEL, "float fixture");
  cli_result r = run_cli("inspect %s --devices cpu", ADD_MODEL);
  expect(&r, 0, "Inputs (2):", NULL);
  const char *wanted[] = {"Outputs (1):", "in0", "float32", "1x4x5x3", "Execution graph (1 node",
                          "ADD", "cpu", "Placement: cpu 1 node; COPY nodes: 0",
                          "Activation arena: "};
  for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) expect(&r, 0, wanted[i], NULL);
  assert_string_equal(r.err, "");
  free_result(&r);

  r = run_cli("inspect %s --devices nosuchdevice", ADD_MODEL);
  expect(&r, 1, NULL, "nosuchdevice");
  expect_one_error_line(&r);
  free_result(&r);
}

/* The MediaPipe face detector (or another float network): inspect must
 * show the whole graph whether or not every kernel exists yet. */
static void test_inspect_a_float_network(void **state) {
  (void)state;
  const char *candidates[] = {
      "tests/fixtures/models/mp_face_detection_short_range.tflite",
      "tests/fixtures/models/face_detection_short_range.tflite",
      "tests/fixtures/models/net_efficientnet_tiny_f32.tflite",
  };
  const char *model = NULL;
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && !model; i++)
    if (file_exists(candidates[i])) model = candidates[i];
  if (!model) {
    print_error("no float network fixture under tests/fixtures/models (tried the MediaPipe face "
                "detector and net_efficientnet_tiny_f32)\n");
    fail();
  }
  cli_result r = run_cli("inspect %s", model);
  expect(&r, 0, "Execution graph (", NULL);
  expect(&r, 0, "CONV_2D", NULL);
  expect(&r, 0, "float32", NULL);
  expect(&r, 0, "Placement: ", NULL);
  free_result(&r);
}

static void test_inspect_person_detect(void **state) {
  (void)state;
  if (!file_exists(person_detect)) {
    print_error("the shared models are missing: %s (set HALO_SHARED to the folder holding "
                "models/)\n",
                person_detect);
    fail();
  }
  cli_result r = run_cli("inspect '%s'", person_detect);
  expect(&r, 0, "Inputs (1):", NULL);
  const char *wanted[] = {"int8", "1x96x96x1", "scale=", "zero_point=", "Outputs (1):", "1x2",
                          "Execution graph (", "DEPTHWISE_CONV_2D", "CONV_2D", "AVERAGE_POOL_2D",
                          "RESHAPE", "SOFTMAX", "Placement: "};
  for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) expect(&r, 0, wanted[i], NULL);
  free_result(&r);
}

/* `halo run` on TFLite Micro's int8 person detector, fed its two test
 * images as .bmp files. */
static void test_run_person_detect_classifies_both_images(void **state) {
  (void)state;
  if (!file_exists(person_detect)) {
    print_error("the shared models are missing: %s\n", person_detect);
    fail();
  }
  /* TFLite Micro's test expects the person score to win on person.bmp and
   * to lose on no_person.bmp. The output is [no person, person]. */
  const char *images[] = {"person.bmp", "no_person.bmp"};
  for (int k = 0; k < 2; k++) {
    char image[1200];
    snprintf(image, sizeof image, "%.*s%s", (int)(strrchr(person_detect, '/') + 1 - person_detect),
             person_detect, images[k]);
    cli_result r = run_cli("run '%s' --input '%s'", person_detect, image);
    expect(&r, 0, "output 0 'MobilenetV1/Predictions/Reshape_1': int8 1x2", NULL);
    const char *dq = strstr(r.out, "dequantized:");
    float no_person = -1, person = -1;
    if (!dq || sscanf(dq, "dequantized: %f %f", &no_person, &person) != 2)
      fail_msg("no dequantized scores in:\n%s", r.out);
    printf("    %s: no person %.3f, person %.3f\n", images[k], no_person, person);
    if (k == 0) assert_true(person > no_person);
    else assert_true(person < no_person);
    free_result(&r);
  }
}

/* ---- run ----------------------------------------------------------------- */

static void test_run_writes_npy_matching_tflite(void **state) {
  (void)state;
  require_file(ADD_MODEL, "float fixture");
  require_file(ADD_GOLDEN "output_0.npy", "golden output");
  char out_path[512];
  tmp_path(out_path, sizeof out_path, "out.npy");
  cli_result r = run_cli("run %s --input %sinput_0.npy --input %sinput_1.npy --output '%s'",
                         ADD_MODEL, ADD_GOLDEN, ADD_GOLDEN, out_path);
  expect(&r, 0, "written to", NULL);
  assert_string_equal(r.err, ""); /* every input given: no notes */
  free_result(&r);

  npy_array got, want;
  halo_error err = {{0}};
  if (npy_read_file(out_path, &got, &err) != HALO_OK) {
    print_error("%s\n", err.message);
    fail();
  }
  assert_int_equal(npy_read_file(ADD_GOLDEN "output_0.npy", &want, &err), HALO_OK);
  assert_int_equal(got.dtype, HALO_FLOAT32);
  assert_int_equal(got.rank, want.rank);
  for (int d = 0; d < got.rank; d++) assert_int_equal(got.dims[d], want.dims[d]);
  assert_int_equal(got.n_elements, want.n_elements);
  for (size_t i = 0; i < got.n_elements; i++) {
    float a, b;
    memcpy(&a, (char *)got.data + 4 * i, 4);
    memcpy(&b, (char *)want.data + 4 * i, 4);
    assert_true(a - b <= 1e-5f && b - a <= 1e-5f);
  }
  npy_array_free(&got);
  npy_array_free(&want);
}

static void test_run_raw_files(void **state) {
  (void)state;
  require_file(ADD_MODEL, "float fixture");
  char in_path[512], out_path[512];
  tmp_path(in_path, sizeof in_path, "in.raw");
  tmp_path(out_path, sizeof out_path, "out.raw");
  float values[60];
  for (int i = 0; i < 60; i++) values[i] = (float)i - 30.0f;
  FILE *f = fopen(in_path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(values, sizeof values, 1, f), 1);
  fclose(f);
  /* in0 + in1 with in1 zero-filled: relu(in0). */
  cli_result r = run_cli("run %s --input '%s' --output '%s'", ADD_MODEL, in_path, out_path);
  expect(&r, 0, "written to", "input 1 'in1' (float32 1x4x5x3) not given: filled with zeros");
  free_result(&r);
  float out[61];
  f = fopen(out_path, "rb");
  assert_non_null(f);
  assert_int_equal(fread(out, sizeof(float), 61, f), 60); /* exactly 240 bytes */
  fclose(f);
  for (int i = 0; i < 60; i++) assert_true(out[i] == (values[i] > 0 ? values[i] : 0.0f));
}

static void test_run_summary_zero_fill_and_seed(void **state) {
  (void)state;
  require_file(ADD_MODEL, "float fixture");
  cli_result r = run_cli("run %s", ADD_MODEL);
  expect(&r, 0, "output 0 'Identity': float32 1x4x5x3, 60 values", "filled with zeros");
  expect(&r, 0, "first 16:", "input 0 'in0'");
  expect(&r, 0, "min 0  max 0", "input 1 'in1'");
  free_result(&r);
  /* The seeded pattern is the same every time, and not all zeros. */
  cli_result a = run_cli("run %s --seed 7", ADD_MODEL);
  cli_result b = run_cli("run %s --seed 7", ADD_MODEL);
  expect(&a, 0, NULL, "pseudo-random pattern (seed 7)");
  expect(&b, 0, "first 16:", NULL);
  const char *va = strstr(a.out, "first 16:"), *vb = strstr(b.out, "first 16:");
  assert_non_null(va);
  assert_non_null(vb);
  assert_memory_equal(va, vb, strcspn(va, "\n"));
  assert_null(strstr(a.out, "min 0  max 0"));
  free_result(&a);
  free_result(&b);
}

static void test_run_rejects_mismatched_inputs(void **state) {
  (void)state;
  require_file(ADD_MODEL, "float fixture");
  char path[512];
  tmp_path(path, sizeof path, "wrong_shape.npy");
  const int64_t dims[2] = {2, 2};
  float zeros[4] = {0};
  assert_int_equal(npy_write_file(path, HALO_FLOAT32, 2, dims, zeros, NULL), HALO_OK);
  cli_result r = run_cli("run %s --input '%s'", ADD_MODEL, path);
  expect(&r, 1, NULL, "input 0 'in0' is float32 1x4x5x3, but");
  expect(&r, 1, NULL, "holds float32 2x2");
  expect_one_error_line(&r);
  free_result(&r);

  tmp_path(path, sizeof path, "wrong_dtype.npy");
  const int64_t same[4] = {1, 4, 5, 3};
  int8_t bytes[60] = {0};
  assert_int_equal(npy_write_file(path, HALO_INT8, 4, same, bytes, NULL), HALO_OK);
  r = run_cli("run %s --input '%s'", ADD_MODEL, path);
  expect(&r, 1, NULL, "holds int8 1x4x5x3");
  expect_one_error_line(&r);
  free_result(&r);

  tmp_path(path, sizeof path, "short.raw");
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("1234567", f);
  fclose(f);
  r = run_cli("run %s --input '%s'", ADD_MODEL, path);
  expect(&r, 1, NULL, "(240 bytes), but raw file");
  expect(&r, 1, NULL, "has 7 bytes");
  expect_one_error_line(&r);
  free_result(&r);

  tmp_path(path, sizeof path, "broken.npy");
  f = fopen(path, "wb");
  assert_non_null(f);
  fputs("\x93NUMPY\x01", f);
  fclose(f);
  r = run_cli("run %s --input '%s'", ADD_MODEL, path);
  expect(&r, 1, NULL, "truncated");
  expect_one_error_line(&r);
  free_result(&r);

  r = run_cli("run %s --input missing.npy", ADD_MODEL);
  expect(&r, 1, NULL, "cannot open 'missing.npy'");
  expect_one_error_line(&r);
  free_result(&r);

  r = run_cli("run %s --input a.npy --input b.npy --input c.npy", ADD_MODEL);
  expect(&r, 2, NULL, "3 --input files given");
  expect_one_error_line(&r);
  free_result(&r);

  r = run_cli("run %s --output a.npy --output b.npy", ADD_MODEL);
  expect(&r, 2, NULL, "2 --output files given");
  free_result(&r);
}

/* A real float network with two outputs: both files come back in the
 * model's output order with TFLite's shapes. (Numerics are test_models'
 * business; here the values only need to be finite and not all zero.) */
static void test_run_face_detector_writes_both_outputs(void **state) {
  (void)state;
  const char *model = "tests/fixtures/models/mp_face_detection_short_range.tflite";
  const char *golden = "tests/fixtures/golden/mp_face_detection_short_range/";
  require_file(model, "MediaPipe face detector fixture");
  char golden_input[512], input[512], out[2][512], want_path[2][512];
  snprintf(golden_input, sizeof golden_input, "%sinput_0.npy", golden);
  require_file(golden_input, "face detector golden input");
  /* The golden input holds 8-bit levels k of the image TFLite was fed,
   * -1 + 2 * k / 255 (manifest note levels=-1:1): expand it to the float32
   * file a user would pass. */
  npy_array levels;
  halo_error npy_err = {{0}};
  assert_int_equal(npy_read_file(golden_input, &levels, &npy_err), HALO_OK);
  snprintf(input, sizeof input, "%s", golden_input);
  if (levels.dtype == HALO_UINT8) {
    float *values = malloc(levels.n_elements * sizeof *values);
    assert_non_null(values);
    for (size_t i = 0; i < levels.n_elements; i++)
      values[i] = (float)(-1.0 + 2.0 * (((const uint8_t *)levels.data)[i] / 255.0));
    tmp_path(input, sizeof input, "face_in.npy");
    assert_int_equal(npy_write_file(input, HALO_FLOAT32, levels.rank, levels.dims, values, &npy_err),
                     HALO_OK);
    free(values);
  }
  npy_array_free(&levels);
  for (int k = 0; k < 2; k++) {
    char name[32];
    snprintf(name, sizeof name, "face_out_%d.npy", k);
    tmp_path(out[k], sizeof out[k], name);
    snprintf(want_path[k], sizeof want_path[k], "%soutput_%d.npy", golden, k);
  }
  cli_result r = run_cli("run %s --input %s --output '%s' --output '%s'", model, input, out[0],
                         out[1]);
  expect(&r, 0, "output 1 'classificators' (float32 1x896x1) written to", NULL);
  free_result(&r);
  for (int k = 0; k < 2; k++) {
    npy_array got, want;
    halo_error err = {{0}};
    assert_int_equal(npy_read_file(out[k], &got, &err), HALO_OK);
    assert_int_equal(npy_read_file(want_path[k], &want, &err), HALO_OK);
    assert_int_equal(got.dtype, want.dtype);
    assert_int_equal(got.rank, want.rank);
    for (int d = 0; d < got.rank; d++) assert_int_equal(got.dims[d], want.dims[d]);
    bool any_nonzero = false;
    for (size_t i = 0; i < got.n_elements; i++) {
      float v;
      memcpy(&v, (char *)got.data + 4 * i, 4);
      assert_true(v == v && v - v == 0.0f); /* not NaN, not infinite */
      any_nonzero = any_nonzero || v != 0.0f;
    }
    assert_true(any_nonzero);
    npy_array_free(&got);
    npy_array_free(&want);
  }
}

/* ---- bench --------------------------------------------------------------- */

static void test_bench_with_profile_and_csv(void **state) {
  (void)state;
  require_file(ADD_MODEL, "float fixture");
  char csv_path[512];
  tmp_path(csv_path, sizeof csv_path, "nodes.csv");
  /* --devices cpu: on a machine with accelerators the node could land
   * elsewhere, with COPY nodes around it. */
  cli_result r = run_cli("bench %s --runs 3 --warmup 1 --threads 1 --devices cpu --profile "
                         "--csv '%s'",
                         ADD_MODEL, csv_path);
  expect(&r, 0, "Timings (microseconds): count=3 ", NULL);
  const char *wanted[] = {
      " first=", " curr=", " min=", " max=", " avg=", " std=",
      "Operator-wise Profiling Info",
      "============================== Run Order ==============================",
      "============================== Top by Computation Time ==============================",
      "============================== Summary by node type ==============================",
      "[node type]", "[first]", "[avg ms]", "[%]", "[cdf%]", "[mem KB]", "[times called]",
      "[Name]", "[device]", "[Node type]", "[count]", "[avg %]", "[cdf %]",
      "Number of nodes executed: 1",
  };
  for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) expect(&r, 0, wanted[i], NULL);
  /* The ADD row: type right-aligned in 24 columns after a tab, then the
   * name (first output tensor) and the device at the end. */
  expect(&r, 0, "\t                     ADD\t", NULL);
  expect(&r, 0, "\tIdentity\tcpu\n", NULL);
  free_result(&r);

  char *csv = slurp(csv_path);
  assert_true(strncmp(csv, "run,node,op,device,start_us,duration_us\n", 40) == 0);
  assert_int_equal(count_lines(csv), 1 + 3); /* header + one node x three runs */
  assert_non_null(strstr(csv, "\n0,0,ADD,cpu,"));
  assert_non_null(strstr(csv, "\n2,0,ADD,cpu,"));
  free(csv);

  /* Without --profile: timings only. */
  r = run_cli("bench %s --runs 2", ADD_MODEL);
  expect(&r, 0, "Timings (microseconds): count=2 ", NULL);
  assert_null(strstr(r.out, "Run Order"));
  free_result(&r);
}

/* docs/ops.md embeds `halo ops --devices cpu --markdown` between markers:
 * the coverage table must be the code's own answer (make docs rewrites it). */
static void test_ops_table_matches_docs(void **state) {
  (void)state;
  cli_result r = run_cli("ops --devices cpu --markdown");
  expect(&r, 0, "| CONV_2D |", NULL);
  char *doc = slurp("docs/ops.md");
  const char *begin_marker = "<!-- BEGIN halo ops --devices cpu --markdown -->\n";
  char *begin = strstr(doc, begin_marker);
  char *end = begin ? strstr(begin, "<!-- END halo ops -->") : NULL;
  if (!begin || !end) fail_msg("docs/ops.md lacks the generated-table markers");
  begin += strlen(begin_marker);
  *end = '\0';
  if (strcmp(begin, r.out) != 0) {
    print_error("docs/ops.md is stale: run `make docs`.\n--- halo ops says:\n%s\n--- docs say:\n%s\n",
                r.out, begin);
    fail();
  }
  free(doc);
  free_result(&r);
}

/* ---- doctor ---------------------------------------------------------------- */

/* doctor without the variables it reports on, whatever the caller's
 * environment holds. */
#define DOCTOR_CLEAN_ENV "env -u HALO_USBTPU_FIRMWARE -u HALO_USBTPU_IDS"
#define FW_SOURCE "firmware_blobs/usbtpu-fw-1.0.bin"

/* The line of one check: "LEVEL AREA ..." up to its newline, copied into
 * buf; NULL when there is none. */
static const char *doctor_line(const char *out, const char *level, const char *area,
                               const char *containing, char *buf, size_t size) {
  char head[64];
  snprintf(head, sizeof head, "%-4s  %-9s ", level, area);
  for (const char *p = out; (p = strstr(p, head)); p++) {
    if (p != out && p[-1] != '\n') continue;
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    snprintf(buf, size, "%.*s", (int)len, p);
    if (!containing || strstr(buf, containing)) return buf;
  }
  return NULL;
}

static void expect_doctor_line(const cli_result *r, const char *level, const char *area,
                               const char *containing) {
  char line[2048];
  if (!doctor_line(r->out, level, area, containing, line, sizeof line)) {
    print_error("no '%s %s' line with '%s' in:\n%s\n--- stderr:\n%s", level, area,
                containing ? containing : "", r->out, r->err);
    fail();
  }
}

/* Exit 1 exactly when a check FAILs; the summary counts the lines. */
static void expect_doctor_consistent(const cli_result *r) {
  int fails = 0, lines = 0;
  for (const char *p = r->out; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
    fails += strncmp(p, "FAIL  ", 6) == 0;
    lines += strncmp(p, "ok    ", 6) == 0 || strncmp(p, "warn  ", 6) == 0 ||
             strncmp(p, "FAIL  ", 6) == 0;
  }
  if (r->code != (fails ? 1 : 0) || lines < 6 || !strstr(r->out, " FAIL\n")) {
    print_error("exit %d with %d FAIL lines of %d:\n%s\n--- stderr:\n%s", r->code, fails, lines,
                r->out, r->err);
    fail();
  }
}

static void test_doctor_checks_the_firmware(void **state) {
  (void)state;
  /* Whichever image the driver would boot (installed or source tree): it
   * parses, with its version. */
  cli_result r = run_cli_env(DOCTOR_CLEAN_ENV, "doctor");
  expect_doctor_consistent(&r);
  expect_doctor_line(&r, "ok", "firmware", "usbtpu-fw-1.0.bin: version 1.0.0");
  expect_doctor_line(&r, "ok", "usb ids", "7a70:0b00/0a00");
  free_result(&r);

  char abs[PATH_MAX], env[PATH_MAX + 64];
  if (!realpath(FW_SOURCE, abs)) fail_msg("%s is missing", FW_SOURCE);
  snprintf(env, sizeof env, "env -u HALO_USBTPU_IDS HALO_USBTPU_FIRMWARE='%s'", abs);
  r = run_cli_env(env, "doctor");
  expect_doctor_consistent(&r);
  char want[PATH_MAX + 32];
  snprintf(want, sizeof want, "%s: version 1.0.0", abs);
  expect_doctor_line(&r, "ok", "firmware", want);
  free_result(&r);

  r = run_cli_env("env -u HALO_USBTPU_IDS HALO_USBTPU_FIRMWARE=/nonexistent", "doctor");
  expect_doctor_consistent(&r);
  assert_int_equal(r.code, 1);
  expect_doctor_line(&r, "FAIL", "firmware", "/nonexistent: cannot open");
  free_result(&r);

  /* A copy with one byte of its code flipped: the parser's reason, named. */
  const char *build = getenv("HALO_BUILD");
  char bad[PATH_MAX];
  snprintf(bad, sizeof bad, "%s/doctor-corrupt-fw.bin", build && *build ? build : "build");
  FILE *in = fopen(FW_SOURCE, "rb");
  assert_non_null(in);
  unsigned char img[1 << 16];
  size_t n = fread(img, 1, sizeof img, in);
  fclose(in);
  assert_true(n > 256 && n < sizeof img);
  img[n - 16] ^= 0x5A;
  FILE *out = fopen(bad, "wb");
  if (!out) fail_msg("cannot write %s", bad);
  assert_int_equal(fwrite(img, 1, n, out), n);
  fclose(out);
  snprintf(env, sizeof env, "env -u HALO_USBTPU_IDS HALO_USBTPU_FIRMWARE='%s'", bad);
  r = run_cli_env(env, "doctor");
  expect_doctor_consistent(&r);
  assert_int_equal(r.code, 1);
  snprintf(want, sizeof want, "%s: firmware image:", bad);
  expect_doctor_line(&r, "FAIL", "firmware", want);
  free_result(&r);
  remove(bad);
}

static void test_doctor_reports_the_usb_ids(void **state) {
  (void)state;
  cli_result r = run_cli_env("env -u HALO_USBTPU_FIRMWARE HALO_USBTPU_IDS=garbage", "doctor");
  expect_doctor_consistent(&r);
  assert_int_equal(r.code, 1);
  expect_doctor_line(&r, "FAIL", "usb ids", "HALO_USBTPU_IDS entry 1 'garbage'");
  free_result(&r);

  r = run_cli_env("env -u HALO_USBTPU_FIRMWARE HALO_USBTPU_IDS=1234:0001:0002", "doctor");
  expect_doctor_consistent(&r);
  expect_doctor_line(&r, "ok", "usb ids", "7a70:0b00/0a00, 1234:0001/0002");
  free_result(&r);

  r = run_cli("doctor extra");
  expect(&r, 2, NULL, "unexpected argument");
  expect_one_error_line(&r);
  free_result(&r);
}

/* With two virtual accelerators plugged in (halo-vtpu): both device nodes
 * accessible, in boot mode as found, then booted into halo's devices. */
static void test_doctor_sees_virtual_accelerators(void **state) {
  (void)state;
  const char *build = getenv("HALO_BUILD");
  char launcher[PATH_MAX], env[PATH_MAX + 64];
  snprintf(launcher, sizeof launcher, "%s/halo-vtpu", build && *build ? build : "build");
  if (access(launcher, X_OK) != 0) fail_msg("%s is not built", launcher);
  snprintf(env, sizeof env, DOCTOR_CLEAN_ENV " '%s' --devices 2 --", launcher);
  cli_result r = run_cli_env(env, "doctor");
  expect_doctor_consistent(&r);
  expect_doctor_line(&r, "ok", "usb", "libusb lists 2 USB devices");
  expect_doctor_line(&r, "ok", "usb", "boot mode 7a70:0b00, serial VTPU0001): readable and writable");
  expect_doctor_line(&r, "ok", "usb", "boot mode 7a70:0b00, serial VTPU0002): readable and writable");
  expect_doctor_line(&r, "ok", "usb", "/dev/bus/usb/001/");
  expect_doctor_line(&r, "ok", "devices", "usbtpu0: halo USB accelerator, firmware 1.0.0");
  expect_doctor_line(&r, "ok", "devices", "usbtpu1: ");
  free_result(&r);

  /* Without them: either this machine has accelerators of its own, or
   * nothing plugged in is a warning, not a failure. */
  r = run_cli_env(DOCTOR_CLEAN_ENV, "doctor");
  expect_doctor_consistent(&r);
  char line[2048];
  if (!doctor_line(r.out, "ok", "usb", "/dev/bus/usb/", line, sizeof line) &&
      !doctor_line(r.out, "FAIL", "usb", "/dev/bus/usb/", line, sizeof line))
    expect_doctor_line(&r, "warn", "usb", "no USB accelerator plugged in");
  free_result(&r);
}

/* A virtual accelerator whose node this user may not open (mode 000, and as
 * root the doctor runs as nobody, as a user without the udev rule would):
 * the usb line FAILs naming the node and how to install the rule, and the
 * udev line FAILs too (nothing here can open it). */
/* The CLI under halo-vtpu as a user who may not open the accelerator's
 * device node (as root: the nobody user; else the node is made unreadable). */
static cli_result run_cli_without_usb_access(const char *args) {
  const char *build = getenv("HALO_BUILD");
  char launcher[PATH_MAX], env[PATH_MAX + 512];
  snprintf(launcher, sizeof launcher, "%s/halo-vtpu", build && *build ? build : "build");
  if (access(launcher, X_OK) != 0) fail_msg("%s is not built", launcher);
  /* The testbed open to everyone but the node, then the CLI ("$@"). */
  snprintf(env, sizeof env,
           DOCTOR_CLEAN_ENV " '%s' -- sh -c '"
           "chmod -R a+rwX \"$UMOCKDEV_DIR\" && chmod 000 \"$UMOCKDEV_DIR\"/dev/bus/usb/001/* && "
           "if [ \"$(id -u)\" = 0 ]; then "
           "exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$@\"; "
           "else exec \"$@\"; fi' sh",
           launcher);
  return run_cli_env(env, "%s", args);
}

static void test_doctor_names_the_udev_rule_without_access(void **state) {
  (void)state;
  cli_result r = run_cli_without_usb_access("doctor");
  expect_doctor_consistent(&r);
  assert_int_equal(r.code, 1);
  expect_doctor_line(&r, "FAIL", "usb", "/dev/bus/usb/001/002 (port 1-1, boot mode 7a70:0b00");
  expect_doctor_line(&r, "FAIL", "usb", "no permission to open it; fix: sudo cp ");
  expect_doctor_line(&r, "FAIL", "usb", "tools/udev/60-halo-usbtpu.rules /etc/udev/rules.d/");
  expect_doctor_line(&r, "FAIL", "usb", "udevadm control --reload");
  expect_doctor_line(&r, "FAIL", "udev", NULL);
  free_result(&r);
}

/* `halo devices` without access to the accelerator: the CPU is listed and a
 * note says what was found but could not be used, and why. */
static void test_devices_names_the_udev_rule_without_access(void **state) {
  (void)state;
  cli_result r = run_cli_without_usb_access("devices");
  assert_int_equal(r.code, 0);
  const char *want[] = {"found but not usable", "/dev/bus/usb/001/002", "60-halo-usbtpu.rules"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(r.err, want[i])) fail_msg("no '%s' in: %s", want[i], r.err);
  if (!strstr(r.out, "cpu")) fail_msg("no cpu in: %s", r.out);
  free_result(&r);
}

/* Asking for the accelerator without access to it: the error says why it
 * is missing (the node and the udev rule), not only that it is. */
static void test_run_names_the_udev_rule_without_access(void **state) {
  (void)state;
  if (!file_exists(person_detect)) fail_msg("the shared models are missing: %s", person_detect);
  char args[1200];
  snprintf(args, sizeof args, "run '%s' --devices usbtpu,cpu", person_detect);
  cli_result r = run_cli_without_usb_access(args);
  assert_int_equal(r.code, 1);
  const char *want[] = {"device 'usbtpu' was requested but none is present", "/dev/bus/usb/001/002",
                        "60-halo-usbtpu.rules"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(r.err, want[i])) fail_msg("no '%s' in: %s", want[i], r.err);
  free_result(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_top_level_help_and_version),
      cmocka_unit_test(test_every_command_help_lists_its_options),
      cmocka_unit_test(test_unknown_command_and_options_are_usage_errors),
      cmocka_unit_test(test_malformed_arguments_are_usage_errors),
      cmocka_unit_test(test_missing_model_names_the_file),
      cmocka_unit_test(test_a_file_that_is_not_a_model),
      cmocka_unit_test(test_devices_lists_the_cpu),
      cmocka_unit_test(test_inspect_a_float_model),
      cmocka_unit_test(test_inspect_a_float_network),
      cmocka_unit_test(test_inspect_person_detect),
      cmocka_unit_test(test_run_person_detect_classifies_both_images),
      cmocka_unit_test(test_run_writes_npy_matching_tflite),
      cmocka_unit_test(test_run_raw_files),
      cmocka_unit_test(test_run_summary_zero_fill_and_seed),
      cmocka_unit_test(test_run_rejects_mismatched_inputs),
      cmocka_unit_test(test_run_face_detector_writes_both_outputs),
      cmocka_unit_test(test_bench_with_profile_and_csv),
      cmocka_unit_test(test_ops_table_matches_docs),
      cmocka_unit_test(test_doctor_checks_the_firmware),
      cmocka_unit_test(test_doctor_reports_the_usb_ids),
      cmocka_unit_test(test_doctor_sees_virtual_accelerators),
      cmocka_unit_test(test_doctor_names_the_udev_rule_without_access),
      cmocka_unit_test(test_run_names_the_udev_rule_without_access),
      cmocka_unit_test(test_devices_names_the_udev_rule_without_access),
  };
  return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
