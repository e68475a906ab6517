#include "torchpickle.h"

#include <stdlib.h>
#include <string.h>

/* bounds: far above what a state_dict of any model iclab runs needs
 * (a 12-layer model's pickle with its optimizer state makes ~5k values) */
#define TP_MAX_STACK (1u << 20)
#define TP_MAX_MARKS (1u << 16)
#define TP_MAX_MEMO (1u << 22)
#define TP_MAX_VALUES (1u << 24)
#define TP_MAX_STR (1u << 20)      /* one string: 1 MiB */
#define TP_MAX_ITEMS (1u << 24)    /* one container */

static const struct { const char *name; size_t size; } DTYPES[TP_NDTYPES] = {
    [TP_F32] = {"FloatStorage", 4}, [TP_F16] = {"HalfStorage", 2}, [TP_BF16] = {"BFloat16Storage", 2},
    [TP_F64] = {"DoubleStorage", 8}, [TP_BOOL8] = {"BoolStorage", 1}, [TP_U8] = {"ByteStorage", 1},
    [TP_I8] = {"CharStorage", 1}, [TP_I16] = {"ShortStorage", 2}, [TP_I32] = {"IntStorage", 4},
    [TP_I64] = {"LongStorage", 8},
};

const char *tp_dtype_name(tp_dtype t) { return (unsigned)t < TP_NDTYPES ? DTYPES[t].name : "?"; }
size_t tp_dtype_size(tp_dtype t) { return (unsigned)t < TP_NDTYPES ? DTYPES[t].size : 0; }

enum { G_ORDEREDDICT = 1, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE };

typedef struct {
    const uint8_t *buf;
    size_t n, pos, op_pos;
    tp_pickle *p;
    tp_value **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    tp_value **memo;
    size_t memo_cap;
    size_t memo_next; /* MEMOIZE's index: the memo's length */
    ic_err *err;
} tp_state;

#define FAIL(st, ...) ic_errf((st)->err, __VA_ARGS__)

static int grow(void **arr, size_t *cap, size_t need, size_t elsize, size_t max) {
    if (need <= *cap) return 0;
    if (need > max) return -1;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    if (c > max) c = max;
    void *q = realloc(*arr, c * elsize);
    if (!q) return -1;
    memset((char *)q + *cap * elsize, 0, (c - *cap) * elsize);
    *arr = q;
    *cap = c;
    return 0;
}

static tp_value *new_value(tp_state *st, tp_kind k) {
    tp_pickle *p = st->p;
    if (grow((void **)&p->all, &p->cap_all, p->n_all + 1, sizeof *p->all, TP_MAX_VALUES)) {
        FAIL(st, "data.pkl byte %zu: too many values (limit %u) or out of memory", st->op_pos, TP_MAX_VALUES);
        return NULL;
    }
    tp_value *v = calloc(1, sizeof *v);
    if (!v) {
        FAIL(st, "out of memory");
        return NULL;
    }
    v->kind = k;
    v->pos = st->op_pos;
    p->all[p->n_all++] = v;
    return v;
}

static int push(tp_state *st, tp_value *v) {
    if (!v) return -1;
    if (grow((void **)&st->stack, &st->stack_cap, st->sp + 1, sizeof *st->stack, TP_MAX_STACK))
        return FAIL(st, "data.pkl byte %zu: stack deeper than %u entries", st->op_pos, TP_MAX_STACK);
    st->stack[st->sp++] = v;
    return 0;
}

/* the bottom of the current mark frame: items above a MARK may not be popped
 * by a non-mark opcode (CPython's unpickler agrees: they would corrupt it) */
static size_t frame_base(const tp_state *st) { return st->n_marks ? st->marks[st->n_marks - 1] : 0; }

static tp_value *pop(tp_state *st) {
    if (st->sp <= frame_base(st)) {
        FAIL(st, "data.pkl byte %zu: stack underflow", st->op_pos);
        return NULL;
    }
    return st->stack[--st->sp];
}

static tp_value *top(tp_state *st) {
    if (st->sp <= frame_base(st)) {
        FAIL(st, "data.pkl byte %zu: stack underflow", st->op_pos);
        return NULL;
    }
    return st->stack[st->sp - 1];
}

