/* engine.c: the pricing engine: an immutable catalog of regions, rules and controls swapped
 * on admin changes, the per-(region, product) guardrail memory, the L1 cache, and the audit
 * writer thread that batches decisions into the relational store off the request path. */
#include "pricing.h"
#include "../event/event.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- catalog */

typedef struct catalog_region {
    store_region meta;
    const tz_zone *tz;
} catalog_region;

/* A running A/B experiment, checked at load: every variant names a rule of the catalog and
 * all those rules price the same product. */
typedef struct catalog_experiment {
    char experiment_id[STORE_NAME_MAX];
    char region_id[STORE_REGION_ID_MAX]; /* the variants' rules' region, or "*" */
    char product_type[STORE_PRODUCT_MAX];
    int nvariants;
    char variant[PRICING_VARIANTS_MAX][32];
    const store_rule *rule[PRICING_VARIANTS_MAX]; /* into catalog.rules */
    double percent[PRICING_VARIANTS_MAX];
} catalog_experiment;

/* An immutable snapshot of what pricing reads from the db. Readers hold the engine's catalog
 * read lock while they use it; reload builds a new one and swaps it under the write lock. */
typedef struct catalog {
    catalog_region *regions; /* sorted by region_id */
    size_t nregions;
    store_rule *rules; /* sorted by (region_id, product_type, effective_ms, rule_id) */
    size_t nrules;
    store_control *controls; /* sorted by region_id */
    size_t ncontrols;
    catalog_experiment *experiments; /* running ones, by experiment_id */
    size_t nexperiments;
} catalog;

static void catalog_free(catalog *c)
{
    if (!c) return;
    free(c->regions);
    free(c->rules);
    free(c->controls);
    free(c->experiments);
    free(c);
}

static int cmp_region(const void *a, const void *b)
{
    return strcmp(((const catalog_region *)a)->meta.region_id,
                  ((const catalog_region *)b)->meta.region_id);
}

static int cmp_control(const void *a, const void *b)
{
    return strcmp(((const store_control *)a)->region_id, ((const store_control *)b)->region_id);
}

static int cmp_rule(const void *a, const void *b)
{
    const store_rule *x = a, *y = b;
    int c = strcmp(x->region_id, y->region_id);
    if (c) return c;
    if ((c = strcmp(x->product_type, y->product_type))) return c;
    if (x->effective_ms != y->effective_ms) return x->effective_ms < y->effective_ms ? -1 : 1;
    return x->rule_id < y->rule_id ? -1 : x->rule_id > y->rule_id;
}

static const store_rule *catalog_rule_by_id(const catalog *c, int64_t rule_id)
{
    for (size_t i = 0; i < c->nrules; i++)
        if (c->rules[i].rule_id == rule_id) return &c->rules[i];
    return NULL;
}

/* Checks one experiment against the catalog's rules; false (and why, in why) when it cannot
 * apply. Its region is the variants' rules' region when they share one, otherwise the one
 * region other than "*" among them; two different regions cannot be compared. */
static bool experiment_load(const catalog *c, const store_experiment *se, catalog_experiment *x,
                            char *why, size_t whysize)
{
    memset(x, 0, sizeof *x);
    str_copy(x->experiment_id, sizeof x->experiment_id, se->experiment_id);
    json_t *variants = se->variants_json ? json_loads(se->variants_json, 0, NULL) : NULL;
    json_t *split = se->traffic_split_json ? json_loads(se->traffic_split_json, 0, NULL) : NULL;
    bool ok = false;
    if (!json_is_array(variants) || !json_is_object(split) || json_array_size(variants) < 1 ||
        json_array_size(variants) > PRICING_VARIANTS_MAX) {
        snprintf(why, whysize, "its variants or traffic_split are not valid");
        goto done;
    }
    size_t i;
    json_t *v;
    json_array_foreach(variants, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        json_t *rid = json_object_get(v, "rule_id");
        const store_rule *rule =
            json_is_integer(rid) ? catalog_rule_by_id(c, json_integer_value(rid)) : NULL;
        if (!name || !rule) {
            snprintf(why, whysize, "variant %zu (%s) names no existing rule", i,
                     name ? name : "?");
            goto done;
        }
        if (i == 0) {
            str_copy(x->product_type, sizeof x->product_type, rule->product_type);
            str_copy(x->region_id, sizeof x->region_id, rule->region_id);
        } else if (strcmp(rule->product_type, x->product_type)) {
            snprintf(why, whysize, "its variants' rules price different products (%s, %s)",
                     x->product_type, rule->product_type);
            goto done;
        } else if (strcmp(rule->region_id, x->region_id)) {
            if (strcmp(x->region_id, "*") == 0) {
                str_copy(x->region_id, sizeof x->region_id, rule->region_id);
            } else if (strcmp(rule->region_id, "*")) {
                snprintf(why, whysize, "its variants' rules are for different regions (%s, %s)",
                         x->region_id, rule->region_id);
                goto done;
            }
        }
        json_t *p = json_object_get(split, name);
        str_copy(x->variant[i], sizeof x->variant[i], name);
        x->rule[i] = rule;
        x->percent[i] = json_is_number(p) ? json_number_value(p) : 0;
    }
    x->nvariants = (int)json_array_size(variants);
    ok = true;
done:
    json_decref(variants);
    json_decref(split);
    return ok;
}

