/* CONV_2D (1x1 as a GEMM, the general case), DEPTHWISE_CONV_2D,
 * FULLY_CONNECTED and TRANSPOSE_CONV. Constant weights are uploaded once
 * (as float16 when the device has 16-bit storage and the session allows
 * it); weights computed at run time (a DEQUANTIZE in another partition)
 * are read from the arena in float32. */
#include <stdio.h>

#include "drivers/vulkan/vk_ops.h"
#include "hal/op_check.h"

/* The GEMM shader's tile (shaders/gemm.comp). */
enum { GEMM_TILE = 16 };

static bool gemm_fits(const vk_device *dev, uint64_t m, uint64_t n) {
  return dev->caps.max_invocations >= GEMM_TILE * GEMM_TILE &&
         dev->caps.max_group_size[0] >= GEMM_TILE && dev->caps.max_group_size[1] >= GEMM_TILE &&
         dev->caps.max_shared_bytes >= 2 * GEMM_TILE * (GEMM_TILE + 1) * sizeof(float) &&
         (m + GEMM_TILE - 1) / GEMM_TILE <= dev->caps.max_group_count[1] &&
         (n + GEMM_TILE - 1) / GEMM_TILE <= dev->caps.max_group_count[0];
}

/* The weights operand and whether it is float16. */
static halo_status weights_operand(vk_builder *b, int32_t t, vk_operand *op, bool *fp16,
                                   halo_err *err) {
  *fp16 = b->fp16_weights && vk_builder_const_data(b, t) != NULL;
  return *fp16 ? vk_builder_input_f16(b, t, op, err) : vk_builder_input(b, t, op, err);
}

static halo_status bias_operand(vk_builder *b, const halo_node *n, int index, vk_operand *op,
                                uint32_t *has_bias, halo_err *err) {
  if (index < n->n_inputs && n->inputs[index] != HALO_NO_TENSOR) {
    *has_bias = 1;
    return vk_builder_input(b, n->inputs[index], op, err);
  }
  *has_bias = 0;
  float zero = 0.f;
  return vk_builder_weights(b, &zero, sizeof zero, op, err);
}

static halo_status gemm(vk_builder *b, vk_operand ops[4], bool fp16, uint32_t m, uint32_t n,
                        uint32_t k, halo_activation act, uint32_t has_bias, halo_err *err) {
  uint32_t spec[7] = {0, 0, m, n, k, (uint32_t)act, has_bias};
  uint32_t groups[3] = {(n + GEMM_TILE - 1) / GEMM_TILE, (m + GEMM_TILE - 1) / GEMM_TILE, 1};
  return vk_builder_dispatch(b, fp16 ? VK_SHADER_GEMM_F16 : VK_SHADER_GEMM, spec, 7, NULL, 0, ops,
                             4, groups, err);
}

/* The general convolution shader; FC and 1x1 convolutions use it too on
 * devices too small for the GEMM tile. */
static halo_status conv_general(vk_builder *b, vk_operand ops[4], bool fp16, const int32_t in[4],
                                int32_t oh, int32_t ow, int32_t cout, int32_t kh, int32_t kw,
                                int32_t sh, int32_t sw, int32_t dh, int32_t dw, int32_t pt,
                                int32_t pl, halo_activation act, uint32_t has_bias,
                                int32_t cin_g, int32_t cout_g, halo_err *err) {
  uint32_t spec[20] = {0,
                       (uint32_t)in[1],
                       (uint32_t)in[2],
                       (uint32_t)in[3],
                       (uint32_t)oh,
                       (uint32_t)ow,
                       (uint32_t)cout,
                       (uint32_t)kh,
                       (uint32_t)kw,
                       (uint32_t)sh,
                       (uint32_t)sw,
                       (uint32_t)dh,
                       (uint32_t)dw,
                       (uint32_t)pt,
                       (uint32_t)pl,
                       (uint32_t)act,
                       has_bias,
                       (uint32_t)cin_g,
                       (uint32_t)cout_g,
                       (uint32_t)in[0]};
  uint64_t count = (uint64_t)in[0] * (uint64_t)oh * (uint64_t)ow * (uint64_t)cout;
  return vk_lower_linear(b, fp16 ? VK_SHADER_CONV2D_F16 : VK_SHADER_CONV2D, spec, 20, NULL, 0,
                         ops, 4, count, err);
}

