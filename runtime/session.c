#include "runtime/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/op_check.h"
#include "hal/registry.h"
#include "runtime/model.h"
#include "hal/plan.h"

enum { ARENA_ALIGNMENT = 64, HOST_DEVICE = 0 };

void halo_options_init(halo_options *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
}

static void set_error(halo_error *out, const halo_err *err) {
  if (out) snprintf(out->message, sizeof out->message, "%s", err->msg);
}

/* ---- device selection ---------------------------------------------------- */

static bool device_matches(const halo_device *dev, const char *want, size_t len) {
  return (strlen(dev->kind) == len && strncmp(dev->kind, want, len) == 0) ||
         (strlen(dev->name) == len && strncmp(dev->name, want, len) == 0);
}

static halo_status select_devices(halo_session *s, const char *list, halo_err *err) {
  s->device_allowed = calloc((size_t)s->n_devices, sizeof *s->device_allowed);
  s->preference = calloc((size_t)s->n_devices, sizeof *s->preference);
  if (!s->device_allowed || !s->preference)
    return halo_err_set(err, HALO_ENOMEM, "out of memory selecting devices");
  if (!list || !*list) {
    /* Accelerators first, the CPU (device 0) as the fallback; devices that
     * only emulate an accelerator on the CPU are left out. */
    for (int d = 1; d < s->n_devices; d++) {
      if (s->devices[d]->software) continue;
      s->device_allowed[d] = true;
      s->preference[s->n_preference++] = d;
    }
    s->device_allowed[HOST_DEVICE] = true;
    s->preference[s->n_preference++] = HOST_DEVICE;
    return HALO_OK;
  }
  const char *p = list;
  while (*p) {
    size_t len = strcspn(p, ",");
    if (len > 0) {
      bool found = false;
      for (int d = 0; d < s->n_devices; d++) {
        if (!device_matches(s->devices[d], p, len)) continue;
        found = true;
        if (!s->device_allowed[d]) {
          s->device_allowed[d] = true;
          s->preference[s->n_preference++] = d;
        }
      }
      if (!found) {
        char avail[160] = "";
        size_t used = 0;
        for (int d = 0; d < s->n_devices && used < sizeof avail; d++) {
          int n = snprintf(avail + used, sizeof avail - used, "%s%s", d ? ", " : "",
                           s->devices[d]->name);
          if (n < 0) break;
          used += (size_t)n;
        }
        return halo_err_set(err, HALO_ENOTFOUND,
                            "device '%.*s' was requested but none is present (available: %s)%s%s",
                            (int)len, p, avail, s->device_problems[0] ? "; " : "",
                            s->device_problems);
      }
    }
    p += len;
    if (*p == ',') p++;
  }
  if (s->n_preference == 0)
    return halo_err_set(err, HALO_EINVAL, "device list '%s' names no device", list);
  return HALO_OK;
}

/* ---- placement and the execution graph ----------------------------------- */

/* Picks the first allowed device (in preference order) that supports the
 * node; records why the ones before it declined. */
static halo_status place_node(halo_session *s, const halo_graph *g, int node, int *device,
                              const char **reason, halo_err *err) {
  char reasons[512] = "";
  size_t used = 0;
  for (int k = 0; k < s->n_preference; k++) {
    halo_device *dev = s->devices[s->preference[k]];
    char why[160] = "";
    if (dev->vt->supports(dev, g, node, why, sizeof why)) {
      *device = s->preference[k];
      *reason = NULL;
      if (used) {
        char *r = halo_graph_strdup(s->graph, reasons, used);
        if (!r) return halo_err_set(err, HALO_ENOMEM, "out of memory placing nodes");
        *reason = r;
      }
      return HALO_OK;
    }
    int n = snprintf(reasons + used, sizeof reasons - used, "%s%s: %s", used ? "; " : "",
                     dev->name, why[0] ? why : "not supported");
    if (n > 0) used = used + (size_t)n < sizeof reasons ? used + (size_t)n : sizeof reasons - 1;
  }
  const halo_node *nd = &g->nodes[node];
  return halo_err_set(err, HALO_EUNSUPPORTED, "operator %d (%s): no allowed device runs it%s%s",
                      (int)nd->source_index, halo_op_name(nd->op), used ? ": " : "", reasons);
}

/* The index of tensor t as seen on device d: t itself when d holds it (or
 * it is a constant), else its copy on d, made on first need by a COPY node
 * appended to the execution graph. clone[t * n_devices + d] remembers
 * copies (0: none yet). False when out of memory. */