static int experiments_load(store_db *db, catalog *c, surge_error *err)
{
    store_experiment *list = NULL;
    size_t n = 0;
    if (store_experiment_list(db, &list, &n, err)) return err ? err->code : SURGE_EIO;
    c->experiments = calloc(n ? n : 1, sizeof *c->experiments);
    if (!c->experiments) {
        for (size_t i = 0; i < n; i++)
            store_experiment_clear(&list[i]);
        free(list);
        return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; i < n; i++) { /* listed by experiment_id */
        char why[160];
        if (strcmp(list[i].status, "running") == 0) {
            if (experiment_load(c, &list[i], &c->experiments[c->nexperiments], why, sizeof why))
                c->nexperiments++;
            else
                log_warn("pricing", "experiment %s is running but does not apply: %s",
                         list[i].experiment_id, why);
        }
        store_experiment_clear(&list[i]);
    }
    free(list);
    return 0;
}

static catalog *catalog_load(store_db *db, surge_error *err)
{
    catalog *c = calloc(1, sizeof *c);
    if (!c) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    store_region *regions = NULL;
    size_t n = 0;
    if (store_region_list(db, &regions, &n, err)) goto fail;
    c->regions = calloc(n ? n : 1, sizeof *c->regions);
    if (!c->regions) {
        free(regions);
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        c->regions[i].meta = regions[i];
        surge_error tzerr;
        c->regions[i].tz = tz_load(regions[i].timezone, &tzerr);
        if (!c->regions[i].tz) {
            /* a region whose zone vanished from the system still prices, in UTC */
            log_warn("pricing", "region %s: %s; using UTC", regions[i].region_id,
                     tzerr.message);
            c->regions[i].tz = tz_load("UTC", NULL);
        }
    }
    c->nregions = n;
    free(regions);
    if (c->nregions) qsort(c->regions, c->nregions, sizeof *c->regions, cmp_region);
    if (store_rule_list(db, NULL, NULL, &c->rules, &c->nrules, err)) goto fail;
    if (c->nrules) qsort(c->rules, c->nrules, sizeof *c->rules, cmp_rule);
    if (store_control_list(db, &c->controls, &c->ncontrols, err)) goto fail;
    if (c->ncontrols) qsort(c->controls, c->ncontrols, sizeof *c->controls, cmp_control);
    if (experiments_load(db, c, err)) goto fail;
    return c;
fail:
    catalog_free(c);
    return NULL;
}

static const catalog_region *catalog_region_find(const catalog *c, const char *region_id)
{
    catalog_region key;
    str_copy(key.meta.region_id, sizeof key.meta.region_id, region_id);
    if (!c->nregions) return NULL;
    return bsearch(&key, c->regions, c->nregions, sizeof *c->regions, cmp_region);
}

static const store_control *catalog_control_find(const catalog *c, const char *region_id)
{
    store_control key;
    str_copy(key.region_id, sizeof key.region_id, region_id);
    if (!c->ncontrols) return NULL;
    return bsearch(&key, c->controls, c->ncontrols, sizeof *c->controls, cmp_control);
}

/* The rule in force for exactly (region_id, product) at now_ms, or NULL. */
static const store_rule *catalog_rule_exact(const catalog *c, const char *region_id,
                                            const char *product, int64_t now_ms)
{
    /* first index whose (region, product) >= ours */
    size_t lo = 0, hi = c->nrules;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const store_rule *r = &c->rules[mid];
        int cmp = strcmp(r->region_id, region_id);
        if (!cmp) cmp = strcmp(r->product_type, product);
        if (cmp < 0) lo = mid + 1; else hi = mid;
    }
    const store_rule *best = NULL;
    for (size_t i = lo; i < c->nrules; i++) {
        const store_rule *r = &c->rules[i];
        if (strcmp(r->region_id, region_id) || strcmp(r->product_type, product)) break;
        if (r->effective_ms <= now_ms) best = r; /* sorted: the last one wins */
        else break;
    }
    return best;
}

static const store_rule *catalog_rule_find(const catalog *c, const char *region_id,
                                           const char *product, int64_t now_ms)
{
    const store_rule *r = catalog_rule_exact(c, region_id, product, now_ms);
    return r ? r : catalog_rule_exact(c, "*", product, now_ms);
}

