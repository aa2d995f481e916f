/* The libusb transport and DFU download (drivers/usbtpu/usbtpu_usb.c,
 * usbtpu_dfu.c) through real libusb against virtual accelerators plugged in
 * with umockdev (tools/vtpu/vtpu_umockdev.c): boot from DFU with the
 * committed firmware and re-enumeration, the capability table read through
 * CSRs and parsed, corrupted images refused by name, frames on bulk OUT,
 * timeouts naming the endpoint (a transfer the device swallows is a real
 * timeout), two devices at once, an unplug with a transfer in flight and a
 * replug; endpoints found by kind and order in the descriptors (a device
 * numbering them as a gadget's UDC might still boots and runs
 * person_detect, byte-identical to the CPU; one lacking endpoints is
 * refused by name). Timeouts stay short: libusb busy-polls under umockdev.
 * The person_detect test needs HALO_SHARED. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "drivers/usbtpu/usbtpu_dfu.h"
#include "drivers/usbtpu/usbtpu_firmware.h"
#include "drivers/usbtpu/usbtpu_protocol.h"
#include "drivers/usbtpu/usbtpu_usb.h"
#include "halo/halo.h"
#include "tests/support_usbtpu/usbtpu_session.h"
#include "tests/support_usbtpu/usbtpu_testbed.h"
#include "tools/vtpu/vtpu_umockdev.h"

#define TIMEOUT_MS 100

static usbtpu_usb *boot(const char *serial, const uint8_t *img, size_t size) {
  halo_err err;
  usbtpu_usb *dev = NULL;
  halo_status st = usbtpu_usb_open(USBTPU_PID_BOOT, serial, TIMEOUT_MS, &dev, &err);
  if (st != HALO_OK) fail_msg("open: %s", err.msg);
  st = usbtpu_dfu_download(dev, img, size, 2000, &err);
  if (st != HALO_OK) fail_msg("dfu: %s", err.msg);
  assert_int_equal(usbtpu_usb_product_id(dev), USBTPU_PID_APP);
  assert_string_equal(usbtpu_usb_serial(dev), serial);
  return dev;
}

/* Nothing queued on the output endpoint: a timeout naming it; a halted
 * bulk OUT endpoint: a stall naming it, cleared again. */
static void expect_endpoints_named(vtpu_testbed *tb, usbtpu_usb *dev, const char *output_in,
                                   const char *bulk_out) {
  uint8_t buf[64], run_id[8] = {0};
  size_t got;
  halo_err err;
  assert_int_equal(usbtpu_usb_read(dev, USBTPU_EP_OUTPUT_IN, buf, sizeof buf, &got, &err),
                   HALO_ETIMEOUT);
  if (!strstr(err.msg, output_in)) fail_msg("timeout: %s", err.msg);
  vtpu_faults f = {0};
  f.stall_next_out = true;
  ut_set_faults(tb, 0, &f);
  assert_int_equal(usbtpu_usb_send_frame(dev, USBTPU_TAG_RUN, 2, 0, run_id, 8, false, &err),
                   HALO_EDEVICE);
  if (!strstr(err.msg, bulk_out) || !strstr(err.msg, "stalled")) fail_msg("stall: %s", err.msg);
  assert_int_equal(usbtpu_usb_clear_halt(dev, USBTPU_EP_BULK_OUT, &err), HALO_OK);
}

