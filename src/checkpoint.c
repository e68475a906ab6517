#include "checkpoint.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "gemm.h"
#include "safetensors.h"

void ic_checkpoint_tensor_name(int k, int b, char *buf, size_t len) {
    if (ic_param_is_per_block(k)) snprintf(buf, len, "_backbone.h.%d.%s", b, ic_param_ckpt_name(k));
    else snprintf(buf, len, "%s", ic_param_ckpt_name(k));
}

/* Shape of one tensor (one block's slice for per-block tensors). */
char *ic_checksums_json(const st_wtensor *ts, int n) {
    json_t *o = json_object();
    for (int i = 0; o && i < n; i++) {
        uint64_t numel = 1;
        for (int k = 0; k < ts[i].ndim; k++) numel *= (uint64_t)ts[i].shape[k];
        char hex[16];
        snprintf(hex, sizeof hex, "%08lx", ic_crc32(0, ts[i].data, (size_t)(numel * st_dtype_size(ts[i].dtype))));
        if (json_object_set_new(o, ts[i].name, json_string(hex))) { json_decref(o); return NULL; }
    }
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

int ic_checksums_verify(const st_file *f, int required, ic_err *err) {
    const char *text = st_meta(f, IC_CHECKSUM_KEY);
    if (!text) return required ? ic_errf(err, "no '%s' metadata (tensor checksums); the header was altered", IC_CHECKSUM_KEY) : 0;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    int rc = 0;
    if (!json_is_object(o)) {
        rc = ic_errf(err, "metadata '%s' is not a JSON object of checksums; the header was altered", IC_CHECKSUM_KEY);
        goto done;
    }
    for (int i = 0; i < f->n_tensors && rc == 0; i++) {
        const st_tensor *t = &f->tensors[i];
        const char *want = json_string_value(json_object_get(o, t->name));
        if (!want) {
            rc = ic_errf(err, "tensor '%s' has no checksum in '%s'; the file was altered", t->name, IC_CHECKSUM_KEY);
            break;
        }
        char got[16];
        snprintf(got, sizeof got, "%08lx", ic_crc32(0, f->buf + f->data_start + t->begin, (size_t)(t->end - t->begin)));
        if (strcmp(got, want) != 0)
            rc = ic_errf(err, "tensor '%s' fails its checksum (stored crc32 %s, computed %s): the file is corrupted",
                         t->name, want, got);
    }
    if (rc == 0 && json_object_size(o) != (size_t)f->n_tensors) {
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v) {
            if (!st_find(f, key)) {
                rc = ic_errf(err, "'%s' lists tensor '%s', which the file lacks; the file was altered", IC_CHECKSUM_KEY, key);
                break;
            }
        }
    }
done:
    json_decref(o);
    return rc;
}

int ic_check_finite(const char *name, const float *x, size_t n, ic_err *err) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return ic_errf(err, "tensor '%s' holds %s at index %zu; refusing a non-finite model (a diverged or corrupted run)",
                           name, isnan(x[i]) ? "NaN" : x[i] > 0 ? "+inf" : "-inf", i);
    return 0;
}

static char *config_json(const ic_config *c) {
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i}", "n_dims", c->n_dims, "n_positions", c->n_positions,
                          "n_embd", c->n_embd, "n_layer", c->n_layer, "n_head", c->n_head);
    // block kinds, only when some block is not a full one: an array of "full" | "attn" | "mlp", one per block
    if (o && ic_config_has_kinds(c)) {
        json_t *k = json_array();
        for (int b = 0; k && b < c->n_layer; b++) json_array_append_new(k, json_string(ic_block_kind_name(c->kind[b])));
        if (!k || json_object_set_new(o, "block_kinds", k)) {
            json_decref(o);
            return NULL;
        }
    }
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

