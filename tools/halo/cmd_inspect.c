/* halo inspect: a model's inputs and outputs, the execution graph node by
 * node with the device each node landed on (and why preferred devices
 * declined it), a placement summary and the planned arena size.
 *
 * Shapes come from the session internals (runtime/session.h): the public API
 * covers inputs and outputs only. When no session can be made because some
 * node has no allowed device, inspect still shows the model's graph and asks
 * every device about every node itself, so the output says exactly which
 * operators are missing where; that is the question people run inspect to
 * answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/graph.h"
#include "hal/op_check.h"
#include "hal/registry.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "tools/halo/cli.h"

enum { REASON_SIZE = 512 };

/* Where one node of the shown graph runs. */
typedef struct node_placement {
  const char *device; /* NULL: no allowed device runs it */
  const char *reason; /* why preferred devices declined, or NULL */
} node_placement;

static const cli_option inspect_options[] = {
    {"--devices", "LIST", false,
     "comma-separated device names or kinds to place nodes on, in order of\n"
     "preference (default: every device, accelerators first, CPU last)"},
    {NULL, NULL, false, NULL},
};

static const char *node_op_name(const halo_node *n) {
  /* Ops halo does not know keep the name the file gave them. */
  if (n->op == HALO_OP_INVALID && n->source_op && n->source_op[0]) return n->source_op;
  return halo_op_name(n->op);
}

static void print_quant(const halo_quant *q) {
  if (q->count == 0)
    printf("-");
  else if (q->count == 1)
    printf("scale=%g zero_point=%lld", (double)q->scale[0], (long long)q->zero_point[0]);
  else
    printf("per-channel: %d scales on axis %d", q->count, q->axis);
}

static void print_io_section(const char *title, const halo_graph *g, const int32_t *list, int n) {
  printf("%s (%d):\n", title, n);
  int name_w = 4;
  for (int i = 0; i < n; i++) {
    int len = (int)strlen(g->tensors[list[i]].name);
    if (len > name_w) name_w = len;
  }
  printf("  %-3s %-*s  %-8s %-16s %s\n", "#", name_w, "name", "dtype", "shape", "quantization");
  for (int i = 0; i < n; i++) {
    const halo_graph_tensor *t = &g->tensors[list[i]];
    char shape[96];
    halo_desc_shape_str(&t->desc, shape, sizeof shape);
    printf("  %-3d %-*s  %-8s %-16s ", i, name_w, t->name, halo_dtype_name(t->desc.dtype), shape);
    print_quant(&t->desc.quant);
    printf("\n");
  }
}

/* "float32[1x96x96x3]", "const int8[8x3x3x1]", "-" for an absent input. */
static void print_tensor_ref(const halo_graph *g, int32_t index) {
  if (index == HALO_NO_TENSOR || index < 0 || index >= g->n_tensors) {
    printf("-");
    return;
  }
  const halo_graph_tensor *t = &g->tensors[index];
  char shape[96];
  halo_desc_shape_str(&t->desc, shape, sizeof shape);
  printf("%s%s[%s]", halo_tensor_is_const(t) ? "const " : "", halo_dtype_name(t->desc.dtype),
         shape);
}

static void print_nodes(const halo_graph *g, const node_placement *placement) {
  int op_w = 2, dev_w = 6;
  for (int i = 0; i < g->n_nodes; i++) {
    int len = (int)strlen(node_op_name(&g->nodes[i]));
    if (len > op_w) op_w = len;
    if (placement[i].device && (int)strlen(placement[i].device) > dev_w)
      dev_w = (int)strlen(placement[i].device);
  }
  printf("Execution graph (%d nodes, in execution order):\n", g->n_nodes);
  printf("  %-4s %-*s  %-*s  %-9s %s\n", "#", op_w, "op", dev_w, "device", "model op",
         "inputs -> outputs");
  for (int i = 0; i < g->n_nodes; i++) {
    const halo_node *n = &g->nodes[i];
    char source[16];
    if (n->source_index >= 0)
      snprintf(source, sizeof source, "%d", (int)n->source_index);
    else
      snprintf(source, sizeof source, "-");
    printf("  %-4d %-*s  %-*s  %-9s ", i, op_w, node_op_name(n), dev_w,
           placement[i].device ? placement[i].device : "(none)", source);
    for (int k = 0; k < n->n_inputs; k++) {
      if (k) printf(", ");
      print_tensor_ref(g, n->inputs[k]);
    }
    printf(" -> ");
    for (int k = 0; k < n->n_outputs; k++) {
      if (k) printf(", ");
      print_tensor_ref(g, n->outputs[k]);
    }
    printf("\n");
    if (placement[i].reason) {
      printf("  %-4s %s: %s\n", "", placement[i].device ? "declined" : "unplaced",
             placement[i].reason);
    }
  }
}