/* The first running experiment (by experiment_id) for (region, product) that puts user_id in a
 * variant whose rule is in force at now_ms; sets *variant. NULL when none applies. */
static const catalog_experiment *catalog_experiment_find(const catalog *c, const char *region_id,
                                                         const char *product,
                                                         const char *user_id, int64_t now_ms,
                                                         int *variant)
{
    if (!user_id[0]) return NULL;
    for (size_t i = 0; i < c->nexperiments; i++) {
        const catalog_experiment *x = &c->experiments[i];
        if (strcmp(x->product_type, product) ||
            (strcmp(x->region_id, "*") && strcmp(x->region_id, region_id)))
            continue;
        int k = pricing_experiment_variant(x->percent, x->nvariants,
                                           pricing_experiment_bucket(x->experiment_id, user_id));
        if (k < 0 || x->rule[k]->effective_ms > now_ms) continue;
        *variant = k;
        return x;
    }
    return NULL;
}

int pricing_experiment_bucket(const char *experiment_id, const char *user_id)
{
    char key[STORE_NAME_MAX + 80];
    int n = snprintf(key, sizeof key, "%s\n%s", experiment_id, user_id);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof key) n = (int)sizeof key - 1;
    return (int)(hash_fnv1a64(key, (size_t)n) % 100);
}

int pricing_experiment_variant(const double *percent, int n, int bucket)
{
    double cum = 0;
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (percent[i] <= 0) continue;
        cum += percent[i];
        last = i;
        if (bucket < cum) return i;
    }
    return last;
}

static bool region_sells(const store_region *r, const char *product)
{
    for (int i = 0; i < r->product_count; i++)
        if (strcmp(r->products[i], product) == 0) return true;
    return false;
}

/* ---------------------------------------------------------------- guardrail memory */

#define PREV_SHARDS 64

typedef struct prev_entry {
    char key[STORE_REGION_ID_MAX + STORE_PRODUCT_MAX + 2];
    pricing_previous prev;
    struct prev_entry *next;
} prev_entry;

typedef struct prev_shard {
    pthread_mutex_t lock;
    prev_entry *head; /* regions x products is small (thousands): a list per shard suffices */
} prev_shard;

/* ---------------------------------------------------------------- audit queue */

typedef struct audit_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full, written;
    pricing_decision *slots;
    size_t capacity, head, count; /* head: oldest */
    uint64_t enqueued, done;      /* sequence numbers: done == written or given up */
    bool stopping;
    pthread_t thread;
    bool running;
} audit_queue;

struct pricing_engine {
    store_db *db;
    bus *bus; /* NULL: decisions go to the audit table only */
    feature_store *fs;
    pricing_engine_config cfg;
    pricing_source source;
    pthread_rwlock_t catalog_lock;
    catalog *catalog;
    pricing_cache *cache;
    prev_shard prev[PREV_SHARDS];
    audit_queue audit;
    _Atomic uint64_t computed, hits, misses, audit_written, audit_failed, audit_expired;
};

/* ---------------------------------------------------------------- the features source */

static const char *const SOURCE_FEATURES[] = {"demand_score",     "expected_demand",
                                              "available_drivers", "weather_severity",
                                              "nearby_event_score", "confidence"};

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

static void features_fetch(void *ctx, const char *region_id, const char *product_type,
                           const char *user_id, int64_t now_ms, pricing_inputs *out)
{
    feature_store *fs = ctx;
    pricing_inputs_neutral(out);
    double v[6];
    feature_set meta;
    if (feature_store_get_values(fs, region_id, now_ms, SOURCE_FEATURES, 6, v, &meta)) return;
    out->features_ts_ms = meta.event_ts_ms;
    if (isfinite(v[0])) {
        out->demand_score = clamp01(v[0]);
        out->fallback &= ~(uint32_t)PRICING_FALLBACK_FORECAST;
        if (isfinite(v[5])) out->confidence = clamp01(v[5]);
    }
    if (isfinite(v[1]) && isfinite(v[2]) && v[1] >= 0 && v[2] >= 0) {
        out->expected_demand = v[1];
        out->available_supply = v[2];
        out->fallback &= ~(uint32_t)PRICING_FALLBACK_SUPPLY;
    }
    if (isfinite(v[3])) {
        out->weather_severity = clamp01(v[3]);
        out->fallback &= ~(uint32_t)PRICING_FALLBACK_WEATHER;
    }
    if (isfinite(v[4])) {
        out->event_score = clamp01(v[4]);
        out->fallback &= ~(uint32_t)PRICING_FALLBACK_EVENTS;
    }
}

pricing_source pricing_source_features(feature_store *fs)
{
    pricing_source s = {.fetch = features_fetch, .model_version = NULL, .ctx = fs};
    return s;
}

/* ---------------------------------------------------------------- audit writer */