static void boot_and_read_caps(void **state) {
  vtpu_testbed *tb = *state;
  size_t size;
  uint8_t *img = ut_read_firmware(&size);
  halo_err err;
  usbtpu_fw_info info;
  assert_int_equal(usbtpu_fw_parse(img, size, &info, &err), HALO_OK);

  usbtpu_usb *dev = boot("VTPU0001", img, size);
  assert_int_equal(vtpu_testbed_enumerations(tb, 0), 1);
  assert_int_equal(vtpu_testbed_enumerations(tb, 1), 0);
  assert_non_null(strstr(usbtpu_usb_name(dev), "1-1"));

  uint32_t v;
  assert_int_equal(usbtpu_usb_csr_read32(dev, USBTPU_CSR_ID, &v, &err), HALO_OK);
  assert_int_equal(v, USBTPU_DEVICE_ID);
  assert_int_equal(usbtpu_usb_csr_read32(dev, USBTPU_CSR_PROTOCOL, &v, &err), HALO_OK);
  assert_int_equal(v, USBTPU_PROTOCOL_VERSION);
  assert_int_equal(usbtpu_usb_csr_read32(dev, USBTPU_CSR_FW_VERSION, &v, &err), HALO_OK);
  assert_int_equal(v, info.fw_version);
  uint64_t token = 1;
  assert_int_equal(usbtpu_usb_csr_read64(dev, USBTPU_CSR_PARAM_TOKEN, &token, &err), HALO_OK);
  assert_int_equal(token, 0);

  /* The capability table: CAPS_SIZE, then the window, parsed as untrusted. */
  uint32_t caps_size;
  assert_int_equal(usbtpu_usb_csr_read32(dev, USBTPU_CSR_CAPS_SIZE, &caps_size, &err), HALO_OK);
  assert_int_equal(caps_size, info.caps_size);
  assert_true(caps_size > 0 && caps_size <= 65536);
  size_t padded = (caps_size + 3u) & ~3u;
  uint8_t *table = calloc(1, padded);
  assert_int_equal(usbtpu_usb_csr_read_block(dev, USBTPU_CSR_CAPS_BASE, table, padded, &err),
                   HALO_OK);
  usbtpu_caps caps;
  if (usbtpu_caps_parse(table, caps_size, "device usbtpu0", &caps, &err) != HALO_OK)
    fail_msg("caps: %s", err.msg);
  assert_int_equal(caps.n_ops, info.caps.n_ops);
  assert_int_equal(caps.param_mem_bytes, info.caps.param_mem_bytes);
  assert_int_equal(caps.max_payload, info.caps.max_payload);
  assert_memory_equal(table, img + info.caps_offset, caps_size);
  free(table);

  /* A write to a read-only register stalls; the message names register and device. */
  assert_int_equal(usbtpu_usb_csr_write32(dev, USBTPU_CSR_ID, 1, &err), HALO_EDEVICE);
  assert_non_null(strstr(err.msg, "0x00000"));
  assert_non_null(strstr(err.msg, "stalled"));
  assert_non_null(strstr(err.msg, "VTPU0001"));
  assert_int_equal(usbtpu_usb_csr_write32(dev, USBTPU_CSR_RESET, USBTPU_RESET_SOFT, &err),
                   HALO_OK);

  /* A RUN frame with no program: the device records ERR_NO_PROGRAM. */
  uint8_t run_id[8] = {1};
  assert_int_equal(usbtpu_usb_send_frame(dev, USBTPU_TAG_RUN, 1, 0, run_id, 8, false, &err),
                   HALO_OK);
  assert_int_equal(usbtpu_usb_csr_read32(dev, USBTPU_CSR_ERROR_CODE, &v, &err), HALO_OK);
  assert_int_equal(v, USBTPU_ERR_NO_PROGRAM);

  expect_endpoints_named(tb, dev, "endpoint 0x81", "endpoint 0x01");

  /* A transfer the device swallows is never delivered: libusb times out,
   * and the frame never reached the device. */
  vtpu_stats before = ut_device_stats(tb, 0);
  vtpu_faults f = {0};
  f.timeout_next = true;
  ut_set_faults(tb, 0, &f);
  assert_int_equal(usbtpu_usb_send_frame(dev, USBTPU_TAG_RUN, 2, 0, run_id, 8, false, &err),
                   HALO_ETIMEOUT);
  assert_non_null(strstr(err.msg, "endpoint 0x01"));
  vtpu_stats after = ut_device_stats(tb, 0);
  assert_int_equal(after.frames, before.frames);
  /* The endpoint still works, and the swallowed frame never arrived: its
   * sequence number is still the next one the device expects. */
  assert_int_equal(usbtpu_usb_send_frame(dev, USBTPU_TAG_RUN, 2, 0, run_id, 8, false, &err),
                   HALO_OK);
  after = ut_device_stats(tb, 0);
  assert_int_equal(after.frames, before.frames + 1);
  usbtpu_usb_close(dev);
  free(img);
}

