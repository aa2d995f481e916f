/* The accelerator's program (docs/usbtpu-protocol.md, "Program"): a
 * partition of int8 nodes lowered to tensor records (dtype, shape, memory
 * region and address, quantization) and layer records (protocol op kind,
 * tensor ids, params), plus the parameter blob that fills parameter memory.
 *
 * Both directions live here so the driver and the device agree by
 * construction: usbtpu_program_build lowers a partition (host side);
 * usbtpu_program_decode turns received bytes back into a halo_graph whose
 * constants point into the device's parameter memory (device side), treating
 * every byte as untrusted. */
#ifndef DRIVERS_USBTPU_USBTPU_PROGRAM_H
#define DRIVERS_USBTPU_USBTPU_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/usbtpu/usbtpu_firmware.h"
#include "drivers/usbtpu/usbtpu_protocol.h"
#include "hal/graph.h"

typedef struct usbtpu_program {
  uint8_t *bytes;      /* the PROGRAM frame payload */
  size_t size;
  uint8_t *params;     /* the parameter blob (PARAMS frames), param_size bytes */
  size_t param_size;
  uint64_t token;      /* parameter cache token (never 0) */
  bool streamed;       /* params exceed parameter memory: sent with every run */
  int n_segments;      /* parameter segments (1 unless streamed) */
  size_t max_segment_bytes; /* the largest segment: what parameter memory must hold */
  size_t act_bytes;    /* activation memory used (addresses reused, hal/plan.h) */
  int n_inputs, n_outputs;
  int32_t input_tensor[USBTPU_PROGRAM_MAX_IO];   /* graph tensor of program input i */
  int32_t output_tensor[USBTPU_PROGRAM_MAX_IO];
  uint32_t input_bytes[USBTPU_PROGRAM_MAX_IO];
  uint32_t output_bytes[USBTPU_PROGRAM_MAX_IO];
} usbtpu_program;

/* Lowers nodes[0..n_nodes) of `graph` (execution order, every node
 * supported by `caps`) into a program. Activations share activation memory
 * through the memory planner (hal/plan.h: lifetimes in layer order, program
 * inputs alive from the start, outputs to the end), 64-byte aligned;
 * constants are packed 64-byte aligned into the parameter blob in layer
 * order. When the blob exceeds parameter memory the program is streamed:
 * its layers are cut into parameter segments, runs of consecutive layers
 * whose constants fit parameter memory together (docs/usbtpu-protocol.md
 * §7). Program inputs are the activations the partition reads but does not
 * produce; outputs those it produces that are graph outputs or read outside
 * it. HALO_EUNSUPPORTED (naming bytes needed and available) when the
 * activations do not fit activation memory, one layer's constants do not
 * fit parameter memory, or a node has no protocol op. Free with
 * usbtpu_program_free. */
halo_status usbtpu_program_build(const halo_graph *graph, const int32_t *nodes, int n_nodes,
                                 const usbtpu_caps *caps, usbtpu_program *out, halo_err *err);
void usbtpu_program_free(usbtpu_program *program);

/* What a device needs from the program header before the parameters come. */
typedef struct usbtpu_program_header {
  uint16_t flags;
  uint64_t token;
  uint32_t n_tensors, n_layers, n_inputs, n_outputs;
  uint32_t param_bytes, act_bytes;
  uint32_t input_bytes[USBTPU_PROGRAM_MAX_IO];  /* bytes and addresses of each input/output */
  uint32_t input_offset[USBTPU_PROGRAM_MAX_IO];
  uint32_t output_bytes[USBTPU_PROGRAM_MAX_IO];
  uint32_t output_offset[USBTPU_PROGRAM_MAX_IO];
} usbtpu_program_header;

/* Checks the header, every record's bounds and every address against the
 * memories (act_mem_size, param_mem_size), and fills *out. HALO_EFORMAT
 * names the offset and field. */
halo_status usbtpu_program_parse_header(const uint8_t *bytes, size_t size, uint64_t act_mem_size,
                                        uint64_t param_mem_size, usbtpu_program_header *out,
                                        halo_err *err);

/* A parameter segment: layers [first_layer, first_layer + n_layers) read
 * only constants in bytes [param_offset, param_offset + param_bytes) of the
 * blob. A cached program has one segment, the whole blob. */
typedef struct usbtpu_program_segment {
  uint32_t first_layer, n_layers;
  uint32_t param_offset, param_bytes;
} usbtpu_program_segment;

/* Where a decoded program's tensors live (arrays in the graph's arena). */
typedef struct usbtpu_program_layout {
  const uint32_t *act_offset; /* n_tensors entries: activation address of each tensor */
  const usbtpu_program_segment *segments;
  int n_segments;
  bool streamed;
} usbtpu_program_layout;

/* Rebuilds the graph: constants point into param_mem (the device's
 * parameter memory, param_mem_size bytes, kept alive by the caller while
 * the graph lives): at their blob offset for a cached program, at their
 * offset inside their segment for a streamed one (parameter memory holds
 * one segment at a time). Graph inputs/outputs are the program's. Every
 * record is checked, the structure too, and each layer's constants must lie
 * inside its segment. Layers are checked with halo_node_validate (so the
 * CPU kernels can run them) only for a cached program: a streamed one's
 * constants are not in parameter memory yet, so the caller validates each
 * segment's layers once its parameters have arrived. *out is freed with
 * halo_graph_destroy. */
halo_status usbtpu_program_decode(const uint8_t *bytes, size_t size, const uint8_t *param_mem,
                                  uint64_t param_mem_size, uint64_t act_mem_size,
                                  halo_graph **out, usbtpu_program_layout *layout, halo_err *err);

#endif
