/* halo run: one invoke on inputs from files, outputs to files or a summary
 * on stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tools/common/bmp.h"
#include "tools/common/npy.h"
#include "tools/halo/cli.h"

enum { SMALL_OUTPUT = 32, PREVIEW_VALUES = 16 };

static const cli_option run_options[] = {
    {"--input", "FILE", true,
     "input data, one per model input in order: .npy (dtype and shape must\n"
     "match), .bmp (8-bit gray or 24-bit RGB, for int8/uint8 image inputs of\n"
     "the same height, width and channels: the pixel bytes, top row first,\n"
     "copied unchanged, as TFLite Micro's examples feed images) or raw bytes\n"
     "(any other extension; the size must match).\n"
     "Inputs not given are filled with zeros (or --seed's pattern)"},
    {"--output", "FILE", true,
     "where to write each output in order: .npy (with dtype and shape) or raw\n"
     "bytes. Outputs without a file are summarised on stdout"},
    {"--devices", "LIST", false, "comma-separated device names or kinds, in order of preference"},
    {"--threads", "N", false, "CPU worker threads (default 0: one per core)"},
    {"--no-fallback", NULL, false, CLI_NO_FALLBACK_HELP},
    {"--seed", "N", false,
     "fill inputs not given with a pseudo-random pattern from seed N\n"
     "(the same pattern on every machine) instead of zeros"},
    {NULL, NULL, false, NULL},
};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads a whole file; prints the error and returns false on failure. */
static bool read_raw_file(const cli_command *cmd, const char *path, unsigned char **out,
                          size_t *size) {
  *out = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    cli_error(cmd, "cannot open '%s': %s", path, strerror(errno));
    return false;
  }
  struct stat info;
  if (fstat(fileno(f), &info) != 0 || !S_ISREG(info.st_mode)) {
    cli_error(cmd, "cannot read '%s': not a regular file", path);
    fclose(f);
    return false;
  }
  long end = -1;
  if (fseek(f, 0, SEEK_END) == 0) end = ftell(f);
  if (end < 0 || fseek(f, 0, SEEK_SET) != 0) {
    cli_error(cmd, "%s: cannot determine the file size", path);
    fclose(f);
    return false;
  }
  unsigned char *buf = malloc(end > 0 ? (size_t)end : 1);
  if (!buf) {
    cli_error(cmd, "%s: out of memory reading %ld bytes", path, end);
    fclose(f);
    return false;
  }
  size_t got = end > 0 ? fread(buf, 1, (size_t)end, f) : 0;
  int failed = ferror(f);
  fclose(f);
  if (failed || got != (size_t)end) {
    cli_error(cmd, "%s: read error", path);
    free(buf);
    return false;
  }
  *out = buf;
  *size = (size_t)end;
  return true;
}

/* A .bmp feeds an 8-bit image input: [1,]H,W,C with C the image's
 * channels. Returns a CLI exit code. */
static int load_bmp_input(const cli_command *cmd, halo_session *session, int index,
                          const char *path) {
  halo_tensor *t = halo_session_input(session, index);
  const char *name = halo_tensor_name(t);
  char shape[96];
  cli_tensor_shape(t, shape, sizeof shape);
  bmp_image image;
  halo_error err = {{0}};
  if (bmp_read_file(path, &image, &err) != HALO_OK) {
    cli_error(cmd, "input %d '%s': %s", index, name, err.message);
    return CLI_FAILURE;
  }
  int rank = halo_tensor_rank(t);
  halo_dtype dtype = halo_tensor_dtype(t);
  bool fits = (dtype == HALO_INT8 || dtype == HALO_UINT8) && (rank == 3 || rank == 4) &&
              (rank == 3 || halo_tensor_dim(t, 0) == 1) &&
              halo_tensor_dim(t, rank - 3) == image.height &&
              halo_tensor_dim(t, rank - 2) == image.width &&
              halo_tensor_dim(t, rank - 1) == image.channels;
  if (!fits) {
    cli_error(cmd,
              "input %d '%s' is %s %s; %s is a %dx%d image with %d channel%s (a .bmp feeds "
              "int8/uint8 image inputs of its size; convert it to .npy otherwise)",
              index, name, halo_dtype_name(dtype), shape, path, image.width, image.height,
              image.channels, image.channels == 1 ? "" : "s");
    bmp_image_free(&image);
    return CLI_FAILURE;
  }
  halo_status st = halo_tensor_copy_from(
      t, image.pixels, (size_t)image.width * (size_t)image.height * (size_t)image.channels);
  bmp_image_free(&image);
  if (st != HALO_OK) {
    cli_error(cmd, "input %d '%s': %s", index, name, halo_session_error(session));
    return CLI_FAILURE;
  }
  return CLI_OK;
}

