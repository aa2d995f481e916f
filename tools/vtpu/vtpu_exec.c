/* The virtual accelerator's executor: a received program becomes a
 * halo_graph (usbtpu_program_decode, which validates every record and node)
 * and runs on the CPU device's int8 kernels, reading constants from the
 * device's parameter memory and activations from its activation memory, so
 * results are bit-exact with TFLite's reference kernels. Activation
 * addresses may be shared by tensors whose lifetimes do not overlap (the
 * driver plans them with hal/plan.h): each tensor is bound at its own
 * address, so reuse needs nothing here.
 *
 * A streamed program (docs/usbtpu-protocol.md §7) runs segment by segment
 * while its parameters arrive: parameter memory holds one segment at a
 * time, and the kernels of a segment are validated and prepared against
 * what parameter memory holds once the segment's last byte is in (the CPU
 * kernels pack weights at prepare, as the device's weight fetch would read
 * them at layer start).
 *
 * Timing model: a layer takes LAYER_OVERHEAD_CYCLES plus its
 * multiply-accumulates divided by the MAC array's width
 * (capability table macs_per_cycle), rounded up; non-MAC layers count one
 * "MAC" per output element. */
#include <stdlib.h>
#include <string.h>

#include "drivers/cpu/cpu_device.h"
#include "drivers/usbtpu/usbtpu_capabilities.h"
#include "drivers/usbtpu/usbtpu_program.h"
#include "hal/op_check.h"
#include "tools/vtpu/vtpu.h"

/* Descriptor fetch and pipeline fill per layer. */
#define LAYER_OVERHEAD_CYCLES 200u

struct vtpu_exec {
  halo_graph *graph;
  usbtpu_program_layout layout;
  halo_device *cpu;
  halo_exec *exec;     /* cached program: every layer, prepared once */
  halo_buffer act_buf; /* wraps the device's activation memory */
  halo_binding *bindings;
  uint64_t *layer_cycles;
  int32_t *nodes; /* the partition's node list: valid until the CPU exec is released */
  /* streamed program, this run */
  uint64_t param_mem_size;
  uint32_t streamed_to; /* blob bytes received */
  int segments_run;
  halo_status stream_status; /* the first failure of this run, reported by vtpu_exec_run */
  halo_err stream_err;
};

void vtpu_exec_destroy(vtpu_exec *e) {
  if (!e) return;
  if (e->exec) e->cpu->vt->release(e->exec);
  if (e->cpu) e->cpu->vt->destroy(e->cpu);
  halo_graph_destroy(e->graph);
  free(e->bindings);
  free(e->layer_cycles);
  free(e->nodes);
  free(e);
}

int vtpu_exec_layers(const vtpu_exec *e) { return e->graph->n_nodes; }

halo_status vtpu_exec_create(const uint8_t *program, size_t size, const uint8_t *param_mem,
                             uint64_t param_mem_size, uint8_t *act_mem, uint64_t act_mem_size,
                             const usbtpu_caps *caps, vtpu_exec **out, halo_err *err) {
  *out = NULL;
  vtpu_exec *e = calloc(1, sizeof *e);
  if (!e) return halo_err_set(err, HALO_ENOMEM, "vtpu: out of memory");
  halo_status st = usbtpu_program_decode(program, size, param_mem, param_mem_size, act_mem_size,
                                         &e->graph, &e->layout, err);
  if (st != HALO_OK) goto fail;
  e->param_mem_size = param_mem_size;
  const halo_graph *g = e->graph;
  e->layer_cycles = calloc((size_t)g->n_nodes, sizeof *e->layer_cycles);
  e->bindings = calloc((size_t)g->n_tensors, sizeof *e->bindings);
  int32_t *nodes = e->nodes = calloc((size_t)g->n_nodes, sizeof *nodes);
  if (!e->layer_cycles || !e->bindings || !nodes) {
    st = halo_err_set(err, HALO_ENOMEM, "vtpu: out of memory");
    goto fail;
  }
  /* The device runs only what its own firmware table allows. */
  for (int i = 0; i < g->n_nodes; i++) {
    usbtpu_support s;
    if (!usbtpu_caps_check_node(caps, g, i, &s)) {
      st = halo_err_set(err, HALO_EUNSUPPORTED, "program: layer %d (%s): %s", i,
                        halo_op_name(g->nodes[i].op), s.why);
      goto fail;
    }
    uint64_t macs = s.macs;
    e->layer_cycles[i] = LAYER_OVERHEAD_CYCLES + (macs + caps->macs_per_cycle - 1) / caps->macs_per_cycle;
    nodes[i] = i;
  }
  e->act_buf = (halo_buffer){NULL, (size_t)act_mem_size, act_mem, NULL};
  for (int t = 0; t < g->n_tensors; t++)
    if (!g->tensors[t].data) e->bindings[t] = (halo_binding){&e->act_buf, e->layout.act_offset[t]};
  if ((st = cpu_device_create(&e->cpu, err)) != HALO_OK) goto fail;
  e->act_buf.device = e->cpu;
  if (!e->layout.streamed) {
    halo_partition part = {g, nodes, g->n_nodes};
    halo_device_config cfg = {.num_threads = 1};
    st = e->cpu->vt->prepare(e->cpu, &part, &cfg, &e->exec, err);
    if (st != HALO_OK) goto fail;
  }
  *out = e;
  return HALO_OK;
fail:
  vtpu_exec_destroy(e);
  return st;
}