/* The operands of the convolution family, in the shaders' binding order:
 * input (node input `input`), weights (input 1, float16 or float32: *fp16),
 * bias (input `bias`, or zeros: *has_bias), output. */
static halo_status conv_operands(vk_builder *b, const halo_node *n, int input, int bias,
                                 vk_operand ops[4], bool *fp16, uint32_t *has_bias,
                                 halo_err *err) {
  halo_status st = vk_builder_input(b, n->inputs[input], &ops[0], err);
  if (st == HALO_OK) st = weights_operand(b, n->inputs[1], &ops[1], fp16, err);
  if (st == HALO_OK) st = bias_operand(b, n, bias, &ops[2], has_bias, err);
  if (st == HALO_OK) ops[3] = vk_builder_output(b, n->outputs[0]);
  return st;
}

static halo_status lower_conv2d(vk_builder *b, const halo_node *n, halo_err *err) {
  const halo_conv_params *p = &n->params.conv;
  const halo_graph_tensor *in = vk_in(b, n, 0), *f = vk_in(b, n, 1), *out = vk_out(b, n, 0);
  const int32_t *d = in->desc.dims;
  int32_t cout = f->desc.dims[0], kh = f->desc.dims[1], kw = f->desc.dims[2];
  int32_t cin_g = f->desc.dims[3], groups = d[3] / cin_g;
  int32_t oh, ow, pt, pl;
  halo_conv_out_size(p->padding, d[1], kh, p->stride_h, p->dilation_h, &oh, &pt);
  halo_conv_out_size(p->padding, d[2], kw, p->stride_w, p->dilation_w, &ow, &pl);
  vk_operand ops[4];
  bool fp16;
  uint32_t has_bias;
  halo_status st = conv_operands(b, n, 0, 2, ops, &fp16, &has_bias, err);
  if (st != HALO_OK) return st;
  (void)out;
  uint64_t m = (uint64_t)d[0] * (uint64_t)d[1] * (uint64_t)d[2];
  if (kh == 1 && kw == 1 && p->stride_h == 1 && p->stride_w == 1 && groups == 1 &&
      gemm_fits(b->dev, m, (uint64_t)cout))
    return gemm(b, ops, fp16, (uint32_t)m, (uint32_t)cout, (uint32_t)d[3], p->act, has_bias, err);
  return conv_general(b, ops, fp16, d, oh, ow, cout, kh, kw, p->stride_h, p->stride_w,
                      p->dilation_h, p->dilation_w, pt, pl, p->act, has_bias, cin_g,
                      cout / groups, err);
}

static halo_status lower_depthwise(vk_builder *b, const halo_node *n, halo_err *err) {
  const halo_depthwise_params *p = &n->params.depthwise;
  const halo_graph_tensor *in = vk_in(b, n, 0), *f = vk_in(b, n, 1);
  const int32_t *d = in->desc.dims;
  int32_t kh = f->desc.dims[1], kw = f->desc.dims[2], cout = f->desc.dims[3];
  int32_t oh, ow, pt, pl;
  halo_conv_out_size(p->padding, d[1], kh, p->stride_h, p->dilation_h, &oh, &pt);
  halo_conv_out_size(p->padding, d[2], kw, p->stride_w, p->dilation_w, &ow, &pl);
  vk_operand ops[4];
  bool fp16;
  uint32_t has_bias;
  halo_status st = conv_operands(b, n, 0, 2, ops, &fp16, &has_bias, err);
  if (st != HALO_OK) return st;
  uint32_t spec[19] = {0,
                       (uint32_t)d[1],
                       (uint32_t)d[2],
                       (uint32_t)d[3],
                       (uint32_t)oh,
                       (uint32_t)ow,
                       (uint32_t)cout,
                       (uint32_t)kh,
                       (uint32_t)kw,
                       (uint32_t)p->stride_h,
                       (uint32_t)p->stride_w,
                       (uint32_t)p->dilation_h,
                       (uint32_t)p->dilation_w,
                       (uint32_t)pt,
                       (uint32_t)pl,
                       (uint32_t)p->act,
                       has_bias,
                       (uint32_t)(cout / d[3]),
                       (uint32_t)d[0]};
  uint64_t count = (uint64_t)d[0] * (uint64_t)oh * (uint64_t)ow * (uint64_t)cout;
  return vk_lower_linear(b, fp16 ? VK_SHADER_DEPTHWISE_F16 : VK_SHADER_DEPTHWISE, spec, 19, NULL,
                         0, ops, 4, count, err);
}