/* Fills input `index` from `path`, or with zeros / the seeded pattern when
 * path is NULL. Returns a CLI exit code. */
static int load_input(const cli_command *cmd, halo_session *session, int index, const char *path,
                      bool seeded, uint32_t seed) {
  halo_tensor *t = halo_session_input(session, index);
  const char *name = halo_tensor_name(t);
  halo_dtype dtype = halo_tensor_dtype(t);
  size_t bytes = halo_tensor_byte_size(t);
  char shape[96];
  cli_tensor_shape(t, shape, sizeof shape);

  if (!path) {
    unsigned char *buf = calloc(bytes ? bytes : 1, 1);
    if (!buf) {
      cli_error(cmd, "out of memory filling input %d '%s'", index, name);
      return CLI_FAILURE;
    }
    if (seeded) {
      /* Each input gets its own stream so two same-shaped inputs differ. */
      cli_fill_pattern(dtype, buf, bytes / (halo_dtype_size(dtype) ? halo_dtype_size(dtype) : 1),
                       seed + (uint32_t)index * 0x9e3779b9u);
      cli_note(cmd, "input %d '%s' (%s %s) not given: filled with a pseudo-random pattern (seed %u)",
               index, name, halo_dtype_name(dtype), shape, (unsigned)seed);
    } else {
      cli_note(cmd, "input %d '%s' (%s %s) not given: filled with zeros", index, name,
               halo_dtype_name(dtype), shape);
    }
    halo_status st = halo_tensor_copy_from(t, buf, bytes);
    free(buf);
    if (st != HALO_OK) {
      cli_error(cmd, "input %d '%s': %s", index, name, halo_session_error(session));
      return CLI_FAILURE;
    }
    return CLI_OK;
  }

  if (cli_is_npy_path(path)) {
    npy_array a;
    halo_error err = {{0}};
    if (npy_read_file(path, &a, &err) != HALO_OK) {
      cli_error(cmd, "input %d '%s': %s", index, name, err.message);
      return CLI_FAILURE;
    }
    bool same = a.dtype == dtype && a.rank == halo_tensor_rank(t);
    for (int d = 0; same && d < a.rank; d++) same = a.dims[d] == halo_tensor_dim(t, d);
    if (!same) {
      char file_shape[96];
      cli_dims_shape(a.dims, a.rank, file_shape, sizeof file_shape);
      cli_error(cmd, "input %d '%s' is %s %s, but %s holds %s %s", index, name,
                halo_dtype_name(dtype), shape, path, halo_dtype_name(a.dtype), file_shape);
      npy_array_free(&a);
      return CLI_FAILURE;
    }
    halo_status st = halo_tensor_copy_from(t, a.data, a.byte_size);
    npy_array_free(&a);
    if (st != HALO_OK) {
      cli_error(cmd, "input %d '%s': %s", index, name, halo_session_error(session));
      return CLI_FAILURE;
    }
    return CLI_OK;
  }

  if (cli_has_extension(path, ".bmp")) return load_bmp_input(cmd, session, index, path);

  unsigned char *buf = NULL;
  size_t size = 0;
  if (!read_raw_file(cmd, path, &buf, &size)) return CLI_FAILURE;
  if (size != bytes) {
    cli_error(cmd, "input %d '%s' is %s %s (%zu bytes), but raw file %s has %zu bytes", index,
              name, halo_dtype_name(dtype), shape, bytes, path, size);
    free(buf);
    return CLI_FAILURE;
  }
  halo_status st = halo_tensor_copy_from(t, buf, size);
  free(buf);
  if (st != HALO_OK) {
    cli_error(cmd, "input %d '%s': %s", index, name, halo_session_error(session));
    return CLI_FAILURE;
  }
  return CLI_OK;
}