/* "cpu 30, vulkan0 12" over non-COPY nodes, plus the COPY count. */
static void print_placement_summary(const halo_graph *g, const node_placement *placement) {
  const char *names[64];
  int counts[64];
  int n_names = 0, copies = 0, unplaced = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].op == HALO_OP_COPY) {
      copies++;
      continue;
    }
    if (!placement[i].device) {
      unplaced++;
      continue;
    }
    int k = 0;
    while (k < n_names && strcmp(names[k], placement[i].device) != 0) k++;
    if (k == n_names) {
      if (n_names == 64) continue;
      names[n_names] = placement[i].device;
      counts[n_names++] = 0;
    }
    counts[k]++;
  }
  printf("Placement: ");
  for (int k = 0; k < n_names; k++)
    printf("%s%s %d node%s", k ? ", " : "", names[k], counts[k], counts[k] == 1 ? "" : "s");
  if (unplaced) printf("%s%d node%s on no device", n_names ? ", " : "", unplaced, unplaced == 1 ? "" : "s");
  printf("; COPY nodes: %d\n", copies);
}

static void print_arena(size_t bytes) {
  printf("Activation arena: %zu bytes (%.1f KiB)\n", bytes, (double)bytes / 1024.0);
}

/* ---- with a session ------------------------------------------------------ */

/* One line per partition (a run of nodes one device prepares as a whole),
 * with the device's note on how it runs (streamed parameters, ...). */
static void print_partitions(const halo_session *s) {
  int n = halo_session_partition_count(s);
  int dev_w = 6;
  for (int i = 0; i < n; i++) {
    const char *dev = NULL;
    if (halo_session_partition_info(s, i, &dev, NULL, NULL, NULL) == HALO_OK &&
        (int)strlen(dev) > dev_w)
      dev_w = (int)strlen(dev);
  }
  printf("Partitions (%d):\n", n);
  printf("  %-4s %-*s  %-11s %-6s %s\n", "#", dev_w, "device", "nodes", "count", "note");
  for (int i = 0; i < n; i++) {
    const char *dev = NULL, *note = NULL;
    int first = 0, count = 0;
    if (halo_session_partition_info(s, i, &dev, &first, &count, &note) != HALO_OK) continue;
    char range[32];
    snprintf(range, sizeof range, "%d..%d", first, first + count - 1);
    if (note && *note)
      printf("  %-4d %-*s  %-11s %-6d %s\n", i, dev_w, dev, range, count, note);
    else
      printf("  %-4d %-*s  %-11s %d\n", i, dev_w, dev, range, count);
  }
}

static void inspect_session(const halo_session *s) {
  const halo_graph *g = s->graph;
  node_placement *placement = calloc((size_t)g->n_nodes + 1, sizeof *placement);
  if (!placement) {
    cli_error(&cli_cmd_inspect, "out of memory");
    return;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const char *op = NULL;
    halo_session_node_info(s, i, &op, &placement[i].device, &placement[i].reason);
  }
  printf("Devices (in order of preference): ");
  for (int k = 0; k < s->n_preference; k++)
    printf("%s%s", k ? ", " : "", s->devices[s->preference[k]]->name);
  printf("\n\n");
  print_io_section("Inputs", g, g->inputs, g->n_inputs);
  printf("\n");
  print_io_section("Outputs", g, g->outputs, g->n_outputs);
  printf("\n");
  print_nodes(g, placement);
  printf("\n");
  print_placement_summary(g, placement);
  print_arena(halo_session_arena_bytes(s));
  printf("\n");
  print_partitions(s);
  free(placement);
}

/* ---- without one --------------------------------------------------------- */

static bool device_matches(const halo_device *dev, const char *want, size_t len) {
  return (strlen(dev->kind) == len && strncmp(dev->kind, want, len) == 0) ||
         (strlen(dev->name) == len && strncmp(dev->name, want, len) == 0);
}

/* The allowed devices in the order the session would try them (the same
 * rule as the session: the listed order, or accelerators first then the
 * CPU). Returns the count written to order[]. */
static int preference_order(halo_device **devices, int n_devices, const char *list, int *order) {
  int n = 0;
  if (!list || !*list) {
    for (int d = 1; d < n_devices; d++) order[n++] = d;
    if (n_devices > 0) order[n++] = 0;
    return n;
  }
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ",");
    for (int d = 0; d < n_devices; d++) {
      if (!device_matches(devices[d], p, len)) continue;
      bool seen = false;
      for (int k = 0; k < n; k++) seen = seen || order[k] == d;
      if (!seen) order[n++] = d;
    }
    p += len;
    if (*p == ',') p++;
  }
  return n;
}