static char *schedule_json(const ic_schedule *s) {
    json_t *steps = json_array();
    for (int i = 0; i < s->n; i++) json_array_append_new(steps, json_integer(s->steps[i]));
    json_t *o = json_pack("{s:o, s:i, s:i, s:i, s:b, s:b}", "steps", steps, "loops", s->loops, "loss_loops",
                          s->loss_loops, "grad_loops", s->grad_loops, "inject", s->inject, "loop_lnf", s->loop_lnf);
    // parallel groups: the 0-based indices of the steps with par = 1, only when there are any
    json_t *par = json_array();
    for (int i = 1; i < s->n; i++)
        if (s->par[i]) json_array_append_new(par, json_integer(i));
    if (o && json_array_size(par) > 0) json_object_set(o, "parallel", par);
    json_decref(par);
    // prelude / coda (entries before and after the looped core) and the loop signal, only when used
    if (o && s->prelude) json_object_set_new(o, "prelude", json_integer(s->prelude));
    if (o && s->coda) json_object_set_new(o, "coda", json_integer(s->coda));
    if (o && s->loop_signal) json_object_set_new(o, "loop_signal", json_true());
    char *out = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return out;
}

int ic_checkpoint_save(const char *path, const ic_model *m, const ic_schedule *s,
                       const char *const *extra_keys, const char *const *extra_vals, int n_extra,
                       ic_err *err) {
    return ic_checkpoint_save_as(path, m, s, IC_PREC_FP32, extra_keys, extra_vals, n_extra, err);
}

/* m's parameters as bf16 bits in the parameter layout (malloc'ed), or NULL
 * with err filled: out of memory, or a weight beyond bf16's range (it would
 * round to an infinity, which no loader accepts). */
static uint16_t *params_bf16(const ic_model *m, ic_err *err) {
    uint16_t *h = malloc((m->num_params ? m->num_params : 1) * sizeof *h);
    if (!h) {
        ic_errf(err, "out of memory for the bf16 copy of %zu parameters", m->num_params);
        return NULL;
    }
    ic_bf16_bits(h, m->params_mem, m->num_params);
    for (size_t i = 0; i < m->num_params; i++)
        if ((h[i] & 0x7f80u) == 0x7f80u) {
            ic_errf(err, "parameter %zu (%g) is not finite in bf16 (beyond its range, about 3.39e38); "
                    "write this model as fp32", i, (double)m->params_mem[i]);
            free(h);
            return NULL;
        }
    return h;
}

int ic_checkpoint_save_as(const char *path, const ic_model *m, const ic_schedule *s, ic_precision dtype,
                          const char *const *extra_keys, const char *const *extra_vals, int n_extra,
                          ic_err *err) {
    const ic_config *c = &m->cfg;
    ic_schedule def;
    if (!s) {
        ic_schedule_default(&def, c->n_layer);
        s = &def;
    }
    if (ic_schedule_validate(s, c->n_layer, err)) return ic_err_prefix(err, "%s", path);
    int nt = 0;
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) nt += ic_param_is_per_block(k) ? c->n_layer : 1;
    st_wtensor *ts = calloc((size_t)nt, sizeof *ts);
    char *names = calloc((size_t)nt, 64);
    const char **keys = calloc((size_t)n_extra + 4, sizeof *keys);
    const char **vals = calloc((size_t)n_extra + 4, sizeof *vals);
    char *cj = config_json(c), *sj = schedule_json(s), *crc = NULL;
    uint16_t *half = NULL; /* bf16: the parameters' bits, in the parameter layout */
    int rc = -1;
    if (!ts || !names || !keys || !vals || !cj || !sj) {
        ic_errf(err, "out of memory");
        goto done;
    }
    if (dtype == IC_PREC_BF16 && !(half = params_bf16(m, err))) {
        ic_err_prefix(err, "%s", path);
        goto done;
    }
    // PyTorch state_dict order: the global tensors before the first per-block one (read_in, wpe),
    // h.0 .. h.<n_layer-1> (each block's tensors in table order), then the rest (ln_f, read_out)
    int first_blk = 0, end_blk = 0;
    while (first_blk < IC_NUM_PARAM_TENSORS && !ic_param_is_per_block(first_blk)) first_blk++;
    for (end_blk = first_blk; end_blk < IC_NUM_PARAM_TENSORS && ic_param_is_per_block(end_blk); end_blk++) {}
    int j = 0;
#define ADD(k, b) do {                                                               \
        char *nm = names + (size_t)j * 64;                                           \
        ic_checkpoint_tensor_name((k), (b), nm, 64);                                 \
        ts[j].name = nm;                                                             \
        ts[j].dtype = half ? ST_BF16 : ST_F32;                                       \
        ts[j].ndim = ic_param_shape(c, (k), ts[j].shape);                            \
        ts[j].data = ic_model_tensor(m, (k), (b));                                   \
        if (half) ts[j].data = half + (ic_model_tensor(m, (k), (b)) - m->params_mem);  \
        j++;                                                                         \
    } while (0)
    for (int k = 0; k < first_blk; k++) ADD(k, 0);
    for (int b = 0; b < c->n_layer; b++)
        for (int k = first_blk; k < end_blk; k++) ADD(k, b);
    for (int k = end_blk; k < IC_NUM_PARAM_TENSORS; k++) ADD(k, 0);
