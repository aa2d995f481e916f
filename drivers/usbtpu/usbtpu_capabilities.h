/* Answers "does the USB accelerator run this node, and if not, why" from the
 * capability table the device reported (usbtpu_firmware.h), so the
 * device's supports() is a thin call and nothing about the device's
 * abilities is written in halo's source. Also maps halo's op, dtype and
 * activation enums onto the protocol's stable ones. */
#ifndef DRIVERS_USBTPU_USBTPU_CAPABILITIES_H
#define DRIVERS_USBTPU_USBTPU_CAPABILITIES_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/usbtpu/usbtpu_firmware.h"
#include "drivers/usbtpu/usbtpu_protocol.h"
#include "hal/graph.h"

typedef struct usbtpu_support {
  bool supported;
  /* Bytes of the node's constant inputs. More than parameter memory (64-byte
   * aligned each, as in the parameter blob) is declined: a partition streams
   * its parameters per invoke in segments of whole layers. */
  uint64_t param_bytes;
  uint64_t macs;         /* multiply-accumulates (elements for non-MAC ops) */
  char why[160];         /* reason when !supported ("int8 only", "kernel 7x7 exceeds 5x5") */
} usbtpu_support;

/* Checks graph->nodes[node] (a node that passed halo_node_validate) against
 * the table. Always fills *out; returns out->supported. */
bool usbtpu_caps_check_node(const usbtpu_caps *caps, const halo_graph *graph, int node,
                            usbtpu_support *out);

/* Protocol enums for halo's; USBTPU_OP_NONE / USBTPU_DT_NONE / -1 when the
 * protocol has no equivalent. */
usbtpu_op usbtpu_op_from_halo(halo_op op);
halo_op usbtpu_op_to_halo(uint32_t op); /* HALO_OP_INVALID when unknown */
usbtpu_dtype usbtpu_dtype_from_halo(halo_dtype dtype);
halo_dtype usbtpu_dtype_to_halo(uint32_t dtype); /* HALO_DTYPE_UNKNOWN when unknown */
int usbtpu_act_from_halo(halo_activation act);
int usbtpu_act_to_halo(uint32_t act); /* -1 when unknown */

/* A memory size for messages: "8 MiB", "1.5 MiB", "900 KiB", "12 bytes".
 * Returns buf. */
const char *usbtpu_bytes_str(uint64_t n, char *buf, size_t size);

/* The fused activation of a node (HALO_ACT_NONE for ops without one). */
halo_activation usbtpu_node_activation(const halo_node *node);

#endif