static int write_output(const cli_command *cmd, const halo_session *session, int index,
                        const char *path) {
  const halo_tensor *t = halo_session_output(session, index);
  const char *name = halo_tensor_name(t);
  size_t bytes = halo_tensor_byte_size(t);
  const void *data = halo_tensor_data_const(t);
  char shape[96];
  cli_tensor_shape(t, shape, sizeof shape);
  if (!data && bytes) {
    cli_error(cmd, "output %d '%s' is not in host memory", index, name);
    return CLI_FAILURE;
  }
  if (cli_is_npy_path(path)) {
    int64_t dims[HALO_MAX_RANK];
    int rank = halo_tensor_rank(t);
    for (int d = 0; d < rank; d++) dims[d] = halo_tensor_dim(t, d);
    halo_error err = {{0}};
    if (npy_write_file(path, halo_tensor_dtype(t), rank, dims, data, &err) != HALO_OK) {
      cli_error(cmd, "output %d '%s': %s", index, name, err.message);
      return CLI_FAILURE;
    }
  } else {
    FILE *f = fopen(path, "wb");
    if (!f) {
      cli_error(cmd, "cannot create '%s': %s", path, strerror(errno));
      return CLI_FAILURE;
    }
    size_t put = bytes ? fwrite(data, 1, bytes, f) : 0;
    if (fclose(f) != 0 || put != bytes) {
      cli_error(cmd, "%s: write error (disk full?)", path);
      return CLI_FAILURE;
    }
  }
  printf("output %d '%s' (%s %s) written to %s\n", index, name,
         halo_dtype_name(halo_tensor_dtype(t)), shape, path);
  return CLI_OK;
}

static void print_values(const char *label, halo_dtype dtype, const void *data, size_t count,
                         bool dequantize, float scale, int32_t zero_point) {
  printf("  %s:", label);
  for (size_t i = 0; i < count; i++) {
    if (dequantize) {
      printf(" %.6g", (double)scale * (cli_value_at(dtype, data, i) - zero_point));
    } else {
      char v[48];
      cli_format_value(dtype, data, i, v, sizeof v);
      printf(" %s", v);
    }
  }
  printf("\n");
}

static void summarize_output(const halo_session *session, int index) {
  const halo_tensor *t = halo_session_output(session, index);
  halo_dtype dtype = halo_tensor_dtype(t);
  size_t elem = halo_dtype_size(dtype);
  size_t n = elem ? halo_tensor_byte_size(t) / elem : 0;
  const void *data = halo_tensor_data_const(t);
  char shape[96];
  cli_tensor_shape(t, shape, sizeof shape);
  printf("output %d '%s': %s %s, %zu value%s\n", index, halo_tensor_name(t),
         halo_dtype_name(dtype), shape, n, n == 1 ? "" : "s");
  if (n == 0 || !data) return;
  float scale = 0.0f;
  int32_t zero_point = 0;
  bool quantized = (dtype == HALO_INT8 || dtype == HALO_UINT8) &&
                   halo_tensor_quantization(t, &scale, &zero_point);
  size_t shown = n <= SMALL_OUTPUT ? n : PREVIEW_VALUES;
  char label[48];
  if (shown == n)
    snprintf(label, sizeof label, "values");
  else
    snprintf(label, sizeof label, "first %zu", shown);
  print_values(label, dtype, data, shown, false, 0.0f, 0);
  if (quantized) {
    printf("  quantization: scale=%g zero_point=%d\n", (double)scale, (int)zero_point);
    snprintf(label, sizeof label, "dequantized%s", shown == n ? "" : " (first)");
    print_values(label, dtype, data, shown, true, scale, zero_point);
  }
  if (shown < n) {
    double lo = cli_value_at(dtype, data, 0), hi = lo, sum = 0.0;
    size_t argmax = 0;
    for (size_t i = 0; i < n; i++) {
      double v = cli_value_at(dtype, data, i);
      if (v < lo) lo = v;
      if (v > hi) {
        hi = v;
        argmax = i;
      }
      sum += v;
    }
    printf("  min %.6g  max %.6g (at %zu)  mean %.6g\n", lo, hi, argmax, sum / (double)n);
  }
}

