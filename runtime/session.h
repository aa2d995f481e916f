/* The session internals, for the CLI and tests: the execution graph (the
 * model's graph plus the COPY nodes placement added), where each node runs
 * and why, and the steps an invoke performs.
 *
 * Placement (graph, node_*, tensor_device, steps, arenas, bindings,
 * partition_note) is built at creation and built again, without the device,
 * when a device goes away during an invoke: pointers into it are valid only
 * until the next invoke. The devices, the halo_tensor arrays and the io
 * buffer last for the session's life. */
#ifndef RUNTIME_SESSION_H
#define RUNTIME_SESSION_H

#include "hal/device.h"
#include "hal/profile.h"

typedef enum session_step_kind { SESSION_STEP_PARTITION, SESSION_STEP_COPY } session_step_kind;

/* One thing an invoke does: run a partition on its device, or copy one
 * tensor between devices (an explicit COPY node of the execution graph). */
typedef struct session_step {
  session_step_kind kind;
  int device;              /* index into session->devices; for COPY the destination */
  halo_partition part;     /* PARTITION: nodes of the execution graph */
  halo_exec *exec;         /* PARTITION: what the device prepared */
  int32_t copy_node;       /* COPY: node index in the execution graph */
} session_step;

struct halo_tensor {
  struct halo_session *session;
  int32_t index; /* tensor index in the execution graph */
};

struct halo_session {
  const halo_model *model;
  halo_graph *graph;         /* execution graph; shares tensor data and names with the model */
  int32_t *node_device;      /* per node: index into devices */
  const char **node_reason;  /* per node: why preferred devices declined, or NULL */
  int32_t *node_source;      /* per node: index in the model's graph, -1 for COPY */
  int32_t *tensor_device;    /* per tensor: device whose arena holds it, -1 for constants */
  halo_device **devices;     /* devices[0] is the CPU, which also holds the host tensors */
  int n_devices;
  bool *device_allowed;      /* may run nodes (the CPU may only hold host tensors) */
  int *preference;           /* allowed devices in the user's order */
  int n_preference;
  halo_buffer **arenas;      /* per device, NULL when it holds nothing */
  size_t *arena_bytes;
  halo_binding *bindings;    /* per tensor */
  /* The model's inputs then outputs, on the host, at offsets io_offset[i]
   * (io_bytes in all) that do not depend on placement: a fallback that
   * places the model again keeps them, and the pointers halo_tensor_data()
   * handed out, where they are. */
  halo_buffer *io;
  size_t *io_offset;
  size_t io_bytes;
  session_step *steps;
  int n_steps;
  halo_tensor *inputs, *outputs;
  halo_device_config config;
  int profiling;
  int no_fallback;           /* halo_options.no_fallback */
  halo_profile profile;
  halo_profile_entry *entries;
  int n_entries;
  char error[512];
  char notice[512];
  char device_problems[512]; /* why drivers could not add devices they found */          /* halo_session_notice(): "" when nothing happened */
  char (*partition_note)[160]; /* per step: the device's describe() note, "" for none */
};

#endif