#undef ADD
    keys[0] = "format"; vals[0] = "iclab-1";
    keys[1] = "iclab_config"; vals[1] = cj;
    keys[2] = "iclab_schedule"; vals[2] = sj;
    if (!(crc = ic_checksums_json(ts, j))) {
        ic_errf(err, "out of memory");
        goto done;
    }
    keys[3] = IC_CHECKSUM_KEY; vals[3] = crc;
    for (int i = 0; i < n_extra; i++) { keys[4 + i] = extra_keys[i]; vals[4 + i] = extra_vals[i]; }
    rc = st_write_file(path, ts, j, keys, vals, n_extra + 4, err);
done:
    free(ts); free(names); free(keys); free(vals); free(cj); free(sj); free(crc); free(half);
    return rc;
}

/* Integer key of a metadata object, range-checked before it is narrowed to
 * an int (a JSON integer is 64-bit: 2^32 + 1 must not become 1). */
static int meta_int(json_t *o, const char *what, const char *key, long long min, long long max, int *out, ic_err *err) {
    json_t *v = json_object_get(o, key);
    if (!v) return ic_errf(err, "metadata '%s': missing integer '%s'", what, key);
    if (!json_is_integer(v)) return ic_errf(err, "metadata '%s': '%s' is not an integer", what, key);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return ic_errf(err, "metadata '%s': %s is %lld, outside %lld..%lld", what, key, (long long)x, min, max);
    *out = (int)x;
    return 0;
}

/* The range of a model-config key, from the run-config key table. */
static int config_meta_int(json_t *o, const char *key, int *out, ic_err *err) {
    const ic_key *k = ic_run_config_find_key(key);
    return meta_int(o, "iclab_config", key, (long long)k->min, (long long)k->max, out, err);
}

static int parse_config_meta(const char *text, ic_config *c, ic_err *err) {
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    int rc = 0;
    if (!json_is_object(o))
        rc = ic_errf(err, "metadata 'iclab_config' is not a valid model config (need integer n_dims, n_positions, n_embd, n_layer, n_head)");
    else if (config_meta_int(o, "n_dims", &c->n_dims, err) || config_meta_int(o, "n_positions", &c->n_positions, err) ||
             config_meta_int(o, "n_embd", &c->n_embd, err) || config_meta_int(o, "n_layer", &c->n_layer, err) ||
             config_meta_int(o, "n_head", &c->n_head, err))
        rc = -1;
    json_t *kinds = rc == 0 ? json_object_get(o, "block_kinds") : NULL; /* optional: all full without it */
    if (kinds && (!json_is_array(kinds) || json_array_size(kinds) != (size_t)c->n_layer || c->n_layer > IC_MAX_LAYER))
        rc = ic_errf(err, "metadata 'iclab_config': block_kinds must be an array of %d kinds (one per block)", c->n_layer);
    for (size_t b = 0; rc == 0 && kinds && b < json_array_size(kinds); b++) {
        const char *k = json_string_value(json_array_get(kinds, b));
        int kind = -1;
        for (int j = 0; k && j <= IC_BLOCK_MLP; j++)
            if (!strcmp(k, ic_block_kind_name(j))) kind = j;
        if (kind < 0) rc = ic_errf(err, "metadata 'iclab_config': block_kinds[%zu] is not \"full\", \"attn\" or \"mlp\"", b);
        else c->kind[b] = (unsigned char)kind;
    }
    json_decref(o);
    return rc;
}

