/* The USB accelerator's ID table (drivers/usbtpu/usbtpu_usb.h): the strict
 * parser of HALO_USBTPU_IDS, the table built from it, the udev rule agreeing
 * with the protocol's built-in IDs, and, through real libusb against
 * virtual accelerators under umockdev, a device with an identity of its own
 * that the driver finds, boots and re-opens only once HALO_USBTPU_IDS names
 * it. */
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "drivers/usbtpu/usbtpu_dfu.h"
#include "drivers/usbtpu/usbtpu_protocol.h"
#include "drivers/usbtpu/usbtpu_usb.h"
#include "tests/support_usbtpu/usbtpu_testbed.h"
#include "tools/vtpu/vtpu_umockdev.h"

#define RULES "tools/udev/" USBTPU_UDEV_RULES_NAME
#define TIMEOUT_MS 100

/* A second identity, as a rebadged product would have. */
#define OTHER_VID 0x1234u
#define OTHER_BOOT 0x0001u
#define OTHER_APP 0x0002u

static void expect_ids(const usbtpu_usb_id *got, int n, const usbtpu_usb_id *want, int n_want) {
  assert_int_equal(n, n_want);
  for (int i = 0; i < n; i++) {
    assert_int_equal(got[i].vid, want[i].vid);
    assert_int_equal(got[i].pid_boot, want[i].pid_boot);
    assert_int_equal(got[i].pid_app, want[i].pid_app);
  }
}

static void parses_well_formed_entries(void **state) {
  (void)state;
  usbtpu_usb_id ids[USBTPU_USB_IDS_MAX];
  int n = -1;
  halo_err err;
  assert_int_equal(usbtpu_usb_ids_parse("1234:0001:0002", ids, 4, &n, &err), HALO_OK);
  expect_ids(ids, n, (usbtpu_usb_id[]){{0x1234, 1, 2}}, 1);
  /* Upper case, short fields, spaces around entries. */
  assert_int_equal(usbtpu_usb_ids_parse(" 18D1:9302:f ,\t1:a:B ", ids, 4, &n, &err), HALO_OK);
  expect_ids(ids, n, (usbtpu_usb_id[]){{0x18d1, 0x9302, 0xf}, {1, 0xa, 0xb}}, 2);
  /* Unset or blank: no entries, no error. */
  assert_int_equal(usbtpu_usb_ids_parse(NULL, ids, 4, &n, &err), HALO_OK);
  assert_int_equal(n, 0);
  assert_int_equal(usbtpu_usb_ids_parse("  ", ids, 4, &n, &err), HALO_OK);
  assert_int_equal(n, 0);
}

static void rejects_malformed_entries_by_name(void **state) {
  (void)state;
  static const char *const bad[] = {
      "garbage",        "1234:0001",      "1234:0001:0002:3", "12345:1:2",  "0x12:1:2",
      "0:1:2",          "1234:7:7",       "1234:1:2,",        "1234::2",    "12 34:1:2",
      "1234:0001:000g", ":1:2",           "1234:1:-2",        ",",          "1234;1;2",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    usbtpu_usb_id ids[4];
    int n = -1;
    halo_err err;
    halo_err_clear(&err);
    if (usbtpu_usb_ids_parse(bad[i], ids, 4, &n, &err) != HALO_EINVAL)
      fail_msg("'%s' accepted (%d entries)", bad[i], n);
    if (!strstr(err.msg, USBTPU_USB_IDS_ENV " entry"))
      fail_msg("'%s': message does not name the entry: %s", bad[i], err.msg);
  }
  /* The well-formed entries around a malformed one still count; the
   * message names the bad one by number and text. */
  usbtpu_usb_id ids[4];
  int n = 0;
  halo_err err;
  assert_int_equal(usbtpu_usb_ids_parse("1:2:3,oops,4:5:6", ids, 4, &n, &err), HALO_EINVAL);
  expect_ids(ids, n, (usbtpu_usb_id[]){{1, 2, 3}, {4, 5, 6}}, 2);
  if (!strstr(err.msg, "entry 2 'oops'") || !strstr(err.msg, "1 of 3"))
    fail_msg("message: %s", err.msg);
  /* More entries than the table holds: the first ones are kept. */
  assert_int_equal(usbtpu_usb_ids_parse("1:2:3,4:5:6,7:8:9", ids, 2, &n, &err), HALO_EINVAL);
  expect_ids(ids, n, (usbtpu_usb_id[]){{1, 2, 3}, {4, 5, 6}}, 2);
  assert_non_null(strstr(err.msg, "1 entries over"));
}