/* pops the items above the last MARK and the mark: *first is their index */
static int pop_mark(tp_state *st, size_t *first) {
    if (!st->n_marks) return FAIL(st, "data.pkl byte %zu: no MARK to pop to", st->op_pos);
    *first = st->marks[--st->n_marks];
    return 0;
}

static int append_item(tp_state *st, tp_value *c, tp_value *v) {
    if (grow((void **)&c->items, &c->cap, c->n + 1, sizeof *c->items, TP_MAX_ITEMS))
        return FAIL(st, "data.pkl byte %zu: a container of more than %u items or out of memory", st->op_pos, TP_MAX_ITEMS);
    c->items[c->n++] = v;
    return 0;
}

static int need(tp_state *st, size_t k) {
    if (st->n - st->pos < k)
        return FAIL(st, "data.pkl byte %zu: truncated (opcode needs %zu more bytes, %zu left)", st->op_pos, k, st->n - st->pos);
    return 0;
}

static uint64_t rd_le(const uint8_t *b, int k) {
    uint64_t x = 0;
    for (int i = k - 1; i >= 0; i--) x = x << 8 | b[i];
    return x;
}

static tp_value *make_tuple(tp_state *st, size_t first) {
    tp_value *t = new_value(st, TP_TUPLE);
    if (!t) return NULL;
    for (size_t i = first; i < st->sp; i++)
        if (append_item(st, t, st->stack[i])) return NULL;
    st->sp = first;
    return t;
}

static int is_int(const tp_value *v) { return v && (v->kind == TP_INT || v->kind == TP_BOOL); }

/* ---- globals ---- */

static int resolve_global(tp_state *st, const char *mod, size_t mlen, const char *name, size_t nlen, tp_value **out) {
    int g = 0;
    tp_dtype dt = TP_F32;
#define IS(s, len, lit) ((len) == sizeof(lit) - 1 && !memcmp((s), (lit), (len)))
    if (IS(mod, mlen, "collections") && IS(name, nlen, "OrderedDict")) g = G_ORDEREDDICT;
    else if (IS(mod, mlen, "torch._utils") && IS(name, nlen, "_rebuild_tensor_v2")) g = G_REBUILD_TENSOR_V2;
    else if (IS(mod, mlen, "torch._utils") && IS(name, nlen, "_rebuild_parameter")) g = G_REBUILD_PARAMETER;
    else if (IS(mod, mlen, "torch"))
        for (int t = 0; t < TP_NDTYPES; t++)
            if (strlen(DTYPES[t].name) == nlen && !memcmp(name, DTYPES[t].name, nlen)) {
                g = G_STORAGE;
                dt = (tp_dtype)t;
            }
#undef IS
    if (!g) {
        /* print it safely: printable ASCII only, at most 60 bytes each */
        char m[64], nm[64];
        size_t a = 0, b = 0;
        for (size_t i = 0; i < mlen && a < 60; i++) m[a++] = (mod[i] >= 32 && mod[i] < 127) ? mod[i] : '?';
        for (size_t i = 0; i < nlen && b < 60; i++) nm[b++] = (name[i] >= 32 && name[i] < 127) ? name[i] : '?';
        m[a] = 0;
        nm[b] = 0;
        return FAIL(st, "data.pkl byte %zu: refused global '%s %s' (only collections.OrderedDict, torch._utils "
                        "tensor rebuilds and torch storage types are allowed; nothing was executed)",
                    st->op_pos, m, nm);
    }
    tp_value *v = new_value(st, TP_GLOBAL);
    if (!v) return -1;
    v->global = g;
    v->dtype = dt;
    *out = v;
    return 0;
}

static const char *global_name(const tp_value *g) {
    switch (g->global) {
    case G_ORDEREDDICT: return "collections OrderedDict";
    case G_REBUILD_TENSOR_V2: return "torch._utils _rebuild_tensor_v2";
    case G_REBUILD_PARAMETER: return "torch._utils _rebuild_parameter";
    default: return "a torch storage type";
    }
}

