/* model.c: parameters, schedules, forward and backward of the model in
 * model.h. Composes the kernels of ops.h; no math of its own beyond
 * building the token sequence. */
#include "model.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "sysmem.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#include "rng.h"

/* ---------------- config and schedules ---------------- */

int ic_config_validate(const ic_config *c, ic_err *err) {
    if (c->n_dims < 1 || c->n_dims > 100000) return ic_errf(err, "n_dims must be in 1..100000 (got %d)", c->n_dims);
    if (c->n_positions < 1 || c->n_positions > 100000)
        return ic_errf(err, "n_positions must be in 1..100000 (got %d)", c->n_positions);
    if (c->n_embd < 1 || c->n_embd > 65536) return ic_errf(err, "n_embd must be in 1..65536 (got %d)", c->n_embd);
    if (c->n_layer < 1 || c->n_layer > 4096) return ic_errf(err, "n_layer must be in 1..4096 (got %d)", c->n_layer);
    if (c->n_head < 1 || c->n_head > c->n_embd)
        return ic_errf(err, "n_head must be in 1..n_embd=%d (got %d)", c->n_embd, c->n_head);
    if (c->n_embd % c->n_head != 0)
        return ic_errf(err, "n_embd (%d) must be divisible by n_head (%d)", c->n_embd, c->n_head);
    return 0;
}

int ic_schedule_grad_loops(const ic_schedule *s) { return s->grad_loops ? s->grad_loops : s->loss_loops; }

void ic_schedule_set_loops(ic_schedule *s, int loops) {
    s->loops = loops;
    if (s->loss_loops > loops) s->loss_loops = loops;
    if (s->grad_loops > loops) s->grad_loops = loops;
}

void ic_schedule_default(ic_schedule *s, const ic_config *c) {
    memset(s, 0, sizeof *s);
    s->n = c->n_layer < IC_MAX_SCHEDULE ? c->n_layer : IC_MAX_SCHEDULE;
    for (int i = 0; i < s->n; i++) s->steps[i] = i;
    s->loops = 1;
    s->loss_loops = 1;
    s->grad_loops = 0;
    s->inject = 1;
    s->loop_lnf = 1;
}

int ic_schedule_parse_list(ic_schedule *s, const char *text, ic_err *err) {
    const char *p = text;
    int n = 0;
    while (isspace((unsigned char)*p)) p++;
    if (*p == '\0') return ic_errf(err, "schedule is empty: expected block indices like 0,1,1,2");
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (!isdigit((unsigned char)*p))
            return ic_errf(err, "schedule '%s': expected a block index at character %d, found '%c'",
                           text, (int)(p - text) + 1, *p ? *p : ' ');
        errno = 0;
        char *end;
        long v = strtol(p, &end, 10);
        if (errno || v > 1000000)
            return ic_errf(err, "schedule '%s': block index at character %d is too large", text, (int)(p - text) + 1);
        if (n >= IC_MAX_SCHEDULE)
            return ic_errf(err, "schedule '%s': more than %d steps", text, IC_MAX_SCHEDULE);
        s->par[n] = 0;
        s->steps[n++] = (int)v;
        p = end;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '\0') break;
        if (*p != ',')
            return ic_errf(err, "schedule '%s': expected ',' or end at character %d, found '%c'", text,
                           (int)(p - text) + 1, *p);
        p++;
    }
    s->n = n;
    return 0;
}

int ic_schedule_validate(const ic_schedule *s, const ic_config *c, ic_err *err) {
    if (s->n < 1) return ic_errf(err, "schedule is empty");
    if (s->n > IC_MAX_SCHEDULE) return ic_errf(err, "schedule has %d steps, more than %d", s->n, IC_MAX_SCHEDULE);
    for (int i = 0; i < s->n; i++)
        if (s->steps[i] < 0 || s->steps[i] >= c->n_layer)
            return ic_errf(err, "schedule step %d names block %d, but the model has blocks 0..%d", i + 1,
                           s->steps[i], c->n_layer - 1);
    if (s->par[0] != 0) return ic_errf(err, "schedule step 1 cannot run in parallel with a step before it");
    for (int i = 1; i < s->n; i++)
        if (s->par[i] > 1) return ic_errf(err, "schedule step %d: parallel flag must be 0 or 1 (got %d)", i + 1, s->par[i]);
    if (s->loops < 1 || s->loops > IC_MAX_LOOPS) return ic_errf(err, "loops must be in 1..%d (got %d)", IC_MAX_LOOPS, s->loops);
    if (s->loss_loops < 1 || s->loss_loops > s->loops)
        return ic_errf(err, "loss_loops must be in 1..loops=%d (got %d)", s->loops, s->loss_loops);
    if (s->grad_loops != 0 && (s->grad_loops < s->loss_loops || s->grad_loops > s->loops))
        return ic_errf(err, "grad_loops must be 0 (= loss_loops) or in loss_loops=%d..loops=%d (got %d)", s->loss_loops,
                       s->loops, s->grad_loops);
    return 0;
}