static void table_starts_with_the_built_in_identity(void **state) {
  (void)state;
  const usbtpu_usb_id builtin = {USBTPU_VID, USBTPU_PID_BOOT, USBTPU_PID_APP};
  usbtpu_usb_id ids[USBTPU_USB_IDS_MAX];
  halo_err err;
  unsetenv(USBTPU_USB_IDS_ENV);
  int n = usbtpu_usb_id_table(ids, USBTPU_USB_IDS_MAX, &err);
  expect_ids(ids, n, &builtin, 1);
  assert_int_equal(err.code, HALO_OK);

  /* The built-in identity named again is not a second entry. */
  setenv(USBTPU_USB_IDS_ENV, "1234:1:2,7a70:0b00:0a00", 1);
  n = usbtpu_usb_id_table(ids, USBTPU_USB_IDS_MAX, &err);
  expect_ids(ids, n, (usbtpu_usb_id[]){builtin, {0x1234, 1, 2}}, 2);
  assert_int_equal(err.code, HALO_OK);

  /* Garbage leaves the driver with the built-in identity and the reason. */
  setenv(USBTPU_USB_IDS_ENV, "garbage", 1);
  n = usbtpu_usb_id_table(ids, USBTPU_USB_IDS_MAX, &err);
  expect_ids(ids, n, &builtin, 1);
  assert_int_equal(err.code, HALO_EINVAL);
  assert_non_null(strstr(err.msg, "'garbage'"));
  unsetenv(USBTPU_USB_IDS_ENV);
}

/* The shipped udev rule grants access to both of the built-in identity's
 * modes (the device re-enumerates from one to the other), for the seat's
 * user and for plugdev. */
static void udev_rule_matches_the_protocol(void **state) {
  (void)state;
  FILE *f = fopen(RULES, "r");
  if (!f) fail_msg("%s is missing", RULES);
  char line[1024];
  int modes = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || !strstr(line, "idProduct")) continue;
    char vendor[64], boot[64], app[64];
    snprintf(vendor, sizeof vendor, "ATTRS{idVendor}==\"%04x\"", USBTPU_VID);
    snprintf(boot, sizeof boot, "ATTRS{idProduct}==\"%04x\"", USBTPU_PID_BOOT);
    snprintf(app, sizeof app, "ATTRS{idProduct}==\"%04x\"", USBTPU_PID_APP);
    if (!strstr(line, "SUBSYSTEM==\"usb\"") || !strstr(line, vendor) ||
        !strstr(line, "TAG+=\"uaccess\"") || !strstr(line, "GROUP=\"plugdev\"") ||
        !strstr(line, "MODE=\"0660\""))
      fail_msg("%s: rule does not grant the accelerator: %s", RULES, line);
    modes |= strstr(line, boot) ? 1 : strstr(line, app) ? 2 : 4;
  }
  fclose(f);
  assert_int_equal(modes, 3);
}

/* ---- under umockdev --------------------------------------------------------- */

static int setup(void **state) {
  static char serials[2][16] = {"VTPU0001", "VTPU0042"};
  vtpu_config configs[2] = {{.serial = serials[0]},
                            {.serial = serials[1],
                             .vid = OTHER_VID,
                             .pid_boot = OTHER_BOOT,
                             .pid_app = OTHER_APP}};
  return ut_testbed_setup(state, 2, configs);
}

