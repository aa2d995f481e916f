#include "drivers/usbtpu/usbtpu_capabilities.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hal/op_check.h"

static const struct {
  halo_op halo;
  usbtpu_op proto;
} op_map[] = {
    {HALO_OP_CONV_2D, USBTPU_OP_CONV_2D},
    {HALO_OP_DEPTHWISE_CONV_2D, USBTPU_OP_DEPTHWISE_CONV_2D},
    {HALO_OP_FULLY_CONNECTED, USBTPU_OP_FULLY_CONNECTED},
    {HALO_OP_AVERAGE_POOL_2D, USBTPU_OP_AVERAGE_POOL_2D},
    {HALO_OP_MAX_POOL_2D, USBTPU_OP_MAX_POOL_2D},
    {HALO_OP_ADD, USBTPU_OP_ADD},
    {HALO_OP_SUB, USBTPU_OP_SUB},
    {HALO_OP_MUL, USBTPU_OP_MUL},
    {HALO_OP_SOFTMAX, USBTPU_OP_SOFTMAX},
    {HALO_OP_LOGISTIC, USBTPU_OP_LOGISTIC},
    {HALO_OP_TANH, USBTPU_OP_TANH},
    {HALO_OP_RELU, USBTPU_OP_RELU},
    {HALO_OP_RELU6, USBTPU_OP_RELU6},
    {HALO_OP_HARD_SWISH, USBTPU_OP_HARD_SWISH},
    {HALO_OP_RESHAPE, USBTPU_OP_RESHAPE},
    {HALO_OP_CONCATENATION, USBTPU_OP_CONCATENATION},
    {HALO_OP_MEAN, USBTPU_OP_MEAN},
    {HALO_OP_RESIZE_BILINEAR, USBTPU_OP_RESIZE_BILINEAR},
    {HALO_OP_PAD, USBTPU_OP_PAD},
    {HALO_OP_QUANTIZE, USBTPU_OP_QUANTIZE},
    {HALO_OP_LEAKY_RELU, USBTPU_OP_LEAKY_RELU},
};
enum { N_OP_MAP = sizeof op_map / sizeof op_map[0] };

usbtpu_op usbtpu_op_from_halo(halo_op op) {
  for (int i = 0; i < N_OP_MAP; i++)
    if (op_map[i].halo == op) return op_map[i].proto;
  return USBTPU_OP_NONE;
}

halo_op usbtpu_op_to_halo(uint32_t op) {
  for (int i = 0; i < N_OP_MAP; i++)
    if ((uint32_t)op_map[i].proto == op) return op_map[i].halo;
  return HALO_OP_INVALID;
}

usbtpu_dtype usbtpu_dtype_from_halo(halo_dtype dtype) {
  switch (dtype) {
    case HALO_INT8: return USBTPU_DT_INT8;
    case HALO_UINT8: return USBTPU_DT_UINT8;
    case HALO_INT16: return USBTPU_DT_INT16;
    case HALO_INT32: return USBTPU_DT_INT32;
    case HALO_INT64: return USBTPU_DT_INT64;
    default: return USBTPU_DT_NONE;
  }
}

halo_dtype usbtpu_dtype_to_halo(uint32_t dtype) {
  switch (dtype) {
    case USBTPU_DT_INT8: return HALO_INT8;
    case USBTPU_DT_UINT8: return HALO_UINT8;
    case USBTPU_DT_INT16: return HALO_INT16;
    case USBTPU_DT_INT32: return HALO_INT32;
    case USBTPU_DT_INT64: return HALO_INT64;
    default: return HALO_DTYPE_UNKNOWN;
  }
}

int usbtpu_act_from_halo(halo_activation act) {
  switch (act) {
    case HALO_ACT_NONE: return USBTPU_ACT_NONE;
    case HALO_ACT_RELU: return USBTPU_ACT_RELU;
    case HALO_ACT_RELU_N1_TO_1: return USBTPU_ACT_RELU_N1_TO_1;
    case HALO_ACT_RELU6: return USBTPU_ACT_RELU6;
    default: return -1;
  }
}