static int run_main(const cli_command *cmd, int argc, char **argv) {
  cli_args args;
  int rc = cli_parse_args(cmd, argc, argv, &args);
  if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
  halo_model *model = NULL;
  halo_session *session = NULL;
  const char **inputs = NULL, **outputs = NULL;
  const char *path = NULL;
  rc = cli_model_path(cmd, &args, &path);
  if (rc != CLI_OK) goto done;
  halo_options options;
  rc = cli_session_options(cmd, &args, &options);
  if (rc != CLI_OK) goto done;
  long seed = 0;
  const char *text = cli_last_value(&args, "--seed");
  bool seeded = text != NULL;
  if (text && !cli_parse_int(cmd, "--seed", text, 0, 4294967295L, &seed)) {
    rc = CLI_USAGE;
    goto done;
  }
  inputs = calloc((size_t)args.n_options + 1, sizeof *inputs);
  outputs = calloc((size_t)args.n_options + 1, sizeof *outputs);
  if (!inputs || !outputs) {
    cli_error(cmd, "out of memory");
    rc = CLI_FAILURE;
    goto done;
  }
  int n_inputs = 0, n_outputs = 0;
  for (int i = 0; i < args.n_options; i++) {
    if (strcmp(args.options[i].option->name, "--input") == 0) inputs[n_inputs++] = args.options[i].value;
    if (strcmp(args.options[i].option->name, "--output") == 0) outputs[n_outputs++] = args.options[i].value;
  }

  rc = cli_load_model(cmd, path, &model);
  if (rc != CLI_OK) goto done;
  rc = cli_create_session(cmd, path, model, &options, &session);
  if (rc != CLI_OK) goto done;

  int model_inputs = halo_session_input_count(session);
  int model_outputs = halo_session_output_count(session);
  if (n_inputs > model_inputs) {
    rc = cli_usage_error(cmd, "%d --input files given, but %s has %d input%s", n_inputs, path,
                         model_inputs, model_inputs == 1 ? "" : "s");
    goto done;
  }
  if (n_outputs > model_outputs) {
    rc = cli_usage_error(cmd, "%d --output files given, but %s has %d output%s", n_outputs, path,
                         model_outputs, model_outputs == 1 ? "" : "s");
    goto done;
  }
  for (int i = 0; i < model_inputs; i++) {
    rc = load_input(cmd, session, i, i < n_inputs ? inputs[i] : NULL, seeded, (uint32_t)seed);
    if (rc != CLI_OK) goto done;
  }

  double t0 = now_ms();
  halo_status st = halo_session_invoke(session);
  double elapsed = now_ms() - t0;
  cli_print_session_notice(cmd, session);
  if (st != HALO_OK) {
    cli_error(cmd, "%s: invoke failed: %s", path, halo_session_error(session));
    rc = CLI_FAILURE;
    goto done;
  }
  printf("invoke: %.3f ms\n", elapsed);
  for (int i = 0; i < model_outputs; i++) {
    if (i < n_outputs) {
      rc = write_output(cmd, session, i, outputs[i]);
      if (rc != CLI_OK) goto done;
    } else {
      summarize_output(session, i);
    }
  }
  rc = CLI_OK;
done:
  fflush(stdout);
  free(inputs);
  free(outputs);
  halo_session_destroy(session);
  halo_model_free(model);
  cli_args_free(&args);
  return rc;
}

const cli_command cli_cmd_run = {
    .name = "run",
    .summary = "run a model once on inputs from files",
    .usage = "halo run MODEL [--input FILE ...] [--output FILE ...] [--devices LIST] "
             "[--threads N] [--no-fallback] [--seed N]",
    .description =
        "Runs MODEL (.tflite) once. Inputs come from --input files in the model's input\n"
        "order; outputs go to --output files in the model's output order. Outputs\n"
        "without a file are summarised on stdout: name, dtype, shape and the values\n"
        "(the first 16 and min/max/mean for large outputs); int8/uint8 outputs with\n"
        "quantization also show the dequantized values.",
    .options = run_options,
    .examples = "  halo run model.tflite --input image.npy --output scores.npy\n"
                "  halo run person_detect.tflite --input person.bmp\n"
                "  halo run model.tflite --seed 1            # seeded input, summary on stdout\n"
                "  halo run model.tflite --input frame.raw --devices cpu --threads 2",
    .main = run_main,
};