static bool tensor_on_device(halo_session *s, int32_t *clone, int32_t t, int d, int32_t *out) {
  halo_graph *g = s->graph;
  if (s->tensor_device[t] < 0 || s->tensor_device[t] == d) {
    *out = t;
    return true;
  }
  int32_t *slot = &clone[(size_t)t * (size_t)s->n_devices + (size_t)d];
  if (!*slot) {
    int32_t *io = halo_graph_alloc(g, 2 * sizeof *io);
    if (!io) return false;
    int32_t c = g->n_tensors++;
    g->tensors[c] = g->tensors[t];
    s->tensor_device[c] = d;
    io[0] = t;
    io[1] = c;
    halo_node *copy = &g->nodes[g->n_nodes];
    memset(copy, 0, sizeof *copy);
    copy->op = HALO_OP_COPY;
    copy->n_inputs = 1;
    copy->inputs = io;
    copy->n_outputs = 1;
    copy->outputs = io + 1;
    copy->source_index = -1;
    copy->source_op = "COPY";
    s->node_device[g->n_nodes] = d;
    s->node_source[g->n_nodes] = -1;
    g->n_nodes++;
    *slot = c;
  }
  *out = *slot;
  return true;
}

/* Builds the execution graph: the model's tensors and nodes, each node on
 * its device, plus a COPY node wherever a tensor is read on a device other
 * than the one holding it. Graph inputs and outputs live on the host. */
static halo_status build_exec_graph(halo_session *s, halo_err *err) {
  const halo_graph *src = s->model->graph;
  int nd = s->n_devices;
  halo_status st = halo_graph_create(&s->graph, err);
  if (st != HALO_OK) return st;
  halo_graph *g = s->graph;
  size_t max_tensors = (size_t)src->n_tensors * (size_t)(nd + 1);
  size_t max_nodes = (size_t)src->n_nodes + (size_t)src->n_tensors * (size_t)nd;
  g->tensors = halo_graph_alloc(g, max_tensors * sizeof *g->tensors);
  g->nodes = halo_graph_alloc(g, (max_nodes ? max_nodes : 1) * sizeof *g->nodes);
  g->inputs = halo_graph_alloc(g, ((size_t)src->n_inputs + 1) * sizeof *g->inputs);
  g->outputs = halo_graph_alloc(g, ((size_t)src->n_outputs + 1) * sizeof *g->outputs);
  s->node_device = calloc(max_nodes ? max_nodes : 1, sizeof *s->node_device);
  s->node_reason = calloc(max_nodes ? max_nodes : 1, sizeof *s->node_reason);
  s->node_source = calloc(max_nodes ? max_nodes : 1, sizeof *s->node_source);
  s->tensor_device = calloc(max_tensors ? max_tensors : 1, sizeof *s->tensor_device);
  /* clone[t * nd + d]: the copy of tensor t on device d, or 0 for none. */
  int32_t *clone = calloc(max_tensors ? (size_t)src->n_tensors * (size_t)nd : 1, sizeof *clone);
  if (!g->tensors || !g->nodes || !g->inputs || !g->outputs || !s->node_device ||
      !s->node_reason || !s->node_source || !s->tensor_device || !clone) {
    free(clone);
    return halo_err_set(err, HALO_ENOMEM, "out of memory building the execution graph");
  }
  memcpy(g->tensors, src->tensors, (size_t)src->n_tensors * sizeof *g->tensors);
  g->n_tensors = src->n_tensors;
  for (int t = 0; t < g->n_tensors; t++)
    s->tensor_device[t] = halo_tensor_is_const(&g->tensors[t]) ? -1 : HOST_DEVICE;
  memcpy(g->inputs, src->inputs, (size_t)src->n_inputs * sizeof *g->inputs);
  g->n_inputs = src->n_inputs;

  for (int i = 0; i < src->n_nodes; i++) {
    const halo_node *sn = &src->nodes[i];
    int device = 0;
    const char *reason = NULL;
    st = place_node(s, src, i, &device, &reason, err);
    if (st != HALO_OK) {
      free(clone);
      return st;
    }
    int32_t *inputs = halo_graph_alloc(g, ((size_t)sn->n_inputs + 1) * sizeof *inputs);
    if (!inputs) goto oom;
    for (int k = 0; k < sn->n_inputs; k++) {
      int32_t t = sn->inputs[k];
      if (t == HALO_NO_TENSOR) {
        inputs[k] = t;
        continue;
      }
      if (!tensor_on_device(s, clone, t, device, &inputs[k])) goto oom;
    }
    halo_node *n = &g->nodes[g->n_nodes];
    *n = *sn;
    n->inputs = inputs;
    for (int k = 0; k < sn->n_outputs; k++) s->tensor_device[sn->outputs[k]] = device;
    s->node_device[g->n_nodes] = device;
    s->node_reason[g->n_nodes] = reason;
    s->node_source[g->n_nodes] = i;
    g->n_nodes++;
  }
  for (int i = 0; i < src->n_outputs; i++)
    if (!tensor_on_device(s, clone, src->outputs[i], HOST_DEVICE, &g->outputs[i])) goto oom;
  g->n_outputs = src->n_outputs;
  free(clone);
  return HALO_OK;
oom:
  free(clone);
  return halo_err_set(err, HALO_ENOMEM, "out of memory building the execution graph");
}