#define AUDIT_BATCH_MAX 8192
#define AUDIT_EXPIRE_EVERY_MS 60000
#define AUDIT_EXPIRE_CHUNK 20000

/* Retention, between batches: deletes expired rows in chunks and stops early when decisions are
 * piling up, so serving always comes first. Called without the queue lock. */
static void audit_expire(pricing_engine *e, int64_t now_ms)
{
    if (e->cfg.audit_retention_ms <= 0) return;
    int64_t deleted = AUDIT_EXPIRE_CHUNK, total = 0;
    surge_error err;
    for (;;) {
        pthread_mutex_lock(&e->audit.lock);
        bool backlog = e->audit.count >= AUDIT_BATCH_MAX / 2;
        pthread_mutex_unlock(&e->audit.lock);
        if (deleted < AUDIT_EXPIRE_CHUNK || backlog) break;
        if (store_audit_expire(e->db, now_ms - e->cfg.audit_retention_ms, AUDIT_EXPIRE_CHUNK,
                               &deleted, &err)) {
            log_error("audit", "retention: %s", err.message);
            return;
        }
        total += deleted;
    }
    atomic_fetch_add(&e->audit_expired, (uint64_t)total);
    if (total) log_debug("audit", "retention deleted %lld rows", (long long)total);
}

/* Publishes n decisions (slots start.. of the queue) on pricing-decisions, one batch per
 * partition. Like the table insert it retries rather than drop anything. */
static void audit_publish(pricing_engine *e, size_t start, size_t n, const store_audit_row *rows)
{
    audit_queue *q = &e->audit;
    buf values;
    buf_init(&values);
    size_t *offsets = malloc((n + 1) * sizeof *offsets);
    int *parts = malloc(n * sizeof *parts);
    bus_record *records = malloc(n * sizeof *records);
    if (!offsets || !parts || !records) abort();
    for (size_t i = 0; i < n; i++) {
        const pricing_decision *d = &q->slots[(start + i) % q->capacity];
        const pricing_result *r = &d->result;
        event_pricing_decision ev = {
            .request_id = d->request_id, .trace_id = d->trace_id, .timestamp_ms = d->ts_ms,
            .region_id = d->region_id, .product_type = d->product_type, .user_id = d->user_id,
            .price = r->price_cents / 100.0, .base_price = r->base_price_cents / 100.0,
            .surge_multiplier = r->surge_e4 / 1e4, .demand_score = d->inputs.demand_score,
            .confidence = d->inputs.confidence, .model_version = d->inputs.model_version,
            .rule_id = d->rule_id, .cached = d->cached, .guardrails_json = rows[i].guardrails_json};
        for (int f = 0; f < PRICING_NFACTORS; f++) {
            ev.factor_names[f] = PRICING_FACTOR_NAMES[f];
            ev.factor_values[f] = r->contribution_e4[f] / 1e4;
        }
        ev.factor_names[PRICING_NFACTORS] = "clip";
        ev.factor_values[PRICING_NFACTORS] = r->clip_e4 / 1e4;
        int64_t guards = 0;
        for (int g = 0; g < PRICING_NGUARDS; g++) guards += r->guard_e4[g];
        ev.factor_names[PRICING_NFACTORS + 1] = "guardrails";
        ev.factor_values[PRICING_NFACTORS + 1] = guards / 1e4;
        ev.factor_count = PRICING_NFACTORS + 2;
        offsets[i] = values.len;
        event_encode_pricing_decision(&ev, &values);
        parts[i] = bus_partition_for_key(d->region_id, strlen(d->region_id));
    }
    offsets[n] = values.len;
    /* group by partition: one batch each, all made durable together */
    bus_batch batches[BUS_PARTITIONS];
    size_t nb = 0, k = 0;
    for (int p = 0; p < BUS_PARTITIONS; p++) {
        size_t first = k;
        for (size_t i = 0; i < n; i++) {
            if (parts[i] != p) continue;
            const pricing_decision *d = &q->slots[(start + i) % q->capacity];
            bus_record *rec = &records[k++];
            memset(rec, 0, sizeof *rec);
            rec->key = d->region_id;
            rec->key_len = strlen(d->region_id);
            rec->value = values.data + offsets[i];
            rec->value_len = offsets[i + 1] - offsets[i];
            rec->timestamp_ms = d->ts_ms;
            rec->header_count = 1;
            rec->headers[0] = (bus_header){"request_id", d->request_id, strlen(d->request_id)};
        }
        if (k > first)
            batches[nb++] = (bus_batch){.topic = BUS_PRICING_DECISIONS, .partition = p,
                                        .records = &records[first], .count = k - first};
    }
    surge_error err;
    for (int attempt = 1; nb && bus_produce_many(e->bus, batches, nb, &err); attempt++) {
        atomic_fetch_add(&e->audit_failed, 1);
        log_error("audit", "publishing %zu decisions to pricing-decisions failed (attempt %d): %s",
                  n, attempt, err.message);
        /* retry only the batches that were not written */
        size_t left = 0;
        for (size_t i = 0; i < nb; i++)
            if (batches[i].error) batches[left++] = batches[i];
        nb = left;
        if (attempt >= 20 && e->audit.stopping) break;
        struct timespec backoff = {0, 100 * 1000000L * (attempt < 10 ? attempt : 10)};
        nanosleep(&backoff, NULL);
    }
    buf_free(&values);
    free(offsets);
    free(parts);
    free(records);
}

