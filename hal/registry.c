#include "hal/registry.h"

#include <stdio.h>
#include <stdlib.h>

#include "drivers/cpu/cpu_device.h"
#include "drivers/usbtpu/usbtpu_device.h"
#include "drivers/vulkan/vk_driver.h"

static halo_status cpu_enumerate(halo_device **out, int max, int *found, halo_err *err) {
  *found = 0;
  if (max < 1) return HALO_OK;
  halo_status st = cpu_device_create(&out[0], err);
  if (st == HALO_OK) *found = 1;
  return st;
}

/* Each driver creates at most this many devices. */
enum { MAX_DEVICES_PER_DRIVER = 8 };

static const halo_driver_enumerate_fn drivers[] = {
    cpu_enumerate,
    vk_enumerate,     /* no loader or no GPU: adds no device */
    usbtpu_enumerate, /* no accelerator, libusb or permission: adds no device */
};

enum { MAX_EXTRA_DRIVERS = 8 };
static halo_driver_enumerate_fn extra_drivers[MAX_EXTRA_DRIVERS];
static int n_extra_drivers;

halo_status halo_registry_add_driver(halo_driver_enumerate_fn enumerate) {
  if (n_extra_drivers == MAX_EXTRA_DRIVERS) return HALO_ENOMEM;
  extra_drivers[n_extra_drivers++] = enumerate;
  return HALO_OK;
}

void halo_registry_reset_drivers(void) { n_extra_drivers = 0; }

halo_status halo_registry_create_devices(halo_device ***devices, int *count, char *problems,
                                         size_t problems_size, halo_err *err) {
  size_t used = 0;
  if (problems && problems_size) problems[0] = '\0';
  size_t n_builtin = sizeof drivers / sizeof drivers[0];
  size_t n_drivers = n_builtin + (size_t)n_extra_drivers;
  halo_device **list = calloc(n_drivers * MAX_DEVICES_PER_DRIVER, sizeof *list);
  if (!list) return halo_err_set(err, HALO_ENOMEM, "out of memory listing devices");
  int n = 0;
  for (size_t d = 0; d < n_drivers; d++) {
    int found = 0;
    halo_err problem;
    halo_err_clear(&problem);
    halo_driver_enumerate_fn enumerate = d < n_builtin ? drivers[d] : extra_drivers[d - n_builtin];
    /* The CPU must exist; other drivers may fail without hiding it. */
    halo_status st = enumerate(list + n, MAX_DEVICES_PER_DRIVER, &found, d == 0 ? err : &problem);
    if (st != HALO_OK && d == 0) {
      free(list);
      return st;
    }
    if (st != HALO_OK && problems && used + 1 < problems_size) {
      int k = snprintf(problems + used, problems_size - used, "%s%s", used ? "; " : "",
                       problem.msg);
      if (k > 0) used = used + (size_t)k < problems_size ? used + (size_t)k : problems_size - 1;
    }
    n += found;
  }
  *devices = list;
  *count = n;
  return HALO_OK;
}

void halo_registry_destroy_devices(halo_device **devices, int count) {
  if (!devices) return;
  for (int i = 0; i < count; i++)
    if (devices[i]) devices[i]->vt->destroy(devices[i]);
  free(devices);
}
