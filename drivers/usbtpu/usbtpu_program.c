#include "drivers/usbtpu/usbtpu_program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/usbtpu/usbtpu_capabilities.h"
#include "hal/op_check.h"
#include "hal/plan.h"

/* Program header offsets (docs/usbtpu-protocol.md). */
enum {
  PG_MAGIC = 0,
  PG_VERSION = 4,
  PG_FLAGS = 6,
  PG_TOKEN = 8,
  PG_N_TENSORS = 16,
  PG_N_LAYERS = 20,
  PG_N_INPUTS = 24,
  PG_N_OUTPUTS = 28,
  PG_TENSORS_OFF = 32,
  PG_LAYERS_OFF = 36,
  PG_IO_OFF = 40,
  PG_QUANT_OFF = 44,
  PG_QUANT_SIZE = 48,
  PG_PARAM_BYTES = 52,
  PG_ACT_BYTES = 56,
};
/* Tensor record offsets. */
enum { TR_DTYPE = 0, TR_RANK = 1, TR_REGION = 2, TR_DIMS = 4, TR_OFFSET = 28, TR_BYTES = 32,
       TR_QCOUNT = 36, TR_QAXIS = 38, TR_QOFF = 40 };
/* Layer record offsets. */
enum { LR_OP = 0, LR_N_IN = 2, LR_N_OUT = 3, LR_INPUTS = 4, LR_OUTPUTS = 20, LR_PARAMS = 24,
       LR_SOURCE = 56, LR_SEG_OFFSET = 60, LR_SEG_BYTES = 64 };

#define ALIGN 64u
static uint64_t align_up(uint64_t v) { return (v + ALIGN - 1) & ~(uint64_t)(ALIGN - 1); }

/* FNV-1a, 64-bit: the token only has to change when the program or its
 * parameters do. */
static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

void usbtpu_program_free(usbtpu_program *p) {
  if (!p) return;
  free(p->bytes);
  free(p->params);
  memset(p, 0, sizeof *p);
}

static void encode_params(const halo_node *n, uint8_t *p) {
  int32_t v[USBTPU_LAYER_PARAMS] = {0};
  switch (n->op) {
    case HALO_OP_CONV_2D: {
      const halo_conv_params *c = &n->params.conv;
      int32_t t[] = {c->padding, c->stride_w, c->stride_h, c->dilation_w, c->dilation_h,
                     usbtpu_act_from_halo(c->act)};
      memcpy(v, t, sizeof t);
      break;
    }
    case HALO_OP_DEPTHWISE_CONV_2D: {
      const halo_depthwise_params *c = &n->params.depthwise;
      int32_t t[] = {c->padding,    c->stride_w, c->stride_h, c->dilation_w,
                     c->dilation_h, usbtpu_act_from_halo(c->act), c->depth_multiplier};
      memcpy(v, t, sizeof t);
      break;
    }
    case HALO_OP_FULLY_CONNECTED:
      v[0] = usbtpu_act_from_halo(n->params.fc.act);
      v[1] = n->params.fc.keep_num_dims;
      break;
    case HALO_OP_AVERAGE_POOL_2D:
    case HALO_OP_MAX_POOL_2D: {
      const halo_pool_params *c = &n->params.pool;
      int32_t t[] = {c->padding, c->stride_w, c->stride_h, c->filter_w, c->filter_h,
                     usbtpu_act_from_halo(c->act)};
      memcpy(v, t, sizeof t);
      break;
    }
    case HALO_OP_ADD:
    case HALO_OP_SUB:
    case HALO_OP_MUL: v[0] = usbtpu_act_from_halo(n->params.binary.act); break;
    case HALO_OP_SOFTMAX: memcpy(&v[0], &n->params.softmax.beta, 4); break;
    case HALO_OP_LEAKY_RELU: memcpy(&v[0], &n->params.leaky_relu.alpha, 4); break;
    case HALO_OP_MEAN: v[0] = n->params.reduce.keep_dims; break;
    case HALO_OP_CONCATENATION:
      v[0] = n->params.concat.axis;
      v[1] = usbtpu_act_from_halo(n->params.concat.act);
      break;
    case HALO_OP_RESIZE_BILINEAR:
      v[0] = n->params.resize.align_corners;
      v[1] = n->params.resize.half_pixel_centers;
      break;
    default: break;
  }
  for (int i = 0; i < USBTPU_LAYER_PARAMS; i++) usbtpu_put32(p + 4 * i, (uint32_t)v[i]);
}

