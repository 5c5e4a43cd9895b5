/* test_model_registry.c: the rollout state machine (every transition and every refusal, with
 * exact messages), the stable user split, the canary guard, the router, the LRU of loaded
 * versions, and the registry on a real SQLite file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"

/* ---------------------------------------------------------------- helpers */

typedef struct fleet {
    model_version_state v[8];
    size_t n;
} fleet;

static void add(fleet *f, const char *version, model_status status)
{
    model_version_state *s = &f->v[f->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->version, sizeof s->version, "%s", version);
    s->status = status;
}

static model_version_state *find(fleet *f, const char *version)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].version, version) == 0) return &f->v[i];
    return NULL;
}

/* Plans action on the fleet and applies the changes, as the registry does. Returns the rc. */
static int act(fleet *f, model_action action, const char *version, int percent, size_t *nchanges,
               surge_error *err)
{
    model_version_state changes[2];
    size_t n = 0;
    int rc = model_rollout_plan(f->v, f->n, action, version, percent, changes, &n, err);
    if (nchanges) *nchanges = n;
    for (size_t i = 0; !rc && i < n; i++)
        *find(f, changes[i].version) = changes[i];
    return rc;
}

static void assert_state(fleet *f, const char *version, model_status status, int percent,
                         const char *previous)
{
    model_version_state *s = find(f, version);
    assert_non_null(s);
    assert_string_equal(MODEL_STATUS_NAMES[s->status], MODEL_STATUS_NAMES[status]);
    assert_int_equal(s->percent, percent);
    assert_string_equal(s->previous, previous);
}

/* ---------------------------------------------------------------- state machine */

static void test_semver_accepts_only_major_minor_patch(void **state)
{
    (void)state;
    assert_true(model_semver_valid("0.1.0"));
    assert_true(model_semver_valid("10.20.30"));
    assert_false(model_semver_valid("1.2"));
    assert_false(model_semver_valid("1.2.3.4"));
    assert_false(model_semver_valid("01.2.3"));
    assert_false(model_semver_valid("1.2.x"));
    assert_false(model_semver_valid(""));
    assert_false(model_semver_valid("1..2"));
}

