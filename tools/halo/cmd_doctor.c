/* halo doctor: checks what halo needs from this machine (USB access, udev
 * rules, the accelerator's firmware, Vulkan) and says what to fix. One line
 * per check: "ok", "warn" (works, but not as well as it could) or "FAIL"
 * (something the user asked for cannot work), then "fix: ..." where there
 * is something to do. Exit 1 when a check FAILs. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/usbtpu/usbtpu_device.h"
#include "drivers/usbtpu/usbtpu_firmware.h"
#include "drivers/usbtpu/usbtpu_usb.h"
#include "tools/halo/cli.h"

enum { OK, WARN, FAIL };

typedef struct doctor {
  int counts[3];
} doctor;

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static void report(doctor *doc, int level, const char *area, const char *fix, const char *fmt,
                   ...) {
  static const char *const names[] = {"ok", "warn", "FAIL"};
  doc->counts[level]++;
  printf("%-4s  %-9s ", names[level], area);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  if (fix) printf("; fix: %s", fix);
  putchar('\n');
}

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* "sudo cp SRC /etc/udev/rules.d/ && ..." with the copy that exists. */
static void udev_install_hint(char *buf, size_t size) {
  const char *src = is_file(usbtpu_usb_udev_rules_installed()) ? usbtpu_usb_udev_rules_installed()
                                                                 : usbtpu_usb_udev_rules_source();
  snprintf(buf, size,
           "sudo cp %s /etc/udev/rules.d/ && sudo udevadm control --reload && sudo udevadm "
           "trigger, then replug the accelerator",
           src);
}

/* ---- USB ------------------------------------------------------------------ */

static void check_ids(doctor *doc, usbtpu_usb_id *ids, int *n_ids) {
  halo_err env_err;
  *n_ids = usbtpu_usb_id_table(ids, USBTPU_USB_IDS_MAX, &env_err);
  char list[512];
  size_t len = 0;
  list[0] = 0;
  for (int i = 0; i < *n_ids && len < sizeof list; i++) {
    int w = snprintf(list + len, sizeof list - len, "%s%04x:%04x/%04x", i ? ", " : "",
                     ids[i].vid, ids[i].pid_boot, ids[i].pid_app);
    if (w < 0) break;
    len += (size_t)w;
  }
  const char *env = getenv(USBTPU_USB_IDS_ENV);
  if (env_err.code != HALO_OK)
    report(doc, FAIL, "usb ids", "set " USBTPU_USB_IDS_ENV "=vvvv:bbbb:aaaa[,...] in hex, or unset it",
           "%s; the driver matches %s (vendor:boot/application)", env_err.msg, list);
  else if (env && *env)
    report(doc, OK, "usb ids", NULL, "matching %s (vendor:boot/application; %s adds %d)", list,
           USBTPU_USB_IDS_ENV, *n_ids - 1);
  else
    report(doc, OK, "usb ids", NULL, "matching %s (vendor:boot/application, built in)", list);
}

static int by_path(const void *a, const void *b) {
  return strcmp(((const usbtpu_usb_node *)a)->path, ((const usbtpu_usb_node *)b)->path);
}

/* Returns how many accelerators this process can open. */
static int check_usb(doctor *doc, int *found) {
  usbtpu_usb_node nodes[USBTPU_USB_IDS_MAX * 4];
  int n = 0, bus_devices = 0;
  halo_err err;
  *found = 0;
  if (usbtpu_usb_scan(nodes, (int)(sizeof nodes / sizeof nodes[0]), &n, &bus_devices, &err) !=
      HALO_OK) {
    report(doc, FAIL, "usb",
           "install libusb-1.0-0; in a container, pass /dev/bus/usb and /run/udev through",
           "%s", err.msg);
    return 0;
  }
  report(doc, OK, "usb", NULL, "libusb lists %d USB device%s", bus_devices,
         bus_devices == 1 ? "" : "s");
  *found = n;
  if (n == 0) {
    report(doc, WARN, "usb", "plug in an accelerator (halo-vtpu -- halo doctor plugs in a virtual one)",
           "no USB accelerator plugged in");
    return 0;
  }
  qsort(nodes, (size_t)n, sizeof nodes[0], by_path);
  char hint[512];
  udev_install_hint(hint, sizeof hint);
  int usable = 0;
  for (int i = 0; i < n; i++) {
    const usbtpu_usb_node *d = &nodes[i];
    char what[256];
    snprintf(what, sizeof what, "%s (port %s, %s mode %04x:%04x%s%s)", d->path, d->port,
             d->mode == USBTPU_USB_BOOT ? "boot" : "application", d->id.vid, d->pid,
             d->serial[0] ? ", serial " : "", d->serial);
    if (d->open.code == HALO_OK) {
      usable++;
      report(doc, OK, "usb", NULL, "%s: readable and writable by this user", what);
    } else if (d->denied) {
      report(doc, FAIL, "usb", hint, "%s: no permission to open it", what);
    } else {
      report(doc, FAIL, "usb", "close the program using it, or replug it", "%s: %s", what,
             d->open.msg);
    }
  }
  return usable;
}

