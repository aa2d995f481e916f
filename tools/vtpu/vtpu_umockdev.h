/* The virtual accelerator plugged in under umockdev, so that the real libusb
 * code path (sysfs + udev enumeration, usbdevfs ioctls) drives tools/vtpu.
 * Each device gets a sysfs entry /devices/usb1/1-K (bus 1, port K) whose
 * `descriptors` attribute comes from vtpu_descriptors(), a /dev/bus/usb/001/
 * node and an ioctl handler that turns URBs into vtpu_control /
 * vtpu_bulk_out / vtpu_bulk_in and a port reset into vtpu_usb_reset. When a
 * reset boots the firmware the device re-enumerates: it is removed and added
 * again on the same port with the application PID and the same serial.
 * A URB the device swallows (the timeout_next knob) is never delivered: it
 * completes only when libusb's timeout discards it, as on a real link.
 *
 * Create the testbed before libusb_init() and before anything asks
 * umockdev_in_mock_environment(). The binary must link the umockdev preload
 * library first (tools/vtpu is a test tool; see drivers/usbtpu/usbtpu.mk).
 *
 * The ioctl handlers run on umockdev's thread: touch a device from the test
 * only between vtpu_testbed_lock() and vtpu_testbed_unlock(). */
#ifndef TOOLS_VTPU_VTPU_UMOCKDEV_H
#define TOOLS_VTPU_VTPU_UMOCKDEV_H

#include "hal/status.h"
#include "tools/vtpu/vtpu.h"

#define VTPU_TESTBED_MAX_DEVICES 8

typedef struct vtpu_testbed vtpu_testbed;

/* n devices (1..VTPU_TESTBED_MAX_DEVICES), in boot mode; configs may be NULL
 * (serials "VTPU0001", "VTPU0002", ...) or hold n entries. */
halo_status vtpu_testbed_create(int n, const vtpu_config *configs, vtpu_testbed **out,
                                halo_err *err);
void vtpu_testbed_destroy(vtpu_testbed *tb);

int vtpu_testbed_count(const vtpu_testbed *tb);
/* Locks the testbed and returns device i (NULL when out of range, still locked). */
vtpu *vtpu_testbed_lock(vtpu_testbed *tb, int i);
void vtpu_testbed_unlock(vtpu_testbed *tb);
/* Times device i re-enumerated (boot -> application). */
int vtpu_testbed_enumerations(vtpu_testbed *tb, int i);
/* Unplugs device i: the model loses power and its sysfs entry goes away.
 * As with the kernel, URBs in flight complete with -ENODEV and stay
 * reapable; after that every ioctl on the old node answers ENODEV. */
void vtpu_testbed_unplug(vtpu_testbed *tb, int i);
/* Plugs device i back in on the same port (power-cycling it first when it
 * was still plugged in): it lost power, so it comes back in boot mode, at a
 * new device address. HALO_EINVAL when i is out of range or the port has
 * re-enumerated too often. */
halo_status vtpu_testbed_replug(vtpu_testbed *tb, int i, halo_err *err);

#endif
