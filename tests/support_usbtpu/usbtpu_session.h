/* Sessions against the CPU for the suites that drive virtual USB
 * accelerators under umockdev (see usbtpu_testbed.h): the shared models,
 * sessions on a device list, seeded inputs, the CPU's output as the
 * reference, and invokes checked against it. A failed check fails the
 * running cmocka test with a message naming what it was doing. */
#ifndef TESTS_SUPPORT_USBTPU_USBTPU_SESSION_H
#define TESTS_SUPPORT_USBTPU_USBTPU_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "halo/halo.h"

/* Loads a model file, failing the test with a clear message when it is
 * missing (set HALO_SHARED) or does not load. The caller frees it. */
halo_model *ut_load_model(const char *path);
/* The same for <shared>/models/<name>. */
halo_model *ut_load_shared_model(const char *name);

/* Options for ut_session, or'ed. */
#define UT_NO_FALLBACK 1 /* the driver's own error, not the session moving nodes */
#define UT_PROFILING 2
/* A session on `devices` ("usbtpu,cpu"); fails the test when it cannot be
 * made. The caller destroys it. */
halo_session *ut_session(halo_model *m, const char *devices, int flags);

/* A deterministic pseudo-random pattern from `seed` in data[n]. */
void ut_fill(void *data, size_t n, uint32_t seed);
/* The same pattern in input 0 of the session. */
void ut_fill_input(halo_session *s, uint32_t seed);

/* Invokes, failing the test with `what`, the status and the session's
 * message when the invoke fails. */
void ut_invoke_ok(halo_session *s, const char *what);
/* Output 0 of the session is want[size], byte for byte. */
void ut_assert_output(const halo_session *s, const uint8_t *want, size_t size, const char *what);
/* ut_fill_input(seed), ut_invoke_ok, ut_assert_output. */
void ut_invoke_matches(halo_session *s, uint32_t seed, const uint8_t *want, size_t size,
                       const char *what);
/* Invokes and returns a copy of output 0 (*size bytes; the caller frees it). */
uint8_t *ut_invoke_copy(halo_session *s, size_t *size, const char *what);
/* The CPU's output 0 for the input ut_fill_input makes from `seed`, from a
 * CPU-only session (*size bytes; the caller frees it). */
uint8_t *ut_cpu_output(halo_model *m, uint32_t seed, size_t *size);

/* A shared model, the CPU's output for one seeded input, and a session on
 * the devices under test: what most session tests start from. */
typedef struct ut_case {
  halo_model *model;
  uint32_t seed;
  uint8_t *want; /* the CPU's output 0 for the seeded input */
  size_t size;   /* its byte size */
  halo_session *s;
} ut_case;

/* Loads <shared>/models/<model_name>, computes the CPU's output for `seed`
 * and makes the session (ut_session's flags). Nothing is invoked yet. */
void ut_case_start(ut_case *c, const char *model_name, uint32_t seed, const char *devices,
                   int flags);
/* ut_invoke_matches with the case's seed and reference. */
void ut_case_invoke_matches(ut_case *c, const char *what);
/* Frees what ut_case_start made. */
void ut_case_end(ut_case *c);

#endif