static void test_full_lifecycle_staged_shadow_canary_live_and_rollback(void **state)
{
    (void)state;
    fleet f = {0};
    surge_error err;
    size_t n;
    add(&f, "0.1.0", MODEL_STAGED);
    add(&f, "0.2.0", MODEL_STAGED);

    /* the first promotion: nothing to retire */
    assert_int_equal(act(&f, MODEL_ACTION_PROMOTE, "0.1.0", 0, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_state(&f, "0.1.0", MODEL_LIVE, 0, "");

    assert_int_equal(act(&f, MODEL_ACTION_SHADOW, "0.2.0", 0, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_state(&f, "0.2.0", MODEL_SHADOW, 0, "");
    assert_state(&f, "0.1.0", MODEL_LIVE, 0, "");

    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "0.2.0", 10, &n, &err), 0);
    assert_state(&f, "0.2.0", MODEL_CANARY, 10, "");
    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "0.2.0", 50, &n, &err), 0);
    assert_state(&f, "0.2.0", MODEL_CANARY, 50, "");

    /* promotion retires the live version and remembers it for rollback */
    assert_int_equal(act(&f, MODEL_ACTION_PROMOTE, "0.2.0", 0, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_state(&f, "0.1.0", MODEL_RETIRED, 0, "");
    assert_state(&f, "0.2.0", MODEL_LIVE, 0, "0.1.0");

    /* rollback without a candidate restores the previous live version */
    assert_int_equal(act(&f, MODEL_ACTION_ROLLBACK, NULL, 0, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_state(&f, "0.2.0", MODEL_RETIRED, 0, "0.1.0");
    assert_state(&f, "0.1.0", MODEL_LIVE, 0, "");

    /* and then there is nothing left to roll back to */
    assert_int_equal(act(&f, MODEL_ACTION_ROLLBACK, NULL, 0, &n, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message,
                        "nothing to roll back: live version 0.1.0 replaced no earlier version");
}

static void test_rollback_of_a_candidate_retires_it_and_keeps_live(void **state)
{
    (void)state;
    fleet f = {0};
    surge_error err;
    size_t n;
    add(&f, "1.0.0", MODEL_LIVE);
    add(&f, "1.1.0", MODEL_STAGED);
    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "1.1.0", 10, &n, &err), 0);
    assert_int_equal(act(&f, MODEL_ACTION_ROLLBACK, NULL, 0, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_state(&f, "1.1.0", MODEL_RETIRED, 0, "");
    assert_state(&f, "1.0.0", MODEL_LIVE, 0, "");
    /* a retired version may be tried again */
    assert_int_equal(act(&f, MODEL_ACTION_SHADOW, "1.1.0", 0, &n, &err), 0);
    assert_state(&f, "1.1.0", MODEL_SHADOW, 0, "");
}

static void test_invalid_transitions_say_which_rule(void **state)
{
    (void)state;
    fleet f = {0};
    surge_error err;
    size_t n = 99;
    add(&f, "0.1.0", MODEL_STAGED);
    add(&f, "0.2.0", MODEL_STAGED);
    add(&f, "0.3.0", MODEL_STAGED);

    assert_int_equal(act(&f, MODEL_ACTION_SHADOW, "0.2.0", 0, &n, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message,
                        "shadow needs a live version to run beside; promote one first");
    assert_int_equal(n, 0);
    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "0.2.0", 10, &n, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message,
                        "a canary needs a live version to compare with; promote one first");
    assert_int_equal(act(&f, MODEL_ACTION_ROLLBACK, NULL, 0, &n, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message, "nothing to roll back: no candidate and no live version");

    assert_int_equal(act(&f, MODEL_ACTION_PROMOTE, "0.1.0", 0, &n, &err), 0);
    assert_int_equal(act(&f, MODEL_ACTION_PROMOTE, "0.1.0", 0, &n, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message, "version 0.1.0 is already live");
    assert_string_equal(err.field, "version");
    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "0.1.0", 10, &n, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message, "version 0.1.0 is already live");

    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "0.2.0", 0, &n, &err), SURGE_EINVAL);
    assert_string_equal(err.message, "percent must be an integer in 1..100 (got 0)");
    assert_string_equal(err.field, "percent");
    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "0.2.0", 101, &n, &err), SURGE_EINVAL);
    assert_string_equal(err.message, "percent must be an integer in 1..100 (got 101)");

    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "0.2.0", 10, &n, &err), 0);
    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "0.2.0", 10, &n, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message, "version 0.2.0 is already the canary at 10%");
    /* one candidate at a time */
    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "0.3.0", 50, &n, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message, "version 0.2.0 is already the candidate (canary at 10%); "
                                     "roll it back or promote it first");
    assert_int_equal(act(&f, MODEL_ACTION_SHADOW, "0.3.0", 0, &n, &err), SURGE_ECONFLICT);
    assert_int_equal(act(&f, MODEL_ACTION_PROMOTE, "0.3.0", 0, &n, &err), SURGE_ECONFLICT);
    assert_int_equal(act(&f, MODEL_ACTION_PROMOTE, "9.9.9", 0, &n, &err), SURGE_ENOTFOUND);
    assert_string_equal(err.message, "no version 9.9.9");
    /* nothing changed by the refusals */
    assert_state(&f, "0.1.0", MODEL_LIVE, 0, "");
    assert_state(&f, "0.2.0", MODEL_CANARY, 10, "");
    assert_state(&f, "0.3.0", MODEL_STAGED, 0, "");
    /* a shadow candidate is named as such */
    assert_int_equal(act(&f, MODEL_ACTION_SHADOW, "0.2.0", 0, &n, &err), 0);
    assert_int_equal(act(&f, MODEL_ACTION_SHADOW, "0.2.0", 0, &n, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message, "version 0.2.0 is already in shadow");
    assert_int_equal(act(&f, MODEL_ACTION_CANARY, "0.3.0", 10, &n, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message, "version 0.2.0 is already the candidate (shadow); roll it "
                                     "back or promote it first");
}

/* ---------------------------------------------------------------- split and guard */

static void test_user_bucket_is_fnv1a_mod_100(void **state)
{
    (void)state;
    /* expected values from an independent FNV-1a 64 (Python) */
    assert_int_equal(model_user_bucket("user-1"), 8);
    assert_int_equal(model_user_bucket("alice"), 83);
    assert_int_equal(model_user_bucket(""), 37);
    assert_int_equal(model_user_bucket(NULL), 37);
}

static void test_canary_split_proportions_on_10k_users_are_stable(void **state)
{
    (void)state;
    static const int percents[] = {10, 50, 100};
    int in[3] = {0};
    for (int u = 0; u < 10000; u++) {
        char id[32];
        snprintf(id, sizeof id, "user-%d", u);
        int b = model_user_bucket(id);
        assert_int_equal(b, model_user_bucket(id)); /* identical across calls */
        assert_true(b >= 0 && b < 100);
        for (int k = 0; k < 3; k++)
            in[k] += b < percents[k];
        /* raising the percentage only adds users */
        if (b < 10) assert_true(b < 50);
    }
    assert_in_range(in[0], 800, 1200);  /* 10 % +- 2 % */
    assert_in_range(in[1], 4800, 5200); /* 50 % +- 2 % */
    assert_int_equal(in[2], 10000);
}

static void test_canary_guard_advances_waits_and_rolls_back(void **state)
{
    (void)state;
    model_error_stats live = {.count = 500, .abs_error_sum = 1000}; /* MAE 2 */
    model_error_stats good = {.count = 400, .abs_error_sum = 760};  /* MAE 1.9 */
    model_error_stats same = {.count = 200, .abs_error_sum = 400};  /* MAE 2 */
    model_error_stats worse = {.count = 300, .abs_error_sum = 630}; /* MAE 2.1 */
    model_error_stats few = {.count = 99, .abs_error_sum = 0};
    int next = -1;
    assert_int_equal(model_canary_guard(10, &live, &few, 100, &next), MODEL_GUARD_WAIT);
    assert_int_equal(next, 10);
    assert_int_equal(model_canary_guard(10, &few, &good, 100, &next), MODEL_GUARD_WAIT);
    assert_int_equal(model_canary_guard(10, &live, &good, 100, &next), MODEL_GUARD_ADVANCE);
    assert_int_equal(next, 50);
    assert_int_equal(model_canary_guard(50, &live, &same, 100, &next), MODEL_GUARD_ADVANCE);
    assert_int_equal(next, 100);
    assert_int_equal(model_canary_guard(100, &live, &good, 100, &next), MODEL_GUARD_ADVANCE);
    assert_int_equal(next, 101); /* promote */
    assert_int_equal(model_canary_guard(25, &live, &good, 100, &next), MODEL_GUARD_ADVANCE);
    assert_int_equal(next, 50);
    assert_int_equal(model_canary_guard(50, &live, &worse, 100, &next), MODEL_GUARD_ROLLBACK);
    assert_int_equal(next, 50);
}

static void test_router_serves_canary_users_and_shadows_without_serving(void **state)
{
    (void)state;
    model_router *r = model_router_new();
    assert_non_null(r);
    char serve[MODEL_VERSION_MAX], shadow[MODEL_VERSION_MAX];
    model_router_pick(r, "alice", serve, shadow);
    assert_string_equal(serve, "");
    assert_string_equal(shadow, "");

    model_router_set(r, "1.0.0", "1.1.0", MODEL_CANARY, 10);
    model_router_pick(r, "user-1", serve, shadow); /* bucket 8 < 10 */
    assert_string_equal(serve, "1.1.0");
    assert_string_equal(shadow, "");
    model_router_pick(r, "alice", serve, shadow); /* bucket 83 */
    assert_string_equal(serve, "1.0.0");

    model_router_observe(r, "1.0.0", 2.0);
    model_router_observe(r, "1.0.0", 4.0);
    model_router_observe(r, "1.1.0", 1.5);
    model_router_observe(r, "0.9.0", 100); /* neither: ignored */
    model_error_stats live, cand;
    model_router_stats(r, &live, &cand);
    assert_int_equal(live.count, 2);
    assert_true(live.abs_error_sum == 6.0);
    assert_int_equal(cand.count, 1);
    assert_true(cand.abs_error_sum == 1.5);

    /* the same candidate at a new percentage keeps its statistics */
    model_router_set(r, "1.0.0", "1.1.0", MODEL_CANARY, 100);
    model_router_stats(r, &live, &cand);
    assert_int_equal(cand.count, 1);
    model_router_pick(r, "alice", serve, shadow);
    assert_string_equal(serve, "1.1.0");

    /* shadow: everyone gets live, the candidate predicts beside it */
    model_router_set(r, "1.0.0", "1.2.0", MODEL_SHADOW, 0);
    model_router_stats(r, &live, &cand);
    assert_int_equal(live.count, 0);
    assert_int_equal(cand.count, 0);
    model_router_pick(r, "user-1", serve, shadow);
    assert_string_equal(serve, "1.0.0");
    assert_string_equal(shadow, "1.2.0");
    model_router_free(r);
}

/* ---------------------------------------------------------------- LRU */

typedef struct loader {
    int loads, warms, frees;
    bool fail_warm;
} loader;

static void *fake_load(void *ctx, const char *version, surge_error *err)
{
    loader *l = ctx;
    if (strcmp(version, "missing") == 0) {
        surge_fail(err, SURGE_ENOTFOUND, "version", "no version %s", version);
        return NULL;
    }
    l->loads++;
    return strdup(version);
}

static int fake_warm(void *ctx, void *model, surge_error *err)
{
    loader *l = ctx;
    l->warms++;
    if (l->fail_warm) return surge_fail(err, SURGE_EINVAL, NULL, "warm %s failed", (char *)model);
    return 0;
}

static void fake_free(void *ctx, void *model)
{
    ((loader *)ctx)->frees++;
    free(model);
}

static void test_lru_keeps_the_three_most_recent_versions_warm(void **state)
{
    (void)state;
    loader ld = {0};
    surge_error err;
    model_lru *l = model_lru_new(3, fake_load, fake_warm, fake_free, &ld);
    assert_non_null(l);
    assert_string_equal(model_lru_get(l, "a", &err), "a");
    assert_string_equal(model_lru_get(l, "b", &err), "b");
    assert_string_equal(model_lru_get(l, "c", &err), "c");
    assert_string_equal(model_lru_get(l, "a", &err), "a"); /* hit: a is now the most recent */
    assert_int_equal(ld.loads, 3);
    assert_int_equal(ld.warms, 3);
    assert_string_equal(model_lru_get(l, "d", &err), "d"); /* evicts b, the least recent */
    assert_int_equal(model_lru_count(l), 3);
    assert_true(model_lru_contains(l, "a"));
    assert_false(model_lru_contains(l, "b"));
    assert_true(model_lru_contains(l, "c"));
    assert_true(model_lru_contains(l, "d"));
    assert_int_equal(ld.frees, 1);
    assert_null(model_lru_get(l, "missing", &err));
    assert_string_equal(err.message, "no version missing");
    ld.fail_warm = true; /* a version that does not warm never takes a slot */
    assert_null(model_lru_get(l, "e", &err));
    assert_string_equal(err.message, "warm e failed");
    assert_int_equal(model_lru_count(l), 3);
    assert_true(model_lru_contains(l, "c"));
    model_lru_free(l);
    assert_int_equal(ld.frees, 5); /* d, c, a at the end and e after its failed warm */
}

/* ---------------------------------------------------------------- registry on SQLite */

static store_db *open_tmp_db(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/surge-test-models-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char url[256];
    snprintf(url, sizeof url, "sqlite://%s/surge.db", dir);
    surge_error err;
    store_db *db = store_db_open(url, &err);
    assert_non_null(db);
    return db;
}

static void insert_version(store_db *db, const char *version)
{
    store_model m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "demand");
    snprintf(m.version, sizeof m.version, "%s", version);
    snprintf(m.sha256, sizeof m.sha256, "%064d", 7);
    snprintf(m.status, sizeof m.status, "staged");
    snprintf(m.created_by, sizeof m.created_by, "test");
    m.metrics_json = "{\"horizons\":[]}";
    surge_error err;
    assert_int_equal(store_model_insert(db, &m, &err), 0);
}

