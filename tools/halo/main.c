/* halo: the command-line tool. Dispatches to one subcommand per file
 * (cmd_*.c); shared plumbing lives in cli_common.c. */
#include <stdio.h>
#include <string.h>

#include "tools/halo/cli.h"

static const cli_command *const commands[] = {
    &cli_cmd_devices,
    &cli_cmd_inspect,
    &cli_cmd_run,
    &cli_cmd_bench,
    &cli_cmd_ops,
    &cli_cmd_doctor,
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void print_usage(FILE *out) {
  fprintf(out,
          "usage: halo [--help] [--version] COMMAND [ARGS]\n"
          "\n"
          "Runs TFLite vision models on the CPU, Vulkan GPUs and USB accelerators.\n"
          "\n"
          "commands:\n");
  for (int i = 0; i < N_COMMANDS; i++)
    fprintf(out, "  %-13s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(out,
          "  %-13s show a command's help\n"
          "\n"
          "options:\n"
          "  -h, --help     show this help and exit\n"
          "  --version      show the version and exit\n"
          "\n"
          "'halo COMMAND --help' shows a command's options and examples.\n"
          "\n"
          "example:\n"
          "  halo inspect model.tflite\n",
          "help COMMAND");
}

static const cli_command *find_command(const char *name) {
  for (int i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i]->name, name) == 0) return commands[i];
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_usage(stderr);
    return CLI_USAGE;
  }
  const char *first = argv[1];
  if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0) {
    print_usage(stdout);
    return CLI_OK;
  }
  if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
    printf("halo %s\n", HALO_VERSION);
    return CLI_OK;
  }
  if (strcmp(first, "help") == 0) {
    if (argc < 3) {
      print_usage(stdout);
      return CLI_OK;
    }
    const cli_command *cmd = find_command(argv[2]);
    if (!cmd) return cli_usage_error(NULL, "unknown command '%s'", argv[2]);
    cli_print_help(cmd);
    return CLI_OK;
  }
  if (first[0] == '-') return cli_usage_error(NULL, "unknown option '%s'", first);
  const cli_command *cmd = find_command(first);
  if (!cmd) return cli_usage_error(NULL, "unknown command '%s'", first);
  /* The command sees argv[0] == its own name, like a program of its own. */
  return cmd->main(cmd, argc - 1, argv + 1);
}
