/* safetensors.h: strict reader and atomic writer for the safetensors format.
 *
 * Format: 8-byte little-endian header length N; N bytes of a
 * UTF-8 JSON object (may be padded with trailing spaces); then the data.
 * Each entry is {"dtype", "shape", "data_offsets": [begin, end]} relative to
 * the start of the data; "__metadata__" is an optional string->string map.
 *
 * The reader checks every rule of §6 and never crashes or reads out of bounds
 * on any input (fuzzed by fuzz/fuzz_safetensors.c). Data is copied, never
 * cast in place, because no alignment is promised. */
#ifndef ICLAB_SAFETENSORS_H
#define ICLAB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ST_MAX_HEADER (100u * 1000u * 1000u) /* 100 MB */
#define ST_MAX_DIMS 8

typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_F16, ST_BF16, ST_I32, ST_U32,
    ST_F32, ST_F64, ST_I64, ST_U64, ST_F8_E4M3, ST_F8_E5M2,
    ST_NDTYPES
} st_dtype;

const char *st_dtype_name(st_dtype t);  /* "F32", ... */
size_t st_dtype_size(st_dtype t);       /* bytes per element */

typedef struct {
    char *name;                  /* tensor name (owned) */
    st_dtype dtype;
    int ndim;                    /* 0..ST_MAX_DIMS; 0 = scalar */
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;              /* product of shape (1 for a scalar) */
    uint64_t begin, end;         /* byte offsets relative to the data start */
} st_tensor;

typedef struct {
    uint8_t *buf;                /* the whole file, owned */
    size_t size;
    size_t data_start;           /* 8 + N */
    st_tensor *tensors;          /* in header order */
    int n_tensors;
    char **meta_keys;            /* __metadata__ entries, owned */
    char **meta_vals;
    int n_meta;
} st_file;

/* Parses a complete in-memory file. Copies what it needs; bytes may be freed
 * afterwards. On error returns -1, fills err, and leaves *out empty (safe to
 * st_free). */
int st_parse(const uint8_t *bytes, size_t n, st_file *out, ic_err *err);
/* Reads and parses a file; errors are prefixed with the path. */
int st_read_file(const char *path, st_file *out, ic_err *err);
void st_free(st_file *f);

const st_tensor *st_find(const st_file *f, const char *name);
const char *st_meta(const st_file *f, const char *key); /* NULL if absent */

/* Copies tensor t into dst (n elements) converting F32/F64/F16/BF16 to float.
 * Fails (with the tensor's name in the message) if n != t->numel or the dtype
 * is not a float type. */
int st_read_f32(const st_file *f, const st_tensor *t, float *dst, size_t n, ic_err *err);

/* ---- writer ---- */
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;            /* numel * dtype size bytes, host order (little endian) */
} st_wtensor;

/* Writes tensors (in the given order, contiguous offsets) and the metadata
 * key/value pairs to path atomically: a temporary file in the same directory
 * is written, flushed, fsync'ed and renamed over path, so a crash never
 * leaves a half-written file. Rejects duplicate or empty names. */
int st_write_file(const char *path, const st_wtensor *tensors, int n_tensors,
                  const char *const *meta_keys, const char *const *meta_vals,
                  int n_meta, ic_err *err);

/* Same, into a malloc'ed buffer (*out, *out_size) — used by tests/fuzzer. */
int st_serialize(const st_wtensor *tensors, int n_tensors,
                 const char *const *meta_keys, const char *const *meta_vals,
                 int n_meta, uint8_t **out, size_t *out_size, ic_err *err);

#endif