/* Returns false for values the protocol cannot carry. */
static bool decode_params(halo_op op, const uint8_t *p, halo_op_params *out) {
  int32_t v[USBTPU_LAYER_PARAMS];
  for (int i = 0; i < USBTPU_LAYER_PARAMS; i++) v[i] = (int32_t)usbtpu_get32(p + 4 * i);
  memset(out, 0, sizeof *out);
  int act = -1;
  switch (op) {
    case HALO_OP_CONV_2D:
      out->conv = (halo_conv_params){(halo_padding)v[0], v[1], v[2], v[3], v[4], 0};
      act = usbtpu_act_to_halo((uint32_t)v[5]);
      out->conv.act = (halo_activation)act;
      break;
    case HALO_OP_DEPTHWISE_CONV_2D:
      out->depthwise = (halo_depthwise_params){(halo_padding)v[0], v[1], v[2], v[3], v[4], v[6], 0};
      act = usbtpu_act_to_halo((uint32_t)v[5]);
      out->depthwise.act = (halo_activation)act;
      break;
    case HALO_OP_FULLY_CONNECTED:
      act = usbtpu_act_to_halo((uint32_t)v[0]);
      out->fc = (halo_fc_params){(halo_activation)act, v[1] != 0};
      break;
    case HALO_OP_AVERAGE_POOL_2D:
    case HALO_OP_MAX_POOL_2D:
      act = usbtpu_act_to_halo((uint32_t)v[5]);
      out->pool = (halo_pool_params){(halo_padding)v[0], v[1], v[2], v[3], v[4],
                                     (halo_activation)act};
      break;
    case HALO_OP_ADD:
    case HALO_OP_SUB:
    case HALO_OP_MUL:
      act = usbtpu_act_to_halo((uint32_t)v[0]);
      out->binary.act = (halo_activation)act;
      break;
    case HALO_OP_CONCATENATION:
      act = usbtpu_act_to_halo((uint32_t)v[1]);
      out->concat = (halo_concat_params){v[0], (halo_activation)act};
      break;
    case HALO_OP_SOFTMAX: memcpy(&out->softmax.beta, &v[0], 4); return true;
    case HALO_OP_LEAKY_RELU: memcpy(&out->leaky_relu.alpha, &v[0], 4); return true;
    case HALO_OP_MEAN: out->reduce.keep_dims = v[0] != 0; return true;
    case HALO_OP_RESIZE_BILINEAR:
      out->resize = (halo_resize_params){v[0] != 0, v[1] != 0};
      return true;
    default: return true;
  }
  if (act < 0) return false;
  if ((op == HALO_OP_CONV_2D || op == HALO_OP_DEPTHWISE_CONV_2D || op == HALO_OP_AVERAGE_POOL_2D ||
       op == HALO_OP_MAX_POOL_2D) &&
      (v[0] != HALO_PAD_SAME && v[0] != HALO_PAD_VALID))
    return false;
  return true;
}

static bool in_partition(const int32_t *nodes, int n_nodes, int node) {
  for (int i = 0; i < n_nodes; i++)
    if (nodes[i] == node) return true;
  return false;
}

/* Scratch of one lowering, per program tensor (index in first-use order). */
typedef struct lowering {
  int32_t *id;       /* graph tensor -> program tensor, -1 */
  int32_t *tensors;  /* program tensor -> graph tensor */
  int8_t *produced;  /* graph tensor produced inside the partition */
  int32_t *first, *last; /* first and last layer using each program tensor */
  int8_t *is_input, *is_output;
  uint32_t *addr;    /* activation address or blob offset */
  int32_t *segment;  /* per layer */
  uint32_t *layer_end; /* per layer: blob end after the constants it uses first */
  halo_plan_tensor *plan;
} lowering;

static void lowering_free(lowering *l) {
  free(l->id), free(l->tensors), free(l->produced), free(l->first), free(l->last);
  free(l->is_input), free(l->is_output), free(l->addr), free(l->segment), free(l->layer_end);
  free(l->plan);
}

/* Cuts the layers into parameter segments (docs/usbtpu-protocol.md §7):
 * greedy, a new segment when the next layer's constants would overflow
 * parameter memory. Constants are packed in first-use order, so each
 * segment's constants are one contiguous range of the blob. */
static halo_status cut_segments(const halo_graph *g, const int32_t *nodes, int n_nodes,
                                lowering *l, int n_tensors, uint64_t param, uint64_t mem,
                                usbtpu_program *out, halo_err *err) {
  bool streamed = param > mem;
  uint64_t start = 0;
  int first_layer = 0, seg = 0;
  out->max_segment_bytes = 0;
  for (int i = 0; i < n_nodes; i++) {
    uint64_t before = i ? l->layer_end[i - 1] : 0;
    if (streamed && i > first_layer && l->layer_end[i] - start > mem) {
      start = before;
      first_layer = i;
      seg++;
    }
    if (l->layer_end[i] - start > mem) {
      const halo_node *n = &g->nodes[nodes[i]];
      char a[32], b[32];
      return halo_err_set(err, HALO_EUNSUPPORTED,
                          "usbtpu program: operator %d (%s) needs %s of parameters, the device's "
                          "parameter memory holds %s",
                          (int)n->source_index, halo_op_name(n->op),
                          usbtpu_bytes_str(l->layer_end[i] - before, a, sizeof a),
                          usbtpu_bytes_str(mem, b, sizeof b));
    }
    l->segment[i] = seg;
    if (l->layer_end[i] - start > out->max_segment_bytes)
      out->max_segment_bytes = (size_t)(l->layer_end[i] - start);
  }
  out->n_segments = seg + 1;
  /* Parameter memory holds one segment at a time: a constant read by layers
   * of two segments would be gone for the second. */
  for (int t = 0; t < n_tensors; t++) {
    if (!halo_tensor_is_const(&g->tensors[l->tensors[t]])) continue;
    if (l->segment[l->first[t]] != l->segment[l->last[t]])
      return halo_err_set(err, HALO_EUNSUPPORTED,
                          "usbtpu program: constant tensor '%s' is read by operators %d and %d, "
                          "which fall in different parameter segments of a streamed program",
                          g->tensors[l->tensors[t]].name ? g->tensors[l->tensors[t]].name : "",
                          (int)g->nodes[nodes[l->first[t]]].source_index,
                          (int)g->nodes[nodes[l->last[t]]].source_index);
  }
  return HALO_OK;
}

