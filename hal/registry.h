/* The device registry: every kind of device halo was built with, and a way
 * to create the devices of this machine. Each driver contributes one
 * enumerate function; adding a driver means adding it to the table in
 * registry.c. */
#ifndef HAL_REGISTRY_H
#define HAL_REGISTRY_H

#include "hal/device.h"

/* Creates every device this process can use, CPU first. *devices is a
 * malloc'd array the caller frees, after destroying each device with
 * dev->vt->destroy. A driver that finds no device adds none; a driver that
 * fails keeps the devices it could create, and its message goes to
 * problems[problems_size] ("usbtpu: ...; vulkan: ...", may be NULL) so that
 * one broken driver never hides the CPU and a missing device can be
 * explained. */
halo_status halo_registry_create_devices(halo_device ***devices, int *count, char *problems,
                                         size_t problems_size, halo_err *err);

/* A driver's enumerate function: creates up to `max` devices into out[],
 * sets *found. Returns an error when the driver failed or when a device it
 * found cannot be used (no permission, firmware download failed): err then
 * says why, and out[0..*found) are still the devices it could create. */
typedef halo_status (*halo_driver_enumerate_fn)(halo_device **out, int max, int *found,
                                                 halo_err *err);

/* Adds a driver after the built-in ones, for tests and out-of-tree
 * drivers. Not thread-safe: call before creating sessions. Returns
 * HALO_ENOMEM when the table (8 extra drivers) is full. */
halo_status halo_registry_add_driver(halo_driver_enumerate_fn enumerate);
/* Removes every driver added with halo_registry_add_driver. */
void halo_registry_reset_drivers(void);

/* Frees what halo_registry_create_devices returned. */
void halo_registry_destroy_devices(halo_device **devices, int count);

#endif