static void test_registry_versions_and_actions_on_sqlite(void **state)
{
    (void)state;
    char dir[64];
    store_db *db = open_tmp_db(dir, sizeof dir);
    surge_error err;
    char next[MODEL_VERSION_MAX];
    assert_int_equal(model_registry_next_version(db, "demand", next, &err), 0);
    assert_string_equal(next, "0.1.0");
    insert_version(db, "0.1.0");
    insert_version(db, "0.7.0");
    insert_version(db, "1.0.0"); /* a manual major version does not move the 0.x series */
    assert_int_equal(model_registry_next_version(db, "demand", next, &err), 0);
    assert_string_equal(next, "0.8.0");

    store_model dup;
    memset(&dup, 0, sizeof dup);
    snprintf(dup.name, sizeof dup.name, "demand");
    snprintf(dup.version, sizeof dup.version, "0.7.0");
    snprintf(dup.sha256, sizeof dup.sha256, "x");
    snprintf(dup.status, sizeof dup.status, "staged");
    assert_int_equal(store_model_insert(db, &dup, &err), SURGE_ECONFLICT);
    assert_string_equal(err.message, "model demand version 0.7.0 exists");
    snprintf(dup.status, sizeof dup.status, "deployed");
    snprintf(dup.version, sizeof dup.version, "0.9.0");
    assert_int_equal(store_model_insert(db, &dup, &err), SURGE_EINVAL);
    assert_string_equal(err.message,
                        "status 'deployed' is not staged, shadow, canary, live or retired");

    model_version_state changed[2];
    size_t n;
    assert_int_equal(model_registry_apply(db, "demand", MODEL_ACTION_PROMOTE, "0.1.0", 0,
                                          "admin@test", changed, &n, &err),
                     0);
    assert_int_equal(model_registry_apply(db, "demand", MODEL_ACTION_CANARY, "0.7.0", 10,
                                          "admin@test", changed, &n, &err),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(model_registry_apply(db, "demand", MODEL_ACTION_PROMOTE, "0.7.0", 0, "ops",
                                          changed, &n, &err),
                     0);
    assert_int_equal(n, 2);
    store_model m;
    assert_int_equal(store_model_get(db, "demand", "0.7.0", &m, &err), 0);
    assert_string_equal(m.status, "live");
    assert_string_equal(m.previous, "0.1.0");
    assert_int_equal(m.canary_percent, 0);
    assert_string_equal(m.updated_by, "ops");
    assert_string_equal(m.created_by, "test");
    assert_string_equal(m.metrics_json, "{\"horizons\":[]}");
    assert_true(m.updated_ms >= m.created_ms);
    store_model_clear(&m);
    assert_int_equal(store_model_get(db, "demand", "0.1.0", &m, &err), 0);
    assert_string_equal(m.status, "retired");
    store_model_clear(&m);

    assert_int_equal(model_registry_apply(db, "demand", MODEL_ACTION_ROLLBACK, NULL, 0, "ops",
                                          changed, &n, &err),
                     0);
    store_model *list;
    size_t count;
    assert_int_equal(store_model_list(db, "demand", &list, &count, &err), 0);
    assert_int_equal(count, 3);
    assert_string_equal(list[0].version, "0.1.0");
    assert_string_equal(list[0].status, "live");
    assert_string_equal(list[1].version, "0.7.0");
    assert_string_equal(list[1].status, "retired");
    assert_string_equal(list[2].status, "staged");
    for (size_t i = 0; i < count; i++)
        store_model_clear(&list[i]);
    free(list);

    assert_int_equal(store_model_get(db, "demand", "5.5.5", &m, &err), SURGE_ENOTFOUND);
    assert_string_equal(err.message, "model demand has no version 5.5.5");
    assert_int_equal(model_registry_apply(db, "pricing", MODEL_ACTION_ROLLBACK, NULL, 0, "ops",
                                          changed, &n, &err),
                     SURGE_ENOTFOUND);
    assert_string_equal(err.message, "no model named pricing is registered");
    store_db_close(db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void observe_n(model_router *r, const char *version, int n, double error)
{
    for (int i = 0; i < n; i++)
        model_router_observe(r, version, error);
}

static void test_guard_step_walks_the_canary_to_live_and_rolls_back_a_worse_one(void **state)
{
    (void)state;
    char dir[64];
    store_db *db = open_tmp_db(dir, sizeof dir);
    surge_error err;
    insert_version(db, "0.1.0");
    insert_version(db, "0.2.0");
    insert_version(db, "0.3.0");
    model_version_state changed[2];
    size_t n;
    model_guard_decision decision;
    model_router *r = model_router_new();
    assert_int_equal(model_registry_apply(db, "demand", MODEL_ACTION_PROMOTE, "0.1.0", 0, "ops",
                                          changed, &n, &err),
                     0);
    /* no canary: nothing to guard */
    assert_int_equal(
        model_registry_guard_step(db, "demand", r, 10, "guard", &decision, changed, &n, &err), 0);
    assert_int_equal(decision, MODEL_GUARD_WAIT);
    assert_int_equal(model_registry_apply(db, "demand", MODEL_ACTION_CANARY, "0.2.0", 10, "ops",
                                          changed, &n, &err),
                     0);
    assert_int_equal(model_registry_router_sync(db, "demand", r, &err), 0);
    char serve[MODEL_VERSION_MAX], shadow[MODEL_VERSION_MAX];
    model_router_pick(r, "user-1", serve, shadow);
    assert_string_equal(serve, "0.2.0");

    static const int steps[] = {50, 100};
    for (int k = 0; k < 2; k++) {
        observe_n(r, "0.1.0", 10, 2.0);
        observe_n(r, "0.2.0", 9, 1.0); /* one sample short */
        assert_int_equal(
            model_registry_guard_step(db, "demand", r, 10, "guard", &decision, changed, &n, &err),
            0);
        assert_int_equal(decision, MODEL_GUARD_WAIT);
        observe_n(r, "0.2.0", 1, 1.0);
        assert_int_equal(
            model_registry_guard_step(db, "demand", r, 10, "guard", &decision, changed, &n, &err),
            0);
        assert_int_equal(decision, MODEL_GUARD_ADVANCE);
        assert_int_equal(n, 1);
        assert_int_equal(changed[0].percent, steps[k]);
        model_error_stats live, cand;
        model_router_stats(r, &live, &cand);
        assert_int_equal(live.count + cand.count, 0); /* each step starts afresh */
    }
    observe_n(r, "0.1.0", 10, 2.0);
    observe_n(r, "0.2.0", 10, 2.0); /* no worse: promoted */
    assert_int_equal(
        model_registry_guard_step(db, "demand", r, 10, "guard", &decision, changed, &n, &err), 0);
    assert_int_equal(decision, MODEL_GUARD_ADVANCE);
    store_model m;
    assert_int_equal(store_model_get(db, "demand", "0.2.0", &m, &err), 0);
    assert_string_equal(m.status, "live");
    assert_string_equal(m.updated_by, "guard");
    store_model_clear(&m);
    model_router_pick(r, "alice", serve, shadow);
    assert_string_equal(serve, "0.2.0");

    /* a worse canary is rolled back, live keeps serving */
    assert_int_equal(model_registry_apply(db, "demand", MODEL_ACTION_CANARY, "0.3.0", 10, "ops",
                                          changed, &n, &err),
                     0);
    assert_int_equal(model_registry_router_sync(db, "demand", r, &err), 0);
    observe_n(r, "0.2.0", 10, 1.0);
    observe_n(r, "0.3.0", 10, 1.01);
    assert_int_equal(
        model_registry_guard_step(db, "demand", r, 10, "guard", &decision, changed, &n, &err), 0);
    assert_int_equal(decision, MODEL_GUARD_ROLLBACK);
    assert_int_equal(store_model_get(db, "demand", "0.3.0", &m, &err), 0);
    assert_string_equal(m.status, "retired");
    store_model_clear(&m);
    model_router_pick(r, "user-1", serve, shadow);
    assert_string_equal(serve, "0.2.0");
    model_router_free(r);
    store_db_close(db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_artifacts_are_content_addressed_and_never_rewritten(void **state)
{
    (void)state;
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/surge-test-artifacts-XXXXXX");
    assert_non_null(mkdtemp(dir));
    surge_error err;
    char sha[MODEL_SHA256_HEX], again[MODEL_SHA256_HEX];
    assert_int_equal(model_artifact_write(dir, "abc", 3, sha, &err), 0);
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char path[256];
    snprintf(path, sizeof path, "%s/models/%s.json", dir, sha);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char got[8] = {0};
    assert_int_equal(fread(got, 1, sizeof got, f), 3);
    fclose(f);
    assert_string_equal(got, "abc");
    assert_int_equal(model_artifact_write(dir, "abc", 3, again, &err), 0);
    assert_string_equal(sha, again);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_semver_accepts_only_major_minor_patch),
        cmocka_unit_test(test_full_lifecycle_staged_shadow_canary_live_and_rollback),
        cmocka_unit_test(test_rollback_of_a_candidate_retires_it_and_keeps_live),
        cmocka_unit_test(test_invalid_transitions_say_which_rule),
        cmocka_unit_test(test_user_bucket_is_fnv1a_mod_100),
        cmocka_unit_test(test_canary_split_proportions_on_10k_users_are_stable),
        cmocka_unit_test(test_canary_guard_advances_waits_and_rolls_back),
        cmocka_unit_test(test_router_serves_canary_users_and_shadows_without_serving),
        cmocka_unit_test(test_lru_keeps_the_three_most_recent_versions_warm),
        cmocka_unit_test(test_registry_versions_and_actions_on_sqlite),
        cmocka_unit_test(test_guard_step_walks_the_canary_to_live_and_rolls_back_a_worse_one),
        cmocka_unit_test(test_artifacts_are_content_addressed_and_never_rewritten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