char *ic_schedule_format(const ic_schedule *s, char *buf, size_t len) {
    size_t used = 0;
    if (len == 0) return buf;
    buf[0] = '\0';
    for (int i = 0; i < s->n && used < len; i++) {
        int opens = !s->par[i] && i + 1 < s->n && s->par[i + 1];
        int closes = s->par[i] && (i + 1 == s->n || !s->par[i + 1]);
        const char *sep = i == 0 ? "" : s->par[i] ? "|" : ",";
        int w = snprintf(buf + used, len - used, "%s%s%d%s", sep, opens ? "(" : "", s->steps[i], closes ? ")" : "");
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}

/* ---------------- parameters ---------------- */

static const char *const PARAM_NAMES[IC_NUM_PARAM_TENSORS] = {
    "read_in_w", "read_in_b", "wpe", "ln1_w", "ln1_b", "qkv_w", "qkv_b", "attproj_w", "attproj_b",
    "ln2_w", "ln2_b", "fc_w", "fc_b", "fcproj_w", "fcproj_b", "lnf_w", "lnf_b", "read_out_w", "read_out_b"};

const char *ic_param_name(int k) { return (k >= 0 && k < IC_NUM_PARAM_TENSORS) ? PARAM_NAMES[k] : "?"; }

int ic_param_is_per_block(int k) { return k >= IC_P_LN1_W && k <= IC_P_FCPROJ_B; }

void ic_param_sizes(const ic_config *c, size_t sz[IC_NUM_PARAM_TENSORS]) {
    size_t d = (size_t)c->n_dims, e = (size_t)c->n_embd, P = (size_t)c->n_layer;
    sz[IC_P_READ_IN_W] = e * d;
    sz[IC_P_READ_IN_B] = e;
    sz[IC_P_WPE] = 2 * (size_t)c->n_positions * e;
    sz[IC_P_LN1_W] = P * e;
    sz[IC_P_LN1_B] = P * e;
    sz[IC_P_QKV_W] = P * e * 3 * e;
    sz[IC_P_QKV_B] = P * 3 * e;
    sz[IC_P_ATTPROJ_W] = P * e * e;
    sz[IC_P_ATTPROJ_B] = P * e;
    sz[IC_P_LN2_W] = P * e;
    sz[IC_P_LN2_B] = P * e;
    sz[IC_P_FC_W] = P * e * 4 * e;
    sz[IC_P_FC_B] = P * 4 * e;
    sz[IC_P_FCPROJ_W] = P * 4 * e * e;
    sz[IC_P_FCPROJ_B] = P * e;
    sz[IC_P_LNF_W] = e;
    sz[IC_P_LNF_B] = e;
    sz[IC_P_READ_OUT_W] = e;
    sz[IC_P_READ_OUT_B] = 1;
}

static void point_params(ic_params *p, float *mem, const size_t sz[IC_NUM_PARAM_TENSORS]) {
    float **ptrs[IC_NUM_PARAM_TENSORS] = {
        &p->read_in_w, &p->read_in_b, &p->wpe, &p->ln1_w, &p->ln1_b, &p->qkv_w, &p->qkv_b,
        &p->attproj_w, &p->attproj_b, &p->ln2_w, &p->ln2_b, &p->fc_w, &p->fc_b, &p->fcproj_w,
        &p->fcproj_b, &p->lnf_w, &p->lnf_b, &p->read_out_w, &p->read_out_b};
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
        *ptrs[k] = mem;
        mem += sz[k];
    }
}

int ic_model_create(ic_model *m, const ic_config *cfg, ic_err *err) {
    memset(m, 0, sizeof *m);
    if (ic_config_validate(cfg, err)) return -1;
    m->cfg = *cfg;
    ic_param_sizes(cfg, m->param_sizes);
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) m->num_params += m->param_sizes[k];
    m->params_mem = calloc(m->num_params, sizeof(float));
    if (!m->params_mem) return ic_errf(err, "out of memory allocating %zu parameters", m->num_params);
    m->owns_params = 1;
    point_params(&m->params, m->params_mem, m->param_sizes);
    return 0;
}

int ic_model_create_replica(ic_model *r, const ic_model *m, ic_err *err) {
    memset(r, 0, sizeof *r);
    if (!m->params_mem) return ic_errf(err, "replica of a model without parameters");
    r->cfg = m->cfg;
    memcpy(r->param_sizes, m->param_sizes, sizeof r->param_sizes);
    r->num_params = m->num_params;
    r->params_mem = m->params_mem;
    r->owns_params = 0;
    point_params(&r->params, r->params_mem, r->param_sizes);
    return 0;
}

void ic_model_free(ic_model *m) {
    if (m->owns_params) free(m->params_mem);
    free(m->grads_mem);
    free(m->acts_mem);
    free(m->dacts_mem);
    free(m->loop_acts);
    free(m->block_acts);
    free(m->preds);
    free(m->loop_mse);
    free(m->loop_delta);
    free(m->loop_delta_num);
    free(m->loop_delta_den);
    memset(m, 0, sizeof *m);
}

float *ic_model_tensor(ic_model *m, int which, int k, int b) {
    float *base = which ? m->grads_mem : m->params_mem;
    if (!base || k < 0 || k >= IC_NUM_PARAM_TENSORS) return NULL;
    size_t off = 0;
    for (int j = 0; j < k; j++) off += m->param_sizes[j];
    if (ic_param_is_per_block(k)) {
        if (b < 0 || b >= m->cfg.n_layer) return NULL;
        off += (size_t)b * (m->param_sizes[k] / (size_t)m->cfg.n_layer);
    }
    return base + off;
}