static void corrupted_firmware_refused(void **state) {
  vtpu_testbed *tb = *state;
  size_t size;
  uint8_t *img = ut_read_firmware(&size);
  halo_err err;
  usbtpu_usb *dev = NULL;
  assert_int_equal(usbtpu_usb_open(USBTPU_PID_BOOT, "VTPU0002", TIMEOUT_MS, &dev, &err), HALO_OK);

  img[size - 1] ^= 0x5A; /* the code section: the CRC no longer matches */
  assert_int_equal(usbtpu_dfu_download(dev, img, size, 500, &err), HALO_EDEVICE);
  assert_non_null(strstr(err.msg, "errVERIFY"));
  assert_non_null(strstr(err.msg, "CRC"));
  img[size - 1] ^= 0x5A;

  img[0] = 'X'; /* bad magic */
  assert_int_equal(usbtpu_dfu_download(dev, img, size, 500, &err), HALO_EDEVICE);
  assert_non_null(strstr(err.msg, "errFILE"));
  img[0] = 'H';

  /* Still in boot mode, never re-enumerated; the good image then boots. */
  assert_int_equal(vtpu_testbed_enumerations(tb, 1), 0);
  assert_int_equal(usbtpu_usb_product_id(dev), USBTPU_PID_BOOT);
  if (usbtpu_dfu_download(dev, img, size, 2000, &err) != HALO_OK) fail_msg("dfu: %s", err.msg);
  assert_int_equal(usbtpu_usb_product_id(dev), USBTPU_PID_APP);
  usbtpu_usb_close(dev);
  free(img);
}

static void refused_by_policy_names_block(void **state) {
  vtpu_testbed *tb = *state;
  vtpu_faults f = {0};
  f.refuse_dfu = true;
  ut_set_faults(tb, 0, &f);
  size_t size;
  uint8_t *img = ut_read_firmware(&size);
  halo_err err;
  usbtpu_usb *dev = NULL;
  assert_int_equal(usbtpu_usb_open(USBTPU_PID_BOOT, "VTPU0001", TIMEOUT_MS, &dev, &err), HALO_OK);
  assert_int_equal(usbtpu_dfu_download(dev, img, size, 500, &err), HALO_EDEVICE);
  assert_non_null(strstr(err.msg, "block 0"));
  assert_non_null(strstr(err.msg, "errVENDOR"));
  usbtpu_usb_close(dev);
  free(img);
}

static void two_devices_at_once(void **state) {
  vtpu_testbed *tb = *state;
  size_t size;
  uint8_t *img = ut_read_firmware(&size);
  usbtpu_usb *a = boot("VTPU0001", img, size);
  usbtpu_usb *b = boot("VTPU0002", img, size);
  assert_int_equal(vtpu_testbed_enumerations(tb, 0), 1);
  assert_int_equal(vtpu_testbed_enumerations(tb, 1), 1);
  assert_string_not_equal(usbtpu_usb_name(a), usbtpu_usb_name(b));
  halo_err err;
  for (int i = 0; i < 3; i++) {
    uint32_t va, vb;
    assert_int_equal(usbtpu_usb_csr_read32(a, USBTPU_CSR_ID, &va, &err), HALO_OK);
    assert_int_equal(usbtpu_usb_csr_read32(b, USBTPU_CSR_ID, &vb, &err), HALO_OK);
    assert_int_equal(va, USBTPU_DEVICE_ID);
    assert_int_equal(vb, USBTPU_DEVICE_ID);
  }
  /* An error on one leaves the other alone. */
  uint8_t run_id[8] = {0};
  assert_int_equal(usbtpu_usb_send_frame(a, USBTPU_TAG_RUN, 7, 0, run_id, 8, true, &err), HALO_OK);
  uint32_t ea, eb;
  assert_int_equal(usbtpu_usb_csr_read32(a, USBTPU_CSR_ERROR_CODE, &ea, &err), HALO_OK);
  assert_int_equal(usbtpu_usb_csr_read32(b, USBTPU_CSR_ERROR_CODE, &eb, &err), HALO_OK);
  assert_int_equal(ea, USBTPU_ERR_NO_PROGRAM);
  assert_int_equal(eb, 0);
  usbtpu_usb_close(a);
  usbtpu_usb_close(b);
  free(img);
}