static int parse_schedule_meta(const char *text, ic_schedule *s, ic_err *err) {
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    json_t *steps = json_is_object(o) ? json_object_get(o, "steps") : NULL;
    json_t *inj = json_is_object(o) ? json_object_get(o, "inject") : NULL;
    json_t *lnf = json_is_object(o) ? json_object_get(o, "loop_lnf") : NULL;
    int rc = 0;
    if (!json_is_array(steps) || json_array_size(steps) < 1 || json_array_size(steps) > IC_MAX_SCHEDULE ||
        !json_is_boolean(inj) || !json_is_boolean(lnf)) {
        rc = ic_errf(err, "metadata 'iclab_schedule' is malformed (need steps [..], loops, loss_loops, inject, loop_lnf)");
    } else if (meta_int(o, "iclab_schedule", "loops", 1, IC_MAX_LOOPS, &s->loops, err) ||
               meta_int(o, "iclab_schedule", "loss_loops", 1, IC_MAX_LOOPS, &s->loss_loops, err)) {
        rc = -1;
    } else {
        s->n = (int)json_array_size(steps);
        for (int i = 0; i < s->n && rc == 0; i++) {
            json_t *e = json_array_get(steps, (size_t)i);
            json_int_t v = json_is_integer(e) ? json_integer_value(e) : -1;
            if (!json_is_integer(e)) rc = ic_errf(err, "metadata 'iclab_schedule': step %d is not an integer block index", i + 1);
            else if (v < 0 || v > 4095)
                rc = ic_errf(err, "metadata 'iclab_schedule': step %d is %lld, outside 0..4095 (block indices)", i + 1, (long long)v);
            else s->steps[i] = (int)v;
        }
        // optional "parallel": 0-based indices of the steps that run in parallel with the step
        // before them (absent: no parallel groups)
        memset(s->par, 0, sizeof s->par);
        json_t *par = json_object_get(o, "parallel");
        if (rc == 0 && par && !json_is_array(par))
            rc = ic_errf(err, "metadata 'iclab_schedule': parallel is not an array of step indices");
        for (size_t i = 0; rc == 0 && par && i < json_array_size(par); i++) {
            json_t *e = json_array_get(par, i);
            json_int_t v = json_is_integer(e) ? json_integer_value(e) : 0;
            if (!json_is_integer(e))
                rc = ic_errf(err, "metadata 'iclab_schedule': parallel entry %zu is not an integer step index", i + 1);
            else if (v == 0)
                rc = ic_errf(err, "metadata 'iclab_schedule': parallel entry %zu is step 0, which has no step before it to run in parallel with",
                             i + 1);
            else if (v < 0 || v >= s->n)
                rc = ic_errf(err, "metadata 'iclab_schedule': parallel entry %zu is %lld, but the schedule has steps 0..%d",
                             i + 1, (long long)v, s->n - 1);
            else if (s->par[v])
                rc = ic_errf(err, "metadata 'iclab_schedule': parallel lists step %lld twice", (long long)v);
            else
                s->par[v] = 1;
        }
        s->grad_loops = 0; /* optional: older files have none */
        if (rc == 0 && json_object_get(o, "grad_loops"))
            rc = meta_int(o, "iclab_schedule", "grad_loops", 0, IC_MAX_LOOPS, &s->grad_loops, err);
        s->prelude = s->coda = s->loop_signal = 0; /* optional: only schedules that use them have them */
        if (rc == 0 && json_object_get(o, "prelude"))
            rc = meta_int(o, "iclab_schedule", "prelude", 0, IC_MAX_SCHEDULE, &s->prelude, err);
        if (rc == 0 && json_object_get(o, "coda"))
            rc = meta_int(o, "iclab_schedule", "coda", 0, IC_MAX_SCHEDULE, &s->coda, err);
        json_t *sig = json_object_get(o, "loop_signal");
        if (rc == 0 && sig && !json_is_boolean(sig))
            rc = ic_errf(err, "metadata 'iclab_schedule': loop_signal is not true or false");
        s->loop_signal = sig && json_is_true(sig);
        s->inject = json_is_true(inj);
        s->loop_lnf = json_is_true(lnf);
    }
    json_decref(o);
    return rc;
}

static int is_ignored_tensor(const char *name) {
    if (!strcmp(name, "_backbone.wte.weight")) return 1;
    int i, used = 0;
    if (sscanf(name, "_backbone.h.%d.attn.bias%n", &i, &used) == 1 && name[used] == 0) return 1;
    used = 0;
    if (sscanf(name, "_backbone.h.%d.attn.masked_bias%n", &i, &used) == 1 && name[used] == 0) return 1;
    return 0;
}

