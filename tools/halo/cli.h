/* The halo command-line tool: what the subcommands share. Private to
 * tools/halo/.
 *
 * Exit codes: 0 success, 1 a runtime failure (a file that cannot be read,
 * a model that does not load or run), 2 a usage error (unknown command or
 * option, missing or malformed argument). Every failure prints exactly one
 * line on stderr: "halo: COMMAND: what went wrong". */
#ifndef TOOLS_HALO_CLI_H
#define TOOLS_HALO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "halo/halo.h"

#ifndef HALO_VERSION
#define HALO_VERSION "0.1.0"
#endif

enum { CLI_OK = 0, CLI_FAILURE = 1, CLI_USAGE = 2 };

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* ---- commands and their options ------------------------------------------ */

typedef struct cli_option {
  const char *name;        /* "--runs" */
  const char *value_name;  /* "N", or NULL for a flag */
  bool repeatable;         /* may be given more than once */
  const char *help;
} cli_option;

typedef struct cli_command {
  const char *name;
  const char *summary;     /* one line for `halo --help` */
  const char *usage;       /* "halo run MODEL [options]" */
  const char *description; /* a paragraph, may hold newlines */
  const cli_option *options; /* ended by {NULL} */
  const char *examples;    /* one or more lines */
  int (*main)(const struct cli_command *cmd, int argc, char **argv);
} cli_command;

extern const cli_command cli_cmd_devices;
extern const cli_command cli_cmd_inspect;
extern const cli_command cli_cmd_run;
extern const cli_command cli_cmd_bench;
extern const cli_command cli_cmd_ops;
extern const cli_command cli_cmd_doctor;

/* One option occurrence, in command-line order. */
typedef struct cli_arg {
  const cli_option *option;
  const char *value; /* NULL for flags */
} cli_arg;

typedef struct cli_args {
  cli_arg *options;
  int n_options;
  char **positional;
  int n_positional;
} cli_args;

/* Parses argv (argv[0] is the command name) against cmd->options. Accepts
 * "--name value", "--name=value", "-h"/"--help" and "--" (everything after
 * it is positional). Returns -1 after printing the help (the caller exits
 * 0), CLI_USAGE after printing the error, CLI_OK otherwise. Free with
 * cli_args_free. */
int cli_parse_args(const cli_command *cmd, int argc, char **argv, cli_args *out);
void cli_args_free(cli_args *args);
/* For commands that take no positional argument: CLI_OK, or CLI_USAGE
 * after printing the error and freeing *args. */
int cli_expect_no_positional(const cli_command *cmd, cli_args *args);

/* Value of the last occurrence of `name`, or NULL. */
const char *cli_last_value(const cli_args *args, const char *name);
bool cli_has_flag(const cli_args *args, const char *name);

/* Parses an integer option value in [min, max]; prints a usage error and
 * returns false when it is not one. */
bool cli_parse_int(const cli_command *cmd, const char *option, const char *text, long min,
                   long max, long *out);

void cli_print_help(const cli_command *cmd);

/* ---- messages ------------------------------------------------------------ */

/* "halo: COMMAND: message" on stderr. */
void cli_error(const cli_command *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Same, plus "(see 'halo COMMAND --help')"; returns CLI_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* "halo: COMMAND: note: message" on stderr, for things the user should know
 * but that are not failures (inputs filled with zeros). */
void cli_note(const cli_command *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/* ---- models and sessions ------------------------------------------------- */

/* The one positional argument, MODEL, of the commands that take a model:
 * sets *path and returns CLI_OK, or prints "missing MODEL" / "unexpected
 * argument" and returns CLI_USAGE. */
int cli_model_path(const cli_command *cmd, const cli_args *args, const char **path);

/* Session options from --devices, --threads (0 to 1024) and --no-fallback
 * on top of halo_options_init's defaults. Returns CLI_OK, or CLI_USAGE after
 * saying what is wrong with --threads. */
int cli_session_options(const cli_command *cmd, const cli_args *args, halo_options *options);

/* The help of --no-fallback, shared by the commands that invoke. */
#define CLI_NO_FALLBACK_HELP                                             \
  "fail when a device goes away during an invoke (an unplugged USB\n"     \
  "accelerator) instead of moving its nodes to the next listed device\n"  \
  "(the CPU); by default they move and a note says so"

/* After an invoke: the session's notice (a device that went away and where
 * its nodes went), as a note on stderr, when there is one. */
void cli_print_session_notice(const cli_command *cmd, const halo_session *session);

/* Checks the file can be opened (for a clear "cannot open" message), then
 * loads it. Prints the error and returns CLI_FAILURE on failure. */
int cli_load_model(const cli_command *cmd, const char *path, halo_model **out);

/* Creates a session; prints "halo: CMD: MODEL: reason" on failure and
 * returns CLI_FAILURE. */
int cli_create_session(const cli_command *cmd, const char *model_path, const halo_model *model,
                       const halo_options *options, halo_session **out);

/* ---- tensors and values -------------------------------------------------- */

/* "1x96x96x1" ("scalar" for rank 0). */
const char *cli_tensor_shape(const halo_tensor *tensor, char *buf, size_t size);
/* Same for int64 dims (from .npy files). */
const char *cli_dims_shape(const int64_t *dims, int rank, char *buf, size_t size);

/* Element i of a buffer of `dtype` as a double (float16 converted). */
double cli_value_at(halo_dtype dtype, const void *data, size_t i);
/* Formats element i ("0.5", "-3", "true"). */
void cli_format_value(halo_dtype dtype, const void *data, size_t i, char *buf, size_t size);

/* Fills a buffer of n elements of `dtype` with a deterministic
 * pseudo-random pattern from `seed`: floats uniform in [-1, 1), integers
 * over their whole range (int32/int64 within +-2^15), bools 0/1. */
void cli_fill_pattern(halo_dtype dtype, void *data, size_t n, uint32_t seed);

/* True when the path ends in `ext` (".bmp"), in any case. */
bool cli_has_extension(const char *path, const char *ext);
/* True when the path ends in ".npy" (any case). */
bool cli_is_npy_path(const char *path);

/* ---- the per-op profile report (profile_report.c) ------------------------ */

/* Writes TFLite's Stat line for whole-microsecond samples:
 * "count=50 first=1763 curr=1611 min=1558 max=2035 avg=1575.88 std=67"
 * (population standard deviation, truncated as TFLite does). */
void cli_print_timing_stats(FILE *out, const int64_t *samples, int n);

typedef struct profile_report profile_report;

/* Collects per-node statistics over benchmark runs, the way TFLite's
 * profile summarizer does. `session` supplies node names (the first output
 * tensor's name) and must outlive the report. */
profile_report *profile_report_create(const halo_session *session);
void profile_report_destroy(profile_report *report);
/* Adds the profile of the session's last invoke as one run. False when out
 * of memory. */
bool profile_report_add_run(profile_report *report);
/* Prints the "Run Order", "Top by Computation Time" and "Summary by node
 * type" tables in benchmark_model's layout, plus a [device] column. */
void profile_report_print(const profile_report *report, FILE *out);

#endif
