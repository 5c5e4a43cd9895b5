/* rollout.c: how a trained version reaches traffic, in pure C without I/O so every rule is
 * unit-tested: the state machine (staged -> shadow -> canary 10/50/100 -> live -> retired, and
 * rollback), the stable user split, the automatic canary guard, the router the serving side
 * asks "which version serves this user", and the LRU of loaded versions. */
#include "model.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const char *const MODEL_STATUS_NAMES[5] = {"staged", "shadow", "canary", "live", "retired"};

int model_status_parse(const char *s, model_status *out)
{
    for (int i = 0; i < 5; i++)
        if (s && strcmp(s, MODEL_STATUS_NAMES[i]) == 0) {
            *out = (model_status)i;
            return 0;
        }
    return -1;
}

bool model_semver_valid(const char *s)
{
    int parts = 0;
    const char *p = s;
    if (!s || strlen(s) >= MODEL_VERSION_MAX) return false;
    for (;;) {
        const char *start = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == start || (p - start > 1 && *start == '0')) return false;
        parts++;
        if (*p == 0) return parts == 3;
        if (*p != '.' || parts == 3) return false;
        p++;
    }
}

/* ---------------------------------------------------------------- the state machine */

static const model_version_state *find_status(const model_version_state *v, size_t n,
                                              model_status status)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].status == status) return &v[i];
    return NULL;
}

static const model_version_state *find_candidate(const model_version_state *v, size_t n)
{
    const model_version_state *c = find_status(v, n, MODEL_SHADOW);
    return c ? c : find_status(v, n, MODEL_CANARY);
}

static void change(model_version_state *changes, size_t *n, const model_version_state *from,
                   model_status status, int percent, const char *previous)
{
    model_version_state *c = &changes[(*n)++];
    memset(c, 0, sizeof *c);
    snprintf(c->version, sizeof c->version, "%s", from->version);
    c->status = status;
    c->percent = percent;
    snprintf(c->previous, sizeof c->previous, "%s", previous ? previous : from->previous);
}

int model_rollout_plan(const model_version_state *versions, size_t n, model_action action,
                       const char *version, int percent, model_version_state *changes,
                       size_t *nchanges, surge_error *err)
{
    *nchanges = 0;
    const model_version_state *live = find_status(versions, n, MODEL_LIVE);
    const model_version_state *cand = find_candidate(versions, n);
    if (action == MODEL_ACTION_ROLLBACK) {
        if (cand) {
            /* the candidate stops at once; live keeps serving */
            change(changes, nchanges, cand, MODEL_RETIRED, 0, NULL);
            return 0;
        }
        if (!live)
            return surge_fail(err, SURGE_ECONFLICT, "version",
                              "nothing to roll back: no candidate and no live version");
        if (!live->previous[0])
            return surge_fail(err, SURGE_ECONFLICT, "version",
                              "nothing to roll back: live version %s replaced no earlier version",
                              live->version);
        const model_version_state *prev = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(versions[i].version, live->previous) == 0) prev = &versions[i];
        if (!prev)
            return surge_fail(err, SURGE_ECONFLICT, "version",
                              "cannot roll back: version %s, which %s replaced, is not in the "
                              "registry",
                              live->previous, live->version);
        change(changes, nchanges, live, MODEL_RETIRED, 0, NULL);
        change(changes, nchanges, prev, MODEL_LIVE, 0, NULL);
        return 0;
    }
    const model_version_state *target = NULL;
    for (size_t i = 0; version && i < n; i++)
        if (strcmp(versions[i].version, version) == 0) target = &versions[i];
    if (!target)
        return surge_fail(err, SURGE_ENOTFOUND, "version", "no version %s", version ? version : "");
    if (target->status == MODEL_LIVE)
        return surge_fail(err, SURGE_ECONFLICT, "version", "version %s is already live",
                          target->version);
    if (cand && cand != target) {
        char what[32];
        if (cand->status == MODEL_CANARY)
            snprintf(what, sizeof what, "canary at %d%%", cand->percent);
        else
            snprintf(what, sizeof what, "shadow");
        return surge_fail(err, SURGE_ECONFLICT, "version",
                          "version %s is already the candidate (%s); roll it back or promote it "
                          "first",
                          cand->version, what);
    }
    switch (action) {
    case MODEL_ACTION_PROMOTE:
        if (live) change(changes, nchanges, live, MODEL_RETIRED, 0, NULL);
        change(changes, nchanges, target, MODEL_LIVE, 0, live ? live->version : "");
        return 0;
    case MODEL_ACTION_SHADOW:
        if (target->status == MODEL_SHADOW)
            return surge_fail(err, SURGE_ECONFLICT, "version", "version %s is already in shadow",
                              target->version);
        if (!live)
            return surge_fail(err, SURGE_ECONFLICT, "version",
                              "shadow needs a live version to run beside; promote one first");
        change(changes, nchanges, target, MODEL_SHADOW, 0, "");
        return 0;
    case MODEL_ACTION_CANARY:
        if (percent < 1 || percent > 100)
            return surge_fail(err, SURGE_EINVAL, "percent",
                              "percent must be an integer in 1..100 (got %d)", percent);
        if (!live)
            return surge_fail(err, SURGE_ECONFLICT, "version",
                              "a canary needs a live version to compare with; promote one first");
        if (target->status == MODEL_CANARY && target->percent == percent)
            return surge_fail(err, SURGE_ECONFLICT, "percent",
                              "version %s is already the canary at %d%%", target->version, percent);
        change(changes, nchanges, target, MODEL_CANARY, percent, "");
        return 0;
    default:
        return surge_fail(err, SURGE_EINTERNAL, "action", "unknown rollout action %d", action);
    }
}