halo_status usbtpu_program_build(const halo_graph *g, const int32_t *nodes, int n_nodes,
                                 const usbtpu_caps *caps, usbtpu_program *out, halo_err *err) {
  memset(out, 0, sizeof *out);
  if (n_nodes < 1 || n_nodes > USBTPU_PROGRAM_MAX_LAYERS)
    return halo_err_set(err, HALO_EINVAL, "usbtpu program: %d layers (1..%d)", n_nodes,
                        USBTPU_PROGRAM_MAX_LAYERS);
  size_t nt = (size_t)g->n_tensors + 1;
  lowering l = {
      .id = malloc(nt * sizeof *l.id),
      .tensors = malloc(nt * sizeof *l.tensors),
      .produced = calloc(nt, 1),
      .first = malloc(nt * sizeof *l.first),
      .last = malloc(nt * sizeof *l.last),
      .is_input = calloc(nt, 1),
      .is_output = calloc(nt, 1),
      .addr = calloc(nt, sizeof *l.addr),
      .segment = calloc((size_t)n_nodes, sizeof *l.segment),
      .layer_end = calloc((size_t)n_nodes, sizeof *l.layer_end),
      .plan = calloc(nt, sizeof *l.plan),
  };
  if (!l.id || !l.tensors || !l.produced || !l.first || !l.last || !l.is_input || !l.is_output ||
      !l.addr || !l.segment || !l.layer_end || !l.plan) {
    lowering_free(&l);
    return halo_err_set(err, HALO_ENOMEM, "usbtpu program: out of memory");
  }
  for (int t = 0; t < g->n_tensors; t++) l.id[t] = -1;
  int n_tensors = 0;
  halo_status st = HALO_OK;
  /* Map graph tensors to program tensor ids, in first-use order, with the
   * layers that use each. */
  for (int i = 0; i < n_nodes; i++) {
    const halo_node *n = &g->nodes[nodes[i]];
    if (usbtpu_op_from_halo(n->op) == USBTPU_OP_NONE || n->n_inputs > USBTPU_LAYER_MAX_INPUTS ||
        n->n_outputs > USBTPU_LAYER_MAX_OUTPUTS) {
      st = halo_err_set(err, HALO_EUNSUPPORTED, "usbtpu program: operator %d (%s) cannot be lowered",
                        (int)n->source_index, halo_op_name(n->op));
      goto done;
    }
    for (int k = 0; k < n->n_inputs + n->n_outputs; k++) {
      int32_t t = k < n->n_inputs ? n->inputs[k] : n->outputs[k - n->n_inputs];
      if (t == HALO_NO_TENSOR) continue;
      if (l.id[t] < 0) {
        if (n_tensors >= USBTPU_PROGRAM_MAX_TENSORS) {
          st = halo_err_set(err, HALO_EUNSUPPORTED, "usbtpu program: more than %d tensors",
                            USBTPU_PROGRAM_MAX_TENSORS);
          goto done;
        }
        l.id[t] = n_tensors;
        l.tensors[n_tensors] = t;
        l.first[n_tensors++] = i;
      }
      l.last[l.id[t]] = i;
    }
    for (int k = 0; k < n->n_outputs; k++) l.produced[n->outputs[k]] = 1;
  }
  /* Inputs: activations read but not produced here. Outputs: produced here
   * and graph outputs or read by a node outside the partition. */
  for (int i = 0; i < n_tensors; i++) {
    int32_t t = l.tensors[i];
    const halo_graph_tensor *gt = &g->tensors[t];
    if (halo_tensor_is_const(gt)) continue;
    bool is_out = false;
    if (l.produced[t]) {
      for (int k = 0; k < g->n_outputs; k++) is_out |= g->outputs[k] == t;
      for (int ni = 0; ni < g->n_nodes && !is_out; ni++) {
        if (in_partition(nodes, n_nodes, ni)) continue;
        for (int k = 0; k < g->nodes[ni].n_inputs; k++) is_out |= g->nodes[ni].inputs[k] == t;
      }
    }
    if ((!l.produced[t] && out->n_inputs >= USBTPU_PROGRAM_MAX_IO) ||
        (is_out && out->n_outputs >= USBTPU_PROGRAM_MAX_IO)) {
      st = halo_err_set(err, HALO_EUNSUPPORTED, "usbtpu program: more than %d inputs or outputs",
                        USBTPU_PROGRAM_MAX_IO);
      goto done;
    }
    uint32_t bytes = (uint32_t)halo_desc_bytes(&gt->desc);
    if (!l.produced[t]) {
      l.is_input[i] = 1;
      out->input_tensor[out->n_inputs] = t;
      out->input_bytes[out->n_inputs++] = bytes;
    } else if (is_out) {
      l.is_output[i] = 1;
      out->output_tensor[out->n_outputs] = t;
      out->output_bytes[out->n_outputs++] = bytes;
    }
  }
  /* Activation addresses: the host writes inputs before the first layer and
   * reads outputs after the last, so both stay alive over the whole run.
   * A layer's inputs and outputs are alive at that layer together, so the
   * planner never overlaps them: the device needs no in-place rules. */
  size_t quant_size = 0, act = 0;
  uint64_t param = 0;
  for (int i = 0; i < n_tensors; i++) {
    const halo_graph_tensor *gt = &g->tensors[l.tensors[i]];
    quant_size += (size_t)gt->desc.quant.count * 8;
    if (halo_tensor_is_const(gt)) {
      l.addr[i] = (uint32_t)param;
      param = align_up(param + gt->data_size);
      if (param > UINT32_MAX) {
        st = halo_err_set(err, HALO_EUNSUPPORTED, "usbtpu program: %llu parameter bytes",
                          (unsigned long long)param);
        goto done;
      }
      l.layer_end[l.first[i]] = (uint32_t)param;
    } else {
      l.plan[i] = (halo_plan_tensor){halo_desc_bytes(&gt->desc), l.is_input[i] ? 0 : l.first[i],
                                     l.is_output[i] ? n_nodes : l.last[i], 0};
    }
  }
  for (int i = 0; i < n_nodes; i++)
    if (l.layer_end[i] == 0 && i > 0) l.layer_end[i] = l.layer_end[i - 1];
  if ((st = halo_plan_offsets(l.plan, n_tensors, ALIGN, &act, err)) != HALO_OK) goto done;
  if (act > caps->act_mem_bytes) {
    st = halo_err_set(err, HALO_EUNSUPPORTED,
                      "usbtpu program: activations need %llu bytes, the device has %llu",
                      (unsigned long long)act, (unsigned long long)caps->act_mem_bytes);
    goto done;
  }
  for (int i = 0; i < n_tensors; i++)
    if (!halo_tensor_is_const(&g->tensors[l.tensors[i]])) l.addr[i] = (uint32_t)l.plan[i].offset;
  st = cut_segments(g, nodes, n_nodes, &l, n_tensors, param, caps->param_mem_bytes, out, err);
  if (st != HALO_OK) goto done;

  size_t tensors_off = USBTPU_PROGRAM_HEADER_SIZE;
  size_t layers_off = tensors_off + (size_t)n_tensors * USBTPU_TENSOR_RECORD_SIZE;
  size_t io_off = layers_off + (size_t)n_nodes * USBTPU_LAYER_RECORD_SIZE;
  size_t quant_off = io_off + (size_t)(out->n_inputs + out->n_outputs) * 4;
  size_t size = quant_off + quant_size;
  out->bytes = calloc(1, size);
  out->params = calloc(1, param ? (size_t)param : 1);
  if (!out->bytes || !out->params) {
    st = halo_err_set(err, HALO_ENOMEM, "usbtpu program: out of memory");
    goto done;
  }
  out->size = size;
  out->param_size = (size_t)param;
  out->act_bytes = act;
  out->streamed = param > caps->param_mem_bytes;
  uint8_t *b = out->bytes;
  usbtpu_put32(b + PG_MAGIC, USBTPU_PROGRAM_MAGIC);
  usbtpu_put16(b + PG_VERSION, USBTPU_PROGRAM_VERSION);
  usbtpu_put16(b + PG_FLAGS, out->streamed ? USBTPU_PROGRAM_STREAMED : 0);
  usbtpu_put32(b + PG_N_TENSORS, (uint32_t)n_tensors);
  usbtpu_put32(b + PG_N_LAYERS, (uint32_t)n_nodes);
  usbtpu_put32(b + PG_N_INPUTS, (uint32_t)out->n_inputs);
  usbtpu_put32(b + PG_N_OUTPUTS, (uint32_t)out->n_outputs);
  usbtpu_put32(b + PG_TENSORS_OFF, (uint32_t)tensors_off);
  usbtpu_put32(b + PG_LAYERS_OFF, (uint32_t)layers_off);
  usbtpu_put32(b + PG_IO_OFF, (uint32_t)io_off);
  usbtpu_put32(b + PG_QUANT_OFF, (uint32_t)quant_off);
  usbtpu_put32(b + PG_QUANT_SIZE, (uint32_t)quant_size);
  usbtpu_put32(b + PG_PARAM_BYTES, (uint32_t)param);
  usbtpu_put32(b + PG_ACT_BYTES, (uint32_t)act);
  size_t q = 0;
  for (int i = 0; i < n_tensors; i++) {
    const halo_graph_tensor *gt = &g->tensors[l.tensors[i]];
    const halo_tensor_desc *d = &gt->desc;
    uint8_t *r = b + tensors_off + (size_t)i * USBTPU_TENSOR_RECORD_SIZE;
    r[TR_DTYPE] = (uint8_t)usbtpu_dtype_from_halo(d->dtype);
    r[TR_RANK] = (uint8_t)d->rank;
    for (int k = 0; k < d->rank; k++) usbtpu_put32(r + TR_DIMS + 4 * k, (uint32_t)d->dims[k]);
    usbtpu_put32(r + TR_OFFSET, l.addr[i]);
    if (halo_tensor_is_const(gt)) {
      r[TR_REGION] = USBTPU_REGION_PARAM;
      usbtpu_put32(r + TR_BYTES, (uint32_t)gt->data_size);
      memcpy(out->params + l.addr[i], gt->data, gt->data_size);
    } else {
      r[TR_REGION] = USBTPU_REGION_ACT;
      usbtpu_put32(r + TR_BYTES, (uint32_t)halo_desc_bytes(d));
    }
    usbtpu_put16(r + TR_QCOUNT, (uint16_t)d->quant.count);
    usbtpu_put16(r + TR_QAXIS, (uint16_t)d->quant.axis);
    usbtpu_put32(r + TR_QOFF, (uint32_t)q);
    for (int k = 0; k < d->quant.count; k++) {
      usbtpu_put_f32(b + quant_off + q + 4 * (size_t)k, d->quant.scale[k]);
      usbtpu_put32(b + quant_off + q + 4 * (size_t)(d->quant.count + k),
                   (uint32_t)(int32_t)d->quant.zero_point[k]);
    }
    q += (size_t)d->quant.count * 8;
  }
  for (int i = 0, seg_first = 0; i < n_nodes; i++) {
    const halo_node *n = &g->nodes[nodes[i]];
    uint8_t *r = b + layers_off + (size_t)i * USBTPU_LAYER_RECORD_SIZE;
    usbtpu_put16(r + LR_OP, (uint16_t)usbtpu_op_from_halo(n->op));
    r[LR_N_IN] = (uint8_t)n->n_inputs;
    r[LR_N_OUT] = (uint8_t)n->n_outputs;
    for (int k = 0; k < USBTPU_LAYER_MAX_INPUTS; k++)
      usbtpu_put16(r + LR_INPUTS + 2 * k,
                   k < n->n_inputs && n->inputs[k] != HALO_NO_TENSOR ? (uint16_t)l.id[n->inputs[k]]
                                                                     : USBTPU_NO_TENSOR);
    for (int k = 0; k < USBTPU_LAYER_MAX_OUTPUTS; k++)
      usbtpu_put16(r + LR_OUTPUTS + 2 * k,
                   k < n->n_outputs ? (uint16_t)l.id[n->outputs[k]] : USBTPU_NO_TENSOR);
    encode_params(n, r + LR_PARAMS);
    usbtpu_put32(r + LR_SOURCE, (uint32_t)n->source_index);
    /* The segment's blob range: from the end of the previous segment's
     * constants to the end of its last layer's. */
    if (i > 0 && l.segment[i] != l.segment[i - 1]) seg_first = i;
    int seg_last = i;
    while (seg_last + 1 < n_nodes && l.segment[seg_last + 1] == l.segment[i]) seg_last++;
    uint32_t seg_start = seg_first ? l.layer_end[seg_first - 1] : 0;
    usbtpu_put32(r + LR_SEG_OFFSET, seg_start);
    usbtpu_put32(r + LR_SEG_BYTES, l.layer_end[seg_last] - seg_start);
  }
  for (int i = 0; i < out->n_inputs; i++)
    usbtpu_put32(b + io_off + 4 * (size_t)i, (uint32_t)l.id[out->input_tensor[i]]);
  for (int i = 0; i < out->n_outputs; i++)
    usbtpu_put32(b + io_off + 4 * (size_t)(out->n_inputs + i), (uint32_t)l.id[out->output_tensor[i]]);
  uint64_t h = fnv1a(0xcbf29ce484222325ull, out->bytes, out->size);
  h = fnv1a(h, out->params, out->param_size);
  out->token = h ? h : 1;
  usbtpu_put64(b + PG_TOKEN, out->token);
done:
  lowering_free(&l);
  if (st != HALO_OK) usbtpu_program_free(out);
  return st;
}

