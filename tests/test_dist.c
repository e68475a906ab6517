/* test_dist.c: data-parallel training without MPI — ranks as threads of one
 * process over a shared-memory communicator (comm.h), so the weighting,
 * the start broadcast, the stop agreement and the replica checksum run
 * under the sanitizers too; the slices; the prompt schemes (per_prompt for
 * new runs, stream for run directories from before data_scheme existed);
 * sweep plans. tests/mpi_test.sh runs the same training over real MPI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "ops.h"
#include "safetensors.h"
#include "sweep.h"
#include "testutil.h"
#include "train.h"

/* ---------------- ranks as threads ---------------- */

#define MAX_RANKS 4

typedef struct {
    int size;
    pthread_barrier_t bar;
    void *bufs[MAX_RANKS];
    uint64_t vals[MAX_RANKS];
    double *sum;
    int skew_rank; /* >= 0: this rank's reduced gradient is off by a little (a reduction that differs) */
} shared;

static shared *sh_of(const ic_comm *c) { return (shared *)c->ctx; }

/* rank 0 sums every rank's buffer in rank order (double), all copy it back */
static void reduce(const ic_comm *c, void *buf, size_t n, int is_f32) {
    shared *s = sh_of(c);
    s->bufs[c->rank] = buf;
    pthread_barrier_wait(&s->bar);
    if (c->rank == 0) {
        s->sum = calloc(n ? n : 1, sizeof *s->sum);
        for (int r = 0; r < s->size; r++)
            for (size_t i = 0; i < n; i++)
                s->sum[i] += is_f32 ? (double)((float *)s->bufs[r])[i] : ((double *)s->bufs[r])[i];
    }
    pthread_barrier_wait(&s->bar);
    for (size_t i = 0; i < n; i++) {
        if (is_f32) ((float *)buf)[i] = (float)s->sum[i];
        else ((double *)buf)[i] = s->sum[i];
    }
    if (is_f32 && c->rank == s->skew_rank && n > 1) ((float *)buf)[0] += 1e-2f;
    pthread_barrier_wait(&s->bar);
    if (c->rank == 0) free(s->sum);
}
static int t_f32(const ic_comm *c, float *buf, size_t n, ic_err *err) {
    reduce(c, buf, n, 1);
    return 0;
}
static int t_f64(const ic_comm *c, double *buf, size_t n, ic_err *err) {
    reduce(c, buf, n, 0);
    return 0;
}
static int t_bcast(const ic_comm *c, void *buf, size_t bytes, int root, ic_err *err) {
    shared *s = sh_of(c);
    if (c->rank == root) s->bufs[root] = buf;
    pthread_barrier_wait(&s->bar);
    if (c->rank != root) memcpy(buf, s->bufs[root], bytes);
    pthread_barrier_wait(&s->bar);
    return 0;
}
static int t_allgather(const ic_comm *c, uint64_t v, uint64_t *all, ic_err *err) {
    shared *s = sh_of(c);
    s->vals[c->rank] = v;
    pthread_barrier_wait(&s->bar);
    memcpy(all, s->vals, sizeof *all * (size_t)s->size);
    pthread_barrier_wait(&s->bar);
    return 0;
}

typedef struct {
    ic_comm comm;
    const char *dir;
    const ic_run_config *cfg;
    int resume;
    long stop_after;
    int rc;
    ic_err err;
    ic_train_result res;
} rank_job;

static void *rank_main(void *p) {
    rank_job *j = p;
    ic_set_threads(1); /* one shard per rank: the ranks are the parallelism here */
    ic_train_hooks h = {.comm = &j->comm, .stop_after = j->stop_after};
    /* the others are given no config on resume: rank 0 sends it */
    const ic_run_config *cfg = j->resume && j->comm.rank ? NULL : j->cfg;
    j->rc = ic_train_run(j->dir, cfg, j->resume, &h, &j->res, &j->err);
    return NULL;
}