int usbtpu_act_to_halo(uint32_t act) {
  switch (act) {
    case USBTPU_ACT_NONE: return HALO_ACT_NONE;
    case USBTPU_ACT_RELU: return HALO_ACT_RELU;
    case USBTPU_ACT_RELU_N1_TO_1: return HALO_ACT_RELU_N1_TO_1;
    case USBTPU_ACT_RELU6: return HALO_ACT_RELU6;
    default: return -1;
  }
}

halo_activation usbtpu_node_activation(const halo_node *n) {
  switch (n->op) {
    case HALO_OP_CONV_2D: return n->params.conv.act;
    case HALO_OP_DEPTHWISE_CONV_2D: return n->params.depthwise.act;
    case HALO_OP_FULLY_CONNECTED: return n->params.fc.act;
    case HALO_OP_AVERAGE_POOL_2D:
    case HALO_OP_MAX_POOL_2D: return n->params.pool.act;
    case HALO_OP_ADD:
    case HALO_OP_SUB:
    case HALO_OP_MUL: return n->params.binary.act;
    case HALO_OP_CONCATENATION: return n->params.concat.act;
    default: return HALO_ACT_NONE;
  }
}

static bool decline(usbtpu_support *out, const char *fmt, ...) HALO_PRINTF(2, 3);
static bool decline(usbtpu_support *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out->why, sizeof out->why, fmt, ap);
  va_end(ap);
  out->supported = false;
  return false;
}

const char *usbtpu_bytes_str(uint64_t n, char *buf, size_t size) {
  if (n >= (1u << 20) && n % (1u << 20) == 0)
    snprintf(buf, size, "%llu MiB", (unsigned long long)(n >> 20));
  else if (n >= (1u << 20))
    snprintf(buf, size, "%.1f MiB", (double)n / (1u << 20));
  else if (n >= 1024)
    snprintf(buf, size, "%.0f KiB", (double)n / 1024);
  else
    snprintf(buf, size, "%llu bytes", (unsigned long long)n);
  return buf;
}

static int dims_gt1(const halo_tensor_desc *d) {
  int n = 0;
  for (int i = 0; i < d->rank; i++) n += d->dims[i] > 1;
  return n;
}

/* The global rules of the table header for one activation tensor. */
static bool check_tensor(const usbtpu_caps *caps, const halo_graph_tensor *t, const char *role,
                         usbtpu_support *out) {
  const halo_tensor_desc *d = &t->desc;
  char shape[64];
  if ((uint32_t)d->rank > caps->max_rank)
    return decline(out, "%s %s has rank %d (at most %u)", role,
                   halo_desc_shape_str(d, shape, sizeof shape), d->rank, caps->max_rank);
  for (int i = 0; i < d->rank; i++) {
    if ((uint32_t)d->dims[i] > caps->max_dim)
      return decline(out, "%s %s: dim %d exceeds %u", role,
                     halo_desc_shape_str(d, shape, sizeof shape), d->dims[i], caps->max_dim);
    if (d->dims[i] > 1 && d->rank - i > (int)caps->max_dims_gt1)
      return decline(out, "%s %s: only the %u innermost dims may exceed 1", role,
                     halo_desc_shape_str(d, shape, sizeof shape), caps->max_dims_gt1);
  }
  return true;
}

/* Kernel (filter) size, stride and dilation of spatial ops; false when the
 * op has none. */
static bool spatial_geometry(const halo_graph *g, const halo_node *n, int32_t *kw, int32_t *kh,
                             int32_t *sw, int32_t *sh, int32_t *dil) {
  const halo_graph_tensor *f = halo_node_input(g, n, 1);
  switch (n->op) {
    case HALO_OP_CONV_2D:
    case HALO_OP_DEPTHWISE_CONV_2D: {
      if (!f || f->desc.rank != 4) return false;
      *kh = f->desc.dims[1];
      *kw = f->desc.dims[2];
      const halo_conv_params *c = &n->params.conv;
      const halo_depthwise_params *dw = &n->params.depthwise;
      bool is_conv = n->op == HALO_OP_CONV_2D;
      *sw = is_conv ? c->stride_w : dw->stride_w;
      *sh = is_conv ? c->stride_h : dw->stride_h;
      int32_t dw_ = is_conv ? c->dilation_w : dw->dilation_w;
      int32_t dh_ = is_conv ? c->dilation_h : dw->dilation_h;
      *dil = dw_ > dh_ ? dw_ : dh_;
      return true;
    }
    case HALO_OP_AVERAGE_POOL_2D:
    case HALO_OP_MAX_POOL_2D:
      *kw = n->params.pool.filter_w;
      *kh = n->params.pool.filter_h;
      *sw = n->params.pool.stride_w;
      *sh = n->params.pool.stride_h;
      *dil = 1;
      return true;
    default: return false;
  }
}

