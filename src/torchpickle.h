/* torchpickle.h: a restricted interpreter of the pickle that torch.save
 * writes as data.pkl (a state_dict or a dict holding one).
 *
 * It is a reader of a data format, not Python: it builds a tree of plain
 * values (None, bool, int, float, str, tuple, list, dict), storages and
 * tensors, and nothing is ever imported or executed. Only the opcodes a
 * state_dict pickle uses are accepted (protocols 2-5: PROTO, FRAME, the
 * EMPTY_* containers, MARK, BINUNICODE*, BININT*, LONG1, BINFLOAT, NONE,
 * NEWTRUE/NEWFALSE, TUPLE*, SETITEM(S), APPEND(S), BINPUT/LONG_BINPUT/MEMOIZE,
 * BINGET/LONG_BINGET, GLOBAL/STACK_GLOBAL, REDUCE, BINPERSID, BUILD, STOP)
 * and only these globals:
 *   collections OrderedDict           REDUCE with () -> an empty dict;
 *                                     BUILD on it (torch's _metadata) is dropped
 *   torch._utils _rebuild_tensor_v2   REDUCE (storage, offset, size, stride,
 *                                     requires_grad, hooks[, metadata]) -> tensor
 *   torch._utils _rebuild_parameter   REDUCE (tensor, requires_grad, hooks) -> tensor
 *   torch {Float,Half,BFloat16,Double,Bool,Byte,Char,Short,Int,Long}Storage
 *                                     only inside a persistent id
 *                                     ('storage', TYPE, key, location, numel)
 * Anything else (os system, builtins eval, an unknown global, REDUCE on a
 * storage type, an unknown opcode) fails with one line naming it and its byte
 * offset in data.pkl. Stack, memo, marks, value count and string sizes are
 * bounded; there is no recursion, so cyclic containers are harmless. */
#ifndef ICLAB_TORCHPICKLE_H
#define ICLAB_TORCHPICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TP_MAX_DIMS 8

typedef enum {
    TP_NONE, TP_BOOL, TP_INT, TP_FLOAT, TP_STR, TP_TUPLE, TP_LIST, TP_DICT,
    TP_GLOBAL, TP_STORAGE, TP_TENSOR
} tp_kind;

/* storage element types (torch's *Storage classes) */
typedef enum { TP_F32, TP_F16, TP_BF16, TP_F64, TP_BOOL8, TP_U8, TP_I8, TP_I16, TP_I32, TP_I64, TP_NDTYPES } tp_dtype;

const char *tp_dtype_name(tp_dtype t); /* "FloatStorage", ... */
size_t tp_dtype_size(tp_dtype t);

typedef struct tp_value tp_value;
struct tp_value {
    tp_kind kind;
    size_t pos;              /* byte offset in data.pkl of the opcode that made it */
    int64_t i;               /* BOOL, INT; STORAGE: numel; TENSOR: storage offset */
    double f;                /* FLOAT */
    char *s;                 /* STR (NUL-free, NUL-terminated); STORAGE: key */
    size_t len;              /* STR length */
    tp_value **items;        /* TUPLE/LIST items; DICT: key0, val0, key1, val1, ... */
    size_t n, cap;           /* item count (DICT: 2 x pairs) */
    int global;              /* GLOBAL: which allowed global (torchpickle.c) */
    tp_dtype dtype;          /* GLOBAL of a storage type, STORAGE, TENSOR */
    tp_value *storage;       /* TENSOR */
    int ndim;                /* TENSOR */
    int64_t shape[TP_MAX_DIMS], stride[TP_MAX_DIMS];
};

typedef struct {
    tp_value *root;          /* what STOP returned */
    tp_value **all;          /* every value made, for freeing */
    size_t n_all, cap_all;
    tp_value **storages;     /* distinct persistent storages, by key */
    size_t n_storages, cap_storages;
} tp_pickle;

/* Interprets buf[0..n). On error returns -1 with a line "data.pkl byte N: ..."
 * and leaves *out empty (safe to tp_free). */
int tp_load(const uint8_t *buf, size_t n, tp_pickle *out, ic_err *err);
void tp_free(tp_pickle *p);

/* The value of string key in dict d (the last one if repeated); NULL if
 * absent or d is not a dict. */
const tp_value *tp_dict_get(const tp_value *d, const char *key);

#endif
