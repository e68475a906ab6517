/* model.c: the parameter table's functions, initialisation, and the
 * forward and backward passes of the model in model.h over a workspace
 * (workspace.h). Composes the kernels of ops.h; no math of its own beyond
 * building the token sequence. */
#include "model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "rng.h"

/* ---------------- config ---------------- */

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
    for (int b = 0; b < IC_MAX_LAYER; b++) {
        if (b < c->n_layer && c->kind[b] > IC_BLOCK_MLP)
            return ic_errf(err, "block %d has kind %d; expected 0 (full), 1 (attn) or 2 (mlp)", b, c->kind[b]);
        if (b >= c->n_layer && c->kind[b])
            return ic_errf(err, "block kinds are given for %d or more blocks, but the model has %d", b + 1, c->n_layer);
    }
    return 0;
}

static const char *const KIND_NAMES[] = {"full", "attn", "mlp"};

const char *ic_block_kind_name(int kind) { return kind >= 0 && kind <= IC_BLOCK_MLP ? KIND_NAMES[kind] : "?"; }

int ic_config_has_kinds(const ic_config *c) {
    for (int b = 0; b < c->n_layer && b < IC_MAX_LAYER; b++)
        if (c->kind[b]) return 1;
    return 0;
}

int ic_block_kinds_parse(const char *text, unsigned char *kind, int max, int *n, ic_err *err) {
    int count = 0;
    const char *p = text ? text : "";
    while (*p == ' ' || *p == '\t') p++;
    for (int item = 1; *p; item++) {
        const char *a = p;
        while (*p && *p != ',' && *p != '*' && *p != ' ' && *p != '\t') p++;
        const size_t len = (size_t)(p - a);
        int k = -1;
        for (int j = 0; j <= IC_BLOCK_MLP; j++)
            if (len == strlen(KIND_NAMES[j]) && !strncmp(a, KIND_NAMES[j], len)) k = j;
        if (k < 0)
            return ic_errf(err, "block_kinds: item %d is '%.*s'; expected full, attn or mlp (optionally *N)", item,
                           (int)(len < 40 ? len : 40), a);
        while (*p == ' ' || *p == '\t') p++;
        long rep = 1;
        if (*p == '*') {
            char *end;
            rep = strtol(p + 1, &end, 10);
            if (end == p + 1 || rep < 1 || rep > max)
                return ic_errf(err, "block_kinds: item %d: the repeat after '*' must be an integer in 1..%d", item, max);
            p = end;
            while (*p == ' ' || *p == '\t') p++;
        }
        if (count + rep > max) return ic_errf(err, "block_kinds: more than %d blocks", max);
        for (long r = 0; r < rep; r++) kind[count++] = (unsigned char)k;
        if (*p == ',') {
            p++;
            while (*p == ' ' || *p == '\t') p++;
            if (!*p) return ic_errf(err, "block_kinds: the list ends with ','");
        } else if (*p) {
            return ic_errf(err, "block_kinds: after item %d: expected ',' or the end, got '%c'", item, *p);
        }
    }
    *n = count;
    return 0;
}