/* ic_train_run on n thread ranks; returns rank 0's rc (all must agree) */
static int train_on_threads(int n, const char *dir, const ic_run_config *cfg, int resume, long stop_after, int equal_w,
                            int skew_rank, ic_err *err0) {
    shared s = {.size = n, .skew_rank = skew_rank};
    pthread_barrier_init(&s.bar, NULL, (unsigned)n);
    rank_job jobs[MAX_RANKS];
    pthread_t th[MAX_RANKS];
    for (int r = 0; r < n; r++) {
        jobs[r] = (rank_job){.comm = {.rank = r, .size = n, .allreduce_f32 = t_f32, .allreduce_f64 = t_f64,
                                      .bcast = t_bcast, .allgather_u64 = t_allgather, .test_equal_weights = equal_w,
                                      .ctx = &s},
                             .dir = dir, .cfg = cfg, .resume = resume, .stop_after = stop_after};
        assert_int_equal(pthread_create(&th[r], NULL, rank_main, &jobs[r]), 0);
    }
    for (int r = 0; r < n; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&s.bar);
    for (int r = 1; r < n; r++) assert_int_equal(jobs[r].rc, jobs[0].rc);
    for (int r = 1; r < n; r++) assert_int_equal(jobs[r].res.step, jobs[0].res.step);
    if (err0) *err0 = jobs[0].err;
    return jobs[0].rc;
}