static int teardown(void **state) {
  ut_teardown(state);
  unsetenv(USBTPU_USB_IDS_ENV);
  return 0;
}

static const usbtpu_usb_node *find_node(const usbtpu_usb_node *nodes, int n, const char *serial) {
  for (int i = 0; i < n; i++)
    if (strcmp(nodes[i].serial, serial) == 0) return &nodes[i];
  return NULL;
}

static void extra_identity_needs_the_variable(void **state) {
  (void)state;
  halo_err err;
  char serials[8][USBTPU_USB_SERIAL_MAX];
  int n = 0;
  usbtpu_usb_node nodes[8];
  int bus = 0;

  unsetenv(USBTPU_USB_IDS_ENV);
  usbtpu_usb *dev = NULL;
  assert_int_equal(usbtpu_usb_open(USBTPU_USB_BOOT, "VTPU0042", TIMEOUT_MS, &dev, &err),
                   HALO_ENOTFOUND);
  assert_null(dev);
  assert_non_null(strstr(err.msg, "7a70:0b00"));
  assert_int_equal(usbtpu_usb_scan(nodes, 8, &n, &bus, &err), HALO_OK);
  assert_int_equal(bus, 2);
  assert_int_equal(n, 1);
  assert_string_equal(nodes[0].serial, "VTPU0001");
  assert_int_equal(usbtpu_usb_node_serials(nodes, n, USBTPU_USB_BOOT, serials, 8), 1);
  assert_string_equal(serials[0], "VTPU0001");
  assert_int_equal(usbtpu_usb_node_serials(nodes, n, USBTPU_USB_APP, serials, 8), 0);

  setenv(USBTPU_USB_IDS_ENV, "1234:0001:0002", 1);
  assert_int_equal(usbtpu_usb_scan(nodes, 8, &n, &bus, &err), HALO_OK);
  assert_int_equal(n, 2);
  assert_int_equal(usbtpu_usb_node_serials(nodes, n, USBTPU_USB_BOOT, serials, 8), 2);
  const usbtpu_usb_node *other = find_node(nodes, n, "VTPU0042");
  if (!other) fail_msg("scan does not show VTPU0042");
  assert_int_equal(other->id.vid, OTHER_VID);
  assert_int_equal(other->pid, OTHER_BOOT);
  assert_int_equal(other->mode, USBTPU_USB_BOOT);
  assert_int_equal(other->open.code, HALO_OK);
  assert_non_null(strstr(other->path, "/dev/bus/usb/001/"));
  assert_string_equal(other->port, "1-2");
}

static void extra_identity_boots_and_reopens(void **state) {
  vtpu_testbed *tb = *state;
  setenv(USBTPU_USB_IDS_ENV, "1234:0001:0002", 1);
  size_t size = 0;
  uint8_t *img = ut_read_firmware(&size);

  halo_err err;
  usbtpu_usb *dev = NULL;
  if (usbtpu_usb_open(USBTPU_USB_BOOT, "VTPU0042", TIMEOUT_MS, &dev, &err) != HALO_OK)
    fail_msg("open: %s", err.msg);
  assert_int_equal(usbtpu_usb_product_id(dev), OTHER_BOOT);
  assert_int_equal(usbtpu_usb_current_mode(dev), USBTPU_USB_BOOT);
  /* DFU download, reset, re-enumeration as 1234:0002 on the same port. */
  if (usbtpu_dfu_download(dev, img, size, 2000, &err) != HALO_OK) fail_msg("dfu: %s", err.msg);
  assert_int_equal(usbtpu_usb_product_id(dev), OTHER_APP);
  assert_int_equal(usbtpu_usb_current_mode(dev), USBTPU_USB_APP);
  assert_int_equal(vtpu_testbed_enumerations(tb, 1), 1);
  assert_int_equal(vtpu_testbed_enumerations(tb, 0), 0);
  uint32_t v = 0;
  assert_int_equal(usbtpu_usb_csr_read32(dev, USBTPU_CSR_ID, &v, &err), HALO_OK);
  assert_int_equal(v, USBTPU_DEVICE_ID);

  /* Waiting for a mode it will not come back in names the deadline and
   * this identity's PID. */
  assert_int_equal(usbtpu_usb_reopen(dev, USBTPU_USB_BOOT, 20, &err), HALO_ETIMEOUT);
  if (!strstr(err.msg, "1234:0001") || !strstr(err.msg, "20 ms")) fail_msg("%s", err.msg);
  if (usbtpu_usb_reopen(dev, USBTPU_USB_APP, 500, &err) != HALO_OK) fail_msg("reopen: %s", err.msg);
  assert_int_equal(usbtpu_usb_csr_read32(dev, USBTPU_CSR_ID, &v, &err), HALO_OK);
  usbtpu_usb_close(dev);
  free(img);
}