static void missing_device_is_named(void **state) {
  (void)state;
  halo_err err;
  usbtpu_usb *dev = NULL;
  assert_int_equal(usbtpu_usb_open(USBTPU_PID_APP, NULL, TIMEOUT_MS, &dev, &err), HALO_ENOTFOUND);
  assert_null(dev);
  assert_non_null(strstr(err.msg, "7a70:0a00"));
  assert_int_equal(usbtpu_usb_open(USBTPU_PID_BOOT, "NOSUCH", TIMEOUT_MS, &dev, &err),
                   HALO_ENOTFOUND);
  assert_non_null(strstr(err.msg, "NOSUCH"));
}

typedef struct pending_read {
  usbtpu_usb *dev;
  halo_status st;
  halo_err err;
} pending_read;

static void *read_event(void *arg) {
  pending_read *r = arg;
  uint8_t buf[64];
  size_t got;
  r->st = usbtpu_usb_read(r->dev, USBTPU_EP_EVENT_IN, buf, sizeof buf, &got, &r->err);
  return NULL;
}

/* Unplugged while a bulk IN waits for data: as with the kernel, the URB in
 * flight completes with ENODEV and libusb reports the device gone (not a
 * timeout, not a hang); every later transfer finds it gone too. Plugged
 * back in, it is found on the same port in boot mode and boots again. */
static void unplugged_device_is_gone(void **state) {
  vtpu_testbed *tb = *state;
  size_t size;
  uint8_t *img = ut_read_firmware(&size);
  halo_err err;
  usbtpu_usb *dev = NULL;
  /* A long transfer timeout: the unplug comes well before it. */
  assert_int_equal(usbtpu_usb_open(USBTPU_PID_BOOT, "VTPU0001", 5000, &dev, &err), HALO_OK);
  if (usbtpu_dfu_download(dev, img, size, 2000, &err) != HALO_OK) fail_msg("dfu: %s", err.msg);
  char name[96];
  snprintf(name, sizeof name, "%s", usbtpu_usb_name(dev));

  pending_read r = {dev, HALO_OK, {0}};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, read_event, &r), 0);
  struct timespec ts = {0, 100 * 1000 * 1000}; /* the read is in flight by then */
  nanosleep(&ts, NULL);
  vtpu_testbed_unplug(tb, 0);
  pthread_join(t, NULL);
  if (r.st != HALO_EDEVICE || !usbtpu_usb_last_gone(dev) || !strstr(r.err.msg, "gone") ||
      !strstr(r.err.msg, "0x82"))
    fail_msg("in-flight read: status %d: %s", (int)r.st, r.err.msg);

  uint32_t v;
  assert_int_equal(usbtpu_usb_csr_read32(dev, USBTPU_CSR_ID, &v, &err), HALO_EDEVICE);
  assert_non_null(strstr(err.msg, "gone"));
  assert_true(usbtpu_usb_last_gone(dev));
  assert_int_equal(usbtpu_usb_reopen(dev, USBTPU_PID_BOOT, 20, &err), HALO_ETIMEOUT);

  if (vtpu_testbed_replug(tb, 0, &err) != HALO_OK) fail_msg("replug: %s", err.msg);
  if (usbtpu_usb_reopen(dev, USBTPU_PID_BOOT, 1000, &err) != HALO_OK) fail_msg("reopen: %s", err.msg);
  assert_string_equal(usbtpu_usb_name(dev), name); /* same port and serial */
  if (usbtpu_dfu_download(dev, img, size, 2000, &err) != HALO_OK) fail_msg("dfu again: %s", err.msg);
  assert_int_equal(vtpu_testbed_enumerations(tb, 0), 2);
  assert_int_equal(usbtpu_usb_csr_read32(dev, USBTPU_CSR_ID, &v, &err), HALO_OK);
  assert_int_equal(v, USBTPU_DEVICE_ID);
  usbtpu_usb_close(dev);
  free(img);
}

