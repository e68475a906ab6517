/* workspace.c: gradient buffers, workspaces (their layout, growth and
 * size), data-parallel shards and the training pass over them, and the
 * memory estimate (workspace.h). The passes themselves are in model.c. */
#include "workspace.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "sysmem.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---------------- gradient buffers ---------------- */

int ic_grads_create(ic_grads *g, const ic_model *m, ic_err *err) {
    memset(g, 0, sizeof *g);
    g->mem = calloc(m->num_params, sizeof(float));
    if (!g->mem) return ic_errf(err, "out of memory allocating %zu parameter gradients", m->num_params);
    g->num_params = m->num_params;
    memcpy(g->sizes, m->param_sizes, sizeof g->sizes);
    ic_params_point(&g->views, g->mem, g->sizes);
    return 0;
}

void ic_grads_zero(ic_grads *g) {
    if (g->mem) memset(g->mem, 0, g->num_params * sizeof(float));
}

void ic_grads_free(ic_grads *g) {
    free(g->mem);
    memset(g, 0, sizeof *g);
}

/* g has m's layout. */
static int grads_fit(const ic_grads *g, const ic_model *m) {
    return g->mem && g->num_params == m->num_params && !memcmp(g->sizes, m->param_sizes, sizeof g->sizes);
}

/* ---------------- workspaces ---------------- */

void ic_workspace_init(ic_workspace *ws) { memset(ws, 0, sizeof *ws); }

void ic_workspace_free(ic_workspace *ws) {
    free(ws->acts_mem);
    free(ws->dacts_mem);
    free(ws->loop_acts);
    free(ws->block_acts);
    free(ws->preds);
    free(ws->stats_mem);
    free(ws->loops_used);
    ic_gemm_free(&ws->gemm);
    const ic_precision prec = ws->gemm.prec;
    memset(ws, 0, sizeof *ws);
    ic_gemm_set_precision(&ws->gemm, prec); /* the caller's choice outlives the buffers */
}