char *ic_block_kinds_format(const ic_config *c, char *buf, size_t len) {
    size_t used = 0;
    if (!len) return buf;
    buf[0] = 0;
    if (!ic_config_has_kinds(c)) return buf;
    for (int b = 0; b < c->n_layer && used < len; b++) {
        int w = snprintf(buf + used, len - used, "%s%s", b ? "," : "", ic_block_kind_name(c->kind[b]));
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}

/* ---------------- parameters ---------------- */

static const struct {
    const char *name, *ckpt;
    int per_block;
    ic_param_init init;
} PARAMS[IC_NUM_PARAM_TENSORS] = {
#define IC_X_INFO(ID, field, blk, rows, cols, ckpt, init) {#field, ckpt, blk, init},
    IC_PARAM_TABLE(IC_X_INFO)
#undef IC_X_INFO
};

const char *ic_param_name(int k) { return (k >= 0 && k < IC_NUM_PARAM_TENSORS) ? PARAMS[k].name : "?"; }
const char *ic_param_ckpt_name(int k) { return (k >= 0 && k < IC_NUM_PARAM_TENSORS) ? PARAMS[k].ckpt : "?"; }
int ic_param_is_per_block(int k) { return k >= 0 && k < IC_NUM_PARAM_TENSORS && PARAMS[k].per_block; }
ic_param_init ic_param_init_of(int k) { return (k >= 0 && k < IC_NUM_PARAM_TENSORS) ? PARAMS[k].init : IC_INIT_ZERO; }

int ic_param_shape(const ic_config *c, int k, int64_t shape[2]) {
    const int64_t d = c->n_dims, C = c->n_embd, W = 2 * (int64_t)c->n_positions;
    (void)d, (void)W;
    switch (k) {
#define IC_X_SHAPE(ID, field, blk, rows, cols, ckpt, init) \
    case IC_P_##ID: shape[0] = (rows); shape[1] = (cols); return (cols) != 0 ? 2 : 1;
        IC_PARAM_TABLE(IC_X_SHAPE)
#undef IC_X_SHAPE
    default: shape[0] = shape[1] = 0; return 0;
    }
}

int ic_param_ndim(int k) {
    const ic_config unit = {.n_dims = 1, .n_positions = 1, .n_embd = 1, .n_layer = 1, .n_head = 1};
    int64_t shape[2];
    return ic_param_shape(&unit, k, shape); /* a cols expression is 0 for every config or for none */
}

void ic_param_sizes(const ic_config *c, size_t sz[IC_NUM_PARAM_TENSORS]) {
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
        int64_t shape[2];
        const int nd = ic_param_shape(c, k, shape);
        sz[k] = (size_t)shape[0] * (nd == 2 ? (size_t)shape[1] : 1) * (PARAMS[k].per_block ? (size_t)c->n_layer : 1);
    }
}

void ic_params_point(ic_params *p, float *mem, const size_t sz[IC_NUM_PARAM_TENSORS]) {
    float **views[IC_NUM_PARAM_TENSORS] = {
#define IC_X_VIEW(ID, field, blk, rows, cols, ckpt, init) &p->field,
        IC_PARAM_TABLE(IC_X_VIEW)
#undef IC_X_VIEW
    };
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
        *views[k] = mem;
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
    ic_params_point(&m->params, m->params_mem, m->param_sizes);
    return 0;
}

void ic_model_free(ic_model *m) {
    free(m->params_mem);
    memset(m, 0, sizeof *m);
}

float *ic_param_slice(const ic_model *m, float *base, int k, int b) {
    if (!base || k < 0 || k >= IC_NUM_PARAM_TENSORS) return NULL;
    size_t off = 0;
    for (int j = 0; j < k; j++) off += m->param_sizes[j];
    if (ic_param_is_per_block(k)) {
        if (b < 0 || b >= m->cfg.n_layer) return NULL;
        off += (size_t)b * (m->param_sizes[k] / (size_t)m->cfg.n_layer);
    }
    return base + off;
}

float *ic_model_tensor(const ic_model *m, int k, int b) { return ic_param_slice(m, m->params_mem, k, b); }

void ic_model_init_weights(ic_model *m, uint64_t seed) {
    ic_rng rng;
    ic_rng_seed(&rng, seed);
    const ic_config *c = &m->cfg;
    const float std = 0.02f, std_proj = 0.02f / sqrtf(2.0f * (float)c->n_layer);
    const float bin = 1.0f / sqrtf((float)c->n_dims), bout = 1.0f / sqrtf((float)c->n_embd);
    memset(m->params_mem, 0, m->num_params * sizeof(float));
    // In table order, so a seed always gives the same model.
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
        float *p = ic_model_tensor(m, k, 0);
        const size_t n = m->param_sizes[k];
        switch (PARAMS[k].init) {
        case IC_INIT_ZERO: break;
        case IC_INIT_ONE:
            for (size_t i = 0; i < n; i++) p[i] = 1.0f;
            break;
        case IC_INIT_NORMAL:
            for (size_t i = 0; i < n; i++) p[i] = std * (float)ic_rng_normal(&rng);
            break;
        case IC_INIT_NORMAL_RESID:
            for (size_t i = 0; i < n; i++) p[i] = std_proj * (float)ic_rng_normal(&rng);
            break;
        case IC_INIT_UNIFORM_IN:
            for (size_t i = 0; i < n; i++) p[i] = (float)((2.0 * ic_rng_uniform(&rng) - 1.0) * bin);
            break;
        case IC_INIT_UNIFORM_OUT:
            for (size_t i = 0; i < n; i++) p[i] = (float)((2.0 * ic_rng_uniform(&rng) - 1.0) * bout);
            break;
        }
    }
}