/* ---- endpoints found in the descriptors ----------------------------------- */

/* Bulk OUT 0x02, then IN 0x83 (outputs), 0x84 (events), 0x85 (interrupt):
 * the logical 0x83 is the real output endpoint here, so a transport that
 * used the reference addresses would read the wrong queues. */
#define MOVED_BASE 2
#define MOVED_OUTPUT_IN 0x83
#define MOVED_EVENT_IN 0x84
#define MOVED_INTR_IN 0x85

static int setup_moved(void **state) {
  vtpu_config cfg = {.serial = "VTPU0001", .endpoint_base = MOVED_BASE};
  return ut_testbed_setup(state, 1, &cfg);
}

/* Event and interrupt IN left out of the descriptors. */
static int setup_missing(void **state) {
  vtpu_config cfg = {.serial = "VTPU0001", .endpoints_omitted = (1u << 2) | (1u << 3)};
  return ut_testbed_setup(state, 1, &cfg);
}

static void moved_endpoints_are_found(void **state) {
  vtpu_testbed *tb = *state;
  size_t size;
  uint8_t *img = ut_read_firmware(&size);
  halo_err err;
  usbtpu_usb *dev = boot("VTPU0001", img, size);
  assert_int_equal(usbtpu_usb_endpoint_address(dev, USBTPU_EP_BULK_OUT), MOVED_BASE);
  assert_int_equal(usbtpu_usb_endpoint_address(dev, USBTPU_EP_OUTPUT_IN), MOVED_OUTPUT_IN);
  assert_int_equal(usbtpu_usb_endpoint_address(dev, USBTPU_EP_EVENT_IN), MOVED_EVENT_IN);
  assert_int_equal(usbtpu_usb_endpoint_address(dev, USBTPU_EP_INTR_IN), MOVED_INTR_IN);

  uint32_t caps_size;
  assert_int_equal(usbtpu_usb_csr_read32(dev, USBTPU_CSR_CAPS_SIZE, &caps_size, &err), HALO_OK);
  assert_true(caps_size > 0 && caps_size <= 65536);
  size_t padded = (caps_size + 3u) & ~3u;
  uint8_t *table = calloc(1, padded);
  assert_int_equal(usbtpu_usb_csr_read_block(dev, USBTPU_CSR_CAPS_BASE, table, padded, &err),
                   HALO_OK);
  usbtpu_caps caps;
  if (usbtpu_caps_parse(table, caps_size, "device usbtpu0", &caps, &err) != HALO_OK)
    fail_msg("caps: %s", err.msg);
  free(table);

  /* A RUN with no program reaches the device on the moved bulk OUT; its
   * failed completion comes back on the second bulk IN and the error record
   * on the interrupt IN. */
  vtpu_stats before = ut_device_stats(tb, 0);
  uint8_t run_id[8] = {5};
  assert_int_equal(usbtpu_usb_send_frame(dev, USBTPU_TAG_RUN, 1, 0, run_id, 8, true, &err),
                   HALO_OK);
  assert_int_equal(ut_device_stats(tb, 0).frames, before.frames + 1);
  uint8_t ev[USBTPU_EVENT_SIZE];
  size_t got = 0;
  if (usbtpu_usb_read(dev, USBTPU_EP_EVENT_IN, ev, sizeof ev, &got, &err) != HALO_OK)
    fail_msg("event: %s", err.msg);
  assert_int_equal(got, USBTPU_EVENT_SIZE);
  assert_int_equal(ev[1], USBTPU_ERR_NO_PROGRAM);
  uint8_t irq[USBTPU_IRQ_SIZE];
  if (usbtpu_usb_read(dev, USBTPU_EP_INTR_IN, irq, sizeof irq, &got, &err) != HALO_OK)
    fail_msg("interrupt: %s", err.msg);
  assert_int_equal(got, USBTPU_IRQ_SIZE);
  assert_int_equal(irq[1], USBTPU_ERR_NO_PROGRAM);

  /* Messages name the real addresses. */
  expect_endpoints_named(tb, dev, "endpoint 0x83", "endpoint 0x02");
  /* Only the protocol's endpoints are names the transport knows. */
  assert_int_equal(usbtpu_usb_read(dev, 0x86, ev, sizeof ev, &got, &err), HALO_EINVAL);
  assert_non_null(strstr(err.msg, "0x86"));
  usbtpu_usb_close(dev);
  free(img);

  /* A whole session: program, parameters and input out, the output frames
   * and completion events in on the moved endpoints, byte-identical to the
   * CPU. Made with the public API here, not ut_session: this suite links
   * the runtime only through what its own object calls (usbtpu.mk). */
  const uint32_t seed = 777u;
  halo_model *m = ut_load_shared_model("person_detect.tflite");
  size_t want_size;
  uint8_t *want = ut_cpu_output(m, seed, &want_size);
  halo_options o;
  halo_options_init(&o);
  o.devices = "usbtpu,cpu";
  o.no_fallback = true;
  halo_session *s = NULL;
  halo_error e;
  if (halo_session_create(m, &o, &s, &e) != HALO_OK) fail_msg("session: %s", e.message);
  ut_invoke_matches(s, seed, want, want_size, "moved endpoints, first invoke");
  ut_invoke_matches(s, seed, want, want_size, "moved endpoints, parameters cached");
  halo_session_destroy(s);
  free(want);
  halo_model_free(m);
  vtpu_stats after = ut_device_stats(tb, 0);
  assert_int_equal(after.runs, before.runs + 3); /* the RUN above and two invokes */
  assert_int_equal(after.cache_hits, before.cache_hits + 1);
}