static void tiny(ic_run_config *c) {
    ic_err err;
    ic_run_config_default(c);
    const char *kv[][2] = {{"n_dims", "4"},       {"n_positions", "6"}, {"n_points", "6"},     {"n_embd", "16"},
                           {"n_layer", "2"},      {"n_head", "2"},      {"batch_size", "7"},   {"train_steps", "12"},
                           {"learning_rate", "1e-3"}, {"log_every", "2"}, {"save_every", "4"}, {"seed", "3"},
                           {"threads", "1"},      {"checksum_every", "3"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) assert_int_equal(ic_run_config_set(c, kv[i][0], kv[i][1], &err), 0);
    assert_int_equal(ic_run_config_validate(c, &err), 0);
}

static float *params_of(const char *dir, size_t *n) {
    char path[4096];
    ic_err err;
    assert_int_equal(ic_path_join(path, sizeof path, dir, "state.safetensors", &err), 0);
    st_file f;
    assert_int_equal(st_read_file(path, &f, &err), 0);
    const st_tensor *t = st_find(&f, "params");
    assert_non_null(t);
    *n = t->numel;
    float *p = malloc(sizeof *p * *n);
    assert_int_equal(st_read_f32(&f, t, p, *n, &err), 0);
    st_free(&f);
    return p;
}

static double max_diff(const char *a, const char *b) {
    size_t na, nb;
    float *x = params_of(a, &na), *y = params_of(b, &nb);
    assert_int_equal(na, nb);
    double m = 0;
    for (size_t i = 0; i < na; i++) m = fmax(m, fabs((double)x[i] - y[i]));
    free(x);
    free(y);
    return m;
}

/* ---------------- tests ---------------- */

static void test_slices_cover_the_batch(void **st) {
    for (int B = 1; B <= 9; B++)
        for (int n = 1; n <= B; n++) {
            int next = 0;
            for (int r = 0; r < n; r++) {
                int s, c;
                ic_comm_slice(B, n, r, &s, &c);
                assert_int_equal(s, next);
                assert_true(c == B / n || c == B / n + 1);
                next = s + c;
            }
            assert_int_equal(next, B);
        }
}

/* Same tolerance and reasoning as tests/mpi_test.sh: float rounding of the
 * gradient's sum moves a parameter by at most about one Adam step (lr) over a
 * run this short; a wrong weighting moves every parameter by far more. */
#define TOL 1e-3

static void test_ranks_give_the_same_parameters(void **st) {
    ic_run_config c;
    tiny(&c);
    ic_err err;
    assert_int_equal(train_on_threads(1, tu_tmp_path("n1"), &c, 0, 0, 0, -1, &err), 0);
    assert_int_equal(train_on_threads(2, tu_tmp_path("n2"), &c, 0, 0, 0, -1, &err), 0);
    assert_int_equal(train_on_threads(3, tu_tmp_path("n3"), &c, 0, 0, 0, -1, &err), 0);
    const double d2 = max_diff(tu_tmp_path("n1"), tu_tmp_path("n2")), d3 = max_diff(tu_tmp_path("n1"), tu_tmp_path("n3"));
    assert_true(d2 < TOL);
    assert_true(d3 < TOL);
    // each rank's mean weighted 1/N (wrong: 7 prompts are not split evenly) must fail the same check
    assert_int_equal(train_on_threads(2, tu_tmp_path("w2"), &c, 0, 0, 1, -1, &err), 0);
    assert_int_equal(train_on_threads(3, tu_tmp_path("w3"), &c, 0, 0, 1, -1, &err), 0);
    assert_true(max_diff(tu_tmp_path("n1"), tu_tmp_path("w2")) > TOL);
    assert_true(max_diff(tu_tmp_path("n1"), tu_tmp_path("w3")) > TOL);
    // only rank 0 wrote, and it recorded the ranks
    char *text;
    size_t len;
    assert_int_equal(ic_read_file(tu_tmp_path("n3/config.json"), &text, &len, 1 << 20, &err), 0);
    assert_non_null(strstr(text, "\"mpi_ranks\": 3"));
    assert_non_null(strstr(text, "\"data_scheme\": \"per_prompt\""));
    free(text);
}

static void test_resume_on_another_rank_count(void **st) {
    ic_run_config c;
    tiny(&c);
    ic_err err;
    assert_int_equal(train_on_threads(1, tu_tmp_path("ref"), &c, 0, 0, 0, -1, &err), 0);
    // 2 ranks stop after 5 steps (checkpoint at the stop), 3 ranks finish it
    assert_int_equal(train_on_threads(2, tu_tmp_path("r23"), &c, 0, 5, 0, -1, &err), 0);
    assert_int_equal(train_on_threads(3, tu_tmp_path("r23"), &c, 1, 0, 0, -1, &err), 0);
    assert_true(max_diff(tu_tmp_path("ref"), tu_tmp_path("r23")) < TOL);
    // and back to one process
    c.train_steps = 16;
    assert_int_equal(train_on_threads(1, tu_tmp_path("r23"), &c, 1, 0, 0, -1, &err), 0);
}

static void test_diverged_replicas_stop_the_run(void **st) {
    ic_run_config c;
    tiny(&c);
    ic_err err;
    // rank 1's reduction differs a little: the checksum after step 3 (checksum_every) sees it
    assert_int_equal(train_on_threads(2, tu_tmp_path("skew"), &c, 0, 0, 0, 1, &err), -1);
    assert_non_null(strstr(err.msg, "parameters differ between ranks after step 3"));
    assert_non_null(strstr(err.msg, "last good checkpoint"));
}

static void test_batch_smaller_than_ranks(void **st) {
    ic_run_config c;
    tiny(&c);
    c.batch_size = 2;
    ic_err err;
    assert_int_equal(train_on_threads(3, tu_tmp_path("small"), &c, 0, 0, 0, -1, &err), -1);
    assert_non_null(strstr(err.msg, "smaller than the 3 ranks"));
    assert_false(ic_file_exists(tu_tmp_path("small")));
}

/* per_prompt: prompt b of step t is the same whatever else is drawn; a
 * change of seed changes it */
static void test_prompt_seeds(void **st) {
    ic_run_config c;
    tiny(&c);
    const uint64_t a = ic_trainer_prompt_seed(&c, 5, 2);
    assert_true(a == ic_trainer_prompt_seed(&c, 5, 2));
    assert_true(a != ic_trainer_prompt_seed(&c, 5, 3));
    assert_true(a != ic_trainer_prompt_seed(&c, 6, 2));
    assert_true(ic_trainer_prompt_seed(&c, 6, 1) != ic_trainer_prompt_seed(&c, 5, 2));
    c.seed = 4;
    assert_true(a != ic_trainer_prompt_seed(&c, 5, 2));
}

/* A run directory from before data_scheme existed: its config.json and its
 * state record no data_scheme and were trained on the stream; they resume
 * on it, bit-identically. */
static void test_old_run_resumes_on_the_stream(void **st) {
    ic_run_config c;
    tiny(&c);
    snprintf(c.data_scheme, sizeof c.data_scheme, "stream");
    ic_err err;
    ic_train_result r;
    assert_int_equal(ic_train_run(tu_tmp_path("old_full"), &c, 0, NULL, &r, &err), 0);
    ic_train_hooks h = {.stop_after = 6};
    assert_int_equal(ic_train_run(tu_tmp_path("old"), &c, 0, &h, &r, &err), 0);
    // strip the key as an older iclab wrote them
    char *text;
    size_t len;
    assert_int_equal(ic_read_file(tu_tmp_path("old/config.json"), &text, &len, 1 << 20, &err), 0);
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    assert_int_equal(json_object_del(o, "data_scheme"), 0);
    json_object_del(o, "checksum_every");
    json_object_del(o, "mpi_ranks");
    text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    assert_int_equal(ic_write_file_atomic(tu_tmp_path("old/config.json"), text, strlen(text), &err), 0);
    free(text);
    st_file f;
    assert_int_equal(st_read_file(tu_tmp_path("old/state.safetensors"), &f, &err), 0);
    json_t *rc = json_loads(st_meta(&f, "iclab_run_config"), 0, NULL);
    st_free(&f);
    json_object_del(rc, "data_scheme");
    json_object_del(rc, "checksum_every");
    json_object_del(rc, "mpi_ranks");
    text = json_dumps(rc, JSON_COMPACT);
    tu_rewrite_meta(tu_tmp_path("old/state.safetensors"), tu_tmp_path("old/state.safetensors"), "iclab_run_config", text);
    free(text);
    json_decref(o);
    json_decref(rc);
    // the directory's config says stream
    ic_run_config d;
    assert_int_equal(ic_train_dir_config(tu_tmp_path("old"), &d, &err), 0);
    assert_string_equal(d.data_scheme, "stream");
    // resumed by a caller that builds today's config (per_prompt), as the demo does when run again
    ic_run_config fresh;
    tiny(&fresh);
    h.stop_after = 3;
    assert_int_equal(ic_train_run(tu_tmp_path("old"), &fresh, 1, &h, &r, &err), 0);
    assert_int_equal(r.step, 9);
    assert_int_equal(ic_train_run(tu_tmp_path("old"), NULL, 1, NULL, &r, &err), 0);
    assert_int_equal(r.step, 12);
    assert_true(max_diff(tu_tmp_path("old_full"), tu_tmp_path("old")) == 0.0);
    // and a new config trains per prompt: other data, other parameters
    ic_run_config n;
    tiny(&n);
    assert_string_equal(n.data_scheme, "per_prompt");
    assert_int_equal(ic_train_run(tu_tmp_path("new"), &n, 0, NULL, &r, &err), 0);
    assert_true(max_diff(tu_tmp_path("old_full"), tu_tmp_path("new")) > 0.0);
}

/* ---------------- sweep plans ---------------- */

static const char *write_plan(const char *name, const char *text) {
    const char *p = tu_tmp_path(name);
    ic_err err;
    assert_int_equal(ic_write_file_atomic(p, text, strlen(text), &err), 0);
    return p;
}

static void test_plan_expands_runs(void **st) {
    ic_err err;
    write_plan("cfg.json", "{\"n_embd\": 32, \"n_head\": 4, \"n_dims\": 5, \"n_positions\": 11}");
    const char *path = write_plan(
        "plan.json", "{\"name\": \"p\", \"configs\": {\"f\": \"cfg.json\", \"o\": {\"n_layer\": 1, \"n_embd\": 8, "
                     "\"n_head\": 2}}, \"seeds\": [4, 5], \"data_seed_offset\": 10, \"overrides\": {\"train_steps\": 9},"
                     " \"variants\": {\"lo\": {\"learning_rate\": 1e-4}, \"hi\": {\"learning_rate\": 1e-3}},"
                     " \"steps\": [{\"command\": \"eval\"}, {\"command\": \"loops\", \"out\": \"lp\", \"args\": [\"--max_loops\", 3]}]}");
    const char *keys[] = {"threads"}, *vals[] = {"1"};
    ic_plan_opts o = {.n_keys = 1, .key_name = keys, .key_val = vals};
    ic_plan p;
    assert_int_equal(ic_plan_load(path, &o, &p, &err), 0);
    assert_int_equal(p.n_runs, 8);
    assert_string_equal(p.runs[0].name, "f/lo/seed4");
    assert_string_equal(p.runs[3].name, "f/hi/seed5");
    assert_string_equal(p.runs[7].name, "o/hi/seed5");
    assert_null(p.runs[0].error);
    assert_int_equal(p.runs[0].cfg->model.n_embd, 32);
    assert_int_equal(p.runs[0].cfg->n_points, 11); // follows the smaller n_positions, as iclab train
    assert_true(p.runs[3].cfg->seed == 5 && p.runs[3].cfg->data_seed == 15);
    assert_true(p.runs[3].cfg->learning_rate == 1e-3 && p.runs[3].cfg->train_steps == 9 && p.runs[3].cfg->threads == 1);
    assert_int_equal(p.runs[7].cfg->model.n_layer, 1);
    assert_int_equal(p.n_steps, 2);
    assert_string_equal(p.steps[0].out, "eval");
    assert_string_equal(p.steps[1].out, "lp");
    assert_int_equal(p.steps[1].argc, 2);
    assert_string_equal(p.steps[1].argv[1], "3");
    // the train arguments: --config <absolute>, then the keys in order
    assert_string_equal(p.runs[0].argv[0], "--config");
    assert_true(p.runs[0].argv[1][0] == '/');
    ic_plan_free(&p);
    // --seeds and --only
    o.seeds = "7";
    o.only = "o";
    assert_int_equal(ic_plan_load(path, &o, &p, &err), 0);
    assert_int_equal(p.n_runs, 2);
    assert_string_equal(p.runs[1].name, "o/hi/seed7");
    ic_plan_free(&p);
}

static void test_plan_errors(void **st) {
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"[1]", "a plan is a JSON object"},
        {"{\"configs\": {}}", "\"configs\" must be"},
        {"{\"configs\": {\"a\": {}}, \"sedes\": [1]}", "unknown entry \"sedes\""},
        {"{\"configs\": {\"a/b\": {}}}", "'a/b' is not a name"},
        {"{\"configs\": {\"a\": {\"n_ebmd\": 3}}}", "unknown config key 'n_ebmd'"},
        {"{\"configs\": {\"a\": {\"seed\": 3}}}", "set by the plan's \"seeds\""},
        {"{\"configs\": {\"a\": \"missing.json\"}}", "missing.json"},
        {"{\"configs\": {\"a\": {}}, \"seeds\": [1, 1]}", "seed 1 is listed twice"},
        {"{\"configs\": {\"a\": {}}, \"steps\": [{\"command\": \"rm\"}]}", "must be one of eval, loops"},
        {"{\"configs\": {\"a\": {}}, \"steps\": [{\"command\": \"eval\", \"args\": [\"--out\", \"x\"]}]}", "may not give --out"},
        {"{\"configs\": {\"a\": {}}, \"steps\": [{\"command\": \"eval\"}, {\"command\": \"eval\"}]}", "is used twice"},
        {"{\"configs\": {\"a\": {}}, \"steps\": [{\"command\": \"eval\", \"out\": \"../x\"}]}", "\"out\" must be a name"},
    };
    ic_plan_opts o = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ic_err err = {{0}};
        ic_plan p;
        const char *path = write_plan("bad.json", cases[i].text);
        assert_int_equal(ic_plan_load(path, &o, &p, &err), -1);
        if (!strstr(err.msg, cases[i].msg)) fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, err.msg, cases[i].msg);
        assert_non_null(strstr(err.msg, cases[i].msg));
    }
    // a run whose config does not validate is kept, with its error (it fails alone)
    ic_err err;
    ic_plan p;
    const char *path = write_plan("half.json", "{\"configs\": {\"good\": {}, \"bad\": {\"n_embd\": 15}}}");
    assert_int_equal(ic_plan_load(path, &o, &p, &err), 0);
    assert_int_equal(p.n_runs, 2);
    assert_null(p.runs[0].error);
    assert_non_null(strstr(p.runs[1].error, "divisible"));
    ic_plan_free(&p);
}