/* ---------------- forward ---------------- */

/* One block of kind c->kind[blk]: full: out = x + attn(ln1(x)); out +=
 * mlp(ln2(out)); attn: out = x + attn(ln1(x)); mlp: out = x + mlp(ln2(x)).
 * x, out [B,T,C]. A sublayer the kind leaves out is a copy (res2 = x, or out
 * = res2), so the activations keep one layout for every kind. */
static void block_forward(const ic_model *m, ic_workspace *ws, ic_block_acts *a, const float *x, int blk) {
    const int C = m->cfg.n_embd, H = m->cfg.n_head, B = ws->B, T = ws->T, N = B * T, kind = m->cfg.kind[blk];
    const ic_params *p = &m->params;
    const size_t c = (size_t)C * blk;
    if (kind != IC_BLOCK_MLP) {
        ic_layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, p->ln1_w + c, p->ln1_b + c, N, C);
        ic_linear_forward(&ws->gemm, a->qkv, a->ln1, p->qkv_w + c * 3 * C, p->qkv_b + 3 * c, N, C, 3 * C, IC_W_IN_OUT);
        ic_attention_forward(a->atty, a->att, a->qkv, B, T, C, H, ws->tiles, ws->tile_threads);
        ic_linear_forward(&ws->gemm, ws->scratch, a->atty, p->attproj_w + c * C, p->attproj_b + c, N, C, C, IC_W_IN_OUT);
        ic_residual_forward(a->res2, x, ws->scratch, N * C);
    } else {
        memcpy(a->res2, x, sizeof(float) * (size_t)N * C);
    }
    if (kind != IC_BLOCK_ATTN) {
        ic_layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, p->ln2_w + c, p->ln2_b + c, N, C);
        ic_linear_forward(&ws->gemm, a->fch, a->ln2, p->fc_w + c * 4 * C, p->fc_b + 4 * c, N, C, 4 * C, IC_W_IN_OUT);
        ic_gelu_forward(ws->mlp_h, a->fch, N * 4 * C); /* not kept: backward recomputes it */
        ic_linear_forward(&ws->gemm, ws->scratch, ws->mlp_h, p->fcproj_w + c * 4 * C, p->fcproj_b + c, N, 4 * C, C,
                          IC_W_IN_OUT);
        ic_residual_forward(a->out, a->res2, ws->scratch, N * C);
    } else {
        memcpy(a->out, a->res2, sizeof(float) * (size_t)N * C);
    }
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

/* The body entries j_begin..j_end-1 (whole slots) on input x, slot by slot
 * (a parallel group's members all read the slot input); returns the last
 * slot's output. q0: the slot number of j_begin in the body (the step
 * hook's numbering), t: the loop. */
static const float *run_steps(const ic_model *m, ic_workspace *ws, const ic_schedule *s, ic_block_acts *ba,
                              int j_begin, int j_end, const float *x, int t, int q0, int need_grad) {
    const size_t BTC = (size_t)ws->B * ws->T * m->cfg.n_embd;
    const float *h = x;
    for (int j0 = j_begin, q = q0; j0 < j_end; q++) {
        const int j1 = ic_schedule_group_end(s, j0);
        for (int j = j0; j < j1; j++) block_forward(m, ws, &ba[j], h, s->steps[j]);
        if (j1 - j0 > 1) group_mean(&ba[j0], j1 - j0, BTC);
        if (ws->step_hook && !need_grad) ws->step_hook(ws->step_hook_ctx, t, q, ba[j1 - 1].out, h, ws->B, ws->T,
                                                       m->cfg.n_embd);
        h = ba[j1 - 1].out;
        j0 = j1;
    }
    return h;
}

/* Slots of the body before entry j (the step hook's number of the slot at j). */
static int slots_before(const ic_schedule *s, int j) {
    int q = 0;
    for (int i = 0; i < j; i++) q += !s->par[i];
    return q;
}

void ic_loop_signal(float *sig, int t, int C) {
    for (int c = 0; c < C; c++) {
        const double w = pow(10000.0, -(double)(c - c % 2) / (double)C); /* 10000^(-2i/C) for channels 2i, 2i+1 */
        sig[c] = (float)(c % 2 ? cos(t * w) : sin(t * w));
    }
}