/* ---------------------------------------------------------------- split and guard */

int model_user_bucket(const char *user_id)
{
    const char *u = user_id ? user_id : "";
    return (int)(hash_fnv1a64(u, strlen(u)) % 100);
}

model_guard_decision model_canary_guard(int percent, const model_error_stats *live,
                                        const model_error_stats *candidate, uint64_t min_samples,
                                        int *next_percent)
{
    *next_percent = percent;
    if (live->count < min_samples || candidate->count < min_samples || live->count == 0 ||
        candidate->count == 0)
        return MODEL_GUARD_WAIT;
    double live_mae = live->abs_error_sum / (double)live->count;
    double cand_mae = candidate->abs_error_sum / (double)candidate->count;
    if (cand_mae > live_mae) return MODEL_GUARD_ROLLBACK;
    *next_percent = percent < 10 ? 10 : percent < 50 ? 50 : percent < 100 ? 100 : 101;
    return MODEL_GUARD_ADVANCE;
}

/* ---------------------------------------------------------------- router */

struct model_router {
    pthread_mutex_t lock; /* guards everything below */
    char live[MODEL_VERSION_MAX];
    char candidate[MODEL_VERSION_MAX];
    model_status candidate_status;
    int percent;
    model_error_stats live_errors, candidate_errors;
};

model_router *model_router_new(void)
{
    model_router *r = calloc(1, sizeof *r);
    if (r && pthread_mutex_init(&r->lock, NULL)) {
        free(r);
        return NULL;
    }
    return r;
}