/* ---- device side ------------------------------------------------------------ */

static halo_status bad(halo_err *err, size_t off, const char *field, const char *fmt,
                       unsigned long long v) {
  char detail[96];
  snprintf(detail, sizeof detail, fmt, v);
  return halo_err_set(err, HALO_EFORMAT, "program: offset %zu (%s): %s", off, field, detail);
}

static bool range_ok(uint64_t off, uint64_t len, uint64_t size) {
  return off <= size && len <= size - off;
}

halo_status usbtpu_program_parse_header(const uint8_t *b, size_t size, uint64_t act_mem_size,
                                        uint64_t param_mem_size, usbtpu_program_header *h,
                                        halo_err *err) {
  memset(h, 0, sizeof *h);
  if (size < USBTPU_PROGRAM_HEADER_SIZE)
    return bad(err, 0, "header", "truncated: %llu bytes", (unsigned long long)size);
  if (usbtpu_get32(b + PG_MAGIC) != USBTPU_PROGRAM_MAGIC)
    return bad(err, PG_MAGIC, "magic", "expected \"HTPG\"%.0llu", 0);
  if (usbtpu_get16(b + PG_VERSION) != USBTPU_PROGRAM_VERSION)
    return bad(err, PG_VERSION, "version", "%llu", usbtpu_get16(b + PG_VERSION));
  h->flags = usbtpu_get16(b + PG_FLAGS);
  h->token = usbtpu_get64(b + PG_TOKEN);
  h->n_tensors = usbtpu_get32(b + PG_N_TENSORS);
  h->n_layers = usbtpu_get32(b + PG_N_LAYERS);
  h->n_inputs = usbtpu_get32(b + PG_N_INPUTS);
  h->n_outputs = usbtpu_get32(b + PG_N_OUTPUTS);
  h->param_bytes = usbtpu_get32(b + PG_PARAM_BYTES);
  h->act_bytes = usbtpu_get32(b + PG_ACT_BYTES);
  if (h->token == 0) return bad(err, PG_TOKEN, "token", "zero%.0llu", 0);
  if (h->n_tensors == 0 || h->n_tensors > USBTPU_PROGRAM_MAX_TENSORS)
    return bad(err, PG_N_TENSORS, "n_tensors", "%llu", h->n_tensors);
  if (h->n_layers == 0 || h->n_layers > USBTPU_PROGRAM_MAX_LAYERS)
    return bad(err, PG_N_LAYERS, "n_layers", "%llu", h->n_layers);
  if (h->n_inputs == 0 || h->n_inputs > USBTPU_PROGRAM_MAX_IO)
    return bad(err, PG_N_INPUTS, "n_inputs", "%llu", h->n_inputs);
  if (h->n_outputs == 0 || h->n_outputs > USBTPU_PROGRAM_MAX_IO)
    return bad(err, PG_N_OUTPUTS, "n_outputs", "%llu", h->n_outputs);
  if (h->act_bytes > act_mem_size)
    return bad(err, PG_ACT_BYTES, "act_bytes", "%llu exceed activation memory", h->act_bytes);
  if (!(h->flags & USBTPU_PROGRAM_STREAMED) && h->param_bytes > param_mem_size)
    return bad(err, PG_PARAM_BYTES, "param_bytes", "%llu exceed parameter memory (not streamed)",
               h->param_bytes);
  uint64_t t_off = usbtpu_get32(b + PG_TENSORS_OFF), l_off = usbtpu_get32(b + PG_LAYERS_OFF);
  uint64_t io_off = usbtpu_get32(b + PG_IO_OFF), q_off = usbtpu_get32(b + PG_QUANT_OFF);
  uint64_t q_size = usbtpu_get32(b + PG_QUANT_SIZE);
  if (t_off < USBTPU_PROGRAM_HEADER_SIZE ||
      !range_ok(t_off, (uint64_t)h->n_tensors * USBTPU_TENSOR_RECORD_SIZE, size))
    return bad(err, PG_TENSORS_OFF, "tensors_offset", "%llu: records outside the program", t_off);
  if (l_off < USBTPU_PROGRAM_HEADER_SIZE ||
      !range_ok(l_off, (uint64_t)h->n_layers * USBTPU_LAYER_RECORD_SIZE, size))
    return bad(err, PG_LAYERS_OFF, "layers_offset", "%llu: records outside the program", l_off);
  if (!range_ok(io_off, 4ull * (h->n_inputs + h->n_outputs), size))
    return bad(err, PG_IO_OFF, "io_offset", "%llu: list outside the program", io_off);
  if (!range_ok(q_off, q_size, size))
    return bad(err, PG_QUANT_OFF, "quant_offset", "%llu: table outside the program", q_off);
  for (uint32_t i = 0; i < h->n_tensors; i++) {
    size_t off = (size_t)t_off + i * USBTPU_TENSOR_RECORD_SIZE;
    const uint8_t *r = b + off;
    uint32_t addr = usbtpu_get32(r + TR_OFFSET), bytes = usbtpu_get32(r + TR_BYTES);
    uint64_t limit = r[TR_REGION] == USBTPU_REGION_ACT ? h->act_bytes : h->param_bytes;
    if (r[TR_REGION] > USBTPU_REGION_PARAM)
      return bad(err, off + TR_REGION, "tensor region", "%llu", r[TR_REGION]);
    if (!range_ok(addr, bytes, limit))
      return bad(err, off + TR_OFFSET, "tensor address", "%llu: outside its memory", addr);
    uint32_t qc = usbtpu_get16(r + TR_QCOUNT), qo = usbtpu_get32(r + TR_QOFF);
    if (!range_ok(qo, 8ull * qc, q_size))
      return bad(err, off + TR_QOFF, "quant_offset", "%llu: outside the quantization table", qo);
  }
  for (uint32_t i = 0; i < h->n_inputs + h->n_outputs; i++) {
    size_t off = (size_t)io_off + 4 * i;
    uint32_t t = usbtpu_get32(b + off);
    if (t >= h->n_tensors) return bad(err, off, "io tensor", "%llu: no such tensor", t);
    const uint8_t *r = b + t_off + (size_t)t * USBTPU_TENSOR_RECORD_SIZE;
    if (r[TR_REGION] != USBTPU_REGION_ACT)
      return bad(err, off, "io tensor", "%llu: not an activation", t);
    bool in = i < h->n_inputs;
    uint32_t k = in ? i : i - h->n_inputs;
    (in ? h->input_bytes : h->output_bytes)[k] = usbtpu_get32(r + TR_BYTES);
    (in ? h->input_offset : h->output_offset)[k] = usbtpu_get32(r + TR_OFFSET);
  }
  return HALO_OK;
}

