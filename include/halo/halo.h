/* halo: run TFLite vision models on the CPU, Vulkan GPUs and USB accelerators.
 *
 * The public C API. Every fallible call returns a halo_status; the text of the
 * last failure on a model or session is kept on that object and read with
 * halo_model_error() / halo_session_error(), and failures that happen before
 * such an object exists write their message to the optional `err` buffer.
 *
 * Ownership: every object is created by a create or load call and freed by
 * the matching destroy or free call. A session keeps a reference to the
 * model it was created from; destroy the session before the model.
 *
 * Threading: objects are not internally locked. Different sessions may be
 * used from different threads at once (they share only the read-only model);
 * one session must not be invoked from two threads at once.
 */
#ifndef HALO_HALO_H
#define HALO_HALO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HALO_API __attribute__((visibility("default")))
#else
#define HALO_API
#endif

typedef enum halo_status {
  HALO_OK = 0,
  HALO_EINVAL = 1,        /* bad argument from the caller */
  HALO_EFORMAT = 2,       /* malformed or inconsistent model file */
  HALO_ENOMEM = 3,        /* allocation failed */
  HALO_EUNSUPPORTED = 4,  /* valid model, but an op/dtype/feature no allowed device runs */
  HALO_ENOTFOUND = 5,     /* no such file, tensor name, device */
  HALO_EIO = 6,           /* file or transfer I/O failed */
  HALO_EDEVICE = 7,       /* a device failed or went away */
  HALO_ETIMEOUT = 8,      /* a device did not answer in time */
  HALO_EINTERNAL = 9,     /* a bug in halo: please report */
  HALO_ENODEV = 10,       /* the device is gone (a USB accelerator unplugged); it may come back */
} halo_status;

/* Name of a status code ("HALO_EFORMAT"). Never NULL. */
HALO_API const char *halo_status_name(halo_status status);

typedef enum halo_dtype {
  HALO_DTYPE_UNKNOWN = 0,
  HALO_FLOAT32,
  HALO_FLOAT16,
  HALO_INT8,
  HALO_UINT8,
  HALO_INT16,
  HALO_INT32,
  HALO_INT64,
  HALO_BOOL,
} halo_dtype;

/* "float32", "int8", ...; never NULL. */
HALO_API const char *halo_dtype_name(halo_dtype dtype);
/* Bytes per element, 0 for HALO_DTYPE_UNKNOWN. */
HALO_API size_t halo_dtype_size(halo_dtype dtype);

#define HALO_MAX_RANK 6

/* Caller-provided buffer for messages of calls that have no object yet. */
typedef struct halo_error {
  char message[512];
} halo_error;

/* ---- model --------------------------------------------------------------- */

typedef struct halo_model halo_model;

/* Loads and fully verifies a .tflite file. The file is read into memory owned
 * by the model. On failure *out is NULL and `err` (may be NULL) says why,
 * naming the byte offset, tensor or operator at fault. */
HALO_API halo_status halo_model_load_file(const char *path, halo_model **out, halo_error *err);

/* Same from memory. The bytes are copied; the caller keeps ownership of `data`. */
HALO_API halo_status halo_model_load_memory(const void *data, size_t size, halo_model **out,
                                   halo_error *err);

HALO_API void halo_model_free(halo_model *model);

/* ---- options ------------------------------------------------------------- */

typedef struct halo_options {
  /* Comma-separated device kinds the session may use, in order of
   * preference ("cpu", "vulkan,cpu", "usbtpu,cpu"). NULL or "" means every
   * registered device. The CPU is always the fallback when it is listed. */
  const char *devices;
  /* CPU worker threads; 0 means one per online core. */
  int num_threads;
  /* Record per-node timings on every invoke (read with halo_session_profile). */
  int profiling;
  /* GPU (Vulkan) devices: keep weights in float32 even where the device
   * could store them in float16 (16-bit storage, float32 arithmetic).
   * Slower, closer to the CPU's results. Also HALO_VULKAN_FP32=1. */
  int gpu_fp32;
  /* GPU devices: move tensors through staging buffers even where device
   * memory is host-visible (tests the path discrete GPUs take). Also
   * HALO_VULKAN_STAGING=1. */
  int gpu_staging;
  /* When a device goes away during an invoke (HALO_ENODEV: a USB
   * accelerator unplugged), the session moves that device's nodes to the
   * remaining allowed devices (the CPU when listed) and runs the invoke
   * again there; halo_session_notice() says what happened. When no
   * remaining device runs some node, or with no_fallback set, the invoke
   * returns HALO_ENODEV and the next invoke tries the device again (the
   * driver re-attaches it if it is back). */
  int no_fallback;
} halo_options;

/* Fills `options` with the defaults (all devices, all cores, no profiling). */
HALO_API void halo_options_init(halo_options *options);

/* ---- session ------------------------------------------------------------- */

typedef struct halo_session halo_session;

/* Validates every node, places it on a device, plans memory and prepares
 * every partition. An op that no allowed device can run fails here (not at
 * invoke) with HALO_EUNSUPPORTED naming the op and node. `options` may be NULL
 * for the defaults. `err` (may be NULL) receives the message on failure. */
HALO_API halo_status halo_session_create(const halo_model *model, const halo_options *options,
                                halo_session **out, halo_error *err);
HALO_API void halo_session_destroy(halo_session *session);

/* Runs the model once on the current input contents. */
HALO_API halo_status halo_session_invoke(halo_session *session);

/* Message of the last failed call on this session ("" if none). Valid until
 * the next call on the session. */
HALO_API const char *halo_session_error(const halo_session *session);

/* ---- tensors ------------------------------------------------------------- */

/* A view of a model input or output; owned by the session, valid for its life. */
typedef struct halo_tensor halo_tensor;