int ic_model_forward(const ic_model *m, ic_workspace *ws, const ic_schedule *s, const float *xs, const float *ys,
                     int B, int n, int need_grad, ic_err *err) {
    const ic_config *c = &m->cfg;
    if (ic_schedule_validate(s, c->n_layer, err)) return -1;
    if (!xs || !ys) return ic_errf(err, "forward needs prompts: xs and ys (the y tokens are part of the input)");
    if (B < 1) return ic_errf(err, "batch size must be at least 1 (got %d)", B);
    if (n < 1 || n > c->n_positions)
        return ic_errf(err, "prompts have %d points but the model's position table holds %d", n, c->n_positions);
    if (!(ws->halt_tol >= 0)) return ic_errf(err, "halt_tol must be >= 0 (got %g)", ws->halt_tol);
    const int T = 2 * n, C = c->n_embd, d = c->n_dims, L = s->loops, nb = s->n;
    const int core0 = s->prelude, core1 = s->n - s->coda; /* the looped core: entries core0..core1-1 */
    const int first_grad = L - ic_schedule_grad_loops(s); /* loops before this carry no gradient */
    const int first_loss = L - s->loss_loops;             /* loops from this one carry loss */
    const int halting = ws->halt_tol > 0 && !need_grad;
    ws->cfg = *c;
    ws->B = B;
    ws->n = n;
    ws->T = T;
    ws->sched = *s;
    ws->have_grad_acts = 0;
    if (ic_workspace_reserve(ws, c, s, B, n, need_grad, err)) return -1;
    const size_t TC = (size_t)T * C;

    memcpy(ws->ys, ys, sizeof(float) * (size_t)B * n);
    // tokens: z[b, 2i] = x_i, z[b, 2i+1] = (y_i, 0, ..., 0)
    memset(ws->zs, 0, sizeof(float) * (size_t)B * T * d);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            memcpy(ws->zs + ((size_t)b * T + 2 * i) * d, xs + ((size_t)b * n + i) * d, sizeof(float) * d);
            ws->zs[((size_t)b * T + 2 * i + 1) * d] = ys[(size_t)b * n + i];
        }
    // P = read_in(z) + wpe
    ic_linear_forward(&ws->gemm, ws->P, ws->zs, m->params.read_in_w, m->params.read_in_b, B * T, d, C, IC_W_OUT_IN);
    ic_posembed_forward(ws->P, ws->P, m->params.wpe, B, T, C);
    // E = prelude(P), run once (its activations in loop slot 0, whose loops write only the core and
    // coda entries); E is what every loop injects
    const float *E = core0 ? run_steps(m, ws, s, ws->block_acts, 0, core0, ws->P, 0, 0, need_grad) : ws->P;
    const int q_core = slots_before(s, core0), q_coda = slots_before(s, core1);
    // halting runs only the prompts still going: rows 0..Ba-1 of the loop state, E and the
    // activations are the prompts act[0..Ba-1] (ascending; the identity without halting)
    int *act = ws->loops_used + B, Ba = B;
    for (int b = 0; b < B; b++) ws->loops_used[b] = L, act[b] = b;
    float *Ew = (float *)E; /* compacted in place with the state (P or the prelude's output: not needed again) */

    ws->loss = 0.0;
    int t_end = L; /* loops run: fewer when every prompt halted */
    const float *Y = NULL; /* Y_t: NULL stands for Y_0 = 0 */
    for (int t = 0; t < L; t++) {
        int slot = (need_grad && t >= first_grad) ? t - first_grad : 0;
        ic_loop_acts *la = &ws->loop_acts[slot];
        ic_block_acts *ba = &ws->block_acts[(size_t)slot * nb];
        const size_t BTCa = (size_t)Ba * TC;
        ws->B = Ba; /* the kernels run the active prompts */
        // core input
        if (s->inject && Y) ic_residual_forward(la->in, Y, Ew, (int)BTCa);
        else if (!s->inject && t > 0) memcpy(la->in, Y, sizeof(float) * BTCa);
        else memcpy(la->in, Ew, sizeof(float) * BTCa);
        if (s->loop_signal) {
            ic_loop_signal(ws->sig, t, C);
            for (size_t r = 0; r < (size_t)Ba * T; r++)
                for (int k = 0; k < C; k++) la->in[r * C + k] += ws->sig[k];
        }
        const float *h = run_steps(m, ws, s, ba, core0, core1, la->in, t, q_core, need_grad);
        // read-out: ln_f(coda(h)); with a coda a training pass reads out only the loops that carry loss
        float *pred = ws->preds + (size_t)t * B * n;
        const int readout = !s->coda || !need_grad || t >= first_loss;
        if (readout) {
            const float *o = s->coda ? run_steps(m, ws, s, ba, core1, nb, h, t, q_coda, need_grad) : h;
            ic_layernorm_forward(la->lnf, la->lnf_mean, la->lnf_rstd, o, m->params.lnf_w, m->params.lnf_b, Ba * T, C);
            ic_readout_forward(pred, la->lnf, m->params.read_out_w, m->params.read_out_b, Ba, T, n, C);
            if (Ba < B) { /* to the prompts' own rows (act[j] >= j: from the last, nothing is overwritten
                             before it is moved); halted prompts keep the prediction of their last loop */
                for (int j = Ba - 1; j >= 0; j--)
                    if (act[j] != j) memmove(pred + (size_t)act[j] * n, pred + (size_t)j * n, sizeof(float) * n);
                for (int b = 0; b < B; b++)
                    if (ws->loops_used[b] <= t)
                        memcpy(pred + (size_t)b * n, pred - (size_t)B * n + (size_t)b * n, sizeof(float) * n);
            }
            ws->loop_mse[t] = ic_mse_forward(pred, ys, B * n);
        } else {
            for (size_t i = 0; i < (size_t)B * n; i++) pred[i] = NAN;
            ws->loop_mse[t] = NAN;
        }
        if (t >= first_loss) ws->loss += ws->loop_mse[t] / s->loss_loops;
        Y = s->loop_lnf ? la->lnf : h;
        // fixed-point measure: Y_t is recoverable from this loop's input
        // (in_t = Y_t + E (+ signal) with injection, Y_t (+ signal) without, for t > 0)
        ws->loop_delta[t] = NAN;
        ws->loop_delta_num[t] = ws->loop_delta_den[t] = 0.0;
        int live = Ba;
        if (t > 0) {
            double num = 0.0, den = 0.0;
            live = 0;
            for (int j = 0; j < Ba; j++) {
                double nj = 0.0, dj = 0.0;
                for (size_t i = (size_t)j * TC; i < (size_t)(j + 1) * TC; i++) {
                    double prev = (double)la->in[i] - (s->inject ? (double)Ew[i] : 0.0) -
                                  (s->loop_signal ? (double)ws->sig[i % C] : 0.0);
                    double diff = (double)Y[i] - prev;
                    nj += diff * diff;
                    dj += prev * prev;
                }
                num += nj;
                den += dj;
                // halting: a prompt stops at the first loop whose own measure is below halt_tol
                if (halting && dj > 0 && sqrt(nj / dj) < ws->halt_tol) ws->loops_used[act[j]] = t + 1;
                else live++;
            }
            ws->loop_delta_num[t] = num;
            ws->loop_delta_den[t] = den;
            ws->loop_delta[t] = den > 0 ? sqrt(num / den) : NAN;
            if (halting && !live && t + 1 < L) {
                t_end = t + 1;
                break;
            }
        }
        // The next loop may write its input into this same slot (no-grad
        // loops share slot 0), so copy Y out first when it lives there.
        if (t + 1 < L) {
            int next = (need_grad && t + 1 >= first_grad) ? t + 1 - first_grad : 0;
            if (next == slot) {
                memcpy(ws->scratch, Y, sizeof(float) * BTCa);
                Y = ws->scratch;
            }
        }
        if (live < Ba) { /* drop the halted prompts' rows from the state and E (Y lives in the workspace) */
            float *Yw = (float *)Y;
            int k = 0;
            for (int j = 0; j < Ba; j++) {
                if (ws->loops_used[act[j]] <= t + 1) continue;
                if (k != j) {
                    memmove(Yw + (size_t)k * TC, Yw + (size_t)j * TC, sizeof(float) * TC);
                    memmove(Ew + (size_t)k * TC, Ew + (size_t)j * TC, sizeof(float) * TC);
                }
                act[k++] = act[j];
            }
            Ba = k;
        }
    }
    ws->B = B;
    // every prompt halted: the remaining loops repeat the last predictions
    for (int t = t_end; t < L; t++) {
        memcpy(ws->preds + (size_t)t * B * n, ws->preds + (size_t)(t - 1) * B * n, sizeof(float) * (size_t)B * n);
        ws->loop_mse[t] = ws->loop_mse[t - 1];
        ws->loop_delta[t] = NAN;
        ws->loop_delta_num[t] = ws->loop_delta_den[t] = 0.0;
        if (t >= first_loss) ws->loss += ws->loop_mse[t] / s->loss_loops;
    }
    if (ic_gemm_take_error(&ws->gemm, err)) return -1;
    ws->have_grad_acts = need_grad;
    return 0;
}