/* ---- persistent ids: ('storage', TYPE, key, location, numel) ---- */

static int persistent_load(tp_state *st, tp_value *pid, tp_value **out) {
    if (!pid || pid->kind != TP_TUPLE || pid->n != 5 || pid->items[0]->kind != TP_STR || strcmp(pid->items[0]->s, "storage"))
        return FAIL(st, "data.pkl byte %zu: persistent id is not a ('storage', type, key, location, numel) tuple", st->op_pos);
    tp_value *ty = pid->items[1], *key = pid->items[2], *loc = pid->items[3], *numel = pid->items[4];
    if (ty->kind != TP_GLOBAL || ty->global != G_STORAGE)
        return FAIL(st, "data.pkl byte %zu: persistent id's storage type is not a torch storage class", st->op_pos);
    if (key->kind != TP_STR || key->len == 0 || key->len > 64)
        return FAIL(st, "data.pkl byte %zu: storage key is not a short string", st->op_pos);
    for (size_t i = 0; i < key->len; i++) {
        char c = key->s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
            return FAIL(st, "data.pkl byte %zu: storage key '%.64s' has characters other than letters, digits and '_'",
                        st->op_pos, key->s);
    }
    if (loc->kind != TP_STR) return FAIL(st, "data.pkl byte %zu: storage location is not a string", st->op_pos);
    if (numel->kind != TP_INT || numel->i < 0 || numel->i > ((int64_t)1 << 40))
        return FAIL(st, "data.pkl byte %zu: storage '%s' has a bad element count", st->op_pos, key->s);
    tp_pickle *p = st->p;
    for (size_t i = 0; i < p->n_storages; i++) {
        tp_value *s = p->storages[i];
        if (!strcmp(s->s, key->s)) {
            if (s->dtype != ty->dtype || s->i != numel->i)
                return FAIL(st, "data.pkl byte %zu: storage '%s' is declared twice with different types or sizes "
                                "(%s x %lld at byte %zu, %s x %lld here)",
                            st->op_pos, key->s, tp_dtype_name(s->dtype), (long long)s->i, s->pos,
                            tp_dtype_name(ty->dtype), (long long)numel->i);
            *out = s; /* a shared storage: the same value */
            return 0;
        }
    }
    tp_value *s = new_value(st, TP_STORAGE);
    if (!s) return -1;
    s->s = strdup(key->s);
    if (!s->s) return FAIL(st, "out of memory");
    s->dtype = ty->dtype;
    s->i = numel->i;
    if (grow((void **)&p->storages, &p->cap_storages, p->n_storages + 1, sizeof *p->storages, TP_MAX_VALUES))
        return FAIL(st, "out of memory");
    p->storages[p->n_storages++] = s;
    *out = s;
    return 0;
}

/* ---- REDUCE ---- */

static int int_tuple(tp_state *st, const tp_value *t, int64_t *out, const char *what) {
    if (!t || t->kind != TP_TUPLE) return FAIL(st, "data.pkl byte %zu: tensor %s is not a tuple", st->op_pos, what);
    if (t->n > TP_MAX_DIMS) return FAIL(st, "data.pkl byte %zu: tensor has %zu dimensions (at most %d)", st->op_pos, t->n, TP_MAX_DIMS);
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i]->kind != TP_INT || t->items[i]->i < 0 || t->items[i]->i > ((int64_t)1 << 40))
            return FAIL(st, "data.pkl byte %zu: tensor %s entry %zu is not an integer in 0..2^40", st->op_pos, what, i);
        out[i] = t->items[i]->i;
    }
    return 0;
}

static int is_empty_dict(const tp_value *v) { return v && v->kind == TP_DICT && v->n == 0; }

