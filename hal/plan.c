#include "hal/plan.h"

#include <stdlib.h>


static int by_size_desc(const void *a, const void *b, void *ctx) {
  const halo_plan_tensor *tensors = ctx;
  const halo_plan_tensor *ta = &tensors[*(const int *)a];
  const halo_plan_tensor *tb = &tensors[*(const int *)b];
  if (ta->size != tb->size) return ta->size > tb->size ? -1 : 1;
  if (ta->first != tb->first) return ta->first < tb->first ? -1 : 1;
  return *(const int *)a - *(const int *)b;
}

static int by_offset(const void *a, const void *b) {
  const halo_plan_tensor *ta = *(const halo_plan_tensor *const *)a;
  const halo_plan_tensor *tb = *(const halo_plan_tensor *const *)b;
  if (ta->offset != tb->offset) return ta->offset < tb->offset ? -1 : 1;
  return 0;
}

static size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

halo_status halo_plan_offsets(halo_plan_tensor *t, int n, size_t alignment, size_t *arena_size,
                              halo_err *err) {
  *arena_size = 0;
  if (n <= 0) return HALO_OK;
  if (alignment == 0 || (alignment & (alignment - 1)))
    return halo_err_set(err, HALO_EINVAL, "plan: alignment %zu is not a power of two",
                        alignment);
  int *order = malloc((size_t)n * sizeof *order);
  const halo_plan_tensor **live = malloc((size_t)n * sizeof *live);
  if (!order || !live) {
    free(order);
    free(live);
    return halo_err_set(err, HALO_ENOMEM, "plan: out of memory planning %d tensors", n);
  }
  for (int i = 0; i < n; i++) order[i] = i;
  qsort_r(order, (size_t)n, sizeof *order, by_size_desc, t);

  size_t peak = 0;
  halo_status st = HALO_OK;
  for (int k = 0; k < n; k++) {
    halo_plan_tensor *cur = &t[order[k]];
    if (cur->size == 0) {
      cur->offset = 0;
      continue;
    }
    /* Already placed tensors alive at the same time, in offset order. */
    int n_live = 0;
    for (int j = 0; j < k; j++) {
      const halo_plan_tensor *o = &t[order[j]];
      if (o->size && o->first <= cur->last && cur->first <= o->last) live[n_live++] = o;
    }
    qsort(live, (size_t)n_live, sizeof *live, by_offset);
    size_t candidate = 0;
    for (int j = 0; j < n_live; j++) {
      if (live[j]->offset >= candidate && live[j]->offset - candidate >= cur->size) break;
      size_t end = live[j]->offset + live[j]->size;
      if (end < live[j]->offset) {
        st = halo_err_set(err, HALO_ENOMEM, "plan: arena size overflows");
        goto done;
      }
      if (end > candidate) candidate = align_up(end, alignment);
    }
    cur->offset = candidate;
    if (candidate + cur->size < candidate) {
      st = halo_err_set(err, HALO_ENOMEM, "plan: arena size overflows");
      goto done;
    }
    if (candidate + cur->size > peak) peak = candidate + cur->size;
  }
  *arena_size = align_up(peak, alignment);
done:
  free(order);
  free(live);
  return st;
}