const float *ic_workspace_preds(const ic_workspace *ws, int t) {
    if (!ws->preds) return NULL;
    if (t < 0 || t >= ws->sched.loops) t = ws->sched.loops - 1;
    return ws->preds + (size_t)t * ws->B * ws->n;
}

/* ---------------- backward ---------------- */

/* Backward of block_forward. On entry dres [B,T,C] holds dL/d(out); on exit
 * it holds dL/dx. Parameter gradients of block blk accumulate. Reads the
 * block's saved activations and its input x, never a->out (which holds the
 * group output when the block is a parallel group's last member). */
static void block_backward(const ic_model *m, ic_grads *gb, ic_workspace *ws, float *dres, const ic_block_acts *a,
                           const float *x, int blk) {
    const int C = m->cfg.n_embd, H = m->cfg.n_head, B = ws->B, T = ws->T, N = B * T, kind = m->cfg.kind[blk];
    const size_t c = (size_t)C * blk;
    const ic_params *p = &m->params;
    ic_params *g = &gb->views;
    // out = res2 + fcproj(gelu(fc(ln2(res2))))   (attn-only: out = res2)
    // (the scratch input gradients are written with IC_SET: = instead of += into zeros)
    // (the forward kept fch, not gelu(fch): the GELU's backward recomputes it
    // into d_fch_gelu once that has been read, for fcproj's weight gradient)
    if (kind != IC_BLOCK_ATTN) {
        ic_linear_backward(&ws->gemm, ws->d_fch_gelu, NULL, NULL, dres, NULL, p->fcproj_w + c * 4 * C, N, 4 * C, C,
                           IC_W_IN_OUT, IC_SET);
        ic_gelu_backward(ws->d_fch, ws->d_fch_gelu, a->fch, ws->d_fch_gelu, N * 4 * C, IC_SET);
        ic_linear_backward(&ws->gemm, NULL, g->fcproj_w + c * 4 * C, g->fcproj_b + c, dres, ws->d_fch_gelu,
                           p->fcproj_w + c * 4 * C, N, 4 * C, C, IC_W_IN_OUT, IC_SET);
        ic_linear_backward(&ws->gemm, ws->d_c, g->fc_w + c * 4 * C, g->fc_b + 4 * c, ws->d_fch, a->ln2, p->fc_w + c * 4 * C,
                           N, C, 4 * C, IC_W_IN_OUT, IC_SET);
        ic_layernorm_backward(dres, g->ln2_w + c, g->ln2_b + c, ws->d_c, a->res2, p->ln2_w + c, a->ln2_mean,
                              a->ln2_rstd, N, C);
    }
    // res2 = x + attproj(attn(qkv(ln1(x))))   (mlp-only: res2 = x)
    if (kind != IC_BLOCK_MLP) {
        ic_linear_backward(&ws->gemm, ws->d_c, g->attproj_w + c * C, g->attproj_b + c, dres, a->atty, p->attproj_w + c * C,
                           N, C, C, IC_W_IN_OUT, IC_SET);
        ic_attention_backward(ws->d_qkv, ws->d_att, ws->d_c, a->qkv, a->att, B, T, C, H, IC_SET, ws->tiles,
                              ws->tile_threads);
        ic_linear_backward(&ws->gemm, ws->d_c, g->qkv_w + c * 3 * C, g->qkv_b + 3 * c, ws->d_qkv, a->ln1,
                           p->qkv_w + c * 3 * C, N, C, 3 * C, IC_W_IN_OUT, IC_SET);
        ic_layernorm_backward(dres, g->ln1_w + c, g->ln1_b + c, ws->d_c, x, p->ln1_w + c, a->ln1_mean, a->ln1_rstd,
                              N, C);
    }
}