/* ---- udev rules ----------------------------------------------------------- */

/* Whether the rules text grants a device of `vid` (ATTR{idVendor} or
 * ATTRS{idVendor}, any case). */
static bool rules_cover(const char *text, uint16_t vid) {
  char want[32];
  snprintf(want, sizeof want, "idvendor}==\"%04x\"", vid);
  size_t n = strlen(want);
  for (const char *p = text; *p; p++)
    if (strncasecmp(p, want, n) == 0) return true;
  return false;
}

static char *read_text(const char *path, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(cap + 1);
  size_t n = buf ? fread(buf, 1, cap, f) : 0;
  fclose(f);
  if (buf) buf[n] = 0;
  return buf;
}

static void check_udev(doctor *doc, const usbtpu_usb_id *ids, int n_ids, int usable, int found) {
  char installed_dir[PATH_MAX];
  snprintf(installed_dir, sizeof installed_dir, "%s", usbtpu_usb_udev_rules_installed());
  char *slash = strrchr(installed_dir, '/');
  if (slash) *slash = 0;
  /* Where udev reads rules, then where `make install` put ours. */
  const char *dirs[] = {"/etc/udev/rules.d", "/usr/lib/udev/rules.d", "/lib/udev/rules.d",
                        installed_dir};
  enum { N_DIRS = sizeof dirs / sizeof dirs[0] };
  char hint[512];
  udev_install_hint(hint, sizeof hint);
  char seen[N_DIRS][PATH_MAX];
  int n_seen = 0;
  char read_by_udev[PATH_MAX] = "", elsewhere[PATH_MAX] = "";
  bool covered[USBTPU_USB_IDS_MAX] = {false};
  for (int k = 0; k < N_DIRS; k++) {
    char real[PATH_MAX];
    if (!realpath(dirs[k], real)) continue;
    bool dup = false;
    for (int s = 0; s < n_seen; s++) dup |= strcmp(seen[s], real) == 0;
    if (dup) continue;
    snprintf(seen[n_seen++], PATH_MAX, "%s", real);
    DIR *dir = opendir(real);
    if (!dir) continue;
    for (struct dirent *e; (e = readdir(dir));) {
      size_t len = strlen(e->d_name);
      if (len < 7 || strcmp(e->d_name + len - 6, ".rules") != 0) continue;
      char path[PATH_MAX];
      snprintf(path, sizeof path, "%s/%s", dirs[k], e->d_name);
      char *text = read_text(path, 1 << 16);
      if (!text) continue;
      bool ours = false;
      for (int i = 0; i < n_ids; i++) {
        bool c = rules_cover(text, ids[i].vid);
        ours |= c;
        if (k < N_DIRS - 1) covered[i] |= c;
      }
      free(text);
      if (!ours) continue;
      char *slot = k < N_DIRS - 1 ? read_by_udev : elsewhere;
      if (!slot[0]) snprintf(slot, PATH_MAX, "%s", path);
    }
    closedir(dir);
  }
  bool root = geteuid() == 0;
  if (read_by_udev[0]) {
    char missing[256] = "";
    size_t len = 0;
    for (int i = 0; i < n_ids && len < sizeof missing; i++)
      if (!covered[i]) {
        int w = snprintf(missing + len, sizeof missing - len, "%s%04x", len ? ", " : "",
                         ids[i].vid);
        if (w > 0) len += (size_t)w;
      }
    if (missing[0])
      report(doc, WARN, "udev", "add lines for those vendors to the rules file and reload udev",
             "%s grants access, but no rule names vendor %s (from " USBTPU_USB_IDS_ENV ")",
             read_by_udev, missing);
    else
      report(doc, OK, "udev", NULL, "%s grants access to the accelerator", read_by_udev);
  } else if (elsewhere[0]) {
    report(doc, WARN, "udev", hint, "%s is installed where udev does not read it", elsewhere);
  } else {
    report(doc, found && !usable ? FAIL : WARN, "udev", hint,
           "no halo udev rule installed: %s",
           root ? "root opens the accelerator anyway, other users cannot"
                : "only root can open the accelerator");
  }
}