/* Runs segment k of a streamed program on what parameter memory holds now. */
static halo_status run_segment(vtpu_exec *e, int k, halo_err *err) {
  const usbtpu_program_segment *s = &e->layout.segments[k];
  for (uint32_t i = s->first_layer; i < s->first_layer + s->n_layers; i++) {
    halo_status st = halo_node_validate(e->graph, (int)i, err);
    if (st != HALO_OK) return halo_err_prefix(err, "program: layer %u: ", i);
  }
  halo_partition part = {e->graph, e->nodes + s->first_layer, (int)s->n_layers};
  halo_device_config cfg = {.num_threads = 1};
  halo_exec *x = NULL;
  halo_status st = e->cpu->vt->prepare(e->cpu, &part, &cfg, &x, err);
  if (st == HALO_OK) st = e->cpu->vt->run(x, e->bindings, NULL, err);
  e->cpu->vt->release(x);
  return st;
}

/* Runs every segment whose parameters are all in and that has not run. */
static void run_complete_segments(vtpu_exec *e) {
  while (e->segments_run < e->layout.n_segments) {
    const usbtpu_program_segment *s = &e->layout.segments[e->segments_run];
    if (e->streamed_to < s->param_offset + s->param_bytes) return;
    if (e->stream_status == HALO_OK)
      e->stream_status = run_segment(e, e->segments_run, &e->stream_err);
    e->segments_run++;
  }
}

halo_status vtpu_exec_stream(vtpu_exec *e, uint8_t *param_mem, uint32_t blob_offset,
                             const uint8_t *bytes, uint32_t len, halo_err *err) {
  if (!e->layout.streamed || blob_offset != e->streamed_to)
    return halo_err_set(err, HALO_EINVAL, "vtpu: parameters at offset %u, expected %u%s",
                        blob_offset, e->streamed_to,
                        e->layout.streamed ? "" : " (program not streamed)");
  run_complete_segments(e); /* leading segments without parameters */
  while (len > 0) {
    if (e->segments_run >= e->layout.n_segments)
      return halo_err_set(err, HALO_EINVAL, "vtpu: parameters past the last segment");
    const usbtpu_program_segment *s = &e->layout.segments[e->segments_run];
    /* A frame may span segments: the rest waits until this one has run. */
    uint32_t end = s->param_offset + s->param_bytes;
    uint32_t n = end - e->streamed_to < len ? end - e->streamed_to : len;
    memcpy(param_mem + (e->streamed_to - s->param_offset), bytes, n);
    e->streamed_to += n;
    bytes += n;
    len -= n;
    run_complete_segments(e);
  }
  if (e->stream_status != HALO_OK) {
    *err = e->stream_err;
    return e->stream_status;
  }
  return HALO_OK;
}

halo_status vtpu_exec_run(vtpu_exec *e, uint64_t *cycles, uint64_t *total, halo_err *err) {
  halo_status st;
  if (e->layout.streamed) {
    run_complete_segments(e);
    st = e->stream_status;
    if (st != HALO_OK)
      *err = e->stream_err;
    else if (e->segments_run < e->layout.n_segments)
      st = halo_err_set(err, HALO_EINVAL, "vtpu: %d of %d parameter segments ran",
                        e->segments_run, e->layout.n_segments);
    /* The next run streams the parameters again from the start. */
    e->streamed_to = 0;
    e->segments_run = 0;
    e->stream_status = HALO_OK;
  } else {
    st = e->cpu->vt->run(e->exec, e->bindings, NULL, err);
  }
  if (st != HALO_OK) return st;
  uint64_t sum = 0;
  for (int i = 0; i < e->graph->n_nodes; i++) {
    if (cycles) cycles[i] = e->layer_cycles[i];
    sum += e->layer_cycles[i];
  }
  *total = sum;
  return HALO_OK;
}