static int rebuild_tensor(tp_state *st, tp_value *args, tp_value **out) {
    if (args->n != 6 && args->n != 7)
        return FAIL(st, "data.pkl byte %zu: _rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", st->op_pos, args->n);
    tp_value *stor = args->items[0], *off = args->items[1], *size = args->items[2], *stride = args->items[3];
    if (stor->kind != TP_STORAGE) return FAIL(st, "data.pkl byte %zu: _rebuild_tensor_v2's first argument is not a storage", st->op_pos);
    if (off->kind != TP_INT || off->i < 0 || off->i > ((int64_t)1 << 40))
        return FAIL(st, "data.pkl byte %zu: tensor storage offset is not an integer in 0..2^40", st->op_pos);
    if (!is_int(args->items[4])) return FAIL(st, "data.pkl byte %zu: tensor requires_grad is not a bool", st->op_pos);
    if (!is_empty_dict(args->items[5]))
        return FAIL(st, "data.pkl byte %zu: tensor has backward hooks (refused: they would be code)", st->op_pos);
    tp_value *t = new_value(st, TP_TENSOR);
    if (!t) return -1;
    if (int_tuple(st, size, t->shape, "size") || int_tuple(st, stride, t->stride, "stride")) return -1;
    if (size->n != stride->n)
        return FAIL(st, "data.pkl byte %zu: tensor size has %zu dimensions but stride %zu", st->op_pos, size->n, stride->n);
    t->ndim = (int)size->n;
    t->storage = stor;
    t->dtype = stor->dtype;
    t->i = off->i;
    /* every element must lie inside the storage: offset + sum((size-1)*stride) < numel.
     * Each term is < 2^80 at worst, so bound them one at a time in unsigned 128-bit-free math. */
    uint64_t numel = 1, last = (uint64_t)off->i;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t sz = (uint64_t)t->shape[d];
        if (sz == 0) numel = 0;
        else if (numel && numel > ((uint64_t)1 << 40) / sz)
            return FAIL(st, "data.pkl byte %zu: tensor has more than 2^40 elements", st->op_pos);
        else numel *= sz;
    }
    if (numel) {
        for (int d = 0; d < t->ndim; d++) {
            uint64_t sz = (uint64_t)t->shape[d], sd = (uint64_t)t->stride[d];
            if (sz > 1 && sd > (((uint64_t)1 << 42) / (sz - 1)))
                return FAIL(st, "data.pkl byte %zu: tensor stride %llu in dimension %d reaches past any storage",
                            st->op_pos, (unsigned long long)sd, d);
            last += (sz - 1) * sd; /* each term < 2^42, at most 8 of them plus 2^40 */
        }
        if (last >= (uint64_t)stor->i)
            return FAIL(st, "data.pkl byte %zu: tensor reaches element %llu of storage '%s', which has %lld elements",
                        st->op_pos, (unsigned long long)last, stor->s, (long long)stor->i);
    }
    *out = t;
    return 0;
}

static int reduce(tp_state *st) {
    tp_value *args = pop(st), *fn = args ? pop(st) : NULL;
    if (!fn) return -1;
    if (fn->kind != TP_GLOBAL)
        return FAIL(st, "data.pkl byte %zu: REDUCE on something that is not an allowed global", st->op_pos);
    if (args->kind != TP_TUPLE)
        return FAIL(st, "data.pkl byte %zu: REDUCE of %s with arguments that are not a tuple", st->op_pos, global_name(fn));
    tp_value *res = NULL;
    switch (fn->global) {
    case G_ORDEREDDICT:
        if (args->n != 0) return FAIL(st, "data.pkl byte %zu: OrderedDict called with arguments (refused)", st->op_pos);
        if (!(res = new_value(st, TP_DICT))) return -1;
        break;
    case G_REBUILD_TENSOR_V2:
        if (rebuild_tensor(st, args, &res)) return -1;
        break;
    case G_REBUILD_PARAMETER:
        if (args->n != 3 || args->items[0]->kind != TP_TENSOR || !is_int(args->items[1]) || !is_empty_dict(args->items[2]))
            return FAIL(st, "data.pkl byte %zu: _rebuild_parameter needs (tensor, requires_grad, {})", st->op_pos);
        res = args->items[0];
        break;
    default:
        return FAIL(st, "data.pkl byte %zu: REDUCE on torch %s refused (storages come only from persistent ids)",
                    st->op_pos, tp_dtype_name(fn->dtype));
    }
    return push(st, res);
}

/* ---- the interpreter ---- */