void ic_model_init_weights(ic_model *m, uint64_t seed) {
    ic_rng rng;
    ic_rng_seed(&rng, seed);
    const ic_config *c = &m->cfg;
    const float std = 0.02f, std_proj = 0.02f / sqrtf(2.0f * (float)c->n_layer);
    memset(m->params_mem, 0, m->num_params * sizeof(float));
    ic_params *p = &m->params;
    // Tensors are filled in a fixed order so a seed always gives the same model.
    float bin = 1.0f / sqrtf((float)c->n_dims);
    for (size_t i = 0; i < m->param_sizes[IC_P_READ_IN_W]; i++)
        p->read_in_w[i] = (float)((2.0 * ic_rng_uniform(&rng) - 1.0) * bin);
    for (size_t i = 0; i < m->param_sizes[IC_P_READ_IN_B]; i++)
        p->read_in_b[i] = (float)((2.0 * ic_rng_uniform(&rng) - 1.0) * bin);
    for (size_t i = 0; i < m->param_sizes[IC_P_WPE]; i++) p->wpe[i] = std * (float)ic_rng_normal(&rng);
    for (size_t i = 0; i < m->param_sizes[IC_P_LN1_W]; i++) p->ln1_w[i] = 1.0f;
    for (size_t i = 0; i < m->param_sizes[IC_P_LN2_W]; i++) p->ln2_w[i] = 1.0f;
    for (size_t i = 0; i < m->param_sizes[IC_P_QKV_W]; i++) p->qkv_w[i] = std * (float)ic_rng_normal(&rng);
    for (size_t i = 0; i < m->param_sizes[IC_P_ATTPROJ_W]; i++) p->attproj_w[i] = std_proj * (float)ic_rng_normal(&rng);
    for (size_t i = 0; i < m->param_sizes[IC_P_FC_W]; i++) p->fc_w[i] = std * (float)ic_rng_normal(&rng);
    for (size_t i = 0; i < m->param_sizes[IC_P_FCPROJ_W]; i++) p->fcproj_w[i] = std_proj * (float)ic_rng_normal(&rng);
    for (size_t i = 0; i < m->param_sizes[IC_P_LNF_W]; i++) p->lnf_w[i] = 1.0f;
    float bout = 1.0f / sqrtf((float)c->n_embd);
    for (size_t i = 0; i < m->param_sizes[IC_P_READ_OUT_W]; i++)
        p->read_out_w[i] = (float)((2.0 * ic_rng_uniform(&rng) - 1.0) * bout);
    p->read_out_b[0] = (float)((2.0 * ic_rng_uniform(&rng) - 1.0) * bout);
}

void ic_model_zero_grad(ic_model *m) {
    if (!m->grads_mem) {
        m->grads_mem = calloc(m->num_params, sizeof(float));
        if (!m->grads_mem) return; /* backward reports the failure */
        point_params(&m->grads, m->grads_mem, m->param_sizes);
        return;
    }
    memset(m->grads_mem, 0, m->num_params * sizeof(float));
}

/* ---------------- activations ---------------- */

/* Lays out (or, with base == NULL, only measures) the activation buffer for
 * B prompts of T tokens, n_slots loops of a body of length nb. share = 1
 * (inference: nothing will run backward) gives every step of a slot the
 * same internal buffers (layernorms, qkv, attention, MLP) and only its own
 * output, so inference memory is one block's internals plus one [B,T,C]
 * per step instead of a full block per step (12x less for the standard
 * model). A step only reads the outputs of earlier steps, and a parallel
 * group's members are averaged from their outputs, so sharing the rest is
 * safe. */
static size_t layout_acts(ic_model *m, float *base, int B, int T, int nslots, int nb, int share) {
    const size_t C = (size_t)m->cfg.n_embd, H = (size_t)m->cfg.n_head, d = (size_t)m->cfg.n_dims;
    /* acts_floats() below is the closed form of this layout (tested equal) */
    const size_t BT = (size_t)B * T;
    size_t off = 0;
#define TAKE(ptr, count) do { if (base) (ptr) = base + off; off += (count); } while (0)
    TAKE(m->zs, BT * d);
    TAKE(m->ys, (size_t)B * (T / 2));
    TAKE(m->P, BT * C);
    TAKE(m->scratch, BT * C);
    for (int l = 0; l < nslots; l++) {
        ic_loop_acts tmp, *la = base ? &m->loop_acts[l] : &tmp;
        TAKE(la->in, BT * C);
        TAKE(la->lnf, BT * C);
        TAKE(la->lnf_mean, BT);
        TAKE(la->lnf_rstd, BT);
        for (int j = 0; j < nb; j++) {
            ic_block_acts tb, *ba = base ? &m->block_acts[(size_t)l * nb + j] : &tb;
            if (share && j > 0) {
                if (base) *ba = m->block_acts[(size_t)l * nb];
                TAKE(ba->out, BT * C);
                continue;
            }
            TAKE(ba->ln1, BT * C);
            TAKE(ba->ln1_mean, BT);
            TAKE(ba->ln1_rstd, BT);
            TAKE(ba->qkv, BT * 3 * C);
            TAKE(ba->att, (size_t)B * H * T * T);
            TAKE(ba->atty, BT * C);
            TAKE(ba->res2, BT * C);
            TAKE(ba->ln2, BT * C);
            TAKE(ba->ln2_mean, BT);
            TAKE(ba->ln2_rstd, BT);
            TAKE(ba->fch, BT * 4 * C);
            TAKE(ba->fch_gelu, BT * 4 * C);
            TAKE(ba->out, BT * C);
        }
    }
#undef TAKE
    return off;
}

/* Floats of the activation buffer layout_acts() lays out, in double. */
static double acts_floats(const ic_config *c, double B, double T, double nslots, double nb, int share) {
    const double C = c->n_embd, H = c->n_head, d = c->n_dims, BT = B * T, BTC = BT * C;
    const double full = 16 * BTC + 4 * BT + B * H * T * T; /* one block application's internals and output */
    const double per_slot = 2 * BTC + 2 * BT + (share ? full + (nb - 1) * BTC : nb * full);
    return BT * d + B * floor(T / 2) + 2 * BTC + nslots * per_slot;
}

/* Floats of the backward scratch ensure_dacts() allocates. */
static double dacts_floats(const ic_config *c, double B, double T, double n, int groups) {
    const double C = c->n_embd, H = c->n_head, BTC = B * T * C;
    return 5 * BTC + 3 * BTC + 2 * 4 * BTC + B * H * T * T + B * n + (groups ? 2 * BTC : 0);
}

/* A buffer of `floats` floats that is about to be allocated (grow = 1) or
 * only sized (grow = 0): more than size_t can count (the size computation
 * would wrap) is an error; when it grows to a large size, more than the
 * machine has is an error too, instead of an OOM kill while the pages are
 * touched (Linux overcommits). A buffer that is already there is not
 * re-checked. */