/* ---- firmware ------------------------------------------------------------- */

static void check_firmware(doctor *doc) {
  const char *env = getenv("HALO_USBTPU_FIRMWARE");
  bool from_env = env && *env;
  char path[1024];
  uint8_t *img = NULL;
  size_t size = 0;
  usbtpu_fw_info info;
  halo_err err;
  halo_status st = usbtpu_firmware_load(path, sizeof path, &img, &size, &info, &err);
  if (st == HALO_ENOTFOUND)
    report(doc, FAIL, "firmware",
           from_env ? "point HALO_USBTPU_FIRMWARE at a firmware image, or unset it"
                    : "run `make install`, or set HALO_USBTPU_FIRMWARE to a firmware image",
           "%s", err.msg);
  else if (st != HALO_OK)
    report(doc, FAIL, "firmware",
           from_env ? "point HALO_USBTPU_FIRMWARE at a good image, or unset it"
                    : "reinstall it (`make install`; `make firmware` rebuilds the source tree's "
                      "image)",
           "%s", err.msg);
  else
    report(doc, OK, "firmware", NULL, "%s: version %u.%u.%u, build '%s', %zu bytes%s", path,
           info.fw_version >> 16, (info.fw_version >> 8) & 0xFF, info.fw_version & 0xFF,
           info.build, size, from_env ? " (from HALO_USBTPU_FIRMWARE)" : "");
  free(img);
}

/* ---- Vulkan ------------------------------------------------------------- */

static bool software_icd(const char *name) {
  return strstr(name, "lvp") || strstr(name, "lavapipe") || strstr(name, "swiftshader") ||
         strstr(name, "llvmpipe");
}

static void check_vulkan_loader(doctor *doc) {
  void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    report(doc, WARN, "vulkan", "sudo apt-get install libvulkan1 mesa-vulkan-drivers",
           "libvulkan.so.1 does not load (%s): no Vulkan device, the CPU runs everything",
           why ? why : "not found");
    return;
  }
  dlclose(lib);
  report(doc, OK, "vulkan", NULL, "libvulkan.so.1 loads");
}

