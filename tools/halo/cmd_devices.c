/* halo devices: what this machine offers. */
#include <stdio.h>
#include <string.h>

#include "tools/halo/cli.h"

static const cli_option devices_options[] = {{NULL, NULL, false, NULL}};

static int devices_main(const cli_command *cmd, int argc, char **argv) {
  cli_args args;
  int rc = cli_parse_args(cmd, argc, argv, &args);
  if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
  if ((rc = cli_expect_no_positional(cmd, &args)) != CLI_OK) return rc;
  cli_args_free(&args);

  int count = halo_device_count();
  if (count <= 0) {
    cli_error(cmd, "no devices found (not even the CPU: the device registry failed)");
    return CLI_FAILURE;
  }
  /* Column widths from the data, so long names (usbtpu10) stay aligned. */
  int name_w = (int)strlen("NAME"), kind_w = (int)strlen("KIND");
  for (int i = 0; i < count; i++) {
    const char *name = "", *kind = "";
    if (halo_device_info(i, &name, &kind, NULL) != HALO_OK) continue;
    if ((int)strlen(name) > name_w) name_w = (int)strlen(name);
    if ((int)strlen(kind) > kind_w) kind_w = (int)strlen(kind);
  }
  printf("%-*s  %-*s  %s\n", name_w, "NAME", kind_w, "KIND", "DESCRIPTION");
  for (int i = 0; i < count; i++) {
    const char *name = "?", *kind = "?", *description = "";
    if (halo_device_info(i, &name, &kind, &description) != HALO_OK) continue;
    printf("%-*s  %-*s  %s\n", name_w, name, kind_w, kind, description);
  }
  printf("\n%d device%s. Pass names or kinds to --devices (e.g. --devices %s) to choose.\n", count,
         count == 1 ? "" : "s", count > 1 ? "vulkan,cpu" : "cpu");
  const char *problems = halo_device_problems();
  if (problems[0]) cli_note(cmd, "found but not usable: %s (`halo doctor` says more)", problems);
  return CLI_OK;
}

const cli_command cli_cmd_devices = {
    .name = "devices",
    .summary = "list the devices halo can use",
    .usage = "halo devices",
    .description =
        "Lists every device this process can see: its name (what --devices and profiles\n"
        "call it), its kind (cpu, vulkan, usbtpu) and a description (model, driver, link).",
    .options = devices_options,
    .examples = "  halo devices",
    .main = devices_main,
};