static int check_size(double floats, int grow, const char *what, ic_err *err) {
    const double bytes = floats * sizeof(float);
    if (bytes > (double)(SIZE_MAX / 2))
        return ic_errf(err, "out of memory: %s needs %.3g bytes, more than this machine can address", what, bytes);
    if (!grow || bytes < 64e6) return 0; /* small: malloc failing is the check */
    return ic_mem_check(bytes, what, "use fewer prompts per pass (--batch_size), fewer points or loops", err);
}

static int ensure_acts(ic_model *m, int B, int T, int nslots, int nb, int share, ic_err *err) {
    const double want = acts_floats(&m->cfg, B, T, nslots, nb, share);
    if (check_size(want, 0, "the activation buffer", err)) return -1;
    size_t need = layout_acts(m, NULL, B, T, nslots, nb, share);
    if (need > m->acts_cap) {
        if (check_size(want, 1, "the activation buffer", err)) return -1;
        free(m->acts_mem);
        m->acts_mem = malloc(need * sizeof(float));
        m->acts_cap = m->acts_mem ? need : 0;
        if (!m->acts_mem)
            return ic_errf(err, "out of memory: activations need %.1f MB", need * 4.0 / 1e6);
    }
    if ((size_t)nslots > m->loop_acts_cap) { /* views grow with the schedule, never per step */
        ic_loop_acts *la = realloc(m->loop_acts, sizeof *la * (size_t)nslots);
        if (!la) return ic_errf(err, "out of memory");
        m->loop_acts = la;
        m->loop_acts_cap = (size_t)nslots;
    }
    if ((size_t)nslots * nb > m->block_acts_cap) {
        ic_block_acts *ba = realloc(m->block_acts, sizeof *ba * (size_t)nslots * (size_t)nb);
        if (!ba) return ic_errf(err, "out of memory");
        m->block_acts = ba;
        m->block_acts_cap = (size_t)nslots * nb;
    }
    layout_acts(m, m->acts_mem, B, T, nslots, nb, share);
    m->n_loop_slots = nslots;
    return 0;
}

static int ensure_dacts(ic_model *m, ic_err *err) {
    const size_t C = (size_t)m->cfg.n_embd, H = (size_t)m->cfg.n_head;
    const size_t BT = (size_t)m->B * m->T;
    int groups = 0; /* parallel groups need two more [B,T,C] buffers */
    for (int i = 1; i < m->sched.n; i++) groups |= m->sched.par[i];
    const double want = dacts_floats(&m->cfg, m->B, m->T, m->n, groups);
    if (check_size(want, 0, "the backward buffer", err)) return -1;
    size_t need = 5 * BT * C + BT * 3 * C + 2 * BT * 4 * C + (size_t)m->B * H * m->T * m->T +
                  (size_t)m->B * m->n + (groups ? 2 * BT * C : 0);
    if (need > m->dacts_cap) {
        if (check_size(want, 1, "the backward buffer", err)) return -1;
        free(m->dacts_mem);
        m->dacts_mem = malloc(need * sizeof(float));
        m->dacts_cap = m->dacts_mem ? need : 0;
        if (!m->dacts_mem) return ic_errf(err, "out of memory: backward buffers need %.1f MB", need * 4.0 / 1e6);
    }
    float *p = m->dacts_mem;
    m->d_res = p; p += BT * C;
    m->d_y = p; p += BT * C;
    m->d_p = p; p += BT * C;
    m->d_lnf = p; p += BT * C;
    m->d_c = p; p += BT * C;
    m->d_qkv = p; p += BT * 3 * C;
    m->d_fch = p; p += BT * 4 * C;
    m->d_fch_gelu = p; p += BT * 4 * C;
    m->d_att = p; p += (size_t)m->B * H * m->T * m->T;
    m->d_pred = p; p += (size_t)m->B * m->n;
    m->d_grp = groups ? p : NULL; p += groups ? BT * C : 0;
    m->d_mem = groups ? p : NULL;
    return 0;
}

/* ---------------- forward ---------------- */

/* One GPT-2 block: out = x + attn(ln1(x)); out += mlp(ln2(out)).  x, out [B,T,C]. */
static void block_forward(ic_model *m, ic_block_acts *a, const float *x, int blk) {
    const int C = m->cfg.n_embd, H = m->cfg.n_head, B = m->B, T = m->T, N = B * T;
    const ic_params *p = &m->params;
    const size_t c = (size_t)C * blk;
    ic_layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, p->ln1_w + c, p->ln1_b + c, N, C);
    ic_linear_forward(a->qkv, a->ln1, p->qkv_w + c * 3 * C, p->qkv_b + 3 * c, N, C, 3 * C, IC_W_IN_OUT);
    ic_attention_forward(a->atty, a->att, a->qkv, B, T, C, H);
    ic_linear_forward(m->scratch, a->atty, p->attproj_w + c * C, p->attproj_b + c, N, C, C, IC_W_IN_OUT);
    ic_residual_forward(a->res2, x, m->scratch, N * C);
    ic_layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, p->ln2_w + c, p->ln2_b + c, N, C);
    ic_linear_forward(a->fch, a->ln2, p->fc_w + c * 4 * C, p->fc_b + 4 * c, N, C, 4 * C, IC_W_IN_OUT);
    ic_gelu_forward(a->fch_gelu, a->fch, N * 4 * C);
    ic_linear_forward(m->scratch, a->fch_gelu, p->fcproj_w + c * 4 * C, p->fcproj_b + c, N, 4 * C, C, IC_W_IN_OUT);
    ic_residual_forward(a->out, a->res2, m->scratch, N * C);
}

/* End (exclusive) of the parallel group that starts at step j0 (par[j0] = 0):
 * j0 and the par-1 steps right after it. A plain step is a group of one. */
static int group_end(const ic_schedule *s, int j0) {
    int j1 = j0 + 1;
    while (j1 < s->n && s->par[j1]) j1++;
    return j1;
}

