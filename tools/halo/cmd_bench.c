/* halo bench: time a model the way TFLite's benchmark_model does (warmup
 * runs, then timed runs summarised as count/first/curr/min/max/avg/std in
 * microseconds) and, with --profile, print its per-op tables. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/halo/cli.h"

enum { DEFAULT_RUNS = 50, DEFAULT_WARMUP = 1, MAX_RUNS = 1000000 };

/* Fixed so that every bench of a model sees the same inputs. */
static const uint32_t BENCH_SEED = 0x5eed1234u;

static const cli_option bench_options[] = {
    {"--runs", "N", false, "timed runs (default 50)"},
    {"--warmup", "N", false, "untimed runs before them (default 1)"},
    {"--threads", "N", false, "CPU worker threads (default 0: one per core)"},
    {"--devices", "LIST", false, "comma-separated device names or kinds, in order of preference"},
    {"--no-fallback", NULL, false, CLI_NO_FALLBACK_HELP},
    {"--profile", NULL, false,
     "print per-op tables as TFLite's benchmark_model does: Run Order,\n"
     "Top by Computation Time, Summary by node type (plus a [device] column)"},
    {"--csv", "FILE", false,
     "write every node of every timed run to FILE as CSV:\n"
     "run,node,op,device,start_us,duration_us (enables profiling)"},
    {NULL, NULL, false, NULL},
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fill_inputs(halo_session *session) {
  for (int i = 0; i < halo_session_input_count(session); i++) {
    halo_tensor *t = halo_session_input(session, i);
    size_t elem = halo_dtype_size(halo_tensor_dtype(t));
    void *data = halo_tensor_data(t);
    if (!data || !elem) continue;
    cli_fill_pattern(halo_tensor_dtype(t), data, halo_tensor_byte_size(t) / elem,
                     BENCH_SEED + (uint32_t)i * 0x9e3779b9u);
  }
}

/* The distinct devices nodes were placed on, in first-use order. */
static void print_devices_used(const halo_session *session) {
  const char *seen[32];
  int n_seen = 0;
  for (int i = 0; i < halo_session_node_count(session); i++) {
    const char *device = NULL;
    if (halo_session_node_info(session, i, NULL, &device, NULL) != HALO_OK || !device) continue;
    bool known = false;
    for (int k = 0; k < n_seen; k++) known = known || strcmp(seen[k], device) == 0;
    if (!known && n_seen < 32) seen[n_seen++] = device;
  }
  printf("Devices used: ");
  for (int k = 0; k < n_seen; k++) printf("%s%s", k ? ", " : "", seen[k]);
  printf("%s\n", n_seen ? "" : "(none: the model has no nodes)");
}

static void write_csv_rows(FILE *csv, const halo_session *session, int run) {
  for (int i = 0; i < halo_session_profile_count(session); i++) {
    const halo_profile_entry *e = halo_session_profile_entry(session, i);
    if (!e) continue;
    fprintf(csv, "%d,%d,%s,%s,%.3f,%.3f\n", run, e->node, e->op ? e->op : "",
            e->device ? e->device : "", (double)e->start_ns / 1e3, (double)e->duration_ns / 1e3);
  }
}

static int bench_main(const cli_command *cmd, int argc, char **argv) {
  cli_args args;
  int rc = cli_parse_args(cmd, argc, argv, &args);
  if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
  halo_model *model = NULL;
  halo_session *session = NULL;
  profile_report *report = NULL;
  int64_t *times_us = NULL;
  FILE *csv = NULL;
  const char *csv_path = cli_last_value(&args, "--csv");

  const char *path = NULL;
  rc = cli_model_path(cmd, &args, &path);
  if (rc != CLI_OK) goto done;
  long runs = DEFAULT_RUNS, warmup = DEFAULT_WARMUP;
  const char *text;
  if ((text = cli_last_value(&args, "--runs")) && !cli_parse_int(cmd, "--runs", text, 1, MAX_RUNS, &runs)) {
    rc = CLI_USAGE;
    goto done;
  }
  if ((text = cli_last_value(&args, "--warmup")) &&
      !cli_parse_int(cmd, "--warmup", text, 0, MAX_RUNS, &warmup)) {
    rc = CLI_USAGE;
    goto done;
  }
  halo_options options;
  rc = cli_session_options(cmd, &args, &options);
  if (rc != CLI_OK) goto done;
  bool show_profile = cli_has_flag(&args, "--profile");
  bool profiling = show_profile || csv_path;

  times_us = calloc((size_t)runs, sizeof *times_us);
  if (!times_us) {
    cli_error(cmd, "out of memory");
    rc = CLI_FAILURE;
    goto done;
  }
  int64_t t0 = now_ns();
  rc = cli_load_model(cmd, path, &model);
  if (rc != CLI_OK) goto done;
  int64_t t1 = now_ns();
  options.profiling = profiling;
  rc = cli_create_session(cmd, path, model, &options, &session);
  if (rc != CLI_OK) goto done;
  int64_t t2 = now_ns();
  if (csv_path) {
    /* Opened before the runs so a bad path fails in a second, not after. */
    csv = fopen(csv_path, "w");
    if (!csv) {
      cli_error(cmd, "cannot create '%s': %s", csv_path, strerror(errno));
      rc = CLI_FAILURE;
      goto done;
    }
    fprintf(csv, "run,node,op,device,start_us,duration_us\n");
  }
  if (profiling) {
    report = profile_report_create(session);
    if (!report) {
      cli_error(cmd, "out of memory");
      rc = CLI_FAILURE;
      goto done;
    }
  }
  fill_inputs(session);

  printf("Model: %s\n", path);
  print_devices_used(session);
  if (options.num_threads)
    printf("CPU threads: %d\n", options.num_threads);
  else
    printf("CPU threads: one per core\n");
  printf("Inputs: fixed pseudo-random pattern (seed 0x%08x)\n", (unsigned)BENCH_SEED);
  printf("Init: %.3f ms (load %.3f ms, session %.3f ms)\n", (double)(t2 - t0) / 1e6,
         (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6);

  double warmup_sum_us = 0.0, first_us = -1.0;
  for (long i = 0; i < warmup; i++) {
    int64_t s = now_ns();
    halo_status st = halo_session_invoke(session);
    double us = (double)(now_ns() - s) / 1e3;
    cli_print_session_notice(cmd, session);
    if (st != HALO_OK) {
      cli_error(cmd, "%s: invoke failed (warmup run %ld): %s", path, i + 1,
                halo_session_error(session));
      rc = CLI_FAILURE;
      goto done;
    }
    if (first_us < 0) first_us = us;
    warmup_sum_us += us;
  }
  printf("Running %ld timed run%s after %ld warmup run%s\n", runs, runs == 1 ? "" : "s", warmup,
         warmup == 1 ? "" : "s");
  fflush(stdout);
  double sum_us = 0.0;
  for (long i = 0; i < runs; i++) {
    int64_t s = now_ns();
    halo_status st = halo_session_invoke(session);
    int64_t elapsed = now_ns() - s;
    cli_print_session_notice(cmd, session);
    if (st != HALO_OK) {
      cli_error(cmd, "%s: invoke failed (run %ld): %s", path, i + 1, halo_session_error(session));
      rc = CLI_FAILURE;
      goto done;
    }
    /* Whole microseconds, as TFLite reports them. */
    times_us[i] = (elapsed + 500) / 1000;
    sum_us += (double)elapsed / 1e3;
    if (first_us < 0) first_us = (double)elapsed / 1e3;
    if (report && halo_session_notice(session)[0]) {
      /* A fallback placed the nodes anew: the profile starts over with
       * this run, so that its tables describe one placement. */
      profile_report_destroy(report);
      report = profile_report_create(session);
      cli_note(cmd, "the profile covers run %ld on, after the fallback", i + 1);
    }
    if (report && !profile_report_add_run(report)) {
      cli_error(cmd, "out of memory collecting the profile");
      rc = CLI_FAILURE;
      goto done;
    }
    if (csv) write_csv_rows(csv, session, (int)i);
  }

  printf("Timings (microseconds): ");
  cli_print_timing_stats(stdout, times_us, (int)runs);
  printf("\n");
  double avg_us = sum_us / (double)runs;
  printf("Inference timings in us: Init: %.0f, First inference: %.0f, Warmup (avg): %g, "
         "Inference (avg): %g\n",
         (double)(t2 - t0) / 1e3, first_us, warmup ? warmup_sum_us / (double)warmup : 0.0, avg_us);
  printf("Average inference: %.1f us (%.3f ms), %.1f inferences/s over %ld run%s\n", avg_us,
         avg_us / 1e3, avg_us > 0 ? 1e6 / avg_us : 0.0, runs, runs == 1 ? "" : "s");
  if (show_profile) {
    printf("\n");
    profile_report_print(report, stdout);
  }
  if (csv) {
    int failed = ferror(csv);
    if (fclose(csv) != 0 || failed) {
      csv = NULL;
      cli_error(cmd, "%s: write error (disk full?)", csv_path);
      rc = CLI_FAILURE;
      goto done;
    }
    csv = NULL;
    printf("Per-node CSV written to %s\n", csv_path);
  }
  rc = CLI_OK;
done:
  fflush(stdout);
  if (csv) fclose(csv);
  profile_report_destroy(report);
  free(times_us);
  halo_session_destroy(session);
  halo_model_free(model);
  cli_args_free(&args);
  return rc;
}

const cli_command cli_cmd_bench = {
    .name = "bench",
    .summary = "time a model and profile it per op",
    .usage = "halo bench MODEL [--runs N] [--warmup N] [--threads N] [--devices LIST] "
             "[--no-fallback] [--profile] [--csv FILE]",
    .description =
        "Fills MODEL's inputs with a fixed pseudo-random pattern, runs it --warmup times\n"
        "untimed and --runs times timed, and prints the timings in microseconds in the\n"
        "shape of TFLite benchmark_model's line\n"
        "  Timings (microseconds): count=50 first=1763 curr=1611 min=1558 max=2035 "
        "avg=1575.88 std=67\n"
        "followed by a readable summary. --profile adds benchmark_model's per-op tables.",
    .options = bench_options,
    .examples = "  halo bench model.tflite\n"
                "  halo bench model.tflite --runs 100 --threads 2 --profile\n"
                "  halo bench model.tflite --devices cpu --csv nodes.csv",
    .main = bench_main,
};
