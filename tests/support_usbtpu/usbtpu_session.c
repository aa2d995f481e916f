#include "tests/support_usbtpu/usbtpu_session.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support_usbtpu/usbtpu_testbed.h"

halo_model *ut_load_model(const char *path) {
  if (access(path, R_OK) != 0)
    fail_msg("%s is missing: set HALO_SHARED to the shared folder holding models/", path);
  halo_model *m = NULL;
  halo_error e;
  if (halo_model_load_file(path, &m, &e) != HALO_OK) fail_msg("load %s: %s", path, e.message);
  return m;
}

halo_model *ut_load_shared_model(const char *name) {
  char path[1200];
  ut_shared_model_path(name, path, sizeof path);
  return ut_load_model(path);
}

halo_session *ut_session(halo_model *m, const char *devices, int flags) {
  halo_options o;
  halo_options_init(&o);
  o.devices = devices;
  o.no_fallback = (flags & UT_NO_FALLBACK) != 0;
  o.profiling = (flags & UT_PROFILING) != 0;
  halo_session *s = NULL;
  halo_error e;
  if (halo_session_create(m, &o, &s, &e) != HALO_OK) fail_msg("session %s: %s", devices, e.message);
  return s;
}

void ut_fill(void *data, size_t n, uint32_t seed) {
  uint8_t *p = data;
  uint32_t x = seed;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 16);
  }
}

void ut_fill_input(halo_session *s, uint32_t seed) {
  halo_tensor *in = halo_session_input(s, 0);
  ut_fill(halo_tensor_data(in), halo_tensor_byte_size(in), seed);
}

void ut_invoke_ok(halo_session *s, const char *what) {
  halo_status st = halo_session_invoke(s);
  if (st != HALO_OK) fail_msg("%s: invoke: %s: %s", what, halo_status_name(st), halo_session_error(s));
}

void ut_assert_output(const halo_session *s, const uint8_t *want, size_t size, const char *what) {
  const halo_tensor *t = halo_session_output(s, 0);
  size_t got_size = halo_tensor_byte_size(t);
  if (got_size != size) fail_msg("%s: output of %zu bytes, want %zu", what, got_size, size);
  const uint8_t *got = halo_tensor_data_const(t);
  for (size_t i = 0; i < size; i++)
    if (got[i] != want[i])
      fail_msg("%s: output differs from the expected at byte %zu: %u, want %u", what, i,
               (unsigned)got[i], (unsigned)want[i]);
}

void ut_invoke_matches(halo_session *s, uint32_t seed, const uint8_t *want, size_t size,
                       const char *what) {
  ut_fill_input(s, seed);
  ut_invoke_ok(s, what);
  ut_assert_output(s, want, size, what);
}

uint8_t *ut_invoke_copy(halo_session *s, size_t *size, const char *what) {
  ut_invoke_ok(s, what);
  const halo_tensor *t = halo_session_output(s, 0);
  *size = halo_tensor_byte_size(t);
  uint8_t *out = malloc(*size);
  assert_non_null(out);
  memcpy(out, halo_tensor_data_const(t), *size);
  return out;
}

uint8_t *ut_cpu_output(halo_model *m, uint32_t seed, size_t *size) {
  halo_session *cpu = ut_session(m, "cpu", 0);
  ut_fill_input(cpu, seed);
  uint8_t *out = ut_invoke_copy(cpu, size, "cpu");
  halo_session_destroy(cpu);
  return out;
}

void ut_case_start(ut_case *c, const char *model_name, uint32_t seed, const char *devices,
                   int flags) {
  memset(c, 0, sizeof *c);
  c->model = ut_load_shared_model(model_name);
  c->seed = seed;
  c->want = ut_cpu_output(c->model, seed, &c->size);
  c->s = ut_session(c->model, devices, flags);
}

void ut_case_invoke_matches(ut_case *c, const char *what) {
  ut_invoke_matches(c->s, c->seed, c->want, c->size, what);
}

void ut_case_end(ut_case *c) {
  halo_session_destroy(c->s);
  halo_model_free(c->model);
  free(c->want);
  memset(c, 0, sizeof *c);
}