/* Output of a parallel group of k >= 2 members: the mean of their block
 * outputs, written into the last member's out [B,T,C] (a block's backward
 * never reads its own out, so the slot can hold the group output that the
 * next step reads). Summed in member order, then scaled by 1/k: (a + a) / 2
 * is exactly a, so a group of one block twice equals that block. */
static void group_mean(ic_block_acts *ga, int k, size_t BTC) {
    const float inv = 1.0f / (float)k;
    float *out = ga[k - 1].out;
    for (size_t i = 0; i < BTC; i++) {
        float sum = ga[0].out[i];
        for (int j = 1; j < k; j++) sum += ga[j].out[i];
        out[i] = sum * inv;
    }
}

static int ensure_loop_stats(ic_model *m, int L, ic_err *err) {
    if ((size_t)L > m->loop_mse_cap) {
        free(m->loop_mse);
        free(m->loop_delta);
        free(m->loop_delta_num);
        free(m->loop_delta_den);
        m->loop_mse = malloc(sizeof(double) * (size_t)L);
        m->loop_delta = malloc(sizeof(double) * (size_t)L);
        m->loop_delta_num = malloc(sizeof(double) * (size_t)L);
        m->loop_delta_den = malloc(sizeof(double) * (size_t)L);
        m->loop_mse_cap =
            m->loop_mse && m->loop_delta && m->loop_delta_num && m->loop_delta_den ? (size_t)L : 0;
        if (!m->loop_mse_cap) return ic_errf(err, "out of memory");
    }
    return 0;
}

int ic_model_forward(ic_model *m, const ic_schedule *s, const float *xs, const float *ys,
                     int B, int n, int need_grad, ic_err *err) {
    const ic_config *c = &m->cfg;
    if (ic_schedule_validate(s, c, err)) return -1;
    if (!xs || !ys) return ic_errf(err, "forward needs prompts: xs and ys (the y tokens are part of the input)");
    if (B < 1) return ic_errf(err, "batch size must be at least 1 (got %d)", B);
    if (n < 1 || n > c->n_positions)
        return ic_errf(err, "prompts have %d points but the model's position table holds %d", n, c->n_positions);
    const int T = 2 * n, C = c->n_embd, d = c->n_dims, L = s->loops, nb = s->n;
    const int G = ic_schedule_grad_loops(s);
    const int first_grad = L - G;              /* loops before this carry no gradient */
    const int first_loss = L - s->loss_loops;  /* loops from this one carry loss */
    const int nslots = need_grad ? G : 1;
    m->B = B;
    m->n = n;
    m->T = T;
    m->sched = *s;
    m->have_grad_acts = 0;
    if (ensure_acts(m, B, T, nslots, nb, !need_grad, err)) return -1;
    if (check_size((double)L * B * n, 0, "the predictions of every loop", err)) return -1;
    if ((size_t)L * B * n > m->preds_cap) {
        if (check_size((double)L * B * n, 1, "the predictions of every loop", err)) return -1;
        free(m->preds);
        m->preds = malloc(sizeof(float) * (size_t)L * B * n);
        m->preds_cap = m->preds ? (size_t)L * B * n : 0;
        if (!m->preds) return ic_errf(err, "out of memory for predictions");
    }
    if (ensure_loop_stats(m, L, err)) return -1;
    const size_t BTC = (size_t)B * T * C;

    memcpy(m->ys, ys, sizeof(float) * (size_t)B * n);
    // tokens: z[b, 2i] = x_i, z[b, 2i+1] = (y_i, 0, ..., 0)
    memset(m->zs, 0, sizeof(float) * (size_t)B * T * d);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            memcpy(m->zs + ((size_t)b * T + 2 * i) * d, xs + ((size_t)b * n + i) * d, sizeof(float) * d);
            m->zs[((size_t)b * T + 2 * i + 1) * d] = ys[(size_t)b * n + i];
        }
    // P = read_in(z) + wpe
    ic_linear_forward(m->P, m->zs, m->params.read_in_w, m->params.read_in_b, B * T, d, C, IC_W_OUT_IN);
    ic_posembed_forward(m->P, m->P, m->params.wpe, B, T, C);

    m->loss = 0.0;
    const float *Y = NULL; /* Y_t: NULL stands for Y_0 = 0 */
    for (int t = 0; t < L; t++) {
        int slot = (need_grad && t >= first_grad) ? t - first_grad : 0;
        ic_loop_acts *la = &m->loop_acts[slot];
        ic_block_acts *ba = &m->block_acts[(size_t)slot * nb];
        // body input
        if (s->inject && Y) ic_residual_forward(la->in, Y, m->P, (int)BTC);
        else if (!s->inject && t > 0) memcpy(la->in, Y, sizeof(float) * BTC);
        else memcpy(la->in, m->P, sizeof(float) * BTC);
        const float *h = la->in;
        for (int j0 = 0, q = 0; j0 < nb; q++) {
            // parallel group j0..j1-1: every member reads the group input h
            const int j1 = group_end(s, j0);
            for (int j = j0; j < j1; j++) block_forward(m, &ba[j], h, s->steps[j]);
            if (j1 - j0 > 1) group_mean(&ba[j0], j1 - j0, BTC);
            if (m->step_hook && !need_grad) m->step_hook(m->step_hook_ctx, t, q, ba[j1 - 1].out, h, B, T, C);
            h = ba[j1 - 1].out;
            j0 = j1;
        }
        ic_layernorm_forward(la->lnf, la->lnf_mean, la->lnf_rstd, h, m->params.lnf_w, m->params.lnf_b, B * T, C);
        float *pred = m->preds + (size_t)t * B * n;
        ic_readout_forward(pred, la->lnf, m->params.read_out_w, m->params.read_out_b, B, T, n, C);
        m->loop_mse[t] = ic_mse_forward(pred, ys, B * n);
        if (t >= first_loss) m->loss += m->loop_mse[t] / s->loss_loops;
        Y = s->loop_lnf ? la->lnf : h;
        // fixed-point measure: Y_t is recoverable from this loop's input
        // (in_t = Y_t + P with injection, in_t = Y_t without, for t > 0)
        m->loop_delta[t] = NAN;
        m->loop_delta_num[t] = m->loop_delta_den[t] = 0.0;
        if (t > 0) {
            double num = 0.0, den = 0.0;
            for (size_t i = 0; i < BTC; i++) {
                double prev = (double)la->in[i] - (s->inject ? (double)m->P[i] : 0.0);
                double diff = (double)Y[i] - prev;
                num += diff * diff;
                den += prev * prev;
            }
            m->loop_delta_num[t] = num;
            m->loop_delta_den[t] = den;
            m->loop_delta[t] = den > 0 ? sqrt(num / den) : NAN;
        }
        // The next loop may write its input into this same slot (no-grad
        // loops share slot 0), so copy Y out first when it lives there.
        if (t + 1 < L) {
            int next = (need_grad && t + 1 >= first_grad) ? t + 1 - first_grad : 0;
            if (next == slot) {
                memcpy(m->scratch, Y, sizeof(float) * BTC);
                Y = m->scratch;
            }
        }
    }
    m->have_grad_acts = need_grad;
    return 0;
}