/* Backward of run_steps over entries j_begin..j_end-1 (whole slots) whose
 * first slot read x0: dres holds dL/d(last output) on entry, dL/d(x0) on
 * exit; slots in reverse. */
static void steps_backward(const ic_model *m, ic_grads *gb, ic_workspace *ws, const ic_schedule *s,
                           const ic_block_acts *ba, int j_begin, int j_end, const float *x0, float *dres) {
    const size_t BTC = (size_t)ws->B * ws->T * m->cfg.n_embd;
    for (int j1 = j_end; j1 > j_begin;) {
        const int j0 = ic_schedule_group_start(s, j1);
        const float *x = j0 > j_begin ? ba[j0 - 1].out : x0; /* the group input */
        if (j1 - j0 == 1) {
            block_backward(m, gb, ws, dres, &ba[j0], x, s->steps[j0]);
        } else {
            // out = mean_k block_k(x): each member gets g / k, dL/dx sums the members'
            const int k = j1 - j0;
            const float inv = 1.0f / (float)k;
            for (size_t i = 0; i < BTC; i++) ws->d_grp[i] = dres[i] * inv;
            memset(dres, 0, sizeof(float) * BTC);
            for (int j = j1 - 1; j >= j0; j--) {
                memcpy(ws->d_mem, ws->d_grp, sizeof(float) * BTC);
                block_backward(m, gb, ws, ws->d_mem, &ba[j], x, s->steps[j]);
                ic_residual_backward(dres, NULL, ws->d_mem, (int)BTC);
            }
        }
        j1 = j0;
    }
}