/* A comma-separated list in a fixed buffer; once full it ends in "...". */
typedef struct text_list {
  char buf[1024];
  size_t len;
  bool full;
} text_list;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void list_add(text_list *l, const char *fmt, ...) {
  if (l->full) return;
  char item[PATH_MAX + 32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(item, sizeof item, fmt, ap);
  va_end(ap);
  const char *sep = l->len ? ", " : "";
  if (l->len + strlen(sep) + strlen(item) + 4 >= sizeof l->buf) {
    snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s...", sep);
    l->full = true;
    return;
  }
  l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s%s", sep, item);
}

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directories the Vulkan loader searches for driver manifests on Linux,
 * in its order: XDG config dirs, /etc, XDG data dirs (with their defaults). */
static int icd_dirs(char (*out)[PATH_MAX], int max) {
  const char *home = getenv("HOME");
  const char *config_home = getenv("XDG_CONFIG_HOME");
  const char *config_dirs = getenv("XDG_CONFIG_DIRS");
  const char *data_home = getenv("XDG_DATA_HOME");
  const char *data_dirs = getenv("XDG_DATA_DIRS");
  char bases[4096];
  snprintf(bases, sizeof bases, "%s%s:%s:/etc:%s%s:%s",
           config_home && *config_home ? config_home : home ? home : "",
           config_home && *config_home ? "" : "/.config",
           config_dirs && *config_dirs ? config_dirs : "/etc/xdg",
           data_home && *data_home ? data_home : home ? home : "",
           data_home && *data_home ? "" : "/.local/share",
           data_dirs && *data_dirs ? data_dirs : "/usr/local/share:/usr/share");
  int n = 0;
  for (char *save = NULL, *tok = strtok_r(bases, ":", &save); tok && n < max;
       tok = strtok_r(NULL, ":", &save)) {
    if (tok[0] != '/') continue; /* no $HOME: "/.config" would be wrong */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s/vulkan/icd.d", PATH_MAX - 20, tok);
    bool dup = false;
    for (int k = 0; k < n; k++) dup |= strcmp(out[k], dir) == 0;
    if (!dup) snprintf(out[n++], PATH_MAX, "%s", dir);
  }
  return n;
}

static void check_icds(doctor *doc) {
  const char *var = getenv("VK_DRIVER_FILES") ? "VK_DRIVER_FILES" : "VK_ICD_FILENAMES";
  const char *pinned = getenv(var);
  text_list list = {.len = 0};
  int n = 0, n_soft = 0, n_missing = 0;
  if (pinned && *pinned) {
    char *copy = strdup(pinned);
    for (char *save = NULL, *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok;
         tok = strtok_r(NULL, ":", &save)) {
      bool there = is_file(tok) || is_dir(tok);
      n++;
      n_missing += !there;
      n_soft += software_icd(tok);
      list_add(&list, "%s%s", tok, there ? "" : " (missing)");
    }
    free(copy);
    if (n_missing)
      report(doc, FAIL, "vulkan", "fix the path or unset the variable", "%s names %s", var,
             list.buf);
    else
      report(doc, n_soft == n ? WARN : OK, "vulkan",
             n_soft == n ? "unset it to let the loader find the GPU's driver" : NULL,
             "%s pins the driver%s: %s%s", var, n > 1 ? "s" : "", list.buf,
             n_soft == n ? " (software only)" : "");
    return;
  }
  enum { MAX_DIRS = 16 };
  char dirs[MAX_DIRS][PATH_MAX];
  int n_dirs = icd_dirs(dirs, MAX_DIRS);
  text_list searched = {.len = 0};
  for (int k = 0; k < n_dirs; k++) {
    list_add(&searched, "%s", dirs[k]);
    DIR *dir = opendir(dirs[k]);
    if (!dir) continue;
    for (struct dirent *e; (e = readdir(dir));) {
      size_t l = strlen(e->d_name);
      if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0) continue;
      n++;
      n_soft += software_icd(e->d_name);
      list_add(&list, "%s/%s%s", dirs[k], e->d_name, software_icd(e->d_name) ? " (software)" : "");
    }
    closedir(dir);
  }
  if (n == 0)
    report(doc, WARN, "vulkan",
           "sudo apt-get install mesa-vulkan-drivers (or the GPU vendor's driver)",
           "no Vulkan driver manifests (ICDs) in %s", searched.buf);
  else if (n_soft == n)
    report(doc, WARN, "vulkan",
           "install the GPU's Vulkan driver (mesa-vulkan-drivers, or the vendor's)",
           "only software Vulkan drivers installed: %s", list.buf);
  else
    report(doc, OK, "vulkan", NULL, "%d driver manifest%s: %s", n, n == 1 ? "" : "s", list.buf);
}

static void check_render_nodes(doctor *doc) {
  DIR *dir = opendir("/dev/dri");
  int n = 0;
  char denied[512] = "", usable[512] = "";
  size_t dl = 0, ul = 0;
  if (dir) {
    for (struct dirent *e; (e = readdir(dir));) {
      if (strncmp(e->d_name, "renderD", 7) != 0) continue;
      n++;
      char path[300];
      snprintf(path, sizeof path, "/dev/dri/%s", e->d_name);
      bool ok = access(path, R_OK | W_OK) == 0;
      char *buf = ok ? usable : denied;
      size_t *l = ok ? &ul : &dl;
      int w = snprintf(buf + *l, sizeof usable - *l, "%s%s", *l ? ", " : "", path);
      if (w > 0 && (size_t)w < sizeof usable - *l) *l += (size_t)w;
    }
    closedir(dir);
  }
  if (n == 0)
    report(doc, WARN, "gpu", "nothing to do without a GPU; with one, load its kernel driver",
           "no /dev/dri render nodes: no GPU with a kernel driver (Vulkan can only run in software)");
  else if (denied[0])
    report(doc, FAIL, "gpu", "sudo usermod -aG render $USER, then log in again",
           "%s: not readable and writable by this user", denied);
  else
    report(doc, OK, "gpu", NULL, "%s: readable and writable", usable);
}

/* ---- what halo sees ----------------------------------------------------- */