/* The writer claims the oldest n queued decisions, converts and commits them without holding the
 * queue lock (producers only ever write past head + count, so the claimed slots are the writer's
 * alone until it releases them), then frees the slots. */
static void *audit_main(void *arg)
{
    pricing_engine *e = arg;
    audit_queue *q = &e->audit;
    store_audit_row *rows = calloc(AUDIT_BATCH_MAX, sizeof *rows);
    if (!rows) abort();
    int64_t next_expire_ms = 0;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (time_now_ms() >= next_expire_ms) {
            pthread_mutex_unlock(&q->lock);
            audit_expire(e, time_now_ms());
            next_expire_ms = time_now_ms() + AUDIT_EXPIRE_EVERY_MS;
            pthread_mutex_lock(&q->lock);
        }
        while (q->count == 0 && !q->stopping) {
            /* idle: wake up at least for the next retention pass */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += AUDIT_EXPIRE_EVERY_MS / 1000;
            if (pthread_cond_timedwait(&q->not_empty, &q->lock, &ts) &&
                time_now_ms() >= next_expire_ms)
                break;
        }
        if (q->count == 0 && !q->stopping) continue;
        if (q->count == 0 && q->stopping) break;
        if (q->count < AUDIT_BATCH_MAX / 2 && !q->stopping) {
            /* give producers flush_ms to fill a batch */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + e->cfg.audit_flush_ms * 1000000;
            ts.tv_sec += ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&q->not_empty, &q->lock, &ts);
        }
        size_t n = q->count < AUDIT_BATCH_MAX ? q->count : AUDIT_BATCH_MAX;
        size_t start = q->head;
        pthread_mutex_unlock(&q->lock);

        for (size_t i = 0; i < n; i++)
            pricing_decision_to_audit(&q->slots[(start + i) % q->capacity], &rows[i]);
        surge_error err;
        int attempts = 0;
        bool written = true;
        while (store_audit_insert(e->db, rows, n, &err)) {
            /* never drop a decision: keep retrying with backoff; give up only when shutting
             * down after 20 attempts, so a dead disk cannot hang the process forever */
            atomic_fetch_add(&e->audit_failed, 1);
            log_error("audit", "writing %zu decisions failed (attempt %d): %s", n, attempts + 1,
                      err.message);
            if (++attempts >= 20 && q->stopping) {
                log_error("audit", "giving up on %zu decisions at shutdown", n);
                written = false;
                break;
            }
            struct timespec backoff = {0, 100 * 1000000L * (attempts < 10 ? attempts : 10)};
            nanosleep(&backoff, NULL);
        }
        if (written) atomic_fetch_add(&e->audit_written, n);
        if (e->bus) audit_publish(e, start, n, rows);
        for (size_t i = 0; i < n; i++) store_audit_row_clear(&rows[i]);

        pthread_mutex_lock(&q->lock);
        q->head = (q->head + n) % q->capacity;
        q->count -= n;
        q->done += n;
        pthread_cond_broadcast(&q->not_full);
        pthread_cond_broadcast(&q->written);
    }
    pthread_mutex_unlock(&q->lock);
    free(rows);
    return NULL;
}