/* Consecutive nodes on one device form a partition; COPY nodes are steps of
 * their own, run by the session. */
static halo_status build_steps(halo_session *s, halo_err *err) {
  const halo_graph *g = s->graph;
  s->steps = calloc((size_t)g->n_nodes + 1, sizeof *s->steps);
  s->partition_note = calloc((size_t)g->n_nodes + 1, sizeof *s->partition_note);
  int32_t *order = halo_graph_alloc(s->graph, ((size_t)g->n_nodes + 1) * sizeof *order);
  if (!s->steps || !s->partition_note || !order) return halo_err_set(err, HALO_ENOMEM, "out of memory partitioning");
  for (int i = 0; i < g->n_nodes; i++) {
    order[i] = i;
    if (g->nodes[i].op == HALO_OP_COPY) {
      s->steps[s->n_steps++] =
          (session_step){SESSION_STEP_COPY, s->node_device[i], {g, NULL, 0}, NULL, i};
      continue;
    }
    session_step *last = s->n_steps ? &s->steps[s->n_steps - 1] : NULL;
    if (last && last->kind == SESSION_STEP_PARTITION && last->device == s->node_device[i]) {
      last->part.n_nodes++;
    } else {
      s->steps[s->n_steps++] =
          (session_step){SESSION_STEP_PARTITION, s->node_device[i], {g, &order[i], 1}, NULL, -1};
    }
  }
  return HALO_OK;
}

/* ---- memory -------------------------------------------------------------- */

static halo_status plan_memory(halo_session *s, halo_err *err) {
  const halo_graph *g = s->graph;
  int n = g->n_tensors;
  halo_status st = HALO_OK;
  s->arenas = calloc((size_t)s->n_devices, sizeof *s->arenas);
  s->arena_bytes = calloc((size_t)s->n_devices, sizeof *s->arena_bytes);
  s->bindings = calloc((size_t)n + 1, sizeof *s->bindings);
  halo_plan_tensor *plan = calloc((size_t)n + 1, sizeof *plan);
  int32_t *members = calloc((size_t)n + 1, sizeof *members);
  if (!s->arenas || !s->arena_bytes || !s->bindings || !plan || !members) {
    st = halo_err_set(err, HALO_ENOMEM, "out of memory planning memory");
    goto done;
  }
  /* The model's inputs and outputs on the host live in the io buffer, for
   * the whole session (inputs stay as the caller wrote them, so an invoke
   * can be repeated, or run again after a fallback, without rewriting
   * them). An output that is also an input, or a repeated output, keeps
   * the first slot. */
  for (int i = 0; i < g->n_inputs + g->n_outputs; i++) {
    int32_t t = i < g->n_inputs ? g->inputs[i] : g->outputs[i - g->n_inputs];
    if (s->tensor_device[t] != HOST_DEVICE || s->bindings[t].buffer) continue;
    s->bindings[t] = (halo_binding){s->io, s->io_offset[i]};
  }
  /* Lifetimes in node time: node i runs at time i + 1. */
  for (int t = 0; t < n; t++) plan[t] = (halo_plan_tensor){0, -1, -1, 0};
  for (int i = 0; i < g->n_nodes; i++) {
    const halo_node *nd = &g->nodes[i];
    for (int k = 0; k < nd->n_outputs; k++) {
      halo_plan_tensor *p = &plan[nd->outputs[k]];
      p->first = i + 1;
      if (p->last < i + 1) p->last = i + 1;
    }
    for (int k = 0; k < nd->n_inputs; k++) {
      int32_t t = nd->inputs[k];
      if (t != HALO_NO_TENSOR && plan[t].last < i + 1) plan[t].last = i + 1;
    }
  }

  for (int d = 0; d < s->n_devices; d++) {
    int m = 0;
    for (int t = 0; t < n; t++) {
      if (s->tensor_device[t] != d || plan[t].first < 0 || s->bindings[t].buffer) continue;
      plan[t].size = halo_desc_bytes(&g->tensors[t].desc);
      members[m++] = t;
    }
    if (m == 0) continue;
    halo_plan_tensor *sub = calloc((size_t)m, sizeof *sub);
    if (!sub) {
      st = halo_err_set(err, HALO_ENOMEM, "out of memory planning memory");
      goto done;
    }
    for (int k = 0; k < m; k++) sub[k] = plan[members[k]];
    st = halo_plan_offsets(sub, m, ARENA_ALIGNMENT, &s->arena_bytes[d], err);
    if (st == HALO_OK) {
      halo_device *dev = s->devices[d];
      st = dev->vt->buffer_alloc(dev, s->arena_bytes[d] ? s->arena_bytes[d] : ARENA_ALIGNMENT,
                                 &s->arenas[d], err);
      if (st != HALO_OK) halo_err_prefix(err, "%s: activation arena: ", dev->name);
    }
    if (st == HALO_OK)
      for (int k = 0; k < m; k++)
        s->bindings[members[k]] = (halo_binding){s->arenas[d], sub[k].offset};
    free(sub);
    if (st != HALO_OK) goto done;
  }
done:
  free(plan);
  free(members);
  return st;
}