static int inspect_unplaced(const halo_model *model, const char *device_list) {
  const halo_graph *g = model->graph;
  halo_device **devices = NULL;
  int n_devices = 0;
  halo_err err;
  halo_err_clear(&err);
  if (halo_registry_create_devices(&devices, &n_devices, NULL, 0, &err) != HALO_OK) {
    cli_error(&cli_cmd_inspect, "%s", err.msg);
    return CLI_FAILURE;
  }
  int *order = calloc((size_t)n_devices + 1, sizeof *order);
  node_placement *placement = calloc((size_t)g->n_nodes + 1, sizeof *placement);
  char *reasons = calloc((size_t)g->n_nodes + 1, REASON_SIZE);
  if (!order || !placement || !reasons) {
    cli_error(&cli_cmd_inspect, "out of memory");
    free(order);
    free(placement);
    free(reasons);
    halo_registry_destroy_devices(devices, n_devices);
    return CLI_FAILURE;
  }
  int n_order = preference_order(devices, n_devices, device_list, order);
  printf("Devices (in order of preference): ");
  for (int k = 0; k < n_order; k++) printf("%s%s", k ? ", " : "", devices[order[k]]->name);
  printf("\n\n");

  for (int i = 0; i < g->n_nodes; i++) {
    char *reason = reasons + (size_t)i * REASON_SIZE;
    size_t used = 0;
    halo_err_clear(&err);
    if (halo_node_validate(g, i, &err) != HALO_OK) {
      snprintf(reason, REASON_SIZE, "%s", err.msg);
      placement[i].reason = reason;
      continue;
    }
    for (int k = 0; k < n_order; k++) {
      halo_device *dev = devices[order[k]];
      char why[160] = "";
      if (dev->vt->supports(dev, g, i, why, sizeof why)) {
        placement[i].device = dev->name;
        break;
      }
      int w = snprintf(reason + used, REASON_SIZE - used, "%s%s: %s", used ? "; " : "", dev->name,
                       why[0] ? why : "not supported");
      if (w > 0) used = used + (size_t)w < REASON_SIZE ? used + (size_t)w : REASON_SIZE - 1;
    }
    if (used) placement[i].reason = reason;
  }
  print_io_section("Inputs", g, g->inputs, g->n_inputs);
  printf("\n");
  print_io_section("Outputs", g, g->outputs, g->n_outputs);
  printf("\n");
  print_nodes(g, placement);
  printf("\n");
  print_placement_summary(g, placement);
  printf("Activation arena: not planned (the model cannot be placed on these devices)\n");
  free(order);
  free(placement);
  free(reasons);
  halo_registry_destroy_devices(devices, n_devices);
  return CLI_OK;
}

static int inspect_main(const cli_command *cmd, int argc, char **argv) {
  cli_args args;
  int rc = cli_parse_args(cmd, argc, argv, &args);
  if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
  const char *path = NULL;
  rc = cli_model_path(cmd, &args, &path);
  if (rc != CLI_OK) {
    cli_args_free(&args);
    return rc;
  }
  const char *device_list = cli_last_value(&args, "--devices");

  halo_model *model = NULL;
  rc = cli_load_model(cmd, path, &model);
  if (rc != CLI_OK) {
    cli_args_free(&args);
    return rc;
  }
  halo_options options;
  halo_options_init(&options);
  options.devices = device_list;
  halo_session *session = NULL;
  halo_error err = {{0}};
  halo_status status = halo_session_create(model, &options, &session, &err);

  printf("Model: %s (%zu bytes, %d tensors, %d operators)\n", path, model->size,
         model->graph->n_tensors, model->graph->n_nodes);
  if (status == HALO_OK) {
    inspect_session(session);
    rc = CLI_OK;
  } else if (status == HALO_EUNSUPPORTED || status == HALO_EFORMAT) {
    /* Show what can be shown, then say why it cannot run. */
    rc = inspect_unplaced(model, device_list);
    printf("Placement failed: %s\n", err.message);
    fflush(stdout);
    if (rc == CLI_OK && status == HALO_EUNSUPPORTED) {
      cli_note(cmd, "%s cannot run on these devices: %s", path, err.message);
    } else {
      cli_error(cmd, "%s: %s", path, err.message);
      rc = CLI_FAILURE;
    }
  } else {
    fflush(stdout);
    cli_error(cmd, "%s: %s", path, err.message[0] ? err.message : halo_status_name(status));
    rc = CLI_FAILURE;
  }
  halo_session_destroy(session);
  halo_model_free(model);
  cli_args_free(&args);
  return rc;
}

const cli_command cli_cmd_inspect = {
    .name = "inspect",
    .summary = "show a model's inputs, outputs, graph and placement",
    .usage = "halo inspect MODEL [--devices LIST]",
    .description =
        "Loads MODEL (.tflite), places it on the allowed devices and shows:\n"
        "  - inputs and outputs: index, name, dtype, shape, quantization;\n"
        "  - every node of the execution graph in order: index, op, device, the\n"
        "    operator index in the model file, input and output dtypes and shapes\n"
        "    ('const' marks weights), and the reason any preferred device declined it;\n"
        "  - a placement summary (nodes per device, COPY nodes between devices) and\n"
        "    the planned activation arena size;\n"
        "  - the partitions: device, node range and count, and the device's note on\n"
        "    how each runs (e.g. USB accelerator parameters cached or streamed).\n"
        "When some operator has no allowed device, the graph is still shown with the\n"
        "reasons, and a note on stderr says the model cannot run (exit code 0).",
    .options = inspect_options,
    .examples = "  halo inspect person_detect.tflite\n"
                "  halo inspect face_detection_short_range.tflite --devices vulkan,cpu",
    .main = inspect_main,
};