static void check_devices(doctor *doc, int usb_usable) {
  int count = halo_device_count();
  if (count <= 0) {
    report(doc, FAIL, "devices", "run `halo devices` for details",
           "the device registry found nothing (not even the CPU)");
    return;
  }
  int n_vk = 0, n_vk_soft = 0, n_tpu = 0;
  char vk_list[512] = "";
  size_t vl = 0;
  for (int i = 0; i < count; i++) {
    const char *name = "", *kind = "", *description = "";
    if (halo_device_info(i, &name, &kind, &description) != HALO_OK) continue;
    if (strcmp(kind, "vulkan") == 0) {
      n_vk++;
      bool soft = strstr(description, "software") != NULL;
      n_vk_soft += soft;
      int w = snprintf(vk_list + vl, sizeof vk_list - vl, "%s%s%s", vl ? ", " : "", name,
                       soft ? ", software" : "");
      if (w > 0 && (size_t)w < sizeof vk_list - vl) vl += (size_t)w;
    } else if (strcmp(kind, "usbtpu") == 0) {
      n_tpu++;
      report(doc, OK, "devices", NULL, "%s: %s", name, description);
    }
  }
  if (n_vk == 0)
    report(doc, WARN, "devices", "see the vulkan lines above", "halo sees no Vulkan device");
  else if (n_vk_soft == n_vk)
    report(doc, WARN, "devices", "install the GPU's Vulkan driver to run on a GPU",
           "halo sees only software Vulkan (%s), used only when named in --devices", vk_list);
  else
    report(doc, OK, "devices", NULL, "halo sees Vulkan %s", vk_list);
  if (usb_usable > 0 && n_tpu == 0)
    report(doc, FAIL, "devices", "check the firmware line above; `halo devices` after replugging",
           "%d accelerator%s plugged in and accessible, but halo added none (firmware download "
           "or capability table failed)",
           usb_usable, usb_usable == 1 ? "" : "s");
}

static const cli_option doctor_options[] = {{NULL, NULL, false, NULL}};

static int doctor_main(const cli_command *cmd, int argc, char **argv) {
  cli_args args;
  int rc = cli_parse_args(cmd, argc, argv, &args);
  if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
  if ((rc = cli_expect_no_positional(cmd, &args)) != CLI_OK) return rc;
  cli_args_free(&args);

  doctor doc = {{0}};
  usbtpu_usb_id ids[USBTPU_USB_IDS_MAX];
  int n_ids = 0, found = 0;
  check_ids(&doc, ids, &n_ids);
  /* Before anything enumerates halo's devices: that boots accelerators
   * still in boot mode, and this should show them as they were found. */
  int usable = check_usb(&doc, &found);
  check_udev(&doc, ids, n_ids, usable, found);
  check_firmware(&doc);
  check_vulkan_loader(&doc);
  check_icds(&doc);
  check_render_nodes(&doc);
  check_devices(&doc, usable);
  printf("\n%d ok, %d warn, %d FAIL\n", doc.counts[OK], doc.counts[WARN], doc.counts[FAIL]);
  fflush(stdout);
  return doc.counts[FAIL] ? CLI_FAILURE : CLI_OK;
}

const cli_command cli_cmd_doctor = {
    .name = "doctor",
    .summary = "check USB access, udev rules, firmware and Vulkan, and say what to fix",
    .usage = "halo doctor",
    .description =
        "Checks what halo needs from this machine and prints one line per check, \"ok\",\n"
        "\"warn\" or \"FAIL\", with what to fix:\n"
        "  usb ids   the USB IDs the accelerator driver matches (" USBTPU_USB_IDS_ENV " adds\n"
        "            vvvv:bbbb:aaaa entries in hex: vendor, boot PID, application PID)\n"
        "  usb       libusb, and for every accelerator plugged in (/dev/bus/usb/BBB/DDD)\n"
        "            whether this user can open it\n"
        "  udev      whether a udev rule (tools/udev/" USBTPU_UDEV_RULES_NAME ") grants access\n"
        "  firmware  the image booted into accelerators (HALO_USBTPU_FIRMWARE, installed\n"
        "            copy or source tree): present, parses, its version\n"
        "  vulkan    libvulkan, the driver manifests (VK_ICD_FILENAMES / VK_DRIVER_FILES)\n"
        "  gpu       /dev/dri render nodes and access to them\n"
        "  devices   the Vulkan and USB devices halo ends up with (this boots\n"
        "            accelerators still in boot mode, as any halo command does)\n"
        "Exits 1 when a check FAILs, 0 otherwise.",
    .options = doctor_options,
    .examples = "  halo doctor\n"
                "  HALO_USBTPU_IDS=1234:0001:0002 halo doctor",
    .main = doctor_main,
};
