/* The environment of the suites that plug virtual USB accelerators in with
 * umockdev (tools/vtpu/vtpu_umockdev.c) and drive them through real libusb:
 * the build and shared folders, the umockdev testbed as cmocka setup and
 * teardown, the devices' fault knobs and counters, and the CLI run as a
 * child under halo-vtpu. With tests/support_usbtpu/usbtpu_session.h, it is
 * linked only into those suites (drivers/usbtpu/usbtpu.mk): it needs
 * libumockdev and libvtpu, which tests/support/ must not. A failed check
 * fails the running cmocka test with a message naming what it was doing.
 * The prefix ut_ marks these usbtpu test helpers. */
#ifndef TESTS_SUPPORT_USBTPU_USBTPU_TESTBED_H
#define TESTS_SUPPORT_USBTPU_USBTPU_TESTBED_H

#include <stddef.h>
#include <stdint.h>

#include "tools/vtpu/vtpu_umockdev.h"

/* Call first in main(): reads HALO_BUILD (default "build") and HALO_SHARED
 * (default "../shared"), and points TMPDIR at $HALO_BUILD/tmp, made
 * absolute: umockdev testbeds are temporary directories, kept in the build
 * folder, and umockdev needs an absolute root. */
void ut_init(void);
const char *ut_build_dir(void);
const char *ut_shared_dir(void);

/* "<shared>/models/<name>" into out[cap]. */
void ut_shared_model_path(const char *name, char *out, size_t cap);

/* The committed firmware image (firmware_blobs/, from the repository root)
 * in a buffer of USBTPU_DFU_MAX_IMAGE bytes that the caller frees; *size
 * gets its length. */
uint8_t *ut_read_firmware(size_t *size);

/* ---- the testbed ---------------------------------------------------------- */

/* cmocka setup: n virtual accelerators in boot mode (configs NULL or n
 * entries, as vtpu_testbed_create) into *state. Returns -1, saying why on
 * stderr, when the testbed cannot be made. */
int ut_testbed_setup(void **state, int n, const vtpu_config *configs);
/* cmocka setup and teardown for one and two default devices. */
int ut_setup_one(void **state);
int ut_setup_two(void **state);
int ut_teardown(void **state);
/* A cmocka test run on a fresh testbed of one or two default devices. */
#define UT_TEST_ON_ONE(f) cmocka_unit_test_setup_teardown(f, ut_setup_one, ut_teardown)
#define UT_TEST_ON_TWO(f) cmocka_unit_test_setup_teardown(f, ut_setup_two, ut_teardown)

/* Sets device i's fault knobs (under the testbed lock). */
void ut_set_faults(vtpu_testbed *tb, int i, const vtpu_faults *faults);
/* Device i's counters, read under the testbed lock. */
vtpu_stats ut_device_stats(vtpu_testbed *tb, int i);
/* Every counter summed over all devices of the testbed (the last-run
 * timings are left zero). */
vtpu_stats ut_total_stats(vtpu_testbed *tb);

/* ---- the CLI under halo-vtpu --------------------------------------------- */

/* Runs `ENV $HALO_BUILD/halo-vtpu LAUNCHER_ARGS -- $HALO_BUILD/halo CLI_ARGS
 * 2>&1` (env may be NULL or "": variable assignments for the launcher) into
 * out[size], NUL-terminated; returns the exit status (128 when killed).
 * Fails the test when either program is not built. */
int ut_run_under_vtpu(const char *env, const char *launcher_args, const char *cli_args, char *out,
                      size_t size);

#endif