static void test_sweep_state_and_summary(void **st) {
    ic_err err;
    const char *path = write_plan("s.json", "{\"name\": \"s\", \"configs\": {\"a\": {}}, \"seeds\": [1, 2],"
                                            " \"steps\": [{\"command\": \"eval\"}]}");
    ic_plan_opts o = {0};
    ic_plan p;
    assert_int_equal(ic_plan_load(path, &o, &p, &err), 0);
    const char *dir = tu_tmp_path("sw");
    ic_plan_result r[2];
    ic_plan_run_state(dir, &p, 0, &r[0]);
    assert_int_equal(r[0].status, IC_PLAN_PENDING);
    // run 0 recorded done without its eval output: still pending; with it: done
    r[0].status = IC_PLAN_DONE;
    assert_int_equal(ic_plan_record(dir, &p, 0, &r[0], &err), 0);
    ic_plan_run_state(dir, &p, 0, &r[0]);
    assert_int_equal(r[0].status, IC_PLAN_PENDING);
    assert_int_equal(ic_mkdirs(tu_tmp_path("sw/a/seed1/eval"), &err), 0);
    ic_plan_run_state(dir, &p, 0, &r[0]);
    assert_int_equal(r[0].status, IC_PLAN_DONE);
    r[1].status = IC_PLAN_FAILED;
    snprintf(r[1].error, sizeof r[1].error, "train exited with code 1: \"bad\", really");
    assert_int_equal(ic_plan_record(dir, &p, 1, &r[1], &err), 0);
    ic_plan_run_state(dir, &p, 1, &r[1]);
    assert_int_equal(r[1].status, IC_PLAN_FAILED);
    assert_string_equal(r[1].error, "train exited with code 1: \"bad\", really");
    // the transport between ranks keeps a result
    char *t = ic_plan_result_to_json(&r[1]);
    ic_plan_result back;
    assert_int_equal(ic_plan_result_from_json(t, &back, &err), 0);
    free(t);
    assert_int_equal(back.status, IC_PLAN_FAILED);
    assert_string_equal(back.error, r[1].error);
    assert_int_equal(ic_plan_write_summary(dir, &p, r, &err), 0);
    json_t *j = json_load_file(tu_tmp_path("sw/sweep.json"), 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "plan"), "name")), "s");
    json_t *runs = json_object_get(j, "runs");
    assert_int_equal(json_array_size(runs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "dir")), "a/seed1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "status")), "done");
    assert_true(json_is_null(json_object_get(json_array_get(runs, 0), "error")));
    assert_true(json_is_null(json_object_get(json_object_get(json_array_get(runs, 0), "metrics"), "loss")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 1), "status")), "failed");
    json_decref(j);
    char *csv;
    size_t len;
    assert_int_equal(ic_read_file(tu_tmp_path("sw/summary.csv"), &csv, &len, 1 << 20, &err), 0);
    assert_string_equal(csv, "name,dir,status,step,loss,excess_loss,wall_s,error\n"
                             "a/seed1,a/seed1,done,,,,,\n"
                             "a/seed2,a/seed2,failed,,,,,\"train exited with code 1: \"\"bad\"\", really\"\n");
    free(csv);
    ic_plan_free(&p);
}

