/* Argument parsing, messages, model loading and value formatting shared by
 * the halo subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "drivers/cpu/fp16.h"
#include "tools/halo/cli.h"

/* ---- messages ------------------------------------------------------------ */

static void vmessage(const cli_command *cmd, const char *kind, const char *fmt, va_list ap) {
  fprintf(stderr, "halo: %s%s%s", cmd ? cmd->name : "", cmd ? ": " : "", kind);
  vfprintf(stderr, fmt, ap);
}

void cli_error(const cli_command *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(cmd, "", fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(cmd, "", fmt, ap);
  va_end(ap);
  if (cmd)
    fprintf(stderr, " (see 'halo %s --help')\n", cmd->name);
  else
    fprintf(stderr, " (see 'halo --help')\n");
  return CLI_USAGE;
}

void cli_note(const cli_command *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(cmd, "note: ", fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---- help ---------------------------------------------------------------- */

void cli_print_help(const cli_command *cmd) {
  printf("usage: %s\n\n%s\n", cmd->usage, cmd->description);
  printf("\noptions:\n");
  for (const cli_option *o = cmd->options; o && o->name; o++) {
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", o->name, o->value_name ? " " : "",
             o->value_name ? o->value_name : "");
    /* Help texts may span lines; indent continuation lines under the text. */
    printf("  %-20s ", left);
    for (const char *p = o->help; *p; p++) {
      putchar(*p);
      if (*p == '\n') printf("  %-20s ", "");
    }
    putchar('\n');
  }
  printf("  %-20s show this help and exit\n", "-h, --help");
  printf("\nexample%s:\n%s\n", strchr(cmd->examples, '\n') ? "s" : "", cmd->examples);
}

/* ---- argument parsing ---------------------------------------------------- */

static const cli_option *find_option(const cli_command *cmd, const char *name, size_t len) {
  for (const cli_option *o = cmd->options; o && o->name; o++)
    if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
  return NULL;
}

int cli_expect_no_positional(const cli_command *cmd, cli_args *args) {
  if (args->n_positional == 0) return CLI_OK;
  int rc = cli_usage_error(cmd, "unexpected argument '%s'", args->positional[0]);
  cli_args_free(args);
  return rc;
}

int cli_parse_args(const cli_command *cmd, int argc, char **argv, cli_args *out) {
  memset(out, 0, sizeof *out);
  out->options = calloc((size_t)argc + 1, sizeof *out->options);
  out->positional = calloc((size_t)argc + 1, sizeof *out->positional);
  if (!out->options || !out->positional) {
    cli_error(cmd, "out of memory");
    cli_args_free(out);
    return CLI_FAILURE;
  }
  bool only_positional = false;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (only_positional || a[0] != '-' || a[1] == '\0') {
      out->positional[out->n_positional++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_positional = true;
      continue;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      cli_print_help(cmd);
      cli_args_free(out);
      return -1;
    }
    const char *eq = strchr(a, '=');
    size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
    const cli_option *o = find_option(cmd, a, name_len);
    if (!o) {
      int rc = cli_usage_error(cmd, "unknown option '%.*s'", (int)name_len, a);
      cli_args_free(out);
      return rc;
    }
    const char *value = NULL;
    if (o->value_name) {
      if (eq) {
        value = eq + 1;
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        int rc = cli_usage_error(cmd, "option '%s' needs a value (%s)", o->name, o->value_name);
        cli_args_free(out);
        return rc;
      }
    } else if (eq) {
      int rc = cli_usage_error(cmd, "option '%s' takes no value", o->name);
      cli_args_free(out);
      return rc;
    }
    if (!o->repeatable) {
      for (int k = 0; k < out->n_options; k++) {
        if (out->options[k].option == o) {
          int rc = cli_usage_error(cmd, "option '%s' given twice", o->name);
          cli_args_free(out);
          return rc;
        }
      }
    }
    out->options[out->n_options++] = (cli_arg){o, value};
  }
  return CLI_OK;
}

void cli_args_free(cli_args *args) {
  free(args->options);
  free(args->positional);
  memset(args, 0, sizeof *args);
}

const char *cli_last_value(const cli_args *args, const char *name) {
  const char *v = NULL;
  for (int i = 0; i < args->n_options; i++)
    if (strcmp(args->options[i].option->name, name) == 0) v = args->options[i].value;
  return v;
}

bool cli_has_flag(const cli_args *args, const char *name) {
  for (int i = 0; i < args->n_options; i++)
    if (strcmp(args->options[i].option->name, name) == 0) return true;
  return false;
}

bool cli_parse_int(const cli_command *cmd, const char *option, const char *text, long min,
                   long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || !end || end == text || *end != '\0' || v < min || v > max) {
    cli_usage_error(cmd, "option '%s' needs an integer from %ld to %ld, not '%s'", option, min,
                    max, text);
    return false;
  }
  *out = v;
  return true;
}

/* ---- models and sessions ------------------------------------------------- */

int cli_load_model(const cli_command *cmd, const char *path, halo_model **out) {
  *out = NULL;
  /* The library's message would do, but checking here first gives the
   * usual shape of "cannot open" messages, and catches directories, which
   * fopen() happily opens. */
  struct stat st;
  if (stat(path, &st) != 0) {
    cli_error(cmd, "cannot open '%s': %s", path, strerror(errno));
    return CLI_FAILURE;
  }
  if (S_ISDIR(st.st_mode)) {
    cli_error(cmd, "cannot open '%s': %s", path, strerror(EISDIR));
    return CLI_FAILURE;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    cli_error(cmd, "cannot open '%s': %s", path, strerror(errno));
    return CLI_FAILURE;
  }
  fclose(f);
  halo_error err = {{0}};
  halo_status status = halo_model_load_file(path, out, &err);
  if (status != HALO_OK) {
    /* The library names the file itself ("x.tflite: ..."). */
    cli_error(cmd, "%s", err.message[0] ? err.message : halo_status_name(status));
    return CLI_FAILURE;
  }
  return CLI_OK;
}

int cli_model_path(const cli_command *cmd, const cli_args *args, const char **path) {
  if (args->n_positional != 1)
    return args->n_positional == 0
               ? cli_usage_error(cmd, "missing MODEL")
               : cli_usage_error(cmd, "unexpected argument '%s'", args->positional[1]);
  *path = args->positional[0];
  return CLI_OK;
}

int cli_session_options(const cli_command *cmd, const cli_args *args, halo_options *options) {
  halo_options_init(options);
  options->devices = cli_last_value(args, "--devices");
  long threads = 0;
  const char *text = cli_last_value(args, "--threads");
  if (text && !cli_parse_int(cmd, "--threads", text, 0, 1024, &threads)) return CLI_USAGE;
  options->num_threads = (int)threads;
  options->no_fallback = cli_has_flag(args, "--no-fallback");
  return CLI_OK;
}

void cli_print_session_notice(const cli_command *cmd, const halo_session *session) {
  const char *notice = halo_session_notice(session);
  if (notice && *notice) cli_note(cmd, "%s", notice);
}

int cli_create_session(const cli_command *cmd, const char *model_path, const halo_model *model,
                       const halo_options *options, halo_session **out) {
  halo_error err = {{0}};
  halo_status status = halo_session_create(model, options, out, &err);
  if (status != HALO_OK) {
    cli_error(cmd, "%s: %s", model_path, err.message[0] ? err.message : halo_status_name(status));
    return CLI_FAILURE;
  }
  return CLI_OK;
}

/* ---- tensors and values -------------------------------------------------- */

const char *cli_tensor_shape(const halo_tensor *tensor, char *buf, size_t size) {
  int64_t dims[HALO_MAX_RANK];
  int rank = halo_tensor_rank(tensor);
  for (int i = 0; i < rank && i < HALO_MAX_RANK; i++) dims[i] = halo_tensor_dim(tensor, i);
  return cli_dims_shape(dims, rank, buf, size);
}

const char *cli_dims_shape(const int64_t *dims, int rank, char *buf, size_t size) {
  if (size == 0) return buf;
  buf[0] = '\0';
  if (rank == 0) {
    snprintf(buf, size, "scalar");
    return buf;
  }
  size_t used = 0;
  for (int i = 0; i < rank && used < size; i++) {
    int n = snprintf(buf + used, size - used, "%s%lld", i ? "x" : "", (long long)dims[i]);
    if (n < 0) break;
    used += (size_t)n;
  }
  return buf;
}

double cli_value_at(halo_dtype dtype, const void *data, size_t i) {
  switch (dtype) {
    case HALO_FLOAT32: {
      float v;
      memcpy(&v, (const char *)data + i * 4, 4);
      return v;
    }
    case HALO_FLOAT16: {
      uint16_t v;
      memcpy(&v, (const char *)data + i * 2, 2);
      return halo_fp16_to_f32(v);
    }
    case HALO_INT8: return ((const int8_t *)data)[i];
    case HALO_UINT8: return ((const uint8_t *)data)[i];
    case HALO_BOOL: return ((const uint8_t *)data)[i] != 0;
    case HALO_INT16: {
      int16_t v;
      memcpy(&v, (const char *)data + i * 2, 2);
      return v;
    }
    case HALO_INT32: {
      int32_t v;
      memcpy(&v, (const char *)data + i * 4, 4);
      return v;
    }
    case HALO_INT64: {
      int64_t v;
      memcpy(&v, (const char *)data + i * 8, 8);
      return (double)v;
    }
    case HALO_DTYPE_UNKNOWN: break;
  }
  return 0.0;
}

void cli_format_value(halo_dtype dtype, const void *data, size_t i, char *buf, size_t size) {
  switch (dtype) {
    case HALO_FLOAT32:
    case HALO_FLOAT16:
      snprintf(buf, size, "%.6g", cli_value_at(dtype, data, i));
      break;
    case HALO_BOOL:
      snprintf(buf, size, "%s", ((const uint8_t *)data)[i] ? "true" : "false");
      break;
    case HALO_INT64: {
      int64_t v;
      memcpy(&v, (const char *)data + i * 8, 8);
      snprintf(buf, size, "%lld", (long long)v);
      break;
    }
    default:
      snprintf(buf, size, "%.0f", cli_value_at(dtype, data, i));
      break;
  }
}

/* xorshift32: tiny, fast, and the same sequence on every platform, so
 * benchmarks and demo runs see identical inputs everywhere. */
static uint32_t next_random(uint32_t *state) {
  uint32_t x = *state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *state = x;
  return x;
}

void cli_fill_pattern(halo_dtype dtype, void *data, size_t n, uint32_t seed) {
  uint32_t state = seed ? seed : 0x9e3779b9u; /* xorshift must not start at 0 */
  unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    uint32_t r = next_random(&state);
    double unit = (double)(r >> 8) / (double)(1u << 24) * 2.0 - 1.0; /* [-1, 1) */
    switch (dtype) {
      case HALO_FLOAT32: {
        float v = (float)unit;
        memcpy(p + i * 4, &v, 4);
        break;
      }
      case HALO_FLOAT16: {
        uint16_t v = halo_f32_to_fp16((float)unit);
        memcpy(p + i * 2, &v, 2);
        break;
      }
      case HALO_INT8:
      case HALO_UINT8:
        p[i] = (unsigned char)(r >> 24);
        break;
      case HALO_BOOL:
        p[i] = (unsigned char)(r >> 31);
        break;
      case HALO_INT16: {
        int16_t v = (int16_t)(r >> 16);
        memcpy(p + i * 2, &v, 2);
        break;
      }
      case HALO_INT32: {
        int32_t v = (int32_t)(r >> 16) - 32768;
        memcpy(p + i * 4, &v, 4);
        break;
      }
      case HALO_INT64: {
        int64_t v = (int64_t)(r >> 16) - 32768;
        memcpy(p + i * 8, &v, 8);
        break;
      }
      case HALO_DTYPE_UNKNOWN: break;
    }
  }
}

bool cli_has_extension(const char *path, const char *ext) {
  size_t len = strlen(path), ext_len = strlen(ext);
  return len >= ext_len && strcasecmp(path + len - ext_len, ext) == 0;
}

bool cli_is_npy_path(const char *path) { return cli_has_extension(path, ".npy"); }