int ic_model_backward(const ic_model *m, ic_grads *gb, ic_workspace *ws, ic_err *err) {
    if (!ws->have_grad_acts) return ic_errf(err, "backward needs a forward pass with need_grad = 1 first");
    if (memcmp(&ws->cfg, &m->cfg, sizeof m->cfg))
        return ic_errf(err, "backward of a forward that ran another model configuration");
    if (!gb->mem || gb->num_params != m->num_params || memcmp(gb->sizes, m->param_sizes, sizeof gb->sizes))
        return ic_errf(err, "the gradient buffer was not made for this model (ic_grads_create)");
    const ic_schedule *s = &ws->sched;
    const int B = ws->B, n = ws->n, T = ws->T, C = m->cfg.n_embd, d = m->cfg.n_dims;
    const int L = s->loops, nb = s->n, first_grad = L - ic_schedule_grad_loops(s), first_loss = L - s->loss_loops;
    const int core0 = s->prelude, core1 = s->n - s->coda;
    const size_t BTC = (size_t)B * T * C;
    ic_params *g = &gb->views;
    const ic_params *p = &m->params;

    memset(ws->d_p, 0, sizeof(float) * BTC); // dL/dE (the injected prelude output; P without a prelude)
    memset(ws->d_y, 0, sizeof(float) * BTC); // dL/dY_{t+1}; zero after the last loop
    for (int t = L - 1; t >= first_grad; t--) {
        const int slot = t - first_grad;
        const ic_loop_acts *la = &ws->loop_acts[slot];
        const ic_block_acts *ba = &ws->block_acts[(size_t)slot * nb];
        const float *h = ba[core1 - 1].out; /* the core's output */
        if (s->coda) {
            // Y_{t+1} = h (a coda needs loop_lnf off); the read-out is ln_f(coda(h))
            memcpy(ws->d_res, ws->d_y, sizeof(float) * BTC);
            if (t >= first_loss) {
                memset(ws->d_pred, 0, sizeof(float) * (size_t)B * n);
                ic_mse_backward(ws->d_pred, ws->preds + (size_t)t * B * n, ws->ys, B * n, 1.0f / (float)s->loss_loops);
                memset(ws->d_lnf, 0, sizeof(float) * BTC);
                ic_readout_backward(ws->d_lnf, g->read_out_w, g->read_out_b, ws->d_pred, la->lnf, p->read_out_w, B, T,
                                    n, C);
                memset(ws->d_coda, 0, sizeof(float) * BTC);
                ic_layernorm_backward(ws->d_coda, g->lnf_w, g->lnf_b, ws->d_lnf, ba[nb - 1].out, p->lnf_w,
                                      la->lnf_mean, la->lnf_rstd, B * T, C);
                steps_backward(m, gb, ws, s, ba, core1, nb, h, ws->d_coda);
                ic_residual_backward(ws->d_res, NULL, ws->d_coda, (int)BTC);
            }
        } else {
            // gradient at f = ln_f(h): from this loop's read-out, and from the next loop when f is fed back
            if (s->loop_lnf) memcpy(ws->d_lnf, ws->d_y, sizeof(float) * BTC);
            else memset(ws->d_lnf, 0, sizeof(float) * BTC);
            if (t >= first_loss) { /* this loop's output carries loss */
                memset(ws->d_pred, 0, sizeof(float) * (size_t)B * n);
                ic_mse_backward(ws->d_pred, ws->preds + (size_t)t * B * n, ws->ys, B * n, 1.0f / (float)s->loss_loops);
                ic_readout_backward(ws->d_lnf, g->read_out_w, g->read_out_b, ws->d_pred, la->lnf, p->read_out_w, B, T,
                                    n, C);
            }
            // gradient at h
            if (s->loop_lnf) memset(ws->d_res, 0, sizeof(float) * BTC);
            else memcpy(ws->d_res, ws->d_y, sizeof(float) * BTC);
            ic_layernorm_backward(ws->d_res, g->lnf_w, g->lnf_b, ws->d_lnf, h, p->lnf_w, la->lnf_mean, la->lnf_rstd,
                                  B * T, C);
        }
        // the core's slots in reverse; d_res: dL/dh -> dL/d(in_t)
        steps_backward(m, gb, ws, s, ba, core0, core1, la->in, ws->d_res);
        // in_t = Y_t + E (inject), E (t == 0), or Y_t; the loop signal is a constant
        const int has_y = t > 0, has_p = s->inject || t == 0;
        if (has_p) ic_residual_backward(ws->d_p, NULL, ws->d_res, (int)BTC);
        if (has_y) memcpy(ws->d_y, ws->d_res, sizeof(float) * BTC); /* dropped below first_grad */
    }
    // E = prelude(P): its activations are in slot 0; d_p becomes dL/dP
    if (core0) steps_backward(m, gb, ws, s, ws->block_acts, 0, core0, ws->P, ws->d_p);
    ic_posembed_backward(NULL, g->wpe, ws->d_p, B, T, C);
    ic_linear_backward(&ws->gemm, NULL, g->read_in_w, g->read_in_b, ws->d_p, ws->zs, p->read_in_w, B * T, d, C, IC_W_OUT_IN, IC_ADD);
    return ic_gemm_take_error(&ws->gemm, err);
}

