/* The device interface: a small vtable every device (cpu, vulkan, usbtpu)
 * implements. Required entries are marked; optional ones may be NULL and
 * the runtime says what it does without them.
 *
 * Memory model: the runtime plans one activation arena per device
 * (hal/plan.h) and hands each partition a binding table that maps every
 * graph tensor the partition touches to a buffer + offset. Constants are read
 * from the graph by prepare(); a device that needs them elsewhere (GPU memory,
 * accelerator parameter memory) copies them there in prepare(). */
#ifndef HAL_DEVICE_H
#define HAL_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/graph.h"
#include "hal/status.h"

typedef struct halo_device halo_device;
typedef struct halo_buffer halo_buffer;
typedef struct halo_exec halo_exec;
typedef struct halo_profile halo_profile;

/* A device buffer. `host` is non-NULL when the memory is host-visible and
 * mapped for the buffer's whole life (always so on the CPU). */
struct halo_buffer {
  halo_device *device;
  size_t size;
  void *host;
  void *impl; /* device-specific handle */
};

/* Where a tensor lives while a partition runs. buffer == NULL means the
 * tensor is not used by this partition. */
typedef struct halo_binding {
  halo_buffer *buffer;
  size_t offset;
} halo_binding;

/* One partition: nodes (indices into graph->nodes, in execution order) that
 * run on one device. */
typedef struct halo_partition {
  const halo_graph *graph;
  const int32_t *nodes;
  int n_nodes;
} halo_partition;

/* Session-level settings a device may honour. */
typedef struct halo_device_config {
  int num_threads;   /* 0: one per core */
  int force_fp32;    /* GPU: weights in float32 even where float16 storage exists */
  int force_staging; /* GPU: staging buffers even where device memory is host-visible */
} halo_device_config;

typedef struct halo_device_vtable {
  /* Required. Frees the device. */
  void (*destroy)(halo_device *dev);

  /* Optional (NULL: the device has no session-level settings). Called once
   * per session right after the device is chosen, before any supports(),
   * buffer_alloc() or prepare(), with the settings of that session. */
  void (*configure)(halo_device *dev, const halo_device_config *config);

  /* Required. Can this device run graph->nodes[node] exactly? When not,
   * writes a short reason ("int8 only", "kernel 7x7 exceeds 5x5") into
   * why[why_size]. Called only for nodes that passed
   * halo_node_validate(), so shapes are consistent. */
  bool (*supports)(halo_device *dev, const halo_graph *graph, int node, char *why,
                   size_t why_size);

  /* Optional (NULL: the partitioner treats every supported node as equally
   * cheap and prefers devices in the order the user listed them). Estimated
   * microseconds to run the node. */
  double (*estimate_us)(halo_device *dev, const halo_graph *graph, int node);

  /* Optional (NULL: the device cannot say without a graph). The dtypes
   * (mask of 1u << halo_dtype of the node's data input) for which the device
   * runs `op` at all, ignoring shape limits: what `halo ops` and
   * docs/ops.md list. supports() stays the authority for a given node. */
  uint32_t (*op_dtypes)(halo_device *dev, halo_op op);

  /* Required. Allocates `size` bytes of device memory. */
  halo_status (*buffer_alloc)(halo_device *dev, size_t size, halo_buffer **out, halo_err *err);
  /* Required. NULL is a no-op. */
  void (*buffer_free)(halo_device *dev, halo_buffer *buf);
  /* Optional for host-visible buffers (NULL: the runtime uses buf->host).
   * Copy between host memory and a device buffer. */
  halo_status (*buffer_write)(halo_device *dev, halo_buffer *buf, size_t offset,
                              const void *src, size_t size, halo_err *err);
  halo_status (*buffer_read)(halo_device *dev, halo_buffer *buf, size_t offset, void *dst,
                             size_t size, halo_err *err);

  /* Required. Turns a partition into something runnable (pipelines,
   * programs, uploaded weights). Every error that does not depend on tensor
   * contents shows up here, never at run(); run() fails only for
   * data-dependent arguments (an out-of-range GATHER index computed by the
   * model) or device faults. The partition's arrays stay valid until
   * release(). */
  halo_status (*prepare)(halo_device *dev, const halo_partition *part,
                         const halo_device_config *config, halo_exec **out, halo_err *err);

  /* Required. Runs a prepared partition. `bindings` has graph->n_tensors
   * entries. `profile` may be NULL; when set, the device records one event
   * per node (and per transfer). HALO_ENODEV when the device is gone
   * (unplugged): the session may then move the partition elsewhere. */
  halo_status (*run)(halo_exec *exec, const halo_binding *bindings, halo_profile *profile,
                     halo_err *err);

  /* Optional (NULL: nothing to say). Writes a one-line note on how a
   * prepared partition runs, for `halo inspect` ("parameters streamed with
   * every invoke: 9.1 MiB > 8 MiB of parameter memory"); "" for none. */
  void (*describe)(halo_exec *exec, char *note, size_t note_size);

  /* Required. NULL is a no-op. */
  void (*release)(halo_exec *exec);
} halo_device_vtable;

struct halo_device {
  const halo_device_vtable *vt;
  const char *kind;        /* "cpu", "vulkan", "usbtpu" */
  char name[32];           /* "cpu", "vulkan0", "usbtpu1" */
  char description[160];   /* human-readable: model, driver, link speed */
  /* Emulated on the host CPU (a software Vulkan driver such as lavapipe):
   * slower than the CPU device, so sessions use it only when asked for by
   * name or kind, never by default. */
  bool software;
};

#endif
