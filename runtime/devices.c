/* The public device listing. Devices are created once per process for the
 * listing (sessions create their own), so the strings it hands out stay
 * valid for the life of the process. */
#include <pthread.h>

#include "hal/registry.h"

static pthread_once_t listing_once = PTHREAD_ONCE_INIT;
static halo_device **listing;
static int listing_count;
static char listing_problems[512];

static void create_listing(void) {
  if (halo_registry_create_devices(&listing, &listing_count, listing_problems,
                                   sizeof listing_problems, NULL) != HALO_OK) {
    listing = NULL;
    listing_count = 0;
  }
}

const char *halo_device_problems(void) {
  pthread_once(&listing_once, create_listing);
  return listing_problems;
}

int halo_device_count(void) {
  pthread_once(&listing_once, create_listing);
  return listing_count;
}

halo_status halo_device_info(int index, const char **name, const char **kind,
                             const char **description) {
  pthread_once(&listing_once, create_listing);
  if (index < 0 || index >= listing_count) return HALO_EINVAL;
  if (name) *name = listing[index]->name;
  if (kind) *kind = listing[index]->kind;
  if (description) *description = listing[index]->description;
  return HALO_OK;
}