static int open_up(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)flag, (void)ftw;
  return chmod(path, (st->st_mode & 07777) | (S_ISDIR(st->st_mode) ? 0777 : 0666));
}

/* In a child: the testbed readable by everyone but its device nodes only by
 * root, and this process not root (as a user without the udev rule is). */
static int drop_access(void) {
  const char *bed = getenv("UMOCKDEV_DIR");
  if (!bed || nftw(bed, open_up, 16, FTW_PHYS) != 0) return -1;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/dev/bus/usb/001", bed);
  DIR *d = opendir(dir);
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char node[1400];
    snprintf(node, sizeof node, "%s/%s", dir, e->d_name);
    if (chmod(node, geteuid() == 0 ? 0600 : 0) != 0) return -1;
  }
  closedir(d);
  if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) return -1;
  return 0;
}

/* Without access to the node, opening says which node and which udev rule
 * to install, and the doctor's scan marks it denied. */
static void no_permission_names_node_and_rule(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    alarm(20); /* never hang the suite */
    char msg[1200];
    halo_err err;
    usbtpu_usb *dev = NULL;
    usbtpu_usb_node nodes[4];
    int n = 0;
    if (drop_access() != 0)
      snprintf(msg, sizeof msg, "setup: cannot restrict the testbed");
    else if (usbtpu_usb_open(USBTPU_USB_BOOT, NULL, TIMEOUT_MS, &dev, &err) != HALO_EDEVICE)
      snprintf(msg, sizeof msg, "open: not HALO_EDEVICE: %s", err.msg);
    else if (usbtpu_usb_scan(nodes, 4, &n, NULL, &err) != HALO_OK || n != 1 || !nodes[0].denied)
      snprintf(msg, sizeof msg, "scan: %d nodes, denied %d, %s", n, n ? nodes[0].denied : 0,
               n ? nodes[0].open.msg : "");
    else
      snprintf(msg, sizeof msg, "%s", err.msg);
    ssize_t w = write(fds[1], msg, strlen(msg));
    _exit(w > 0 ? 0 : 1);
  }
  close(fds[1]);
  char msg[1200];
  ssize_t got = read(fds[0], msg, sizeof msg - 1);
  close(fds[0]);
  msg[got > 0 ? got : 0] = 0;
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("child: status %d: %s", status, msg);
  if (!strstr(msg, "no permission to open /dev/bus/usb/001/002") ||
      !strstr(msg, "tools/udev/" USBTPU_UDEV_RULES_NAME) ||
      !strstr(msg, usbtpu_usb_udev_rules_installed()) || !strstr(msg, "udevadm"))
    fail_msg("%s", msg);
}

int main(void) {
  ut_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parses_well_formed_entries),
      cmocka_unit_test(rejects_malformed_entries_by_name),
      cmocka_unit_test(table_starts_with_the_built_in_identity),
      cmocka_unit_test(udev_rule_matches_the_protocol),
      cmocka_unit_test_setup_teardown(extra_identity_needs_the_variable, setup, teardown),
      cmocka_unit_test_setup_teardown(extra_identity_boots_and_reopens, setup, teardown),
      cmocka_unit_test_setup_teardown(no_permission_names_node_and_rule, ut_setup_one, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