static int load_inner(const st_file *f, ic_model *m, ic_schedule *s, int n_head, char *notice,
                      size_t notice_len, ic_err *err) {
    ic_config c;
    memset(&c, 0, sizeof c);
    const char *cm = st_meta(f, "iclab_config");
    if (cm) {
        if (parse_config_meta(cm, &c, err)) return -1;
        if (n_head && n_head != c.n_head)
            return ic_errf(err, "--n_head %d disagrees with the checkpoint's n_head %d", n_head, c.n_head);
    } else {
        // a converted Garg et al. checkpoint: shapes give d, e, blocks and positions
        const st_tensor *ri = st_find(f, "_read_in.weight"), *wpe = st_find(f, "_backbone.wpe.weight");
        if (!ri || ri->ndim != 2) return ic_errf(err, "no iclab metadata, and no 2-d tensor '_read_in.weight' to infer the model from");
        if (!wpe || wpe->ndim != 2) return ic_errf(err, "no iclab metadata, and no 2-d tensor '_backbone.wpe.weight' to infer the model from");
        if (ri->shape[0] > 65536 || ri->shape[1] > 100000 || wpe->shape[0] > 200000)
            return ic_errf(err, "tensor shapes are implausibly large for this model");
        c.n_embd = (int)ri->shape[0];
        c.n_dims = (int)ri->shape[1];
        if (wpe->shape[0] % 2) return ic_errf(err, "'_backbone.wpe.weight' has %lld rows; expected 2 per point (an even count)", (long long)wpe->shape[0]);
        c.n_positions = (int)(wpe->shape[0] / 2);
        char nm[96];
        c.n_layer = 0;
        for (;;) {
            snprintf(nm, sizeof nm, "_backbone.h.%d.ln_1.weight", c.n_layer);
            if (!st_find(f, nm) || c.n_layer >= 4096) break;
            c.n_layer++;
        }
        if (c.n_layer == 0) return ic_errf(err, "missing tensor '_backbone.h.0.ln_1.weight': no transformer blocks found");
        if (!n_head) return ic_errf(err, "checkpoint has no iclab metadata (a converted Garg et al. file?): pass --n_head N");
        c.n_head = n_head;
    }
    if (ic_config_validate(&c, err)) return ic_err_prefix(err, "checkpoint config");
    // every tensor must be one we know or one we deliberately ignore
    int n_ignored = 0;
    char first_ignored[96] = "";
    for (int i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        if (is_ignored_tensor(name)) {
            if (!n_ignored++) snprintf(first_ignored, sizeof first_ignored, "%s", name);
            continue;
        }
        int ok = 0, b;
        char tail[64];
        for (int k = 0; k < IC_NUM_PARAM_TENSORS && !ok; k++)
            ok = !ic_param_is_per_block(k) && !strcmp(name, ic_param_ckpt_name(k));
        if (!ok && sscanf(name, "_backbone.h.%d.%63s", &b, tail) == 2 && b >= 0 && b < c.n_layer)
            for (int k = 0; k < IC_NUM_PARAM_TENSORS && !ok; k++) {
                if (!ic_param_is_per_block(k)) continue;
                char canon[96]; /* rejects spellings sscanf tolerates, like h.01 or h.+1 */
                ic_checkpoint_tensor_name(k, b, canon, sizeof canon);
                ok = !strcmp(name, canon);
            }
        if (!ok) return ic_errf(err, "unexpected tensor '%s' (not part of a %d-block model)", name, c.n_layer);
    }
    if (ic_model_create(m, &c, err)) return -1;
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
        int nb = ic_param_is_per_block(k) ? c.n_layer : 1;
        for (int b = 0; b < nb; b++) {
            char nm[96];
            ic_checkpoint_tensor_name(k, b, nm, sizeof nm);
            const st_tensor *t = st_find(f, nm);
            if (!t) { ic_model_free(m); return ic_errf(err, "missing tensor '%s'", nm); }
            int64_t shape[2];
            int nd = ic_param_shape(&c, k, shape);
            int same = t->ndim == nd;
            for (int i = 0; same && i < nd; i++) same = t->shape[i] == shape[i];
            if (!same) {
                ic_model_free(m);
                if (nd == 2)
                    return ic_errf(err, "tensor '%s' should have shape [%lld,%lld] for this model (d=%d, e=%d)", nm,
                                   (long long)shape[0], (long long)shape[1], c.n_dims, c.n_embd);
                return ic_errf(err, "tensor '%s' should have shape [%lld] for this model (e=%d)", nm, (long long)shape[0], c.n_embd);
            }
            size_t numel = (size_t)shape[0] * (nd == 2 ? (size_t)shape[1] : 1);
            if (st_read_f32(f, t, ic_model_tensor(m, k, b), numel, err) ||
                ic_check_finite(nm, ic_model_tensor(m, k, b), numel, err)) {
                ic_model_free(m);
                return -1;
            }
        }
    }
    ic_schedule_default(s, c.n_layer);
    const char *sm = st_meta(f, "iclab_schedule");
    if (sm && (parse_schedule_meta(sm, s, err) || ic_schedule_validate(s, c.n_layer, err))) {
        ic_model_free(m);
        return -1;
    }
    if (notice && notice_len) {
        notice[0] = 0;
        if (n_ignored)
            snprintf(notice, notice_len, "ignored %d unused tensor%s (e.g. '%s': GPT-2 buffers not used by this model)",
                     n_ignored, n_ignored > 1 ? "s" : "", first_ignored);
    }
    return 0;
}