/* ---- placement as a whole ------------------------------------------------- */

/* Places every node, cuts the steps, plans memory and prepares every
 * partition: what creation does, and what a fallback does again without
 * the device that went away. On failure what was built stays on the
 * session for release_placement(). */
static halo_status place_and_prepare(halo_session *s, halo_err *err) {
  halo_status st = build_exec_graph(s, err);
  if (st == HALO_OK) st = build_steps(s, err);
  if (st == HALO_OK) st = plan_memory(s, err);
  for (int i = 0; st == HALO_OK && i < s->n_steps; i++) {
    session_step *step = &s->steps[i];
    if (step->kind != SESSION_STEP_PARTITION) continue;
    halo_device *dev = s->devices[step->device];
    st = dev->vt->prepare(dev, &step->part, &s->config, &step->exec, err);
    if (st == HALO_OK && dev->vt->describe)
      dev->vt->describe(step->exec, s->partition_note[i], sizeof s->partition_note[i]);
  }
  return st;
}

/* Drops the session's references to its placement without freeing it (a
 * copy of the session owns it now). */
static void forget_placement(halo_session *s) {
  s->graph = NULL;
  s->node_device = NULL;
  s->node_reason = NULL;
  s->node_source = NULL;
  s->tensor_device = NULL;
  s->arenas = NULL;
  s->arena_bytes = NULL;
  s->bindings = NULL;
  s->steps = NULL;
  s->n_steps = 0;
  s->partition_note = NULL;
}

/* Frees what place_and_prepare() built, whole or in part. */
static void release_placement(halo_session *s) {
  for (int i = 0; i < s->n_steps; i++)
    if (s->steps[i].exec) s->devices[s->steps[i].device]->vt->release(s->steps[i].exec);
  if (s->arenas)
    for (int d = 0; d < s->n_devices; d++)
      if (s->arenas[d]) s->devices[d]->vt->buffer_free(s->devices[d], s->arenas[d]);
  halo_graph_destroy(s->graph);
  free(s->steps);
  free(s->partition_note);
  free(s->arenas);
  free(s->arena_bytes);
  free(s->bindings);
  free(s->node_device);
  free(s->node_reason);
  free(s->node_source);
  free(s->tensor_device);
  forget_placement(s);
}

/* The halo_tensor views of the caller point at the execution graph's
 * tensors, whose indices change with placement (an output's copy to the
 * host); the views themselves stay where they are. */
static void point_io_tensors(halo_session *s) {
  const halo_graph *g = s->graph;
  for (int i = 0; i < g->n_inputs; i++) s->inputs[i] = (halo_tensor){s, g->inputs[i]};
  for (int i = 0; i < g->n_outputs; i++) s->outputs[i] = (halo_tensor){s, g->outputs[i]};
}

/* The io buffer: the model's inputs then outputs, each at a multiple of
 * ARENA_ALIGNMENT, sized from the model alone so that it outlives any
 * placement. */