HALO_API int halo_session_input_count(const halo_session *session);
HALO_API int halo_session_output_count(const halo_session *session);
/* NULL when the index is out of range. */
HALO_API halo_tensor *halo_session_input(halo_session *session, int index);
HALO_API const halo_tensor *halo_session_output(const halo_session *session, int index);
/* NULL when no input/output has that name. */
HALO_API halo_tensor *halo_session_input_by_name(halo_session *session, const char *name);
HALO_API const halo_tensor *halo_session_output_by_name(const halo_session *session, const char *name);

HALO_API const char *halo_tensor_name(const halo_tensor *tensor);
HALO_API halo_dtype halo_tensor_dtype(const halo_tensor *tensor);
HALO_API int halo_tensor_rank(const halo_tensor *tensor);
/* Size of dimension `dim`; 0 when dim is out of range. */
HALO_API int32_t halo_tensor_dim(const halo_tensor *tensor, int dim);
HALO_API size_t halo_tensor_byte_size(const halo_tensor *tensor);

/* Quantization (affine: real = scale * (q - zero_point)). Per-tensor
 * parameters only: returns 0 and leaves the outputs alone when the tensor is
 * not quantized, 1 when it is. */
HALO_API int halo_tensor_quantization(const halo_tensor *tensor, float *scale, int32_t *zero_point);

/* Direct access to the tensor's host memory, valid until the session is
 * destroyed. Write inputs before invoke, read outputs after. */
HALO_API void *halo_tensor_data(halo_tensor *tensor);
HALO_API const void *halo_tensor_data_const(const halo_tensor *tensor);

/* Copies `size` bytes, which must equal halo_tensor_byte_size(). */
HALO_API halo_status halo_tensor_copy_from(halo_tensor *tensor, const void *data, size_t size);
HALO_API halo_status halo_tensor_copy_to(const halo_tensor *tensor, void *data, size_t size);

/* ---- zero-copy input ------------------------------------------------------ */

/* Binds a dma-buf (a V4L2 frame exported with VIDIOC_EXPBUF, a buffer of
 * another GPU API...) as the contents of model input `input` on the GPU
 * device that reads it, so the frame reaches the GPU without a copy
 * through host memory. `size` bytes at `offset` in the dma-buf must hold
 * the tensor in its dtype and NHWC layout (halo_tensor_byte_size bytes at
 * least); the frame is read at every invoke. The fd is duplicated: the
 * caller keeps (and closes) its own. The binding lasts until the session
 * is destroyed or the call is made again for that input.
 * HALO_EUNSUPPORTED when no Vulkan device of the session reads the input,
 * or when the device cannot import dma-bufs (no
 * VK_EXT_external_memory_dma_buf: lavapipe, most proprietary drivers of
 * discrete GPUs); the message says which. */
HALO_API halo_status halo_session_bind_dmabuf(halo_session *session, int input, int fd,
                                              size_t offset, size_t size);

/* ---- profile ------------------------------------------------------------- */

/* Per-node timings of the last invoke (profiling must be enabled). */
typedef struct halo_profile_entry {
  int node;                 /* node index in execution order */
  const char *op;           /* "CONV_2D", "COPY", ... */
  const char *device;       /* "cpu", "vulkan0", ... */
  int64_t start_ns;         /* relative to the start of the invoke */
  int64_t duration_ns;
} halo_profile_entry;

/* Number of entries of the last invoke; 0 without profiling. */
HALO_API int halo_session_profile_count(const halo_session *session);
HALO_API const halo_profile_entry *halo_session_profile_entry(const halo_session *session, int index);

/* ---- placement (for tools) ----------------------------------------------- */

HALO_API int halo_session_node_count(const halo_session *session);
/* Op name, device name and, when a device was passed over for this node,
 * the reason ("int8 only"); strings owned by the session, valid until the
 * next invoke (a fallback places the nodes again: see no_fallback). Returns
 * HALO_EINVAL when the index is out of range. */
HALO_API halo_status halo_session_node_info(const halo_session *session, int node, const char **op,
                                   const char **device, const char **reason);

/* Partitions: runs of consecutive nodes on one device, in execution order
 * (COPY nodes are not part of any). *device is the device's name, the
 * nodes are [*first_node, *first_node + *n_nodes) of the execution graph,
 * *note is what the device says about how it runs them ("parameters
 * streamed with every invoke: ...") or "" (strings owned by the session,
 * valid until the next invoke). HALO_EINVAL when the index is out of range. */
HALO_API int halo_session_partition_count(const halo_session *session);
HALO_API halo_status halo_session_partition_info(const halo_session *session, int index,
                                                 const char **device, int *first_node,
                                                 int *n_nodes, const char **note);

/* What the session did on its own during the last invoke that the caller
 * should know about, or "": a device that went away and whose nodes were
 * moved ("usbtpu0 is gone (...): its 83 nodes now run on cpu"). The moved
 * placement stays for the session's life. */
HALO_API const char *halo_session_notice(const halo_session *session);

/* Peak bytes of the activation arena of every device together. */
HALO_API size_t halo_session_arena_bytes(const halo_session *session);

/* ---- devices ------------------------------------------------------------- */

/* Devices this process can see, for `halo devices`. Strings are static. */
HALO_API int halo_device_count(void);
HALO_API halo_status halo_device_info(int index, const char **name, const char **kind,
                             const char **description);
/* Why devices that were found could not be used ("usbtpu 7a70:0a00: no
 * permission to open /dev/bus/usb/001/002; install ..."), "" when nothing
 * went wrong. Static string, from the same listing as halo_device_count. */
HALO_API const char *halo_device_problems(void);

#ifdef __cplusplus
}
#endif

#endif /* HALO_HALO_H */