void model_router_free(model_router *r)
{
    if (!r) return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void model_router_set(model_router *r, const char *live, const char *candidate,
                      model_status candidate_status, int percent)
{
    pthread_mutex_lock(&r->lock);
    const char *c = candidate ? candidate : "";
    const char *l = live ? live : "";
    if (strcmp(r->candidate, c) || strcmp(r->live, l)) {
        memset(&r->live_errors, 0, sizeof r->live_errors);
        memset(&r->candidate_errors, 0, sizeof r->candidate_errors);
    }
    snprintf(r->live, sizeof r->live, "%s", l);
    snprintf(r->candidate, sizeof r->candidate, "%s", c);
    r->candidate_status = candidate_status;
    r->percent = percent;
    pthread_mutex_unlock(&r->lock);
}

void model_router_pick(model_router *r, const char *user_id, char serve[MODEL_VERSION_MAX],
                       char shadow[MODEL_VERSION_MAX])
{
    int bucket = model_user_bucket(user_id);
    pthread_mutex_lock(&r->lock);
    snprintf(serve, MODEL_VERSION_MAX, "%s", r->live);
    shadow[0] = 0;
    if (r->candidate[0] && r->candidate_status == MODEL_SHADOW)
        snprintf(shadow, MODEL_VERSION_MAX, "%s", r->candidate);
    else if (r->candidate[0] && r->candidate_status == MODEL_CANARY && bucket < r->percent)
        snprintf(serve, MODEL_VERSION_MAX, "%s", r->candidate);
    pthread_mutex_unlock(&r->lock);
}

void model_router_observe(model_router *r, const char *version, double abs_error)
{
    pthread_mutex_lock(&r->lock);
    model_error_stats *s = NULL;
    if (version && r->candidate[0] && strcmp(version, r->candidate) == 0)
        s = &r->candidate_errors;
    else if (version && r->live[0] && strcmp(version, r->live) == 0)
        s = &r->live_errors;
    if (s) {
        s->count++;
        s->abs_error_sum += abs_error;
    }
    pthread_mutex_unlock(&r->lock);
}

void model_router_stats(model_router *r, model_error_stats *live, model_error_stats *candidate)
{
    pthread_mutex_lock(&r->lock);
    *live = r->live_errors;
    *candidate = r->candidate_errors;
    pthread_mutex_unlock(&r->lock);
}

void model_router_reset_errors(model_router *r)
{
    pthread_mutex_lock(&r->lock);
    memset(&r->live_errors, 0, sizeof r->live_errors);
    memset(&r->candidate_errors, 0, sizeof r->candidate_errors);
    pthread_mutex_unlock(&r->lock);
}

/* ---------------------------------------------------------------- LRU of loaded versions */

typedef struct lru_slot {
    char version[MODEL_VERSION_MAX];
    void *model;
    uint64_t used; /* tick of the last get */
} lru_slot;

struct model_lru {
    pthread_mutex_t lock; /* guards slots and tick; loads run under it (rare, and a version
                           * must be warm before anyone gets it) */
    int capacity;
    lru_slot *slots;
    uint64_t tick;
    model_lru_load_fn load;
    model_lru_warm_fn warm;
    model_lru_free_fn free_model;
    void *ctx;
};

model_lru *model_lru_new(int capacity, model_lru_load_fn load, model_lru_warm_fn warm,
                         model_lru_free_fn free_model, void *ctx)
{
    if (capacity < 1 || !load) return NULL;
    model_lru *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->slots = calloc((size_t)capacity, sizeof *l->slots);
    if (!l->slots || pthread_mutex_init(&l->lock, NULL)) {
        free(l->slots);
        free(l);
        return NULL;
    }
    l->capacity = capacity;
    l->load = load;
    l->warm = warm;
    l->free_model = free_model;
    l->ctx = ctx;
    return l;
}

void model_lru_free(model_lru *l)
{
    if (!l) return;
    for (int i = 0; i < l->capacity; i++)
        if (l->slots[i].model && l->free_model) l->free_model(l->ctx, l->slots[i].model);
    pthread_mutex_destroy(&l->lock);
    free(l->slots);
    free(l);
}

void *model_lru_get(model_lru *l, const char *version, surge_error *err)
{
    pthread_mutex_lock(&l->lock);
    l->tick++;
    lru_slot *victim = &l->slots[0];
    for (int i = 0; i < l->capacity; i++) {
        lru_slot *s = &l->slots[i];
        if (s->model && strcmp(s->version, version) == 0) {
            s->used = l->tick;
            void *m = s->model;
            pthread_mutex_unlock(&l->lock);
            return m;
        }
        if (!s->model) {
            if (victim->model) victim = s;
        } else if (victim->model && s->used < victim->used) {
            victim = s;
        }
    }
    void *m = l->load(l->ctx, version, err);
    if (m && l->warm && l->warm(l->ctx, m, err)) {
        if (l->free_model) l->free_model(l->ctx, m);
        m = NULL;
    }
    if (m) {
        if (victim->model && l->free_model) l->free_model(l->ctx, victim->model);
        snprintf(victim->version, sizeof victim->version, "%s", version);
        victim->model = m;
        victim->used = l->tick;
    }
    pthread_mutex_unlock(&l->lock);
    return m;
}

int model_lru_count(model_lru *l)
{
    pthread_mutex_lock(&l->lock);
    int n = 0;
    for (int i = 0; i < l->capacity; i++)
        n += l->slots[i].model != NULL;
    pthread_mutex_unlock(&l->lock);
    return n;
}

bool model_lru_contains(model_lru *l, const char *version)
{
    pthread_mutex_lock(&l->lock);
    bool found = false;
    for (int i = 0; i < l->capacity && !found; i++)
        found = l->slots[i].model && strcmp(l->slots[i].version, version) == 0;
    pthread_mutex_unlock(&l->lock);
    return found;
}