const float *ic_model_preds(const ic_model *m, int t) {
    if (!m->preds) return NULL;
    if (t < 0 || t >= m->sched.loops) t = m->sched.loops - 1;
    return m->preds + (size_t)t * m->B * m->n;
}

/* ---------------- backward ---------------- */

/* Backward of block_forward. On entry dres [B,T,C] holds dL/d(out); on exit
 * it holds dL/dx. Parameter gradients of block blk accumulate. Reads the
 * block's saved activations and its input x, never a->out (which holds the
 * group output when the block is a parallel group's last member). */
static void block_backward(ic_model *m, float *dres, const ic_block_acts *a, const float *x, int blk) {
    const int C = m->cfg.n_embd, H = m->cfg.n_head, B = m->B, T = m->T, N = B * T;
    const size_t c = (size_t)C * blk;
    const ic_params *p = &m->params;
    ic_params *g = &m->grads;
    // out = res2 + fcproj(gelu(fc(ln2(res2))))
    // (the scratch input gradients are written with IC_SET: = instead of += into zeros)
    ic_linear_backward(m->d_fch_gelu, g->fcproj_w + c * 4 * C, g->fcproj_b + c, dres, a->fch_gelu,
                       p->fcproj_w + c * 4 * C, N, 4 * C, C, IC_W_IN_OUT, IC_SET);
    ic_gelu_backward(m->d_fch, a->fch, m->d_fch_gelu, N * 4 * C, IC_SET);
    ic_linear_backward(m->d_c, g->fc_w + c * 4 * C, g->fc_b + 4 * c, m->d_fch, a->ln2, p->fc_w + c * 4 * C,
                       N, C, 4 * C, IC_W_IN_OUT, IC_SET);
    ic_layernorm_backward(dres, g->ln2_w + c, g->ln2_b + c, m->d_c, a->res2, p->ln2_w + c, a->ln2_mean,
                          a->ln2_rstd, N, C);
    // res2 = x + attproj(attn(qkv(ln1(x))))
    ic_linear_backward(m->d_c, g->attproj_w + c * C, g->attproj_b + c, dres, a->atty, p->attproj_w + c * C,
                       N, C, C, IC_W_IN_OUT, IC_SET);
    ic_attention_backward(m->d_qkv, m->d_att, m->d_c, a->qkv, a->att, B, T, C, H, IC_SET);
    ic_linear_backward(m->d_c, g->qkv_w + c * 3 * C, g->qkv_b + 3 * c, m->d_qkv, a->ln1, p->qkv_w + c * 3 * C,
                       N, C, 3 * C, IC_W_IN_OUT, IC_SET);
    ic_layernorm_backward(dres, g->ln1_w + c, g->ln1_b + c, m->d_c, x, p->ln1_w + c, a->ln1_mean, a->ln1_rstd,
                          N, C);
}