static halo_status alloc_io(halo_session *s, halo_err *err) {
  const halo_graph *src = s->model->graph;
  int n = src->n_inputs + src->n_outputs;
  s->io_offset = calloc((size_t)n + 1, sizeof *s->io_offset);
  if (!s->io_offset) return halo_err_set(err, HALO_ENOMEM, "out of memory");
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    int32_t t = i < src->n_inputs ? src->inputs[i] : src->outputs[i - src->n_inputs];
    size_t size = halo_desc_bytes(&src->tensors[t].desc);
    size_t padded = (size + ARENA_ALIGNMENT - 1) & ~(size_t)(ARENA_ALIGNMENT - 1);
    if (padded < size || at + padded < at)
      return halo_err_set(err, HALO_EFORMAT, "model inputs and outputs overflow the address space");
    s->io_offset[i] = at;
    at += padded;
  }
  s->io_bytes = at;
  halo_device *host = s->devices[HOST_DEVICE];
  halo_status st = host->vt->buffer_alloc(host, at ? at : ARENA_ALIGNMENT, &s->io, err);
  if (st != HALO_OK) return halo_err_prefix(err, "%s: model inputs and outputs: ", host->name);
  if (!s->io->host)
    return halo_err_set(err, HALO_EINTERNAL, "%s: the buffer of model inputs and outputs is not "
                        "host memory", host->name);
  return HALO_OK;
}

/* ---- create / destroy ---------------------------------------------------- */

static halo_status create_session(halo_session *s, const halo_options *o, halo_err *err) {
  const halo_graph *src = s->model->graph;
  halo_status st;
  for (int i = 0; i < src->n_nodes; i++) {
    st = halo_node_validate(src, i, err);
    if (st != HALO_OK) return st;
  }
  st = halo_registry_create_devices(&s->devices, &s->n_devices, s->device_problems,
                                    sizeof s->device_problems, err);
  if (st != HALO_OK) return st;
  st = select_devices(s, o->devices, err);
  if (st != HALO_OK) return st;
  for (int d = 0; d < s->n_devices; d++)
    if (s->devices[d]->vt->configure) s->devices[d]->vt->configure(s->devices[d], &s->config);
  s->inputs = calloc((size_t)src->n_inputs + 1, sizeof *s->inputs);
  s->outputs = calloc((size_t)src->n_outputs + 1, sizeof *s->outputs);
  if (!s->inputs || !s->outputs) return halo_err_set(err, HALO_ENOMEM, "out of memory");
  st = alloc_io(s, err);
  if (st != HALO_OK) return st;
  st = place_and_prepare(s, err);
  if (st != HALO_OK) return st;
  point_io_tensors(s);
  return HALO_OK;
}

halo_status halo_session_create(const halo_model *model, const halo_options *options,
                                halo_session **out, halo_error *error) {
  halo_err err;
  halo_err_clear(&err);
  if (out) *out = NULL;
  if (!model || !out) {
    halo_err_set(&err, HALO_EINVAL, "halo_session_create: NULL argument");
    set_error(error, &err);
    return HALO_EINVAL;
  }
  halo_options defaults;
  halo_options_init(&defaults);
  if (!options) options = &defaults;
  halo_session *s = calloc(1, sizeof *s);
  if (!s) {
    halo_err_set(&err, HALO_ENOMEM, "out of memory creating a session");
    set_error(error, &err);
    return HALO_ENOMEM;
  }
  s->model = model;
  s->config.num_threads = options->num_threads;
  s->config.force_fp32 = options->gpu_fp32;
  s->config.force_staging = options->gpu_staging;
  s->profiling = options->profiling;
  s->no_fallback = options->no_fallback;
  halo_status st = create_session(s, options, &err);
  if (st != HALO_OK) {
    set_error(error, &err);
    halo_session_destroy(s);
    return st;
  }
  *out = s;
  return HALO_OK;
}

void halo_session_destroy(halo_session *s) {
  if (!s) return;
  release_placement(s);
  if (s->io) s->devices[HOST_DEVICE]->vt->buffer_free(s->devices[HOST_DEVICE], s->io);
  halo_registry_destroy_devices(s->devices, s->n_devices);
  free(s->io_offset);
  free(s->device_allowed);
  free(s->preference);
  free(s->inputs);
  free(s->outputs);
  halo_profile_free(&s->profile);
  free(s->entries);
  free(s);
}

/* ---- fallback ------------------------------------------------------------ */

/* Appends to the notice what moved where: "usbtpu0 is gone (why): its 31
 * nodes now run on cpu". `old` is the placement before the move. */