static halo_status lower_fully_connected(vk_builder *b, const halo_node *n, halo_err *err) {
  const halo_graph_tensor *in = vk_in(b, n, 0), *w = vk_in(b, n, 1);
  int32_t units = w->desc.dims[0], depth = w->desc.dims[1];
  int64_t rows = halo_desc_elements(&in->desc) / depth;
  vk_operand ops[4];
  bool fp16;
  uint32_t has_bias;
  halo_status st = conv_operands(b, n, 0, 2, ops, &fp16, &has_bias, err);
  if (st != HALO_OK) return st;
  if (gemm_fits(b->dev, (uint64_t)rows, (uint64_t)units))
    return gemm(b, ops, fp16, (uint32_t)rows, (uint32_t)units, (uint32_t)depth, n->params.fc.act,
                has_bias, err);
  const int32_t as_image[4] = {(int32_t)rows, 1, 1, depth};
  return conv_general(b, ops, fp16, as_image, 1, 1, units, 1, 1, 1, 1, 1, 1, 0, 0,
                      n->params.fc.act, has_bias, depth, units, err);
}

/* TRANSPOSE_CONV (inputs: output_shape, weights, input, bias). TFLite pads
 * as if the op were the forward convolution from its output to its input
 * (transpose_conv.cc): the leading padding of that convolution. */
static halo_status lower_transpose_conv(vk_builder *b, const halo_node *n, halo_err *err) {
  const halo_transpose_conv_params *p = &n->params.transpose_conv;
  const halo_graph_tensor *w = vk_in(b, n, 1), *in = vk_in(b, n, 2), *out = vk_out(b, n, 0);
  const int32_t *d = in->desc.dims, *od = out->desc.dims;
  int32_t cout = w->desc.dims[0], kh = w->desc.dims[1], kw = w->desc.dims[2];
  int32_t unused, pt = 0, pl = 0;
  halo_conv_out_size(p->padding, od[1], kh, p->stride_h, 1, &unused, &pt);
  halo_conv_out_size(p->padding, od[2], kw, p->stride_w, 1, &unused, &pl);
  vk_operand ops[4];
  bool fp16;
  uint32_t has_bias;
  halo_status st = conv_operands(b, n, 2, 3, ops, &fp16, &has_bias, err);
  if (st != HALO_OK) return st;
  uint32_t spec[16] = {0,
                       (uint32_t)d[1],
                       (uint32_t)d[2],
                       (uint32_t)d[3],
                       (uint32_t)od[1],
                       (uint32_t)od[2],
                       (uint32_t)cout,
                       (uint32_t)kh,
                       (uint32_t)kw,
                       (uint32_t)p->stride_h,
                       (uint32_t)p->stride_w,
                       (uint32_t)pt,
                       (uint32_t)pl,
                       (uint32_t)p->act,
                       has_bias,
                       (uint32_t)d[0]};
  uint64_t count = (uint64_t)halo_desc_elements(&out->desc);
  return vk_lower_linear(b, fp16 ? VK_SHADER_TRANSPOSE_CONV_F16 : VK_SHADER_TRANSPOSE_CONV, spec,
                         16, NULL, 0, ops, 4, count, err);
}

const vk_op_entry vk_ops_conv[] = {
    {HALO_OP_CONV_2D, NULL, lower_conv2d},
    {HALO_OP_DEPTHWISE_CONV_2D, NULL, lower_depthwise},
    {HALO_OP_FULLY_CONNECTED, NULL, lower_fully_connected},
    {HALO_OP_TRANSPOSE_CONV, NULL, lower_transpose_conv},
    {HALO_OP_INVALID, NULL, NULL},
};