int ic_model_backward(ic_model *m, ic_err *err) {
    if (!m->have_grad_acts) return ic_errf(err, "backward needs a forward pass with need_grad = 1 first");
    if (!m->grads_mem) {
        ic_model_zero_grad(m);
        if (!m->grads_mem) return ic_errf(err, "out of memory allocating gradients");
    }
    if (ensure_dacts(m, err)) return -1;
    const ic_schedule *s = &m->sched;
    const int B = m->B, n = m->n, T = m->T, C = m->cfg.n_embd, d = m->cfg.n_dims;
    const int L = s->loops, nb = s->n, first_grad = L - ic_schedule_grad_loops(s), first_loss = L - s->loss_loops;
    const size_t BTC = (size_t)B * T * C;
    ic_params *g = &m->grads;
    const ic_params *p = &m->params;

    memset(m->d_p, 0, sizeof(float) * BTC);
    memset(m->d_y, 0, sizeof(float) * BTC); // dL/dY_{t+1}; zero after the last loop
    for (int t = L - 1; t >= first_grad; t--) {
        const int slot = t - first_grad;
        const ic_loop_acts *la = &m->loop_acts[slot];
        const ic_block_acts *ba = &m->block_acts[(size_t)slot * nb];
        const float *h = ba[nb - 1].out;
        // gradient at f = ln_f(h): from this loop's read-out, and from the next loop when f is fed back
        if (s->loop_lnf) memcpy(m->d_lnf, m->d_y, sizeof(float) * BTC);
        else memset(m->d_lnf, 0, sizeof(float) * BTC);
        if (t >= first_loss) { /* this loop's output carries loss */
            memset(m->d_pred, 0, sizeof(float) * (size_t)B * n);
            ic_mse_backward(m->d_pred, m->preds + (size_t)t * B * n, m->ys, B * n, 1.0f / (float)s->loss_loops);
            ic_readout_backward(m->d_lnf, g->read_out_w, g->read_out_b, m->d_pred, la->lnf, p->read_out_w, B, T, n, C);
        }
        // gradient at h
        if (s->loop_lnf) memset(m->d_res, 0, sizeof(float) * BTC);
        else memcpy(m->d_res, m->d_y, sizeof(float) * BTC);
        ic_layernorm_backward(m->d_res, g->lnf_w, g->lnf_b, m->d_lnf, h, p->lnf_w, la->lnf_mean, la->lnf_rstd,
                              B * T, C);
        // groups in reverse; d_res: dL/d(group output) -> dL/d(group input)
        for (int j1 = nb; j1 > 0;) {
            int j0 = j1 - 1;
            while (s->par[j0]) j0--; /* par[0] = 0 (validated) */
            const float *x = j0 ? ba[j0 - 1].out : la->in; /* the group input */
            if (j1 - j0 == 1) {
                block_backward(m, m->d_res, &ba[j0], x, s->steps[j0]);
            } else {
                // out = mean_k block_k(x): each member gets g / k, dL/dx sums the members'
                const int k = j1 - j0;
                const float inv = 1.0f / (float)k;
                for (size_t i = 0; i < BTC; i++) m->d_grp[i] = m->d_res[i] * inv;
                memset(m->d_res, 0, sizeof(float) * BTC);
                for (int j = j1 - 1; j >= j0; j--) {
                    memcpy(m->d_mem, m->d_grp, sizeof(float) * BTC);
                    block_backward(m, m->d_mem, &ba[j], x, s->steps[j]);
                    ic_residual_backward(m->d_res, NULL, m->d_mem, (int)BTC);
                }
            }
            j1 = j0;
        }
        // d_res = dL/d(in_t); in_t = Y_t + P (inject), P (t == 0), or Y_t
        const int has_y = t > 0, has_p = s->inject || t == 0;
        if (has_p) ic_residual_backward(m->d_p, NULL, m->d_res, (int)BTC);
        if (has_y) memcpy(m->d_y, m->d_res, sizeof(float) * BTC); /* dropped below first_grad */
    }
    ic_posembed_backward(NULL, g->wpe, m->d_p, B, T, C);
    ic_linear_backward(NULL, g->read_in_w, g->read_in_b, m->d_p, m->zs, p->read_in_w, B * T, d, C, IC_W_OUT_IN, IC_ADD);
    return 0;
}

/* ---------------- data-parallel step (shards of the batch) ---------------- */

int ic_default_shards(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void ic_shards_free(ic_shards *sh) {
    for (int i = 0; i < sh->cap; i++) ic_model_free(&sh->rep[i]);
    free(sh->rep);
    memset(sh, 0, sizeof *sh);
}

static int shards_ensure(ic_shards *sh, const ic_model *m, int k, ic_err *err) {
    /* made for another model (a new model may get a freed one's address, so
     * the configuration is compared too) */
    if (sh->cap && (sh->params_of != m->params_mem || memcmp(&sh->rep[0].cfg, &m->cfg, sizeof m->cfg) ||
                    sh->rep[0].num_params != m->num_params))
        ic_shards_free(sh);
    if (k <= sh->cap) return 0;
    ic_model *rep = realloc(sh->rep, sizeof *rep * (size_t)k);
    if (!rep) return ic_errf(err, "out of memory for %d shards", k);
    sh->rep = rep;
    for (; sh->cap < k; sh->cap++)
        if (ic_model_create_replica(&sh->rep[sh->cap], m, err)) return -1;
    sh->params_of = m->params_mem;
    return 0;
}

int ic_model_train_pass(ic_model *m, ic_shards *sh, int nshards, const ic_schedule *s, const float *xs,
                        const float *ys, int B, int n, ic_err *err) {
    if (nshards > B) nshards = B;
    if (nshards <= 1) {
        if (ic_model_forward(m, s, xs, ys, B, n, 1, err)) return -1;
        return ic_model_backward(m, err);
    }
    if (ic_schedule_validate(s, &m->cfg, err)) return -1;
    if (!xs || !ys) return ic_errf(err, "forward needs prompts: xs and ys (the y tokens are part of the input)");
    if (!m->grads_mem) {
        ic_model_zero_grad(m);
        if (!m->grads_mem) return ic_errf(err, "out of memory allocating gradients");
    }
    if (ensure_loop_stats(m, s->loops, err) || shards_ensure(sh, m, nshards, err)) return -1;
    const int d = m->cfg.n_dims;
    int failed = -1;
    ic_err shard_err[64], *errs = nshards <= 64 ? shard_err : malloc(sizeof *errs * (size_t)nshards);
    if (!errs) return ic_errf(err, "out of memory");
    const int blas_prev = ic_blas_set_threads(1);
    int nthreads = ic_default_shards(); /* more shards than threads: each thread runs several, in order */
    if (nthreads > nshards) nthreads = nshards;
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int i = 0; i < nshards; i++) {
        const int b0 = (int)((long)B * i / nshards), b1 = (int)((long)B * (i + 1) / nshards);
        ic_model *r = &sh->rep[i];
        ic_model_zero_grad(r);
        int rc = ic_model_forward(r, s, xs + (size_t)b0 * n * d, ys + (size_t)b0 * n, b1 - b0, n, 1, &errs[i]);
        if (!rc) rc = ic_model_backward(r, &errs[i]);
        if (rc) {
            #pragma omp critical(ic_train_pass_err)
            if (failed < 0 || i < failed) failed = i;
        }
    }
    ic_blas_set_threads(blas_prev);
    if (failed >= 0) {
        ic_errf(err, "%s", errs[failed].msg);
        if (errs != shard_err) free(errs);
        return -1;
    }
    if (errs != shard_err) free(errs);
    // whole-batch loss = sum_i (B_i / B) loss_i, and so for its gradient; shards in order
    float wts[64], *w = nshards <= 64 ? wts : malloc(sizeof(float) * (size_t)nshards);
    if (!w) return ic_errf(err, "out of memory");
    m->loss = 0.0;
    for (int t = 0; t < s->loops; t++)
        m->loop_mse[t] = 0.0, m->loop_delta[t] = m->loop_delta_num[t] = m->loop_delta_den[t] = NAN;
    for (int i = 0; i < nshards; i++) {
        const long bi = (long)B * (i + 1) / nshards - (long)B * i / nshards;
        w[i] = (float)bi / (float)B;
        m->loss += (double)bi / B * sh->rep[i].loss;
        for (int t = 0; t < s->loops; t++) m->loop_mse[t] += (double)bi / B * sh->rep[i].loop_mse[t];
    }
    float *g = m->grads_mem;
    const size_t np = m->num_params;
    #pragma omp parallel for num_threads(nthreads) if (np > 65536)
    for (size_t k = 0; k < np; k++) {
        float acc = 0.0f;
        for (int i = 0; i < nshards; i++) acc += w[i] * sh->rep[i].grads_mem[k];
        g[k] += acc;
    }
    if (w != wts) free(w);
    m->B = B;
    m->n = n;
    m->T = 2 * n;
    m->sched = *s;
    m->have_grad_acts = 0;
    free(m->preds); /* no predictions of this batch: ic_model_preds returns NULL */
    m->preds = NULL;
    m->preds_cap = 0;
    return 0;
}