static void note_move(halo_session *s, const halo_session *old, int gone, const char *cause) {
  const halo_graph *src = s->model->graph;
  int32_t *now_on = calloc((size_t)src->n_nodes + 1, sizeof *now_on);
  bool *target = calloc((size_t)s->n_devices, sizeof *target);
  for (int i = 0; now_on && i < s->graph->n_nodes; i++)
    if (s->node_source[i] >= 0) now_on[s->node_source[i]] = s->node_device[i];
  int moved = 0;
  for (int i = 0; i < old->graph->n_nodes; i++) {
    if (old->node_device[i] != gone || old->node_source[i] < 0) continue;
    moved++;
    if (now_on && target) target[now_on[old->node_source[i]]] = true;
  }
  char where[160] = "";
  size_t used = 0;
  for (int k = 0; target && now_on && k < s->n_preference; k++) {
    if (!target[s->preference[k]]) continue;
    int n = snprintf(where + used, sizeof where - used, "%s%s", used ? ", " : "",
                     s->devices[s->preference[k]]->name);
    if (n < 0 || (size_t)n >= sizeof where - used) break;
    used += (size_t)n;
  }
  free(now_on);
  free(target);
  size_t len = strlen(s->notice);
  snprintf(s->notice + len, sizeof s->notice - len,
           "%s%s is gone (%.300s): its %d node%s now run%s on %s", len ? "; " : "",
           s->devices[gone]->name, cause, moved, moved == 1 ? "" : "s", moved == 1 ? "s" : "",
           used ? where : "the remaining devices");
}

/* Device `gone` went away during an invoke (its run said HALO_ENODEV, with
 * the message in *err): places the whole model again on the remaining
 * allowed devices, with the same placer as creation, and frees the old
 * placement. The model's inputs stay in the io buffer, and the caller's
 * halo_tensor views are re-pointed. On failure (no remaining device runs
 * some node) the session keeps its placement, device included, so a later
 * invoke tries the device again, and *err says both what went away and
 * why its nodes could not move. */
static halo_status fall_back(halo_session *s, int gone, halo_err *err) {
  char cause[sizeof err->msg];
  snprintf(cause, sizeof cause, "%s", err->msg);
  int at = 0;
  while (at < s->n_preference && s->preference[at] != gone) at++;
  if (at == s->n_preference) return err->code; /* it never ran nodes: nothing to move */
  memmove(&s->preference[at], &s->preference[at + 1],
          (size_t)(s->n_preference - at - 1) * sizeof *s->preference);
  s->n_preference--;
  s->device_allowed[gone] = false;
  /* The old placement stays whole, owned by this copy, until the new one
   * works; between here and the end nothing else of the session changes. */
  halo_session old = *s;
  forget_placement(s);
  halo_err why;
  halo_err_clear(&why);
  halo_status st = place_and_prepare(s, &why);
  if (st != HALO_OK) {
    release_placement(s);
    *s = old;
    memmove(&s->preference[at + 1], &s->preference[at],
            (size_t)(s->n_preference - at) * sizeof *s->preference);
    s->preference[at] = gone;
    s->n_preference++;
    s->device_allowed[gone] = true;
    /* The device being gone stays the cause the caller acts on. */
    return halo_err_set(err, st == HALO_EUNSUPPORTED ? HALO_ENODEV : st,
                        "%s is gone (%.200s), and its nodes cannot move: %.250s",
                        s->devices[gone]->name, cause, why.msg);
  }
  point_io_tensors(s);
  note_move(s, &old, gone, cause);
  release_placement(&old);
  return HALO_OK;
}

/* ---- invoke -------------------------------------------------------------- */

/* A COPY node: moves a tensor between two devices' arenas, through host
 * memory when neither side maps its buffer. */
static halo_status run_copy(halo_session *s, int32_t node, halo_err *err) {
  const halo_node *n = &s->graph->nodes[node];
  int32_t from = n->inputs[0], to = n->outputs[0];
  const halo_binding *src = &s->bindings[from], *dst = &s->bindings[to];
  size_t size = halo_desc_bytes(&s->graph->tensors[from].desc);
  halo_device *sd = src->buffer->device, *dd = dst->buffer->device;
  if (src->buffer->host && dst->buffer->host) {
    memcpy((unsigned char *)dst->buffer->host + dst->offset,
           (const unsigned char *)src->buffer->host + src->offset, size);
    return HALO_OK;
  }
  if (src->buffer->host)
    return dd->vt->buffer_write(dd, dst->buffer, dst->offset,
                                (const unsigned char *)src->buffer->host + src->offset, size, err);
  if (dst->buffer->host)
    return sd->vt->buffer_read(sd, src->buffer, src->offset,
                               (unsigned char *)dst->buffer->host + dst->offset, size, err);
  void *tmp = malloc(size ? size : 1);
  if (!tmp) return halo_err_set(err, HALO_ENOMEM, "out of memory copying %zu bytes", size);
  halo_status st = sd->vt->buffer_read(sd, src->buffer, src->offset, tmp, size, err);
  if (st == HALO_OK) st = dd->vt->buffer_write(dd, dst->buffer, dst->offset, tmp, size, err);
  free(tmp);
  return st;
}

