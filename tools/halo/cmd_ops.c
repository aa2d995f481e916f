/* halo ops: which op runs on which device kind, for which dtypes. The
 * answer comes from the devices themselves (their op_dtypes entry), so
 * docs/ops.md, which embeds `halo ops --markdown`, follows the code. */
#include <stdio.h>
#include <string.h>

#include "hal/registry.h"
#include "tools/halo/cli.h"

static const cli_option ops_options[] = {
    {"--markdown", NULL, false, "print a Markdown table (what docs/ops.md embeds)"},
    {"--devices", "LIST", false, "only these device kinds, comma-separated (default: all present)"},
    {NULL, NULL, false, NULL},
};

/* Dtypes worth a column, in the order they are listed. */
static const halo_dtype listed[] = {HALO_FLOAT32, HALO_FLOAT16, HALO_INT8, HALO_UINT8,
                                    HALO_INT16,   HALO_INT32,   HALO_INT64, HALO_BOOL};

static void format_mask(uint32_t mask, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++) {
    if (!(mask & (1u << listed[i]))) continue;
    int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                     halo_dtype_name(listed[i]));
    if (n < 0 || (size_t)n >= size - used) break;
    used += (size_t)n;
  }
  if (!used) snprintf(buf, size, "-");
}

static bool kind_listed(const char *list, const char *kind) {
  size_t len = strlen(kind);
  for (const char *p = list; *p;) {
    size_t n = strcspn(p, ",");
    if (n == len && strncmp(p, kind, len) == 0) return true;
    p += n;
    if (*p == ',') p++;
  }
  return false;
}

static int ops_main(const cli_command *cmd, int argc, char **argv) {
  cli_args args;
  int rc = cli_parse_args(cmd, argc, argv, &args);
  if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
  bool markdown = cli_has_flag(&args, "--markdown");
  const char *only = cli_last_value(&args, "--devices");
  if ((rc = cli_expect_no_positional(cmd, &args)) != CLI_OK) return rc;
  cli_args_free(&args);

  halo_device **devices = NULL;
  int n = 0;
  halo_err err;
  if (halo_registry_create_devices(&devices, &n, NULL, 0, &err) != HALO_OK) {
    cli_error(cmd, "%s", err.msg);
    return CLI_FAILURE;
  }
  /* One column per device kind: devices of one kind share their op table. */
  int columns[16], n_columns = 0;
  for (int d = 0; d < n && n_columns < 16; d++) {
    if (only && !kind_listed(only, devices[d]->kind)) continue;
    bool seen = false;
    for (int c = 0; c < n_columns; c++)
      if (strcmp(devices[columns[c]]->kind, devices[d]->kind) == 0) seen = true;
    if (!seen) columns[n_columns++] = d;
  }
  if (n_columns == 0) {
    halo_registry_destroy_devices(devices, n);
    cli_error(cmd, "no device of kind '%s' is present", only ? only : "?");
    return CLI_FAILURE;
  }
  if (markdown) {
    printf("| op |");
    for (int c = 0; c < n_columns; c++) printf(" %s |", devices[columns[c]]->kind);
    printf("\n|---|");
    for (int c = 0; c < n_columns; c++) printf("---|");
    printf("\n");
  } else {
    printf("%-28s", "OP");
    for (int c = 0; c < n_columns; c++) printf("  %s", devices[columns[c]]->kind);
    printf("\n");
  }
  for (int op = HALO_OP_INVALID + 1; op < HALO_OP_COUNT; op++) {
    printf(markdown ? "| %s |" : "%-28s", halo_op_name((halo_op)op));
    for (int c = 0; c < n_columns; c++) {
      halo_device *dev = devices[columns[c]];
      char list[160];
      if (dev->vt->op_dtypes)
        format_mask(dev->vt->op_dtypes(dev, (halo_op)op), list, sizeof list);
      else
        snprintf(list, sizeof list, "(per node)");
      printf(markdown ? " %s |" : "  %s", list);
    }
    printf("\n");
  }
  halo_registry_destroy_devices(devices, n);
  return CLI_OK;
}

const cli_command cli_cmd_ops = {
    .name = "ops",
    .summary = "list every op and the dtypes each device kind runs it in",
    .usage = "halo ops [--markdown] [--devices LIST]",
    .description =
        "Lists every op halo knows (TFLite builtin names; custom ops by their custom\n"
        "code) and, for each device kind present, the dtypes of the op's data input it\n"
        "runs. A device may still decline a particular node (shape limits, memory);\n"
        "`halo inspect MODEL` says why for each node.",
    .options = ops_options,
    .examples = "  halo ops\n  halo ops --devices cpu --markdown > table.md",
    .main = ops_main,
};