/* ---------------- memory ---------------- */

/* One model's buffers after a forward (need_grad 0) or forward + backward
 * (need_grad 1) of B prompts: what ensure_acts, ensure_dacts, the
 * predictions, the loop statistics and the gradients allocate. */
static void model_bytes(const ic_config *c, const ic_schedule *s, double B, double n, int need_grad, int owns_params,
                        ic_mem_bytes *o) {
    size_t sz[IC_NUM_PARAM_TENSORS];
    double np = 0;
    ic_param_sizes(c, sz);
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) np += (double)sz[k];
    const double T = 2 * n, L = s->loops, nb = s->n;
    const double nslots = need_grad ? ic_schedule_grad_loops(s) : 1;
    int groups = 0;
    for (int i = 1; i < s->n; i++) groups |= s->par[i];
    memset(o, 0, sizeof *o);
    o->params = owns_params ? np * sizeof(float) : 0;
    o->grads = need_grad ? np * sizeof(float) : 0;
    o->acts = acts_floats(c, B, T, nslots, nb, !need_grad) * sizeof(float) + nslots * sizeof(ic_loop_acts) +
              nslots * nb * sizeof(ic_block_acts);
    o->dacts = need_grad ? dacts_floats(c, B, T, n, groups) * sizeof(float) : 0;
    o->preds = L * B * n * sizeof(float) + 2 * L * sizeof(double);
    o->total = o->params + o->grads + o->acts + o->dacts + o->preds;
}

void ic_model_mem_estimate(const ic_config *c, const ic_schedule *s, int B, int n, int need_grad, int nshards,
                           ic_mem_bytes *out) {
    if (n <= 0) n = c->n_positions;
    if (nshards > B) nshards = B;
    if (!need_grad || nshards <= 1) {
        model_bytes(c, s, B, n, need_grad, 1, out);
        return;
    }
    /* ic_model_train_pass on shards: the master keeps its parameters, gradients and
     * loop statistics (no activations or predictions); each replica borrows the
     * parameters and holds its shard's buffers */
    model_bytes(c, s, B, n, 1, 1, out);
    out->acts = out->dacts = 0;
    out->preds = 2.0 * s->loops * sizeof(double);
    out->replicas = (double)nshards * sizeof(ic_model);
    for (int i = 0; i < nshards; i++) {
        const int bi = (int)((long)B * (i + 1) / nshards - (long)B * i / nshards);
        ic_mem_bytes r;
        model_bytes(c, s, bi, n, 1, 0, &r);
        out->replicas += r.total;
    }
    out->total = out->params + out->grads + out->preds + out->replicas;
}

void ic_model_mem_held(const ic_model *m, const ic_shards *sh, ic_mem_bytes *o) {
    memset(o, 0, sizeof *o);
    o->params = m->owns_params && m->params_mem ? (double)m->num_params * sizeof(float) : 0;
    o->grads = m->grads_mem ? (double)m->num_params * sizeof(float) : 0;
    o->acts = (double)m->acts_cap * sizeof(float) + (double)m->loop_acts_cap * sizeof(ic_loop_acts) +
              (double)m->block_acts_cap * sizeof(ic_block_acts);
    o->dacts = (double)m->dacts_cap * sizeof(float);
    o->preds = (double)m->preds_cap * sizeof(float) + (double)m->loop_mse_cap * 2 * sizeof(double);
    if (sh && sh->cap) {
        o->replicas = (double)sh->cap * sizeof(ic_model);
        for (int i = 0; i < sh->cap; i++) {
            ic_mem_bytes r;
            ic_model_mem_held(&sh->rep[i], NULL, &r);
            o->replicas += r.total;
        }
    }
    o->total = o->params + o->grads + o->acts + o->dacts + o->preds + o->replicas;
}

/* ---------------- FLOP count ---------------- */

double ic_model_flops_forward(const ic_config *c, const ic_schedule *s, int B, int n) {
    const double C = c->n_embd, T = 2.0 * n, N = (double)B * T, d = c->n_dims;
    // per block: qkv 3C^2, proj C^2, fc 4C^2, fcproj 4C^2 multiply-adds per token;
    // attention: q.k and att.v over the causal triangle, T(T+1)/2 pairs, C each.
    // Every step is one block application, parallel group members included (the
    // group mean is not counted: no multiply-adds).
    double block = 2.0 * N * 12.0 * C * C + 2.0 * 2.0 * B * (T * (T + 1) / 2.0) * C;
    double per_loop = block * s->n + 2.0 * B * n * C;
    return 2.0 * N * d * C + per_loop * s->loops;
}
