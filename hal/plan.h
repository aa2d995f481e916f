/* The memory planner: places tensors in one arena so that tensors alive at
 * the same time never overlap, reusing memory of tensors that are dead. */
#ifndef HAL_PLAN_H
#define HAL_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "hal/status.h"

typedef struct halo_plan_tensor {
  size_t size;    /* bytes; 0 takes no space */
  int32_t first;  /* first step that uses it (writes it) */
  int32_t last;   /* last step that uses it (reads it), >= first */
  size_t offset;  /* out: byte offset in the arena, a multiple of `alignment` */
} halo_plan_tensor;

/* Greedy by size, as TFLite's arena planner: largest tensors first, each at
 * the lowest offset that does not collide with an already placed tensor
 * whose lifetime overlaps. `alignment` must be a power of two. Writes the
 * arena size (peak) to *arena_size. */
halo_status halo_plan_offsets(halo_plan_tensor *tensors, int n, size_t alignment,
                              size_t *arena_size, halo_err *err);

#endif
