#include "tests/support_usbtpu/usbtpu_testbed.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "drivers/usbtpu/usbtpu_protocol.h"

static char build_dir[512] = "build", shared_dir[1024] = "../shared";

void ut_init(void) {
  const char *build = getenv("HALO_BUILD");
  const char *shared = getenv("HALO_SHARED");
  if (build && *build) snprintf(build_dir, sizeof build_dir, "%s", build);
  if (shared && *shared) snprintf(shared_dir, sizeof shared_dir, "%s", shared);
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s/tmp", build_dir);
  mkdir(tmp, 0755);
  char *abs = realpath(tmp, NULL);
  if (abs) setenv("TMPDIR", abs, 1);
  free(abs);
}

const char *ut_build_dir(void) { return build_dir; }
const char *ut_shared_dir(void) { return shared_dir; }

void ut_shared_model_path(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/models/%s", shared_dir, name);
}

uint8_t *ut_read_firmware(size_t *size) {
  static const char path[] = "firmware_blobs/usbtpu-fw-1.0.bin";
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("%s: cannot open (run the tests from the repository root)", path);
  uint8_t *b = malloc(USBTPU_DFU_MAX_IMAGE);
  assert_non_null(b);
  *size = fread(b, 1, USBTPU_DFU_MAX_IMAGE, f);
  fclose(f);
  return b;
}

/* ---- the testbed ---------------------------------------------------------- */

int ut_testbed_setup(void **state, int n, const vtpu_config *configs) {
  halo_err err;
  vtpu_testbed *tb = NULL;
  if (vtpu_testbed_create(n, configs, &tb, &err) != HALO_OK) {
    fprintf(stderr, "testbed: %s\n", err.msg);
    return -1;
  }
  *state = tb;
  return 0;
}

int ut_setup_one(void **state) { return ut_testbed_setup(state, 1, NULL); }
int ut_setup_two(void **state) { return ut_testbed_setup(state, 2, NULL); }

int ut_teardown(void **state) {
  vtpu_testbed_destroy(*state);
  return 0;
}

void ut_set_faults(vtpu_testbed *tb, int i, const vtpu_faults *faults) {
  vtpu_set_faults(vtpu_testbed_lock(tb, i), faults);
  vtpu_testbed_unlock(tb);
}

vtpu_stats ut_device_stats(vtpu_testbed *tb, int i) {
  vtpu_stats st;
  vtpu_get_stats(vtpu_testbed_lock(tb, i), &st);
  vtpu_testbed_unlock(tb);
  return st;
}

vtpu_stats ut_total_stats(vtpu_testbed *tb) {
  vtpu_stats sum;
  memset(&sum, 0, sizeof sum);
  for (int i = 0; i < vtpu_testbed_count(tb); i++) {
    vtpu_stats st = ut_device_stats(tb, i);
    sum.bulk_out_bytes += st.bulk_out_bytes;
    sum.payload_bytes += st.payload_bytes;
    sum.program_bytes += st.program_bytes;
    sum.param_bytes += st.param_bytes;
    sum.input_bytes += st.input_bytes;
    sum.frames += st.frames;
    sum.runs += st.runs;
    sum.cache_hits += st.cache_hits;
    sum.cache_misses += st.cache_misses;
    sum.errors += st.errors;
    sum.link_us += st.link_us;
  }
  return sum;
}

/* ---- the CLI under halo-vtpu --------------------------------------------- */

int ut_run_under_vtpu(const char *env, const char *launcher_args, const char *cli_args, char *out,
                      size_t size) {
  char launcher[600], cli[600];
  snprintf(launcher, sizeof launcher, "%s/halo-vtpu", build_dir);
  snprintf(cli, sizeof cli, "%s/halo", build_dir);
  if (access(launcher, X_OK) != 0 || access(cli, X_OK) != 0)
    fail_msg("%s or %s not built", launcher, cli);
  size_t cap = strlen(env ? env : "") + strlen(launcher) + strlen(launcher_args) + strlen(cli) +
               strlen(cli_args) + 16;
  char *cmd = malloc(cap);
  assert_non_null(cmd);
  snprintf(cmd, cap, "%s %s %s -- %s %s 2>&1", env ? env : "", launcher, launcher_args, cli,
           cli_args);
  FILE *p = popen(cmd, "r");
  free(cmd);
  assert_non_null(p);
  size_t n = fread(out, 1, size - 1, p);
  out[n] = 0;
  int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}