static void missing_endpoints_refused(void **state) {
  (void)state;
  size_t size;
  uint8_t *img = ut_read_firmware(&size);
  halo_err err;
  usbtpu_usb *dev = NULL;
  assert_int_equal(usbtpu_usb_open(USBTPU_PID_BOOT, "VTPU0001", TIMEOUT_MS, &dev, &err), HALO_OK);
  /* Boot mode has no application endpoints to map. */
  uint8_t buf[USBTPU_EVENT_SIZE];
  size_t got;
  assert_int_equal(usbtpu_usb_read(dev, USBTPU_EP_EVENT_IN, buf, sizeof buf, &got, &err),
                   HALO_EDEVICE);
  assert_non_null(strstr(err.msg, "boot mode"));

  /* It boots, and comes back in application mode without the endpoints
   * the protocol needs. */
  const char *want = "interface 0 has 1 bulk OUT, 1 bulk IN, 0 interrupt IN endpoints";
  assert_int_equal(usbtpu_dfu_download(dev, img, size, 2000, &err), HALO_EDEVICE);
  if (!strstr(err.msg, want) || !strstr(err.msg, "the protocol needs 1, 2, 1") ||
      !strstr(err.msg, "VTPU0001") || !strstr(err.msg, "0x01 bulk OUT, 0x81 bulk IN"))
    fail_msg("after the download: %s", err.msg);
  usbtpu_usb_close(dev);
  dev = NULL;
  assert_int_equal(usbtpu_usb_open(USBTPU_PID_APP, "VTPU0001", TIMEOUT_MS, &dev, &err),
                   HALO_EDEVICE);
  assert_null(dev);
  if (!strstr(err.msg, want) || !strstr(err.msg, "usbtpu 1-1 VTPU0001"))
    fail_msg("open: %s", err.msg);
  free(img);
}

int main(void) {
  ut_init();
  const struct CMUnitTest tests[] = {
      UT_TEST_ON_TWO(boot_and_read_caps),
      UT_TEST_ON_TWO(corrupted_firmware_refused),
      UT_TEST_ON_TWO(refused_by_policy_names_block),
      UT_TEST_ON_TWO(two_devices_at_once),
      UT_TEST_ON_TWO(missing_device_is_named),
      UT_TEST_ON_TWO(unplugged_device_is_gone),
      cmocka_unit_test_setup_teardown(moved_endpoints_are_found, setup_moved, ut_teardown),
      cmocka_unit_test_setup_teardown(missing_endpoints_refused, setup_missing, ut_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