halo_status usbtpu_program_decode(const uint8_t *b, size_t size, const uint8_t *param_mem,
                                  uint64_t param_mem_size, uint64_t act_mem_size,
                                  halo_graph **out, usbtpu_program_layout *layout, halo_err *err) {
  *out = NULL;
  memset(layout, 0, sizeof *layout);
  usbtpu_program_header h;
  halo_status st = usbtpu_program_parse_header(b, size, act_mem_size, param_mem_size, &h, err);
  if (st != HALO_OK) return st;
  bool streamed = h.flags & USBTPU_PROGRAM_STREAMED;
  if (!streamed && h.param_bytes > param_mem_size)
    return bad(err, PG_PARAM_BYTES, "param_bytes", "%llu exceed the parameter buffer",
               h.param_bytes);
  halo_graph *g = NULL;
  if ((st = halo_graph_create(&g, err)) != HALO_OK) return st;
  size_t t_off = usbtpu_get32(b + PG_TENSORS_OFF), l_off = usbtpu_get32(b + PG_LAYERS_OFF);
  size_t io_off = usbtpu_get32(b + PG_IO_OFF), q_off = usbtpu_get32(b + PG_QUANT_OFF);
  g->tensors = halo_graph_alloc(g, h.n_tensors * sizeof *g->tensors);
  g->nodes = halo_graph_alloc(g, h.n_layers * sizeof *g->nodes);
  g->inputs = halo_graph_alloc(g, h.n_inputs * sizeof *g->inputs);
  g->outputs = halo_graph_alloc(g, h.n_outputs * sizeof *g->outputs);
  uint32_t *addr = halo_graph_alloc(g, h.n_tensors * sizeof *addr);
  /* Per parameter tensor: 1 + the segment of the layers reading it. */
  uint32_t *tseg = halo_graph_alloc(g, h.n_tensors * sizeof *tseg);
  usbtpu_program_segment *segs = halo_graph_alloc(g, h.n_layers * sizeof *segs);
  if (!g->tensors || !g->nodes || !g->inputs || !g->outputs || !addr || !tseg || !segs) goto oom;
  memset(tseg, 0, h.n_tensors * sizeof *tseg);
  uint32_t n_segs = 0;
  g->n_tensors = (int)h.n_tensors;
  for (uint32_t i = 0; i < h.n_tensors; i++) {
    size_t off = t_off + i * USBTPU_TENSOR_RECORD_SIZE;
    const uint8_t *r = b + off;
    halo_graph_tensor *t = &g->tensors[i];
    t->name = "";
    t->desc.dtype = usbtpu_dtype_to_halo(r[TR_DTYPE]);
    if (t->desc.dtype == HALO_DTYPE_UNKNOWN) {
      st = bad(err, off + TR_DTYPE, "tensor dtype", "%llu", r[TR_DTYPE]);
      goto fail;
    }
    if (r[TR_RANK] > HALO_MAX_RANK) {
      st = bad(err, off + TR_RANK, "tensor rank", "%llu", r[TR_RANK]);
      goto fail;
    }
    t->desc.rank = r[TR_RANK];
    for (int k = 0; k < t->desc.rank; k++) {
      uint32_t d = usbtpu_get32(r + TR_DIMS + 4 * k);
      if (d > 0xFFFFFF) {
        st = bad(err, off + TR_DIMS + 4 * (size_t)k, "tensor dim", "%llu", d);
        goto fail;
      }
      t->desc.dims[k] = (int32_t)d;
    }
    /* Every dim <= 2^24 and rank <= 6 keeps the product inside uint64. */
    uint64_t elems = 1;
    for (int k = 0; k < t->desc.rank; k++) elems *= (uint64_t)t->desc.dims[k];
    uint64_t bytes = usbtpu_get32(r + TR_BYTES);
    if (elems > UINT32_MAX || elems * halo_dtype_size(t->desc.dtype) != bytes) {
      st = bad(err, off + TR_BYTES, "tensor bytes", "%llu: do not match the shape", bytes);
      goto fail;
    }
    addr[i] = usbtpu_get32(r + TR_OFFSET);
    /* Parameter tensors point into parameter memory once their segment is
     * known (below). */
    if (r[TR_REGION] == USBTPU_REGION_PARAM) t->data_size = (size_t)bytes;
    uint32_t qc = usbtpu_get16(r + TR_QCOUNT);
    if (qc) {
      const uint8_t *q = b + q_off + usbtpu_get32(r + TR_QOFF);
      float *scale = halo_graph_alloc(g, qc * sizeof *scale);
      int64_t *zp = halo_graph_alloc(g, qc * sizeof *zp);
      if (!scale || !zp) goto oom;
      for (uint32_t k = 0; k < qc; k++) {
        scale[k] = usbtpu_get_f32(q + 4 * k);
        zp[k] = (int32_t)usbtpu_get32(q + 4 * (qc + k));
      }
      t->desc.quant = (halo_quant){(int)qc, usbtpu_get16(r + TR_QAXIS), scale, zp};
    }
  }
  g->n_nodes = (int)h.n_layers;
  for (uint32_t i = 0; i < h.n_layers; i++) {
    size_t off = l_off + i * USBTPU_LAYER_RECORD_SIZE;
    const uint8_t *r = b + off;
    halo_node *n = &g->nodes[i];
    n->op = usbtpu_op_to_halo(usbtpu_get16(r + LR_OP));
    n->source_index = (int32_t)i;
    n->source_op = halo_op_name(n->op);
    if (n->op == HALO_OP_INVALID) {
      st = bad(err, off + LR_OP, "layer op", "unknown op kind %llu", usbtpu_get16(r + LR_OP));
      goto fail;
    }
    if (r[LR_N_IN] > USBTPU_LAYER_MAX_INPUTS || r[LR_N_OUT] < 1 ||
        r[LR_N_OUT] > USBTPU_LAYER_MAX_OUTPUTS) {
      st = bad(err, off + LR_N_IN, "layer tensor counts", "%llu", r[LR_N_IN]);
      goto fail;
    }
    int32_t *ins = halo_graph_alloc(g, USBTPU_LAYER_MAX_INPUTS * sizeof *ins);
    int32_t *outs = halo_graph_alloc(g, USBTPU_LAYER_MAX_OUTPUTS * sizeof *outs);
    if (!ins || !outs) goto oom;
    n->n_inputs = r[LR_N_IN];
    n->n_outputs = r[LR_N_OUT];
    for (int k = 0; k < n->n_inputs + n->n_outputs; k++) {
      bool in = k < n->n_inputs;
      size_t fo = off + (in ? LR_INPUTS + 2 * (size_t)k : LR_OUTPUTS + 2 * (size_t)(k - n->n_inputs));
      uint16_t t = usbtpu_get16(b + fo);
      if (t == USBTPU_NO_TENSOR && in) {
        ins[k] = HALO_NO_TENSOR;
        continue;
      }
      if (t >= h.n_tensors) {
        st = bad(err, fo, "layer tensor", "%llu: no such tensor", t);
        goto fail;
      }
      if (in)
        ins[k] = t;
      else
        outs[k - n->n_inputs] = t;
    }
    n->inputs = ins;
    n->outputs = outs;
    if (!decode_params(n->op, r + LR_PARAMS, &n->params)) {
      st = bad(err, off + LR_PARAMS, "layer params", "padding or activation out of range%.0llu", 0);
      goto fail;
    }
    /* Parameter segments: consecutive layers with the same blob range; the
     * ranges follow each other from 0 to param_bytes, each fits parameter
     * memory, and a layer reads only constants inside its own. */
    uint32_t so = usbtpu_get32(r + LR_SEG_OFFSET), sb = usbtpu_get32(r + LR_SEG_BYTES);
    if (!n_segs || so != segs[n_segs - 1].param_offset || sb != segs[n_segs - 1].param_bytes) {
      uint32_t expect = n_segs ? segs[n_segs - 1].param_offset + segs[n_segs - 1].param_bytes : 0;
      if (so != expect) {
        st = bad(err, off + LR_SEG_OFFSET, "layer segment offset",
                 "%llu: segments must follow each other from 0", so);
        goto fail;
      }
      if (!range_ok(so, sb, h.param_bytes) || sb > param_mem_size) {
        st = bad(err, off + LR_SEG_BYTES, "layer segment bytes",
                 "%llu: outside the blob or larger than parameter memory", sb);
        goto fail;
      }
      segs[n_segs++] = (usbtpu_program_segment){i, 0, so, sb};
    }
    segs[n_segs - 1].n_layers++;
    for (int k = 0; k < n->n_inputs + n->n_outputs; k++) {
      int32_t t = k < n->n_inputs ? ins[k] : outs[k - n->n_inputs];
      if (t == HALO_NO_TENSOR) continue;
      const uint8_t *tr = b + t_off + (size_t)t * USBTPU_TENSOR_RECORD_SIZE;
      if (tr[TR_REGION] != USBTPU_REGION_PARAM) continue;
      if (k >= n->n_inputs) {
        st = bad(err, off + LR_OUTPUTS, "layer output", "%llu: a parameter tensor", (unsigned)t);
        goto fail;
      }
      if (addr[t] < so || !range_ok(addr[t] - so, g->tensors[t].data_size, sb)) {
        st = bad(err, off + LR_INPUTS + 2 * (size_t)k, "layer input",
                 "%llu: a constant outside the layer's parameter segment", (unsigned)t);
        goto fail;
      }
      tseg[t] = n_segs;
    }
  }
  if (!n_segs || segs[n_segs - 1].param_offset + segs[n_segs - 1].param_bytes != h.param_bytes ||
      (!streamed && n_segs != 1)) {
    st = bad(err, PG_PARAM_BYTES, "param_bytes",
             "%llu: the layers' parameter segments do not cover the blob (a cached program has "
             "one)", h.param_bytes);
    goto fail;
  }
  for (uint32_t i = 0; i < h.n_tensors; i++) {
    const uint8_t *tr = b + t_off + (size_t)i * USBTPU_TENSOR_RECORD_SIZE;
    if (tr[TR_REGION] != USBTPU_REGION_PARAM) continue;
    if (!tseg[i]) {
      st = bad(err, t_off + (size_t)i * USBTPU_TENSOR_RECORD_SIZE, "tensor region",
               "parameter tensor %llu that no layer reads", i);
      goto fail;
    }
    /* Cached: the whole blob is resident, blob offset = address. Streamed:
     * parameter memory holds the tensor's segment from address 0. */
    g->tensors[i].data = param_mem + addr[i] - (streamed ? segs[tseg[i] - 1].param_offset : 0);
  }
  g->n_inputs = (int)h.n_inputs;
  g->n_outputs = (int)h.n_outputs;
  for (uint32_t i = 0; i < h.n_inputs + h.n_outputs; i++) {
    int32_t t = (int32_t)usbtpu_get32(b + io_off + 4 * i);
    if (i < h.n_inputs)
      g->inputs[i] = t;
    else
      g->outputs[i - h.n_inputs] = t;
  }
  if ((st = halo_graph_check_structure(g, err)) != HALO_OK) goto fail;
  for (int i = 0; i < g->n_nodes && !streamed; i++)
    if ((st = halo_node_validate(g, i, err)) != HALO_OK) goto fail;
  *out = g;
  *layout = (usbtpu_program_layout){addr, segs, (int)n_segs, streamed};
  return HALO_OK;
oom:
  st = halo_err_set(err, HALO_ENOMEM, "program: out of memory");
fail:
  halo_graph_destroy(g);
  return st;
}