/* ---------------- FLOP count ---------------- */

double ic_model_flops_forward(const ic_config *c, const ic_schedule *s, int B, int n) {
    const double C = c->n_embd, T = 2.0 * n, N = (double)B * T, d = c->n_dims;
    // per block: qkv 3C^2, proj C^2, fc 4C^2, fcproj 4C^2 multiply-adds per token;
    // attention: q.k and att.v over the causal triangle, T(T+1)/2 pairs, C each.
    // Every step is one block application, parallel group members included (the
    // group mean is not counted: no multiply-adds).
    // attn-only and MLP-only blocks count their sublayer; the prelude runs once, the core every loop,
    // the coda (as a training step runs it) on the loss_loops loops that carry loss
    const double attn = 2.0 * N * 4.0 * C * C + 2.0 * 2.0 * B * (T * (T + 1) / 2.0) * C, mlp = 2.0 * N * 8.0 * C * C;
    double pre = 0, core = 0, coda = 0;
    for (int j = 0; j < s->n; j++) {
        const int k = c->kind[s->steps[j]];
        const double f = (k != IC_BLOCK_MLP ? attn : 0) + (k != IC_BLOCK_ATTN ? mlp : 0);
        if (j < s->prelude) pre += f;
        else if (j < s->n - s->coda) core += f;
        else coda += f;
    }
    const double readout = 2.0 * B * n * C;
    return 2.0 * N * d * C + pre + core * s->loops + (s->coda ? (coda + readout) * s->loss_loops : readout * s->loops);
}