int ic_workspace_threads(void) {
#ifdef _OPENMP
    return omp_get_level() > 0 ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

/* Lays out (or, with base == NULL, only measures) the activation buffer for
 * B prompts of T tokens, n_slots loops of a body of length nb, attention
 * tiles for nthr threads. share = 1 (inference: nothing will run backward)
 * gives every step of a slot the same internal buffers (layernorms, qkv,
 * attention, MLP) and only its own output, so inference memory is one
 * block's internals plus one [B,T,C] per step instead of a full block per
 * step (12x less for the standard model). A step only reads the outputs of
 * earlier steps, and a parallel group's members are averaged from their
 * outputs, so sharing the rest is safe. */
static size_t layout_acts(ic_workspace *ws, const ic_config *c, float *base, int B, int T, int nslots, int nb,
                          int share, int nthr) {
    const size_t C = (size_t)c->n_embd, H = (size_t)c->n_head, d = (size_t)c->n_dims;
    /* acts_floats() below is the closed form of this layout (tested equal) */
    const size_t BT = (size_t)B * T;
    size_t off = 0;
#define TAKE(ptr, count) do { if (base) (ptr) = base + off; off += (count); } while (0)
    /* first: the buffer is 64-byte aligned and each thread's tile a multiple of 16 floats,
     * so every tile starts on a cache line */
    TAKE(ws->tiles, (size_t)nthr * ic_attention_tile_floats(T, c->n_embd, c->n_head));
    TAKE(ws->zs, BT * d);
    TAKE(ws->ys, (size_t)B * (T / 2));
    TAKE(ws->P, BT * C);
    TAKE(ws->scratch, BT * C);
    if (share) TAKE(ws->mlp_h, BT * 4 * C); /* training: d_fch (ic_workspace_reserve) */
    TAKE(ws->sig, C + (16 - C % 16) % 16); /* rounded up to 16 floats: the slots stay 64-byte aligned */
    for (int l = 0; l < nslots; l++) {
        ic_loop_acts tmp, *la = base ? &ws->loop_acts[l] : &tmp;
        TAKE(la->in, BT * C);
        TAKE(la->lnf, BT * C);
        TAKE(la->lnf_mean, BT);
        TAKE(la->lnf_rstd, BT);
        for (int j = 0; j < nb; j++) {
            ic_block_acts tb, *ba = base ? &ws->block_acts[(size_t)l * nb + j] : &tb;
            if (share && j > 0) {
                if (base) *ba = ws->block_acts[(size_t)l * nb];
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
            TAKE(ba->out, BT * C);
        }
    }
#undef TAKE
    return off;
}

/* Floats of the activation buffer layout_acts() lays out, in double. */
static double acts_floats(const ic_config *c, double B, double T, double nslots, double nb, int share, int nthr) {
    const double C = c->n_embd, H = c->n_head, d = c->n_dims, BT = B * T, BTC = BT * C;
    const double full = 12 * BTC + 4 * BT + B * H * T * T; /* one block application's internals and output */
    const double per_slot = 2 * BTC + 2 * BT + (share ? full + (nb - 1) * BTC : nb * full);
    const double tiles = (double)nthr * (double)ic_attention_tile_floats((int)T, c->n_embd, c->n_head);
    return BT * d + B * floor(T / 2) + 2 * BTC + (share ? 4 * BTC : 0) + (C + fmod(16 - fmod(C, 16), 16)) + tiles +
           nslots * per_slot;
}

/* Lays out (base NULL: measures) the backward scratch. */
static size_t layout_dacts(ic_workspace *ws, const ic_config *c, float *base, int B, int T, int n, int groups,
                           int coda) {
    const size_t C = (size_t)c->n_embd, H = (size_t)c->n_head, BT = (size_t)B * T;
    size_t off = 0;
#define TAKE(ptr, count) do { if (base) (ptr) = base + off; off += (count); } while (0)
    TAKE(ws->d_res, BT * C);
    TAKE(ws->d_y, BT * C);
    TAKE(ws->d_p, BT * C);
    TAKE(ws->d_lnf, BT * C);
    TAKE(ws->d_c, BT * C);
    TAKE(ws->d_qkv, BT * 3 * C);
    TAKE(ws->d_fch, BT * 4 * C);
    TAKE(ws->d_fch_gelu, BT * 4 * C);
    TAKE(ws->d_att, (size_t)B * H * T * T);
    TAKE(ws->d_pred, (size_t)B * n);
    if (base) ws->d_grp = ws->d_mem = NULL;
    if (groups) { /* parallel groups need two more [B,T,C] buffers */
        TAKE(ws->d_grp, BT * C);
        TAKE(ws->d_mem, BT * C);
    }
    if (base) ws->d_coda = NULL;
    if (coda) TAKE(ws->d_coda, BT * C);
#undef TAKE
    return off;
}

/* Floats of the backward scratch layout_dacts() lays out, in double. */
static double dacts_floats(const ic_config *c, double B, double T, double n, int groups, int coda) {
    const double C = c->n_embd, H = c->n_head, BTC = B * T * C;
    return 5 * BTC + 3 * BTC + 2 * 4 * BTC + B * H * T * T + B * n + (groups ? 2 * BTC : 0) + (coda ? BTC : 0);
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

/* Grows *buf to at least `need` floats (want: the same count in double, for
 * the checks); the old content is not kept. */
static int grow_floats(float **buf, size_t *cap, size_t need, double want, const char *what, ic_err *err) {
    if (need <= *cap) return 0;
    if (check_size(want, 1, what, err)) return -1;
    free(*buf);
    void *p = NULL;
    *buf = posix_memalign(&p, 64, need * sizeof(float)) == 0 ? p : NULL; /* cache-line aligned */
    *cap = *buf ? need : 0;
    if (!*buf) return ic_errf(err, "out of memory: %s needs %.1f MB", what, need * 4.0 / 1e6);
    return 0;
}

static int ensure_acts(ic_workspace *ws, const ic_config *c, int B, int T, int nslots, int nb, int share,
                       ic_err *err) {
    const int nthr = ic_workspace_threads();
    const double want = acts_floats(c, B, T, nslots, nb, share, nthr);
    if (check_size(want, 0, "the activation buffer", err)) return -1;
    const size_t need = layout_acts(ws, c, NULL, B, T, nslots, nb, share, nthr);
    if (grow_floats(&ws->acts_mem, &ws->acts_cap, need, want, "the activation buffer", err)) return -1;
    if ((size_t)nslots > ws->loop_acts_cap) { /* views grow with the schedule, never per step */
        ic_loop_acts *la = realloc(ws->loop_acts, sizeof *la * (size_t)nslots);
        if (!la) return ic_errf(err, "out of memory");
        ws->loop_acts = la;
        ws->loop_acts_cap = (size_t)nslots;
    }
    if ((size_t)nslots * nb > ws->block_acts_cap) {
        ic_block_acts *ba = realloc(ws->block_acts, sizeof *ba * (size_t)nslots * (size_t)nb);
        if (!ba) return ic_errf(err, "out of memory");
        ws->block_acts = ba;
        ws->block_acts_cap = (size_t)nslots * nb;
    }
    layout_acts(ws, c, ws->acts_mem, B, T, nslots, nb, share, nthr);
    ws->n_loop_slots = nslots;
    ws->tile_threads = nthr;
    return 0;
}

static int ensure_dacts(ic_workspace *ws, const ic_config *c, int B, int T, int n, int groups, int coda,
                        ic_err *err) {
    const double want = dacts_floats(c, B, T, n, groups, coda);
    if (check_size(want, 0, "the backward buffer", err)) return -1;
    const size_t need = layout_dacts(ws, c, NULL, B, T, n, groups, coda);
    if (grow_floats(&ws->dacts_mem, &ws->dacts_cap, need, want, "the backward buffer", err)) return -1;
    layout_dacts(ws, c, ws->dacts_mem, B, T, n, groups, coda);
    return 0;
}

/* Room for L loops' statistics: one buffer [4, L]. */
static int ensure_stats(ic_workspace *ws, int L, ic_err *err) {
    if ((size_t)L > ws->stats_cap) {
        free(ws->stats_mem);
        ws->stats_mem = malloc(sizeof(double) * 4 * (size_t)L);
        ws->stats_cap = ws->stats_mem ? (size_t)L : 0;
        if (!ws->stats_mem) return ic_errf(err, "out of memory");
    }
    ws->loop_mse = ws->stats_mem;
    ws->loop_delta = ws->stats_mem + ws->stats_cap;
    ws->loop_delta_num = ws->stats_mem + 2 * ws->stats_cap;
    ws->loop_delta_den = ws->stats_mem + 3 * ws->stats_cap;
    return 0;
}

/* The body has a parallel group (a slot of more than one entry). */
static int has_groups(const ic_schedule *s) { return ic_schedule_slots(s) < s->n; }

int ic_workspace_reserve(ic_workspace *ws, const ic_config *c, const ic_schedule *s, int B, int n, int need_grad,
                         ic_err *err) {
    const int T = 2 * n, L = s->loops, nslots = need_grad ? ic_schedule_grad_loops(s) : 1;
    if (ensure_acts(ws, c, B, T, nslots, s->n, !need_grad, err)) return -1;
    if (need_grad && ensure_dacts(ws, c, B, T, n, has_groups(s), s->coda > 0, err)) return -1;
    if (need_grad) ws->mlp_h = ws->d_fch; /* the forward's GELU output: scratch until the backward */
    if ((size_t)B > ws->loops_used_cap) {
        free(ws->loops_used);
        ws->loops_used = malloc(sizeof(int) * 2 * (size_t)B); /* loops used, then the halting pass's active rows */
        ws->loops_used_cap = ws->loops_used ? (size_t)B : 0;
        if (!ws->loops_used) return ic_errf(err, "out of memory");
    }
    const double npred = (double)L * B * n;
    if (check_size(npred, 0, "the predictions of every loop", err)) return -1;
    if (grow_floats(&ws->preds, &ws->preds_cap, (size_t)L * B * n, npred, "the predictions of every loop", err))
        return -1;
    return ensure_stats(ws, L, err);
}

/* ---------------- data-parallel training pass ---------------- */

int ic_default_shards(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void ic_shards_free(ic_shards *sh) {
    for (int i = 0; i < sh->cap; i++) {
        ic_workspace_free(&sh->ws[i]);
        ic_grads_free(&sh->grads[i]);
    }
    free(sh->ws);
    free(sh->grads);
    memset(sh, 0, sizeof *sh);
}

/* k shards, each with a gradient buffer of m's layout when with_grads
 * (inference needs only the workspaces). */
static int shards_ensure(ic_shards *sh, const ic_model *m, int k, int with_grads, ic_err *err) {
    if (k > sh->cap) {
        ic_workspace *ws = realloc(sh->ws, sizeof *ws * (size_t)k);
        if (ws) sh->ws = ws;
        ic_grads *g = realloc(sh->grads, sizeof *g * (size_t)k);
        if (g) sh->grads = g;
        if (!ws || !g) return ic_errf(err, "out of memory for %d shards", k);
        for (; sh->cap < k; sh->cap++) {
            ic_workspace_init(&sh->ws[sh->cap]);
            memset(&sh->grads[sh->cap], 0, sizeof sh->grads[sh->cap]);
        }
    }
    for (int i = 0; i < k && with_grads; i++)
        if (!grads_fit(&sh->grads[i], m)) {
            ic_grads_free(&sh->grads[i]);
            if (ic_grads_create(&sh->grads[i], m, err)) return -1;
        }
    return 0;
}

int ic_model_train_pass(const ic_model *m, ic_grads *g, ic_workspace *ws, ic_shards *sh, int nshards,
                        const ic_schedule *s, const float *xs, const float *ys, int B, int n, ic_err *err) {
    if (nshards > B) nshards = B;
    if (nshards <= 1) {
        if (ic_model_forward(m, ws, s, xs, ys, B, n, 1, err)) return -1;
        return ic_model_backward(m, g, ws, err);
    }
    if (ic_schedule_validate(s, m->cfg.n_layer, err)) return -1;
    if (!xs || !ys) return ic_errf(err, "forward needs prompts: xs and ys (the y tokens are part of the input)");
    if (!grads_fit(g, m)) return ic_errf(err, "the gradient buffer was not made for this model (ic_grads_create)");
    if (ensure_stats(ws, s->loops, err) || shards_ensure(sh, m, nshards, 1, err)) return -1;
    const int d = m->cfg.n_dims;
    int failed = -1;
    ic_err shard_err[64], *errs = nshards <= 64 ? shard_err : malloc(sizeof *errs * (size_t)nshards);
    if (!errs) return ic_errf(err, "out of memory");
    for (int i = 0; i < nshards; i++) ic_gemm_set_precision(&sh->ws[i].gemm, ws->gemm.prec);
    const int blas_prev = ic_blas_set_threads(1);
    int nthreads = ic_default_shards(); /* more shards than threads: each thread runs several, in order */
    if (nthreads > nshards) nthreads = nshards;
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int i = 0; i < nshards; i++) {
        const int b0 = (int)((long)B * i / nshards), b1 = (int)((long)B * (i + 1) / nshards);
        ic_grads_zero(&sh->grads[i]);
        int rc = ic_model_forward(m, &sh->ws[i], s, xs + (size_t)b0 * n * d, ys + (size_t)b0 * n, b1 - b0, n, 1,
                                  &errs[i]);
        if (!rc) rc = ic_model_backward(m, &sh->grads[i], &sh->ws[i], &errs[i]);
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
    ws->loss = 0.0;
    for (int t = 0; t < s->loops; t++)
        ws->loop_mse[t] = 0.0, ws->loop_delta[t] = ws->loop_delta_num[t] = ws->loop_delta_den[t] = NAN;
    for (int i = 0; i < nshards; i++) {
        const long bi = (long)B * (i + 1) / nshards - (long)B * i / nshards;
        w[i] = (float)bi / (float)B;
        ws->loss += (double)bi / B * sh->ws[i].loss;
        for (int t = 0; t < s->loops; t++) ws->loop_mse[t] += (double)bi / B * sh->ws[i].loop_mse[t];
    }
    float *gm = g->mem;
    const size_t np = m->num_params;
    #pragma omp parallel for num_threads(nthreads) if (np > 65536)
    for (size_t k = 0; k < np; k++) {
        float acc = 0.0f;
        for (int i = 0; i < nshards; i++) acc += w[i] * sh->grads[i].mem[k];
        gm[k] += acc;
    }
    if (w != wts) free(w);
    ws->cfg = m->cfg;
    ws->B = B;
    ws->n = n;
    ws->T = 2 * n;
    ws->sched = *s;
    ws->have_grad_acts = 0;
    free(ws->preds); /* no predictions of this batch: ic_workspace_preds returns NULL */
    ws->preds = NULL;
    ws->preds_cap = 0;
    return 0;
}

int ic_model_predict_sharded(const ic_model *m, ic_shards *sh, int nshards, ic_precision prec, const ic_schedule *s,
                             const float *xs, const float *ys, int B, int n, float *pred, ic_err *err) {
    if (nshards > B) nshards = B;
    if (nshards < 1) nshards = 1;
    if (B < 1) return 0;
    if (ic_schedule_validate(s, m->cfg.n_layer, err)) return -1;
    if (!xs || !ys || !pred) return ic_errf(err, "inference needs prompts (xs, ys) and a buffer for the predictions");
    if (shards_ensure(sh, m, nshards, 0, err)) return -1;
    const int d = m->cfg.n_dims;
    int failed = -1;
    ic_err shard_err[64], *errs = nshards <= 64 ? shard_err : malloc(sizeof *errs * (size_t)nshards);
    if (!errs) return ic_errf(err, "out of memory");
    for (int i = 0; i < nshards; i++) ic_gemm_set_precision(&sh->ws[i].gemm, prec);
    const int blas_prev = ic_blas_set_threads(1);
    int nthreads = ic_default_shards();
    if (nthreads > nshards) nthreads = nshards;
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int i = 0; i < nshards; i++) {
        const int b0 = (int)((long)B * i / nshards), b1 = (int)((long)B * (i + 1) / nshards);
        int rc = ic_model_forward(m, &sh->ws[i], s, xs + (size_t)b0 * n * d, ys + (size_t)b0 * n, b1 - b0, n, 0,
                                  &errs[i]);
        if (!rc) memcpy(pred + (size_t)b0 * n, ic_workspace_preds(&sh->ws[i], -1), sizeof(float) * (size_t)(b1 - b0) * n);
        if (rc) {
            #pragma omp critical(ic_predict_sharded_err)
            if (failed < 0 || i < failed) failed = i;
        }
    }
    ic_blas_set_threads(blas_prev);
    if (failed >= 0) ic_errf(err, "%s", errs[failed].msg);
    if (errs != shard_err) free(errs);
    return failed >= 0 ? -1 : 0;
}

/* ---------------- memory ---------------- */

/* A workspace's buffers after a forward (need_grad 0) or forward + backward
 * (need_grad 1) of B prompts on nthr attention threads: what
 * ic_workspace_reserve allocates, into o->acts, dacts and preds. */
static void workspace_bytes(const ic_config *c, const ic_schedule *s, double B, double n, int need_grad, int nthr,
                            ic_mem_bytes *o) {
    const double T = 2 * n, L = s->loops, nb = s->n;
    const double nslots = need_grad ? ic_schedule_grad_loops(s) : 1;
    o->acts = acts_floats(c, B, T, nslots, nb, !need_grad, nthr) * sizeof(float) + nslots * sizeof(ic_loop_acts) +
              nslots * nb * sizeof(ic_block_acts);
    o->dacts = need_grad ? dacts_floats(c, B, T, n, has_groups(s), s->coda > 0) * sizeof(float) : 0;
    o->preds = L * B * n * sizeof(float) + 4 * L * sizeof(double) + 2 * B * sizeof(int);
}

void ic_model_mem_estimate(const ic_config *c, const ic_schedule *s, int B, int n, int need_grad, int nshards,
                           ic_mem_bytes *out) {
    if (n <= 0) n = c->n_positions;
    if (nshards > B) nshards = B;
    size_t sz[IC_NUM_PARAM_TENSORS];
    double np = 0;
    ic_param_sizes(c, sz);
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) np += (double)sz[k];
    memset(out, 0, sizeof *out);
    out->params = np * sizeof(float);
    out->grads = need_grad ? np * sizeof(float) : 0;
    if (!need_grad || nshards <= 1) {
        workspace_bytes(c, s, B, n, need_grad, ic_workspace_threads(), out);
    } else {
        /* ic_model_train_pass on shards: the caller's workspace keeps the loop
         * statistics only; each shard a workspace for its share of the batch
         * (attention on its one thread) and a gradient buffer */
        out->preds = 4.0 * s->loops * sizeof(double);
        out->shards = (double)nshards * (sizeof(ic_workspace) + sizeof(ic_grads));
        for (int i = 0; i < nshards; i++) {
            const int bi = (int)((long)B * (i + 1) / nshards - (long)B * i / nshards);
            ic_mem_bytes r = {0};
            workspace_bytes(c, s, bi, n, 1, 1, &r);
            out->shards += r.acts + r.dacts + r.preds + np * sizeof(float);
        }
    }
    out->total = out->params + out->grads + out->acts + out->dacts + out->preds + out->shards;
}

/* What one workspace holds, into o->acts, dacts and preds. */
static void workspace_held(const ic_workspace *ws, ic_mem_bytes *o) {
    o->acts = (double)ws->acts_cap * sizeof(float) + (double)ws->loop_acts_cap * sizeof(ic_loop_acts) +
              (double)ws->block_acts_cap * sizeof(ic_block_acts);
    o->dacts = (double)ws->dacts_cap * sizeof(float);
    o->preds = (double)ws->preds_cap * sizeof(float) + (double)ws->stats_cap * 4 * sizeof(double) +
               (double)ws->loops_used_cap * 2 * sizeof(int);
}

void ic_model_mem_held(const ic_model *m, const ic_grads *g, const ic_workspace *ws, const ic_shards *sh,
                       ic_mem_bytes *o) {
    memset(o, 0, sizeof *o);
    o->params = m && m->params_mem ? (double)m->num_params * sizeof(float) : 0;
    o->grads = g && g->mem ? (double)g->num_params * sizeof(float) : 0;
    if (ws) workspace_held(ws, o);
    if (sh && sh->cap) {
        o->shards = (double)sh->cap * (sizeof(ic_workspace) + sizeof(ic_grads));
        for (int i = 0; i < sh->cap; i++) {
            ic_mem_bytes r = {0};
            workspace_held(&sh->ws[i], &r);
            o->shards += r.acts + r.dacts + r.preds + (sh->grads[i].mem ? (double)sh->grads[i].num_params * sizeof(float) : 0);
        }
    }
    o->total = o->params + o->grads + o->acts + o->dacts + o->preds + o->shards;
}