static int read_str(tp_state *st, size_t lenbytes) {
    if (need(st, lenbytes)) return -1;
    uint64_t len = rd_le(st->buf + st->pos, (int)lenbytes);
    st->pos += lenbytes;
    if (len > TP_MAX_STR) return FAIL(st, "data.pkl byte %zu: string of %llu bytes (limit %u)", st->op_pos, (unsigned long long)len, TP_MAX_STR);
    if (need(st, (size_t)len)) return -1;
    if (memchr(st->buf + st->pos, 0, (size_t)len)) return FAIL(st, "data.pkl byte %zu: string holds a NUL byte", st->op_pos);
    tp_value *v = new_value(st, TP_STR);
    if (!v) return -1;
    v->s = malloc((size_t)len + 1);
    if (!v->s) return FAIL(st, "out of memory");
    memcpy(v->s, st->buf + st->pos, (size_t)len);
    v->s[len] = 0;
    v->len = (size_t)len;
    st->pos += (size_t)len;
    return push(st, v);
}

static int memo_put(tp_state *st, uint64_t idx) {
    tp_value *v = top(st);
    if (!v) return -1;
    if (idx >= TP_MAX_MEMO) return FAIL(st, "data.pkl byte %zu: memo index %llu (limit %u)", st->op_pos, (unsigned long long)idx, TP_MAX_MEMO);
    if (grow((void **)&st->memo, &st->memo_cap, (size_t)idx + 1, sizeof *st->memo, TP_MAX_MEMO)) return FAIL(st, "out of memory");
    st->memo[idx] = v;
    if (idx + 1 > st->memo_next) st->memo_next = (size_t)idx + 1;
    return 0;
}

static int memo_get(tp_state *st, uint64_t idx) {
    if (idx >= st->memo_cap || !st->memo[idx])
        return FAIL(st, "data.pkl byte %zu: memo entry %llu was never stored", st->op_pos, (unsigned long long)idx);
    return push(st, st->memo[idx]);
}

static int new_int(tp_state *st, tp_kind k, int64_t x) {
    tp_value *v = new_value(st, k);
    if (!v) return -1;
    v->i = x;
    return push(st, v);
}

static int setitems(tp_state *st, size_t first) {
    if ((st->sp - first) % 2) return FAIL(st, "data.pkl byte %zu: SETITEMS with an odd number of items", st->op_pos);
    if (first == 0 || first <= frame_base(st)) return FAIL(st, "data.pkl byte %zu: SETITEMS without a dict", st->op_pos);
    tp_value *d = st->stack[first - 1];
    if (d->kind != TP_DICT) return FAIL(st, "data.pkl byte %zu: SETITEM(S) on something that is not a dict", st->op_pos);
    for (size_t i = first; i < st->sp; i++)
        if (append_item(st, d, st->stack[i])) return -1;
    st->sp = first;
    return 0;
}

static int appends(tp_state *st, size_t first) {
    if (first == 0 || first <= frame_base(st)) return FAIL(st, "data.pkl byte %zu: APPENDS without a list", st->op_pos);
    tp_value *l = st->stack[first - 1];
    if (l->kind != TP_LIST) return FAIL(st, "data.pkl byte %zu: APPEND(S) on something that is not a list", st->op_pos);
    for (size_t i = first; i < st->sp; i++)
        if (append_item(st, l, st->stack[i])) return -1;
    st->sp = first;
    return 0;
}