/* The longest config name and an error of quotes (quoted, each doubled):
 * the summary row holds both whole. */
static void test_summary_long_fields(void **st) {
    ic_err err;
    char name[65], plan[300];
    memset(name, 'x', 64);
    name[0] = 'c', name[64] = 0; /* plan names: at most 64 letters, digits, '.', '_', '-' (never quoted) */
    snprintf(plan, sizeof plan, "{\"name\": \"long\", \"configs\": {\"%s\": {}}, \"seeds\": [1]}", name);
    ic_plan_opts o = {0};
    ic_plan p;
    assert_int_equal(ic_plan_load(write_plan("long.json", plan), &o, &p, &err), 0);
    ic_plan_result r[1] = {{0}};
    r[0].status = IC_PLAN_FAILED; /* an error of quotes: quoted, each doubled */
    memset(r[0].error, '"', sizeof r[0].error - 1);
    r[0].error[sizeof r[0].error - 1] = 0;
    for (int i = 0; i < IC_PLAN_METRICS; i++) r[0].metrics[i] = NAN;
    const char *dir = tu_tmp_path("swlong");
    assert_int_equal(ic_mkdirs(dir, &err), 0);
    assert_int_equal(ic_plan_write_summary(dir, &p, r, &err), 0);
    char *csv;
    size_t len;
    assert_int_equal(ic_read_file(tu_tmp_path("swlong/summary.csv"), &csv, &len, 1 << 20, &err), 0);
    const size_t nq = sizeof r[0].error - 1; /* each '"' doubled, inside quotes */
    const size_t want = strlen("name,dir,status,step,loss,excess_loss,wall_s,error\n") + 2 * strlen(p.runs[0].name) +
                        strlen(",,failed,,,,,") + 2 * nq + 2 + 1;
    assert_int_equal(strlen(p.runs[0].name), 64 + strlen("/seed1"));
    assert_int_equal(len, want);
    assert_non_null(strstr(csv, "\ncxxx"));
    assert_non_null(strstr(csv, ",failed,,,,,\"\"\"\"\""));
    assert_int_equal(csv[len - 1], '\n');
    free(csv);
    ic_plan_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slices_cover_the_batch),
        cmocka_unit_test(test_ranks_give_the_same_parameters),
        cmocka_unit_test(test_resume_on_another_rank_count),
        cmocka_unit_test(test_diverged_replicas_stop_the_run),
        cmocka_unit_test(test_batch_smaller_than_ranks),
        cmocka_unit_test(test_prompt_seeds),
        cmocka_unit_test(test_old_run_resumes_on_the_stream),
        cmocka_unit_test(test_plan_expands_runs),
        cmocka_unit_test(test_plan_errors),
        cmocka_unit_test(test_sweep_state_and_summary),
        cmocka_unit_test(test_summary_long_fields),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
