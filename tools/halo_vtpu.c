/* halo-vtpu: runs a command with virtual USB accelerators plugged in.
 *
 *   halo-vtpu [--devices N] [--usb2] [--unplug-after-runs K] -- COMMAND [ARGS...]
 *
 * Creates a umockdev testbed in this process with N virtual accelerators
 * (tools/vtpu, in boot mode, serials VTPU0001...), then runs COMMAND as a
 * child with LD_PRELOAD=libumockdev-preload.so.0 (prepended to any existing
 * value) and UMOCKDEV_DIR naming the testbed, the way umockdev-wrapper
 * does. The child's libusb sees the devices through sysfs and its usbdevfs
 * ioctls reach the device models here, through umockdev's socket, served on
 * umockdev's own thread while this process waits. Exits with the child's
 * status (128 + signal when it was killed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/vtpu/vtpu_umockdev.h"

#define PRELOAD_LIB "libumockdev-preload.so.0"

static void usage(FILE *f) {
  fprintf(f,
          "usage: halo-vtpu [--devices N] [--usb2] [--unplug-after-runs K] -- COMMAND [ARGS...]\n"
          "  runs COMMAND with N (1..%d, default 1) virtual USB accelerators plugged in\n"
          "  --usb2  enumerate at USB 2.0 high speed instead of USB 3 SuperSpeed\n"
          "  --unplug-after-runs K  the first accelerator leaves the bus when its K-th\n"
          "          RUN frame arrives (mid-inference), to try a program's fallback\n",
          VTPU_TESTBED_MAX_DEVICES);
}

int main(int argc, char **argv) {
  int n = 1;
  int usb2 = 0;
  long unplug_after = 0;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else if (strcmp(argv[i], "--devices") == 0 && i + 1 < argc) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v < 1 || v > VTPU_TESTBED_MAX_DEVICES) {
        fprintf(stderr, "halo-vtpu: --devices wants 1..%d, got '%s'\n",
                VTPU_TESTBED_MAX_DEVICES, argv[i]);
        return 2;
      }
      n = (int)v;
    } else if (strcmp(argv[i], "--unplug-after-runs") == 0 && i + 1 < argc) {
      char *end;
      unplug_after = strtol(argv[++i], &end, 10);
      if (*end || unplug_after < 1 || unplug_after > 1000000) {
        fprintf(stderr, "halo-vtpu: --unplug-after-runs wants 1..1000000, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (strcmp(argv[i], "--usb2") == 0) {
      usb2 = 1;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "halo-vtpu: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return 2;
  }

  vtpu_config configs[VTPU_TESTBED_MAX_DEVICES];
  char serials[VTPU_TESTBED_MAX_DEVICES][16];
  for (int k = 0; k < n; k++) {
    snprintf(serials[k], sizeof serials[k], "VTPU%04d", k + 1);
    configs[k] = (vtpu_config){.serial = serials[k], .usb2 = usb2 != 0};
  }
  halo_err err;
  vtpu_testbed *tb = NULL;
  if (vtpu_testbed_create(n, configs, &tb, &err) != HALO_OK) {
    fprintf(stderr, "halo-vtpu: %s\n", err.msg);
    return 1;
  }
  if (unplug_after) {
    vtpu_faults faults = {.unplug_after_runs = (int)unplug_after};
    vtpu_set_faults(vtpu_testbed_lock(tb, 0), &faults);
    vtpu_testbed_unlock(tb);
  }
  const char *dir = getenv("UMOCKDEV_DIR");
  if (!dir || !*dir) {
    fprintf(stderr, "halo-vtpu: umockdev did not set UMOCKDEV_DIR\n");
    vtpu_testbed_destroy(tb);
    return 1;
  }

  const char *old = getenv("LD_PRELOAD");
  size_t len = strlen(PRELOAD_LIB) + (old ? strlen(old) + 1 : 0) + 1;
  char *preload = malloc(len);
  if (!preload) {
    vtpu_testbed_destroy(tb);
    return 1;
  }
  snprintf(preload, len, "%s%s%s", PRELOAD_LIB, old && *old ? ":" : "", old ? old : "");

  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "halo-vtpu: fork: %s\n", strerror(errno));
    free(preload);
    vtpu_testbed_destroy(tb);
    return 1;
  }
  if (pid == 0) {
    setenv("LD_PRELOAD", preload, 1);
    setenv("UMOCKDEV_DIR", dir, 1);
    execvp(argv[i], argv + i);
    fprintf(stderr, "halo-vtpu: %s: %s\n", argv[i], strerror(errno));
    _exit(127);
  }
  free(preload);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  vtpu_testbed_destroy(tb);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}