static uint64_t node_macs(const halo_graph *g, const halo_node *n) {
  const halo_graph_tensor *out = halo_node_output(g, n, 0);
  const halo_graph_tensor *f = halo_node_input(g, n, 1);
  uint64_t out_elems = out ? (uint64_t)halo_desc_elements(&out->desc) : 0;
  switch (n->op) {
    case HALO_OP_CONV_2D:
      if (f && f->desc.rank == 4)
        return out_elems * (uint64_t)f->desc.dims[1] * (uint64_t)f->desc.dims[2] *
               (uint64_t)f->desc.dims[3];
      break;
    case HALO_OP_DEPTHWISE_CONV_2D:
      if (f && f->desc.rank == 4)
        return out_elems * (uint64_t)f->desc.dims[1] * (uint64_t)f->desc.dims[2];
      break;
    case HALO_OP_FULLY_CONNECTED:
      if (f && f->desc.rank == 2) return out_elems * (uint64_t)f->desc.dims[1];
      break;
    case HALO_OP_AVERAGE_POOL_2D:
    case HALO_OP_MAX_POOL_2D:
      return out_elems * (uint64_t)n->params.pool.filter_w * (uint64_t)n->params.pool.filter_h;
    default: break;
  }
  return out_elems;
}

bool usbtpu_caps_check_node(const usbtpu_caps *caps, const halo_graph *g, int node,
                            usbtpu_support *out) {
  memset(out, 0, sizeof *out);
  out->supported = true;
  const halo_node *n = &g->nodes[node];
  const char *name = halo_op_name(n->op);
  usbtpu_op op = usbtpu_op_from_halo(n->op);
  if (op == USBTPU_OP_NONE) return decline(out, "%s: not an op of the accelerator's protocol", name);
  const usbtpu_op_caps *e = usbtpu_caps_find(caps, op);
  if (!e) return decline(out, "%s: not in the device's op table (firmware)", name);

  /* dtypes: the data input, and every activation, must be listed. */
  halo_dtype dt = halo_node_data_dtype(g, n);
  usbtpu_dtype pdt = usbtpu_dtype_from_halo(dt);
  if (pdt == USBTPU_DT_NONE || !(e->dtypes & (1u << pdt))) {
    if (e->dtypes == (1u << USBTPU_DT_INT8)) return decline(out, "int8 only");
    return decline(out, "%s: %s input not supported", name, halo_dtype_name(dt));
  }
  for (int i = 0; i < n->n_outputs; i++) {
    const halo_graph_tensor *t = halo_node_output(g, n, i);
    if (t && t->desc.dtype != HALO_INT8)
      return decline(out, "int8 only (%s output is %s)", name, halo_dtype_name(t->desc.dtype));
  }

  /* Global tensor rules and activation memory. */
  uint64_t act_bytes = 0, param_packed = 0;
  int data = halo_node_data_input(n);
  for (int i = 0; i < n->n_inputs; i++) {
    const halo_graph_tensor *t = halo_node_input(g, n, i);
    if (!t) continue;
    if (halo_tensor_is_const(t)) {
      out->param_bytes += t->data_size;
      /* As the program packs them: each constant 64-byte aligned. */
      param_packed += ((uint64_t)t->data_size + 63u) & ~(uint64_t)63u;
      continue;
    }
    if (!check_tensor(caps, t, "input", out)) return false;
    act_bytes += halo_desc_bytes(&t->desc);
  }
  for (int i = 0; i < n->n_outputs; i++) {
    const halo_graph_tensor *t = halo_node_output(g, n, i);
    if (!t) continue;
    if (!check_tensor(caps, t, "output", out)) return false;
    act_bytes += halo_desc_bytes(&t->desc);
  }
  char b1[32], b2[32];
  if (act_bytes > caps->act_mem_bytes)
    return decline(out, "activations of %s exceed %s activation memory",
                   usbtpu_bytes_str(act_bytes, b1, sizeof b1),
                   usbtpu_bytes_str(caps->act_mem_bytes, b2, sizeof b2));

  /* Per-op limits. */
  int32_t kw, kh, sw, sh, dil;
  if (spatial_geometry(g, n, &kw, &kh, &sw, &sh, &dil)) {
    if ((e->max_kernel_w && kw > e->max_kernel_w) || (e->max_kernel_h && kh > e->max_kernel_h))
      return decline(out, "kernel %dx%d exceeds %ux%u", (int)kw, (int)kh, e->max_kernel_w,
                     e->max_kernel_h);
    if ((e->max_stride_w && sw > e->max_stride_w) || (e->max_stride_h && sh > e->max_stride_h))
      return decline(out, "stride %dx%d exceeds %ux%u", (int)sw, (int)sh, e->max_stride_w,
                     e->max_stride_h);
    if (e->max_dilation && dil > e->max_dilation)
      return decline(out, "dilation %d exceeds %u", (int)dil, e->max_dilation);
  }
  const halo_graph_tensor *in = data < n->n_inputs ? halo_node_input(g, n, data) : NULL;
  const halo_graph_tensor *o0 = halo_node_output(g, n, 0);
  if (in && e->max_elements && (uint64_t)halo_desc_elements(&in->desc) > e->max_elements)
    return decline(out, "%s over %lld elements exceeds %u", name,
                   (long long)halo_desc_elements(&in->desc), e->max_elements);
  if (e->max_channels) {
    const halo_graph_tensor *ts[2] = {in, o0};
    for (int i = 0; i < 2; i++) {
      const halo_tensor_desc *d = ts[i] ? &ts[i]->desc : NULL;
      if (d && d->rank > 0 && (uint32_t)d->dims[d->rank - 1] > e->max_channels)
        return decline(out, "%d channels exceed %u", (int)d->dims[d->rank - 1], e->max_channels);
    }
  }
  char shape[64];
  if ((e->flags & USBTPU_OPF_OUTPUT_1D) && o0 && dims_gt1(&o0->desc) > 1)
    return decline(out, "%s output %s is not 1-D", name,
                   halo_desc_shape_str(&o0->desc, shape, sizeof shape));
  if ((e->flags & USBTPU_OPF_INPUT_1D) && in && dims_gt1(&in->desc) > 1)
    return decline(out, "%s input %s is not 1-D", name,
                   halo_desc_shape_str(&in->desc, shape, sizeof shape));
  halo_activation act = usbtpu_node_activation(n);
  if (act != HALO_ACT_NONE &&
      (!(e->flags & USBTPU_OPF_FUSED_RELU) || usbtpu_act_from_halo(act) < 0))
    return decline(out, "fused %s activation not supported", halo_activation_name(act));
  if (n->op == HALO_OP_CONV_2D || n->op == HALO_OP_DEPTHWISE_CONV_2D ||
      n->op == HALO_OP_FULLY_CONNECTED) {
    const halo_graph_tensor *w = halo_node_input(g, n, 1);
    if (!w || !halo_tensor_is_const(w)) return decline(out, "%s: weights must be constant", name);
    if (w->desc.quant.count > 1 && !(e->flags & USBTPU_OPF_PER_CHANNEL))
      return decline(out, "per-channel weights not supported");
  }
  out->macs = node_macs(g, n);
  /* A partition whose parameters exceed parameter memory streams them
   * segment by segment, but one layer's constants must fit at once. */
  if (param_packed > caps->param_mem_bytes)
    return decline(out, "%s: %llu bytes of constants exceed the %llu bytes of parameter memory",
                   name, (unsigned long long)param_packed,
                   (unsigned long long)caps->param_mem_bytes);
  return true;
}