static void audit_enqueue(pricing_engine *e, const pricing_decision *d)
{
    audit_queue *q = &e->audit;
    pthread_mutex_lock(&q->lock);
    while (q->count == q->capacity && !q->stopping) pthread_cond_wait(&q->not_full, &q->lock);
    q->slots[(q->head + q->count) % q->capacity] = *d;
    q->count++;
    q->enqueued++;
    if (q->count == 1 || q->count == AUDIT_BATCH_MAX / 2) pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

int pricing_engine_flush(pricing_engine *e, surge_error *err)
{
    audit_queue *q = &e->audit;
    if (!q->running) return 0;
    pthread_mutex_lock(&q->lock);
    uint64_t target = q->enqueued;
    pthread_cond_signal(&q->not_empty);
    while (q->done < target) pthread_cond_wait(&q->written, &q->lock);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

/* ---------------------------------------------------------------- life cycle */

pricing_engine *pricing_engine_new(store_db *db, feature_store *fs,
                                   const pricing_engine_config *cfg, surge_error *err)
{
    pricing_engine *e = calloc(1, sizeof *e);
    if (!e) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    e->db = db;
    e->fs = fs;
    e->cfg = *cfg;
    if (e->cfg.valid_for_ms <= 0) e->cfg.valid_for_ms = 120000;
    if (e->cfg.audit_flush_ms <= 0) e->cfg.audit_flush_ms = 50;
    if (e->cfg.audit_queue_capacity < 16) e->cfg.audit_queue_capacity = 16;
    e->source = pricing_source_features(fs);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* admin reloads must not starve behind a steady stream of price requests */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&e->catalog_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    for (int i = 0; i < PREV_SHARDS; i++) pthread_mutex_init(&e->prev[i].lock, NULL);
    e->cache = pricing_cache_new(cfg->cache_entries, cfg->cache_ttl_ms);
    e->catalog = catalog_load(db, err);
    if (!e->catalog) goto fail;

    audit_queue *q = &e->audit;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    pthread_cond_init(&q->written, NULL);
    if (!cfg->audit_disabled) {
        q->capacity = e->cfg.audit_queue_capacity;
        q->slots = malloc(q->capacity * sizeof *q->slots);
        if (!q->slots) {
            surge_fail(err, SURGE_EINTERNAL, "audit.queue_capacity",
                       "cannot allocate an audit queue of %zu decisions", q->capacity);
            goto fail;
        }
        if (pthread_create(&q->thread, NULL, audit_main, e)) {
            surge_fail(err, SURGE_EINTERNAL, NULL, "cannot start the audit writer thread");
            goto fail;
        }
        pthread_setname_np(q->thread, "surge-audit"); /* visible in top -H and perf */
        q->running = true;
    }
    return e;
fail:
    pricing_engine_free(e);
    return NULL;
}

void pricing_engine_free(pricing_engine *e)
{
    if (!e) return;
    audit_queue *q = &e->audit;
    if (q->running) {
        pthread_mutex_lock(&q->lock);
        q->stopping = true;
        pthread_cond_broadcast(&q->not_empty);
        pthread_cond_broadcast(&q->not_full);
        pthread_mutex_unlock(&q->lock);
        pthread_join(q->thread, NULL);
        q->running = false;
    }
    free(q->slots);
    for (int i = 0; i < PREV_SHARDS; i++) {
        prev_entry *p = e->prev[i].head;
        while (p) {
            prev_entry *next = p->next;
            free(p);
            p = next;
        }
    }
    catalog_free(e->catalog);
    pricing_cache_free(e->cache);
    pthread_rwlock_destroy(&e->catalog_lock);
    free(e);
}

void pricing_engine_set_bus(pricing_engine *e, bus *b)
{
    e->bus = b;
}

void pricing_engine_set_source(pricing_engine *e, pricing_source source)
{
    e->source = source;
}

int pricing_engine_reload(pricing_engine *e, surge_error *err)
{
    catalog *fresh = catalog_load(e->db, err);
    if (!fresh) return err ? err->code : SURGE_EIO;
    pthread_rwlock_wrlock(&e->catalog_lock);
    catalog *old = e->catalog;
    e->catalog = fresh;
    pthread_rwlock_unlock(&e->catalog_lock);
    catalog_free(old);
    pricing_cache_invalidate(e->cache);
    return 0;
}

void pricing_engine_invalidate(pricing_engine *e)
{
    pricing_cache_invalidate(e->cache);
}

bool pricing_engine_has_region(pricing_engine *e, const char *region_id, store_region *out)
{
    pthread_rwlock_rdlock(&e->catalog_lock);
    const catalog_region *r = catalog_region_find(e->catalog, region_id);
    if (r && out) *out = r->meta;
    pthread_rwlock_unlock(&e->catalog_lock);
    return r != NULL;
}

/* ---------------------------------------------------------------- compute */

/* Swaps in the new previous surge for (region, product) and returns the old one. */
static pricing_previous previous_exchange(pricing_engine *e, const char *region_id,
                                          const char *product, const pricing_previous *now,
                                          bool peek_only)
{
    char key[sizeof ((prev_entry *)0)->key];
    size_t rl = strlen(region_id), pl = strlen(product);
    memcpy(key, region_id, rl);
    key[rl] = '|';
    memcpy(key + rl + 1, product, pl + 1); /* both are bounded by their struct fields */
    prev_shard *s = &e->prev[hash_fnv1a64(key, strlen(key)) % PREV_SHARDS];
    pricing_previous old = {0};
    pthread_mutex_lock(&s->lock);
    prev_entry *p = s->head;
    while (p && strcmp(p->key, key)) p = p->next;
    if (p) old = p->prev;
    if (!peek_only) {
        if (!p && (p = calloc(1, sizeof *p))) {
            memcpy(p->key, key, sizeof key);
            p->next = s->head;
            s->head = p;
        }
        if (p) p->prev = *now;
    }
    pthread_mutex_unlock(&s->lock);
    return old;
}

/* compute and quote: a quote reads no cache, changes no guardrail state and is not audited. */
static int engine_price(pricing_engine *e, const pricing_request *req, int64_t now_ms, bool quote,
                        pricing_decision *out, surge_error *err)
{
    int64_t t0 = time_mono_ns();
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&e->catalog_lock);
    const catalog *c = e->catalog;
    const catalog_region *region = catalog_region_find(c, req->region_id);
    if (!region) {
        pthread_rwlock_unlock(&e->catalog_lock);
        return surge_fail(err, SURGE_ENOTFOUND, "region_id",
                          "region '%s' is not configured (list regions with GET "
                          "/api/v1/admin/regions)",
                          req->region_id);
    }
    if (!region_sells(&region->meta, req->product_type)) {
        char sold[STORE_PRODUCTS_MAX * (STORE_PRODUCT_MAX + 2)] = "";
        for (int i = 0; i < region->meta.product_count; i++) {
            if (i) strcat(sold, ", ");
            strcat(sold, region->meta.products[i]);
        }
        pthread_rwlock_unlock(&e->catalog_lock);
        return surge_fail(err, SURGE_EINVAL, "product_type",
                          "region '%s' does not sell product '%s' (it sells: %s)",
                          req->region_id, req->product_type, *sold ? sold : "nothing");
    }
    const store_rule *rule = catalog_rule_find(c, req->region_id, req->product_type, now_ms);
    if (!rule) {
        pthread_rwlock_unlock(&e->catalog_lock);
        return surge_fail(err, SURGE_EINVAL, "product_type",
                          "no pricing rule is in force for region '%s' and product '%s'; "
                          "create one with POST /api/v1/admin/rules",
                          req->region_id, req->product_type);
    }
    /* a running experiment replaces the rule in force by its user's variant's rule; rule_id
     * is part of the cache key, so cached prices stay per variant */
    int variant = -1;
    const catalog_experiment *experiment = catalog_experiment_find(
        c, req->region_id, req->product_type, req->user_id, now_ms, &variant);
    if (experiment) {
        rule = experiment->rule[variant];
        str_copy(out->experiment_id, sizeof out->experiment_id, experiment->experiment_id);
        str_copy(out->variant, sizeof out->variant, experiment->variant[variant]);
    }

    pricing_cache_key key;
    memset(&key, 0, sizeof key);
    str_copy(key.region_id, sizeof key.region_id, req->region_id);
    str_copy(key.product_type, sizeof key.product_type, req->product_type);
    key.rule_id = rule->rule_id;
    const char *mv =
        e->source.model_version ? e->source.model_version(e->source.ctx, req->region_id,
                                                          req->user_id)
                                : NULL;
    str_copy(key.model_version, sizeof key.model_version, mv ? mv : "none");

    pricing_cache_value cv;
    if (!quote && pricing_cache_get(e->cache, &key, now_ms, &cv)) {
        out->inputs = cv.inputs;
        out->result = cv.result;
        out->cached = true;
        atomic_fetch_add_explicit(&e->hits, 1, memory_order_relaxed);
    } else {
        if (!quote) atomic_fetch_add_explicit(&e->misses, 1, memory_order_relaxed);
        cv.generation = pricing_cache_generation(e->cache);
        e->source.fetch(e->source.ctx, req->region_id, req->product_type, req->user_id, now_ms,
                        &out->inputs);
        if (!mv) str_copy(out->inputs.model_version, sizeof out->inputs.model_version, "none");
        int hour = 0;
        tz_local_hour(region->tz, now_ms, &hour, NULL);
        pricing_formula(rule, &out->inputs, hour, &out->result);
        const store_control *control = catalog_control_find(c, req->region_id);
        pricing_previous prev = previous_exchange(e, req->region_id, req->product_type, NULL, true);
        pricing_apply_guardrails(rule, control, &prev, now_ms, &out->result);
        if (!quote) {
            pricing_previous now = {.valid = true, .surge_e4 = out->result.surge_e4,
                                    .at_ms = now_ms};
            previous_exchange(e, req->region_id, req->product_type, &now, false);
            cv.inputs = out->inputs;
            cv.result = out->result;
            cv.computed_ms = now_ms;
            pricing_cache_put(e->cache, &key, &cv);
        }
    }
    out->rule_id = rule->rule_id;
    out->rounding_cents = rule->rounding_cents;
    pthread_rwlock_unlock(&e->catalog_lock);

    random_id_time(out->request_id, now_ms);
    if (req->trace_id[0]) str_copy(out->trace_id, sizeof out->trace_id, req->trace_id);
    else random_id_time(out->trace_id, now_ms);
    out->ts_ms = now_ms;
    out->valid_until_ms = now_ms + e->cfg.valid_for_ms;
    str_copy(out->region_id, sizeof out->region_id, req->region_id);
    str_copy(out->product_type, sizeof out->product_type, req->product_type);
    str_copy(out->user_id, sizeof out->user_id, req->user_id);
    out->latency_us = (time_mono_ns() - t0) / 1000;
    if (quote) return 0;
    atomic_fetch_add_explicit(&e->computed, 1, memory_order_relaxed);
    if (e->audit.running) audit_enqueue(e, out);
    return 0;
}

int pricing_engine_compute(pricing_engine *e, const pricing_request *req, int64_t now_ms,
                           pricing_decision *out, surge_error *err)
{
    return engine_price(e, req, now_ms, false, out, err);
}

int pricing_engine_quote(pricing_engine *e, const pricing_request *req, int64_t now_ms,
                         pricing_decision *out, surge_error *err)
{
    return engine_price(e, req, now_ms, true, out, err);
}

/* ---------------------------------------------------------------- explain */

int pricing_engine_explain(pricing_engine *e, const char *request_id, pricing_decision *out,
                           store_rule *rule_out, bool *reproduced, surge_error *err)
{
    store_audit_row row;
    memset(&row, 0, sizeof row);
    int rc = store_audit_get(e->db, request_id, &row, err);
    if (rc == SURGE_ENOTFOUND) {
        /* it may still be queued for the writer: flush once and look again */
        pricing_engine_flush(e, NULL);
        rc = store_audit_get(e->db, request_id, &row, err);
    }
    if (rc == SURGE_ENOTFOUND)
        return surge_fail(err, SURGE_ENOTFOUND, "request_id",
                          "no pricing decision with request_id '%s' was audited", request_id);
    if (rc) return rc;
    rc = pricing_decision_from_audit(&row, out, err);
    store_audit_row_clear(&row);
    if (rc) {
        /* the client asked well; the stored record is what is broken */
        if (err) {
            char msg[sizeof err->message];
            snprintf(msg, sizeof msg, "%s", err->message);
            surge_fail(err, SURGE_EINTERNAL, NULL, "the audit record of '%s' is damaged: %.180s",
                       request_id, msg);
        }
        return SURGE_EINTERNAL;
    }
    out->valid_until_ms = out->ts_ms + e->cfg.valid_for_ms;

    *reproduced = false;
    store_rule rule;
    if (store_rule_get(e->db, out->rule_id, &rule, err)) return err ? err->code : SURGE_EIO;
    if (rule_out) *rule_out = rule;
    /* replay the formula and guardrails on the stored inputs alone */
    pricing_result replay;
    pricing_formula(&rule, &out->inputs, out->result.local_hour, &replay);
    pricing_previous prev = {.valid = out->result.had_previous,
                             .surge_e4 = out->result.previous_surge_e4,
                             .at_ms = out->ts_ms - out->result.previous_age_ms};
    store_control control;
    memset(&control, 0, sizeof control);
    control.frozen = out->result.frozen;
    control.frozen_multiplier = out->result.frozen ? out->result.frozen_e4 / 1e4 : 0;
    control.emergency_cap = out->result.cap_e4 / 1e4;
    pricing_apply_guardrails(&rule, &control, &prev, out->ts_ms, &replay);
    /* what belongs to the rule is not stored in the row: take it from the replay */
    memcpy(out->result.factor, replay.factor, sizeof replay.factor);
    out->result.max_change_per_min_e4 = replay.max_change_per_min_e4;
    out->rounding_cents = rule.rounding_cents;
    *reproduced = replay.surge_e4 == out->result.surge_e4 &&
                  replay.price_cents == out->result.price_cents &&
                  replay.clip_e4 == out->result.clip_e4 &&
                  memcmp(replay.contribution_e4, out->result.contribution_e4,
                         sizeof replay.contribution_e4) == 0 &&
                  memcmp(replay.guard_e4, out->result.guard_e4, sizeof replay.guard_e4) == 0;
    return 0;
}

void pricing_engine_stats(pricing_engine *e, pricing_stats *out)
{
    memset(out, 0, sizeof *out);
    out->computed = atomic_load(&e->computed);
    out->cache_hits = atomic_load(&e->hits);
    out->cache_misses = atomic_load(&e->misses);
    out->audit_written = atomic_load(&e->audit_written);
    out->audit_failed = atomic_load(&e->audit_failed);
    out->audit_expired = atomic_load(&e->audit_expired);
    if (e->audit.running) {
        pthread_mutex_lock(&e->audit.lock);
        out->audit_queue_depth = e->audit.count;
        pthread_mutex_unlock(&e->audit.lock);
    }
    out->cache_size = pricing_cache_size(e->cache);
}