static void fill_profile_entries(halo_session *s, int64_t t0) {
  s->n_entries = 0;
  halo_profile_entry *e = realloc(s->entries, ((size_t)s->profile.count + 1) * sizeof *e);
  if (!e) return;
  s->entries = e;
  for (int i = 0; i < s->profile.count; i++) {
    const halo_profile_event *ev = &s->profile.events[i];
    s->entries[s->n_entries++] =
        (halo_profile_entry){ev->node, ev->op, ev->device, ev->start_ns - t0, ev->duration_ns};
  }
}

/* Runs every step once, in order. When a partition fails, *failed says
 * on which device. */
static halo_status run_steps(halo_session *s, halo_profile *prof, int *failed, halo_err *err) {
  halo_status st = HALO_OK;
  for (int i = 0; i < s->n_steps && st == HALO_OK; i++) {
    session_step *step = &s->steps[i];
    if (step->kind == SESSION_STEP_PARTITION) {
      halo_device *dev = s->devices[step->device];
      st = dev->vt->run(step->exec, s->bindings, prof, err);
      if (st != HALO_OK) *failed = step->device;
    } else {
      int64_t c0 = prof ? halo_now_ns() : 0;
      st = run_copy(s, step->copy_node, err);
      if (prof)
        halo_profile_add(prof, step->copy_node, "COPY", s->devices[step->device]->name, c0,
                         halo_now_ns() - c0);
    }
  }
  return st;
}

halo_status halo_session_invoke(halo_session *s) {
  if (!s) return HALO_EINVAL;
  halo_err err;
  halo_err_clear(&err);
  halo_profile *prof = s->profiling ? &s->profile : NULL;
  s->notice[0] = '\0';
  halo_status st;
  int64_t t0;
  /* A device that went away: place its nodes elsewhere and run the whole
   * invoke again. Every pass drops one device, so this ends. */
  for (;;) {
    halo_profile_reset(prof);
    t0 = halo_now_ns();
    int failed = -1;
    st = run_steps(s, prof, &failed, &err);
    if (st != HALO_ENODEV || s->no_fallback || failed == -1 || failed == HOST_DEVICE) break;
    st = fall_back(s, failed, &err);
    if (st != HALO_OK) break;
  }
  if (prof) fill_profile_entries(s, t0);
  snprintf(s->error, sizeof s->error, "%s", st == HALO_OK ? "" : err.msg);
  return st;
}

const char *halo_session_error(const halo_session *s) { return s ? s->error : "NULL session"; }

/* ---- tensors ------------------------------------------------------------- */

int halo_session_input_count(const halo_session *s) { return s ? s->graph->n_inputs : 0; }
int halo_session_output_count(const halo_session *s) { return s ? s->graph->n_outputs : 0; }

halo_tensor *halo_session_input(halo_session *s, int i) {
  return s && i >= 0 && i < s->graph->n_inputs ? &s->inputs[i] : NULL;
}

const halo_tensor *halo_session_output(const halo_session *s, int i) {
  return s && i >= 0 && i < s->graph->n_outputs ? &s->outputs[i] : NULL;
}

halo_tensor *halo_session_input_by_name(halo_session *s, const char *name) {
  if (!s || !name) return NULL;
  for (int i = 0; i < s->graph->n_inputs; i++)
    if (strcmp(s->graph->tensors[s->inputs[i].index].name, name) == 0) return &s->inputs[i];
  return NULL;
}

const halo_tensor *halo_session_output_by_name(const halo_session *s, const char *name) {
  if (!s || !name) return NULL;
  for (int i = 0; i < s->graph->n_outputs; i++)
    if (strcmp(s->graph->tensors[s->outputs[i].index].name, name) == 0) return &s->outputs[i];
  return NULL;
}

static const halo_graph_tensor *gt(const halo_tensor *t) {
  return &t->session->graph->tensors[t->index];
}