static int step(tp_state *st, int *done) {
    st->op_pos = st->pos;
    uint8_t op = st->buf[st->pos++];
    size_t first = 0;
    tp_value *v = NULL, *w = NULL;
    switch (op) {
    case 0x80: /* PROTO */
        if (need(st, 1)) return -1;
        if (st->buf[st->pos] < 2 || st->buf[st->pos] > 5)
            return FAIL(st, "data.pkl byte %zu: pickle protocol %d (only 2..5)", st->op_pos, st->buf[st->pos]);
        st->pos++;
        return 0;
    case 0x95: /* FRAME: an 8-byte length; frames are just a hint to buffered readers */
        if (need(st, 8)) return -1;
        st->pos += 8;
        return 0;
    case '}': return push(st, new_value(st, TP_DICT));
    case ']': return push(st, new_value(st, TP_LIST));
    case ')': return push(st, new_value(st, TP_TUPLE));
    case '(':
        if (grow((void **)&st->marks, &st->marks_cap, st->n_marks + 1, sizeof *st->marks, TP_MAX_MARKS))
            return FAIL(st, "data.pkl byte %zu: more than %u nested MARKs", st->op_pos, TP_MAX_MARKS);
        st->marks[st->n_marks++] = st->sp;
        return 0;
    case 'X': return read_str(st, 4);      /* BINUNICODE */
    case 0x8c: return read_str(st, 1);     /* SHORT_BINUNICODE */
    case 0x8d: return read_str(st, 8);     /* BINUNICODE8 */
    case 'J':                              /* BININT: signed 32-bit */
        if (need(st, 4)) return -1;
        st->pos += 4;
        return new_int(st, TP_INT, (int32_t)(uint32_t)rd_le(st->buf + st->pos - 4, 4));
    case 'K':                              /* BININT1 */
        if (need(st, 1)) return -1;
        return new_int(st, TP_INT, st->buf[st->pos++]);
    case 'M':                              /* BININT2 */
        if (need(st, 2)) return -1;
        st->pos += 2;
        return new_int(st, TP_INT, (int64_t)rd_le(st->buf + st->pos - 2, 2));
    case 0x8a: {                           /* LONG1: n bytes, little-endian two's complement */
        if (need(st, 1)) return -1;
        size_t k = st->buf[st->pos++];
        if (k > 8) return FAIL(st, "data.pkl byte %zu: LONG1 of %zu bytes (integers beyond 64 bits refused)", st->op_pos, k);
        if (need(st, k)) return -1;
        uint64_t x = k ? rd_le(st->buf + st->pos, (int)k) : 0;
        if (k && k < 8 && (st->buf[st->pos + k - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * k); /* sign-extend */
        st->pos += k;
        return new_int(st, TP_INT, (int64_t)x);
    }
    case 'G': {                            /* BINFLOAT: big-endian double */
        if (need(st, 8)) return -1;
        uint64_t x = 0;
        for (int i = 0; i < 8; i++) x = x << 8 | st->buf[st->pos + i];
        st->pos += 8;
        if (!(v = new_value(st, TP_FLOAT))) return -1;
        memcpy(&v->f, &x, 8);
        return push(st, v);
    }
    case 'N': return push(st, new_value(st, TP_NONE));
    case 0x88: return new_int(st, TP_BOOL, 1); /* NEWTRUE */
    case 0x89: return new_int(st, TP_BOOL, 0); /* NEWFALSE */
    case 't':                              /* TUPLE */
        if (pop_mark(st, &first)) return -1;
        return push(st, make_tuple(st, first));
    case 0x85: case 0x86: case 0x87: {     /* TUPLE1..3 */
        size_t k = (size_t)(op - 0x84);
        if (st->sp < frame_base(st) + k) return FAIL(st, "data.pkl byte %zu: stack underflow", st->op_pos);
        return push(st, make_tuple(st, st->sp - k));
    }
    case 's':                              /* SETITEM */
        if (st->sp < frame_base(st) + 3) return FAIL(st, "data.pkl byte %zu: stack underflow", st->op_pos);
        return setitems(st, st->sp - 2);
    case 'u':                              /* SETITEMS */
        if (pop_mark(st, &first)) return -1;
        return setitems(st, first);
    case 'a':                              /* APPEND */
        if (st->sp < frame_base(st) + 2) return FAIL(st, "data.pkl byte %zu: stack underflow", st->op_pos);
        return appends(st, st->sp - 1);
    case 'e':                              /* APPENDS */
        if (pop_mark(st, &first)) return -1;
        return appends(st, first);
    case 'q':                              /* BINPUT */
        if (need(st, 1)) return -1;
        return memo_put(st, st->buf[st->pos++]);
    case 'r':                              /* LONG_BINPUT */
        if (need(st, 4)) return -1;
        st->pos += 4;
        return memo_put(st, rd_le(st->buf + st->pos - 4, 4));
    case 0x94: return memo_put(st, st->memo_next); /* MEMOIZE */
    case 'h':                              /* BINGET */
        if (need(st, 1)) return -1;
        return memo_get(st, st->buf[st->pos++]);
    case 'j':                              /* LONG_BINGET */
        if (need(st, 4)) return -1;
        st->pos += 4;
        return memo_get(st, rd_le(st->buf + st->pos - 4, 4));
    case 'c': {                            /* GLOBAL "module\nname\n" */
        const char *m = (const char *)st->buf + st->pos;
        const char *e1 = memchr(m, '\n', st->n - st->pos);
        if (!e1) return FAIL(st, "data.pkl byte %zu: GLOBAL without a newline after the module", st->op_pos);
        const char *nm = e1 + 1;
        const char *e2 = memchr(nm, '\n', (size_t)((const char *)st->buf + st->n - nm));
        if (!e2) return FAIL(st, "data.pkl byte %zu: GLOBAL without a newline after the name", st->op_pos);
        st->pos = (size_t)((const uint8_t *)e2 + 1 - st->buf);
        if (resolve_global(st, m, (size_t)(e1 - m), nm, (size_t)(e2 - nm), &v)) return -1;
        return push(st, v);
    }
    case 0x93:                             /* STACK_GLOBAL: module, name strings */
        if (!(w = pop(st)) || !(v = pop(st))) return -1;
        if (v->kind != TP_STR || w->kind != TP_STR)
            return FAIL(st, "data.pkl byte %zu: STACK_GLOBAL of something that is not two strings", st->op_pos);
        if (resolve_global(st, v->s, v->len, w->s, w->len, &v)) return -1;
        return push(st, v);
    case 'R': return reduce(st);
    case 'Q':                              /* BINPERSID */
        if (!(v = pop(st))) return -1;
        if (persistent_load(st, v, &w)) return -1;
        return push(st, w);
    case 'b':                              /* BUILD: only an OrderedDict's attributes (torch's _metadata) */
        if (!(w = pop(st)) || !(v = top(st))) return -1;
        if (v->kind != TP_DICT || (w->kind != TP_DICT && w->kind != TP_NONE))
            return FAIL(st, "data.pkl byte %zu: BUILD on something other than a dict's attributes (refused)", st->op_pos);
        return 0; /* the attributes are dropped */
    case '.':                              /* STOP */
        if (!(v = pop(st))) return -1;
        st->p->root = v;
        *done = 1;
        return 0;
    default:
        return FAIL(st, "data.pkl byte %zu: opcode 0x%02x ('%c') is not one a state_dict pickle uses (refused)", st->op_pos, op,
                    op >= 32 && op < 127 ? op : '?');
    }
}

void tp_free(tp_pickle *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_all; i++) {
        free(p->all[i]->s);
        free(p->all[i]->items);
        free(p->all[i]);
    }
    free(p->all);
    free(p->storages);
    memset(p, 0, sizeof *p);
}

int tp_load(const uint8_t *buf, size_t n, tp_pickle *out, ic_err *err) {
    memset(out, 0, sizeof *out);
    tp_state st = {.buf = buf, .n = n, .p = out, .err = err};
    int done = 0, rc = 0;
    while (!done && rc == 0) {
        if (st.pos >= n) {
            rc = FAIL(&st, "data.pkl byte %zu: ends without STOP", n);
            break;
        }
        rc = step(&st, &done);
    }
    if (rc == 0 && st.pos != n) rc = FAIL(&st, "data.pkl byte %zu: %zu bytes after STOP", st.pos, n - st.pos);
    free(st.stack);
    free(st.marks);
    free(st.memo);
    if (rc) tp_free(out);
    return rc;
}

const tp_value *tp_dict_get(const tp_value *d, const char *key) {
    if (!d || d->kind != TP_DICT) return NULL;
    const tp_value *r = NULL;
    for (size_t i = 0; i + 1 < d->n; i += 2)
        if (d->items[i]->kind == TP_STR && !strcmp(d->items[i]->s, key)) r = d->items[i + 1];
    return r;
}