int ic_checkpoint_load_st(const st_file *f, ic_model *m, ic_schedule *s, int n_head, char *notice,
                          size_t notice_len, ic_err *err) {
    memset(m, 0, sizeof *m);
    if (ic_checksums_verify(f, 0, err)) return -1;
    return load_inner(f, m, s, n_head, notice, notice_len, err);
}

int ic_checkpoint_load_run(const char *path, ic_model *m, ic_schedule *s, int n_head, char *notice,
                           size_t notice_len, ic_run_config *run_cfg, ic_err *err) {
    memset(m, 0, sizeof *m);
    st_file f;
    if (st_read_file(path, &f, err)) return -1;
    int rc = ic_checksums_verify(&f, 0, err) ? -1 : load_inner(&f, m, s, n_head, notice, notice_len, err);
    if (rc == 0 && run_cfg) {
        ic_run_config_default(run_cfg);
        const char *j = st_meta(&f, "iclab_run_config");
        /* a record that does not parse is an error: reading it up to the bad key and
         * keeping defaults for the rest silently evaluated on the wrong task */
        if (j && ic_run_config_load_json(run_cfg, j, "metadata 'iclab_run_config'", err)) {
            ic_model_free(m);
            rc = -1;
        }
    }
    st_free(&f);
    if (rc) return ic_err_prefix(err, "%s", path);
    return 0;
}

int ic_checkpoint_load(const char *path, ic_model *m, ic_schedule *s, int n_head,
                       char *notice, size_t notice_len, ic_err *err) {
    return ic_checkpoint_load_run(path, m, s, n_head, notice, notice_len, NULL, err);
}

int ic_checkpoint_convert(const char *in_path, const char *out_path, ic_precision dtype, int n_head,
                          ic_config *cfg, ic_err *err) {
    if (ic_same_file(in_path, out_path) == 1)
        return ic_errf(err, "%s: the output is the input file; write the converted model elsewhere", out_path);
    st_file f;
    if (st_read_file(in_path, &f, err)) return -1;
    ic_model m;
    ic_schedule *s = malloc(sizeof *s);
    const char **keys = calloc((size_t)f.n_meta + 1, sizeof *keys), **vals = calloc((size_t)f.n_meta + 1, sizeof *vals);
    int rc = -1, n = 0;
    memset(&m, 0, sizeof m);
    if (!s || !keys || !vals) {
        ic_errf(err, "out of memory");
        goto done;
    }
    if (ic_checkpoint_load_st(&f, &m, s, n_head, NULL, 0, err)) {
        ic_err_prefix(err, "%s", in_path);
        goto done;
    }
    for (int i = 0; i < f.n_meta; i++) {
        const char *k = f.meta_keys[i];
        if (strcmp(k, "format") && strcmp(k, "iclab_config") && strcmp(k, "iclab_schedule") && strcmp(k, IC_CHECKSUM_KEY)) {
            keys[n] = k;
            vals[n++] = f.meta_vals[i];
        }
    }
    rc = ic_checkpoint_save_as(out_path, &m, s, dtype, keys, vals, n, err);
    if (rc == 0 && cfg) *cfg = m.cfg;
done:
    ic_model_free(&m);
    st_free(&f);
    free(s);
    free(keys);
    free(vals);
    return rc;
}