const char *halo_tensor_name(const halo_tensor *t) { return t ? gt(t)->name : ""; }
halo_dtype halo_tensor_dtype(const halo_tensor *t) {
  return t ? gt(t)->desc.dtype : HALO_DTYPE_UNKNOWN;
}
int halo_tensor_rank(const halo_tensor *t) { return t ? gt(t)->desc.rank : 0; }
int32_t halo_tensor_dim(const halo_tensor *t, int dim) {
  if (!t || dim < 0 || dim >= gt(t)->desc.rank) return 0;
  return gt(t)->desc.dims[dim];
}
size_t halo_tensor_byte_size(const halo_tensor *t) { return t ? halo_desc_bytes(&gt(t)->desc) : 0; }

int halo_tensor_quantization(const halo_tensor *t, float *scale, int32_t *zero_point) {
  if (!t || gt(t)->desc.quant.count != 1) return 0;
  if (scale) *scale = gt(t)->desc.quant.scale[0];
  if (zero_point) *zero_point = (int32_t)gt(t)->desc.quant.zero_point[0];
  return 1;
}

void *halo_tensor_data(halo_tensor *t) {
  if (!t) return NULL;
  const halo_binding *b = &t->session->bindings[t->index];
  return b->buffer && b->buffer->host ? (unsigned char *)b->buffer->host + b->offset : NULL;
}

const void *halo_tensor_data_const(const halo_tensor *t) {
  return halo_tensor_data((halo_tensor *)t);
}

halo_status halo_tensor_copy_from(halo_tensor *t, const void *data, size_t size) {
  if (!t || (!data && size)) return HALO_EINVAL;
  if (size != halo_tensor_byte_size(t)) {
    snprintf(t->session->error, sizeof t->session->error,
             "input '%s' holds %zu bytes, %zu were given", halo_tensor_name(t),
             halo_tensor_byte_size(t), size);
    return HALO_EINVAL;
  }
  if (size) memcpy(halo_tensor_data(t), data, size);
  return HALO_OK;
}

halo_status halo_tensor_copy_to(const halo_tensor *t, void *data, size_t size) {
  if (!t || (!data && size)) return HALO_EINVAL;
  if (size != halo_tensor_byte_size(t)) {
    snprintf(t->session->error, sizeof t->session->error,
             "output '%s' holds %zu bytes, a buffer of %zu was given", halo_tensor_name(t),
             halo_tensor_byte_size(t), size);
    return HALO_EINVAL;
  }
  if (size) memcpy(data, halo_tensor_data_const(t), size);
  return HALO_OK;
}

/* ---- profile, placement -------------------------------------------------- */

int halo_session_profile_count(const halo_session *s) { return s ? s->n_entries : 0; }

const halo_profile_entry *halo_session_profile_entry(const halo_session *s, int i) {
  return s && i >= 0 && i < s->n_entries ? &s->entries[i] : NULL;
}

int halo_session_node_count(const halo_session *s) { return s ? s->graph->n_nodes : 0; }

halo_status halo_session_node_info(const halo_session *s, int node, const char **op,
                                   const char **device, const char **reason) {
  if (!s || node < 0 || node >= s->graph->n_nodes) return HALO_EINVAL;
  const halo_node *n = &s->graph->nodes[node];
  if (op) *op = halo_op_name(n->op);
  if (device) *device = s->devices[s->node_device[node]]->name;
  if (reason) *reason = s->node_reason[node];
  return HALO_OK;
}

int halo_session_partition_count(const halo_session *s) {
  int n = 0;
  for (int i = 0; s && i < s->n_steps; i++) n += s->steps[i].kind == SESSION_STEP_PARTITION;
  return n;
}

halo_status halo_session_partition_info(const halo_session *s, int index, const char **device,
                                        int *first_node, int *n_nodes, const char **note) {
  for (int i = 0, k = 0; s && index >= 0 && i < s->n_steps; i++) {
    const session_step *step = &s->steps[i];
    if (step->kind != SESSION_STEP_PARTITION || k++ != index) continue;
    if (device) *device = s->devices[step->device]->name;
    if (first_node) *first_node = step->part.nodes[0];
    if (n_nodes) *n_nodes = step->part.n_nodes;
    if (note) *note = s->partition_note[i];
    return HALO_OK;
  }
  return HALO_EINVAL;
}

const char *halo_session_notice(const halo_session *s) { return s ? s->notice : ""; }

size_t halo_session_arena_bytes(const halo_session *s) {
  if (!s || !s->arena_bytes) return 0;
  size_t total = s->io_bytes;
  for (int d = 0; d < s->n_devices; d++) total += s->arena_bytes[d];
  return total;
}
