/* store.c: the public face of the store module. It checks arguments once for every backend,
 * picks the backend by the URL's scheme and dispatches through a table of function pointers,
 * so adding PostgreSQL or Redis means adding a backend file and one line below. */
#include "store_backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct store_db {
    const store_db_ops *ops;
    void *impl; /* the backend's own handle; thread-safety is the backend's promise */
};

struct feature_store {
    const feature_store_ops *ops;
    void *impl;
};

static const store_db_ops *const db_backends[] = {&store_sqlite_ops};
static const feature_store_ops *const feature_backends[] = {&feature_store_mem_ops};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* True when url starts with "scheme:". */
static bool url_has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncmp(url, scheme, n) == 0 && url[n] == ':';
}

/* ---------------------------------------------------------------- argument checks */

/* A fixed-size text field must hold its NUL; required ones must not be empty. */
static int check_text(const char *field, const char *s, size_t size, bool required,
                      surge_error *err)
{
    size_t len = strnlen(s, size);
    if (len == size)
        return surge_fail(err, SURGE_EINVAL, field, "%s is longer than %zu characters", field,
                          size - 1);
    if (required && len == 0) return surge_fail(err, SURGE_EINVAL, field, "%s is required", field);
    return 0;
}

static int check_id_arg(const char *field, const char *id, surge_error *err)
{
    if (!id || !*id) return surge_fail(err, SURGE_EINVAL, field, "%s is required", field);
    return 0;
}

static int check_finite(const char *field, double v, double min, surge_error *err)
{
    if (!isfinite(v) || v < min)
        return surge_fail(err, SURGE_EINVAL, field, "%s must be a finite number >= %g (got %g)",
                          field, min, v);
    return 0;
}

static int check_region(const store_region *r, surge_error *err)
{
    int rc;
    if ((rc = check_text("region_id", r->region_id, sizeof r->region_id, true, err))) return rc;
    if ((rc = check_text("name", r->name, sizeof r->name, false, err))) return rc;
    if ((rc = check_text("timezone", r->timezone, sizeof r->timezone, false, err))) return rc;
    if (r->product_count < 0 || r->product_count > STORE_PRODUCTS_MAX)
        return surge_fail(err, SURGE_EINVAL, "products",
                          "a region has 0 to %d product types (got %d)", STORE_PRODUCTS_MAX,
                          r->product_count);
    for (int i = 0; i < r->product_count; i++) {
        if ((rc = check_text("products", r->products[i], sizeof r->products[i], true, err)))
            return rc;
        /* the sqlite backend stores the list comma-separated */
        if (strchr(r->products[i], ','))
            return surge_fail(err, SURGE_EINVAL, "products",
                              "product type \"%s\" must not contain a comma", r->products[i]);
    }
    return 0;
}

static int check_rule(const store_rule *r, surge_error *err)
{
    int rc;
    if ((rc = check_text("region_id", r->region_id, sizeof r->region_id, true, err))) return rc;
    if ((rc = check_text("product_type", r->product_type, sizeof r->product_type, true, err)))
        return rc;
    if ((rc = check_text("created_by", r->created_by, sizeof r->created_by, false, err))) return rc;
    if (r->base_price_cents <= 0)
        return surge_fail(err, SURGE_EINVAL, "base_price_cents",
                          "base_price_cents must be > 0 (got %lld)",
                          (long long)r->base_price_cents);
    if ((rc = check_finite("min_multiplier", r->min_multiplier, 0.1, err))) return rc;
    if ((rc = check_finite("max_multiplier", r->max_multiplier, r->min_multiplier, err))) return rc;
    if (r->effective_ms < 0)
        return surge_fail(err, SURGE_EINVAL, "effective_date", "effective_date must be >= 0");
    const struct {
        const char *name;
        double v;
    } weights[] = {{"weight_demand", r->weight_demand},
                   {"weight_supply", r->weight_supply},
                   {"weight_time", r->weight_time},
                   {"weight_event", r->weight_event},
                   {"weight_weather", r->weight_weather},
                   {"demand_k", r->demand_k},
                   {"demand_threshold", r->demand_threshold},
                   {"event_coefficient", r->event_coefficient},
                   {"max_change_per_min", r->max_change_per_min}};
    for (size_t i = 0; i < COUNT_OF(weights); i++)
        if ((rc = check_finite(weights[i].name, weights[i].v, 0.0, err))) return rc;
    for (int h = 0; h < 24; h++)
        if (!isfinite(r->time_multiplier[h]) || r->time_multiplier[h] <= 0)
            return surge_fail(err, SURGE_EINVAL, "time_multipliers",
                              "time multiplier for hour %d must be a finite number > 0 (got %g)", h,
                              r->time_multiplier[h]);
    if (r->rounding_cents < 1)
        return surge_fail(err, SURGE_EINVAL, "rounding_cents",
                          "rounding_cents must be >= 1 (got %lld)", (long long)r->rounding_cents);
    return 0;
}

static int check_control(const store_control *c, surge_error *err)
{
    int rc;
    if ((rc = check_text("region_id", c->region_id, sizeof c->region_id, true, err))) return rc;
    if ((rc = check_text("reason", c->reason, sizeof c->reason, false, err))) return rc;
    if ((rc = check_text("updated_by", c->updated_by, sizeof c->updated_by, false, err))) return rc;
    if ((rc = check_finite("emergency_cap", c->emergency_cap, 0.0, err))) return rc;
    if ((rc = check_finite("frozen_multiplier", c->frozen_multiplier, 0.0, err))) return rc;
    return 0;
}

static int check_audit_row(const store_audit_row *r, size_t index, surge_error *err)
{
    /* The hot write path: only what the database cannot check for itself. */
    const struct {
        const char *name;
        const char *s;
        size_t size;
    } texts[] = {{"request_id", r->request_id, sizeof r->request_id},
                 {"trace_id", r->trace_id, sizeof r->trace_id},
                 {"region_id", r->region_id, sizeof r->region_id},
                 {"product_type", r->product_type, sizeof r->product_type},
                 {"user_id", r->user_id, sizeof r->user_id},
                 {"fallback", r->fallback, sizeof r->fallback},
                 {"model_version", r->model_version, sizeof r->model_version},
                 {"experiment_id", r->experiment_id, sizeof r->experiment_id},
                 {"variant", r->variant, sizeof r->variant}};
    for (size_t i = 0; i < COUNT_OF(texts); i++)
        if (strnlen(texts[i].s, texts[i].size) == texts[i].size)
            return surge_fail(err, SURGE_EINVAL, texts[i].name,
                              "audit row %zu: %s is longer than %zu characters", index,
                              texts[i].name, texts[i].size - 1);
    if (!r->request_id[0])
        return surge_fail(err, SURGE_EINVAL, "request_id", "audit row %zu: request_id is required",
                          index);
    return 0;
}

static int check_experiment(const store_experiment *e, surge_error *err)
{
    int rc;
    if ((rc = check_text("experiment_id", e->experiment_id, sizeof e->experiment_id, true, err)))
        return rc;
    if ((rc = check_text("name", e->name, sizeof e->name, false, err))) return rc;
    if ((rc = check_text("status", e->status, sizeof e->status, true, err))) return rc;
    if (strcmp(e->status, "draft") && strcmp(e->status, "running") && strcmp(e->status, "stopped"))
        return surge_fail(err, SURGE_EINVAL, "status",
                          "status must be draft, running or stopped (got \"%s\")", e->status);
    return 0;
}

/* ---------------------------------------------------------------- plain helpers */

void store_rule_defaults(store_rule *rule)
{
    memset(rule, 0, sizeof *rule);
    rule->min_multiplier = 1.0;
    rule->max_multiplier = 3.0;
    rule->weight_demand = 0.4;
    rule->weight_supply = 0.3;
    rule->weight_time = 0.2;
    rule->weight_event = 0.1;
    rule->weight_weather = 0.1;
    rule->demand_k = 6.0;
    rule->demand_threshold = 0.5;
    rule->event_coefficient = 0.5;
    for (int h = 0; h < 24; h++)
        rule->time_multiplier[h] = 1.0;
    /* DESIGN §7: rush hours 7-9 and 17-19, i.e. the local hours starting at 7, 8, 17, 18 */
    rule->time_multiplier[7] = rule->time_multiplier[8] = 1.2;
    rule->time_multiplier[17] = rule->time_multiplier[18] = 1.2;
    rule->rounding_cents = 25;
    rule->max_change_per_min = 0.5;
}

void store_audit_row_clear(store_audit_row *row)
{
    if (!row) return;
    free(row->factors_json);
    free(row->guardrails_json);
    row->factors_json = row->guardrails_json = NULL;
}

void store_experiment_clear(store_experiment *e)
{
    if (!e) return;
    free(e->variants_json);
    free(e->traffic_split_json);
    e->variants_json = e->traffic_split_json = NULL;
}

/* ---------------------------------------------------------------- relational store */

store_db *store_db_open(const char *url, surge_error *err)
{
    if (!url || !*url) {
        surge_fail(err, SURGE_EINVAL, "db", "db URL is empty; expected e.g. sqlite:///path.db");
        return NULL;
    }
    const store_db_ops *ops = NULL;
    for (size_t i = 0; i < COUNT_OF(db_backends); i++)
        if (url_has_scheme(url, db_backends[i]->scheme)) ops = db_backends[i];
    if (!ops) {
        char schemes[128] = "";
        for (size_t i = 0; i < COUNT_OF(db_backends); i++)
            snprintf(schemes + strlen(schemes), sizeof schemes - strlen(schemes), "%s%s",
                     i ? ", " : "", db_backends[i]->url_forms);
        surge_fail(err, SURGE_EINVAL, "db",
                   "db URL \"%s\" has an unsupported scheme; supported: %s", url, schemes);
        return NULL;
    }
    store_db *db = calloc(1, sizeof *db);
    if (!db) {
        surge_fail(err, SURGE_EINTERNAL, "db", "out of memory opening %s", url);
        return NULL;
    }
    db->ops = ops;
    db->impl = ops->open(url, err);
    if (!db->impl) {
        free(db);
        return NULL;
    }
    return db;
}

void store_db_close(store_db *db)
{
    if (!db) return;
    db->ops->close(db->impl);
    free(db);
}

int store_db_schema_version(store_db *db)
{
    return db ? db->ops->schema_version(db->impl) : 0;
}

int store_db_ping(store_db *db, surge_error *err)
{
    if (!db) return surge_fail(err, SURGE_EUNAVAILABLE, "db", "the database is not open");
    return db->ops->ping(db->impl, err);
}

/* Every entry point below refuses a NULL handle or output the same way. */
#define CHECK_DB(db, err)                                                                          \
    do {                                                                                           \
        if (!(db)) return surge_fail(err, SURGE_EUNAVAILABLE, "db", "the database is not open");   \
    } while (0)
#define CHECK_PTR(p, name, err)                                                                    \
    do {                                                                                           \
        if (!(p)) return surge_fail(err, SURGE_EINTERNAL, name, "%s must not be NULL", name);      \
    } while (0)

int store_region_put(store_db *db, const store_region *region, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(region, "region", err);
    int rc = check_region(region, err);
    return rc ? rc : db->ops->region_put(db->impl, region, err);
}

int store_region_get(store_db *db, const char *region_id, store_region *out, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    int rc = check_id_arg("region_id", region_id, err);
    return rc ? rc : db->ops->region_get(db->impl, region_id, out, err);
}

int store_region_list(store_db *db, store_region **out, size_t *count, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    CHECK_PTR(count, "count", err);
    *out = NULL;
    *count = 0;
    return db->ops->region_list(db->impl, out, count, err);
}

int store_region_delete(store_db *db, const char *region_id, surge_error *err)
{
    CHECK_DB(db, err);
    int rc = check_id_arg("region_id", region_id, err);
    return rc ? rc : db->ops->region_delete(db->impl, region_id, err);
}

int store_region_count(store_db *db, int64_t *count, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(count, "count", err);
    return db->ops->region_count(db->impl, count, err);
}

int store_rule_insert(store_db *db, store_rule *rule, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(rule, "rule", err);
    int rc = check_rule(rule, err);
    return rc ? rc : db->ops->rule_insert(db->impl, rule, err);
}

int store_rule_get(store_db *db, int64_t rule_id, store_rule *out, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    return db->ops->rule_get(db->impl, rule_id, out, err);
}

int store_rule_list(store_db *db, const char *region_id, const char *product_type, store_rule **out,
                    size_t *count, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    CHECK_PTR(count, "count", err);
    *out = NULL;
    *count = 0;
    return db->ops->rule_list(db->impl, region_id, product_type, out, count, err);
}

int store_rule_delete(store_db *db, int64_t rule_id, int64_t now_ms, surge_error *err)
{
    CHECK_DB(db, err);
    return db->ops->rule_delete(db->impl, rule_id, now_ms, err);
}

int store_control_put(store_db *db, const store_control *control, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(control, "control", err);
    int rc = check_control(control, err);
    return rc ? rc : db->ops->control_put(db->impl, control, err);
}

int store_control_get(store_db *db, const char *region_id, store_control *out, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    int rc = check_id_arg("region_id", region_id, err);
    return rc ? rc : db->ops->control_get(db->impl, region_id, out, err);
}

int store_control_list(store_db *db, store_control **out, size_t *count, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    CHECK_PTR(count, "count", err);
    *out = NULL;
    *count = 0;
    return db->ops->control_list(db->impl, out, count, err);
}

int store_audit_insert(store_db *db, const store_audit_row *rows, size_t count, surge_error *err)
{
    CHECK_DB(db, err);
    if (count == 0) return 0;
    CHECK_PTR(rows, "rows", err);
    for (size_t i = 0; i < count; i++) {
        int rc = check_audit_row(&rows[i], i, err);
        if (rc) return rc;
    }
    return db->ops->audit_insert(db->impl, rows, count, err);
}

int store_audit_get(store_db *db, const char *request_id, store_audit_row *out, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    int rc = check_id_arg("request_id", request_id, err);
    return rc ? rc : db->ops->audit_get(db->impl, request_id, out, err);
}

int store_audit_count(store_db *db, int64_t *count, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(count, "count", err);
    return db->ops->audit_count(db->impl, count, err);
}

int store_audit_expire(store_db *db, int64_t before_ms, int64_t limit, int64_t *deleted,
                       surge_error *err)
{
    *deleted = 0;
    if (limit <= 0) return surge_fail(err, SURGE_EINVAL, "limit", "limit must be positive");
    CHECK_DB(db, err);
    return db->ops->audit_expire(db->impl, before_ms, limit, deleted, err);
}

int store_experiment_put(store_db *db, const store_experiment *e, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(e, "experiment", err);
    int rc = check_experiment(e, err);
    return rc ? rc : db->ops->experiment_put(db->impl, e, err);
}

int store_experiment_get(store_db *db, const char *experiment_id, store_experiment *out,
                         surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    int rc = check_id_arg("experiment_id", experiment_id, err);
    return rc ? rc : db->ops->experiment_get(db->impl, experiment_id, out, err);
}

int store_experiment_list(store_db *db, store_experiment **out, size_t *count, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    CHECK_PTR(count, "count", err);
    *out = NULL;
    *count = 0;
    return db->ops->experiment_list(db->impl, out, count, err);
}

int store_experiment_delete(store_db *db, const char *experiment_id, surge_error *err)
{
    CHECK_DB(db, err);
    int rc = check_id_arg("experiment_id", experiment_id, err);
    return rc ? rc : db->ops->experiment_delete(db->impl, experiment_id, err);
}

/* ---------------------------------------------------------------- portal queries */

/* A backend without the portal's queries (none yet) answers "unavailable", not a crash. */
#define CHECK_OP(db, op, err)                                                                      \
    do {                                                                                           \
        if (!(db)->ops->op)                                                                        \
            return surge_fail(err, SURGE_EUNAVAILABLE, NULL, "the %s store has no " #op,           \
                              (db)->ops->scheme);                                                  \
    } while (0)

int store_experiment_results(store_db *db, const char *experiment_id, store_variant_stats **out,
                             size_t *count, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    CHECK_PTR(count, "count", err);
    *out = NULL;
    *count = 0;
    int rc = check_id_arg("experiment_id", experiment_id, err);
    if (rc) return rc;
    CHECK_OP(db, experiment_results, err);
    return db->ops->experiment_results(db->impl, experiment_id, out, count, err);
}

int store_audit_search(store_db *db, const store_audit_filter *filter, store_audit_row **out,
                       size_t *count, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(filter, "filter", err);
    CHECK_PTR(out, "out", err);
    CHECK_PTR(count, "count", err);
    *out = NULL;
    *count = 0;
    if (filter->limit < 1 || filter->limit > STORE_AUDIT_SEARCH_MAX)
        return surge_fail(err, SURGE_EINVAL, "limit", "limit must be 1..%d (got %d)",
                          STORE_AUDIT_SEARCH_MAX, filter->limit);
    if (filter->to_ms <= filter->from_ms)
        return surge_fail(err, SURGE_EINVAL, "to", "the time range is empty: 'to' must be after "
                          "'from'");
    CHECK_OP(db, audit_search, err);
    return db->ops->audit_search(db->impl, filter, out, count, err);
}

int store_audit_report(store_db *db, store_report_group group, int64_t from_ms, int64_t to_ms,
                       const char *region_id, store_report_row **out, size_t *count,
                       surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    CHECK_PTR(count, "count", err);
    *out = NULL;
    *count = 0;
    if (to_ms <= from_ms)
        return surge_fail(err, SURGE_EINVAL, "to", "the time range is empty: 'to' must be after "
                          "'from'");
    if (to_ms - from_ms > STORE_REPORT_RANGE_MAX_MS)
        return surge_fail(err, SURGE_EINVAL, "from", "a report covers at most 31 days");
    CHECK_OP(db, audit_report, err);
    return db->ops->audit_report(db->impl, group, from_ms, to_ms,
                                 region_id && *region_id ? region_id : NULL, out, count, err);
}

int store_admin_action_insert(store_db *db, store_admin_action *action, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(action, "action", err);
    int rc;
    if ((rc = check_text("actor", action->actor, sizeof action->actor, true, err)) ||
        (rc = check_text("method", action->method, sizeof action->method, true, err)) ||
        (rc = check_text("path", action->path, sizeof action->path, true, err)) ||
        (rc = check_text("role", action->role, sizeof action->role, false, err)) ||
        (rc = check_text("trace_id", action->trace_id, sizeof action->trace_id, false, err)) ||
        (rc = check_text("client_ip", action->client_ip, sizeof action->client_ip, false, err)) ||
        (rc = check_text("detail", action->detail, sizeof action->detail, false, err)))
        return rc;
    CHECK_OP(db, admin_action_insert, err);
    return db->ops->admin_action_insert(db->impl, action, err);
}

int store_admin_action_list(store_db *db, int64_t before_id, int limit, store_admin_action **out,
                            size_t *count, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    CHECK_PTR(count, "count", err);
    *out = NULL;
    *count = 0;
    if (limit < 1 || limit > 1000)
        return surge_fail(err, SURGE_EINVAL, "limit", "limit must be 1..1000 (got %d)", limit);
    CHECK_OP(db, admin_action_list, err);
    return db->ops->admin_action_list(db->impl, before_id, limit, out, count, err);
}

/* ---------------------------------------------------------------- online feature store */

feature_store *feature_store_open(const char *url, surge_error *err)
{
    if (!url || !*url) {
        surge_fail(err, SURGE_EINVAL, "store", "feature store URL is empty; expected e.g. mem:");
        return NULL;
    }
    const feature_store_ops *ops = NULL;
    for (size_t i = 0; i < COUNT_OF(feature_backends); i++)
        if (url_has_scheme(url, feature_backends[i]->scheme)) ops = feature_backends[i];
    if (!ops) {
        char schemes[128] = "";
        for (size_t i = 0; i < COUNT_OF(feature_backends); i++)
            snprintf(schemes + strlen(schemes), sizeof schemes - strlen(schemes), "%s%s",
                     i ? ", " : "", feature_backends[i]->url_forms);
        surge_fail(err, SURGE_EINVAL, "store",
                   "feature store URL \"%s\" has an unsupported scheme; supported: %s", url,
                   schemes);
        return NULL;
    }
    feature_store *fs = calloc(1, sizeof *fs);
    if (!fs) {
        surge_fail(err, SURGE_EINTERNAL, "store", "out of memory opening %s", url);
        return NULL;
    }
    fs->ops = ops;
    fs->impl = ops->open(url, err);
    if (!fs->impl) {
        free(fs);
        return NULL;
    }
    return fs;
}

void feature_store_close(feature_store *fs)
{
    if (!fs) return;
    fs->ops->close(fs->impl);
    free(fs);
}

int feature_store_put(feature_store *fs, const feature_set *set, int64_t ttl_ms, surge_error *err)
{
    if (!fs) return surge_fail(err, SURGE_EUNAVAILABLE, "store", "the feature store is not open");
    CHECK_PTR(set, "set", err);
    int rc;
    if ((rc = check_text("region_id", set->region_id, sizeof set->region_id, true, err))) return rc;
    if ((rc = check_text("source", set->source, sizeof set->source, false, err))) return rc;
    if (set->count < 0 || set->count > FEATURES_MAX)
        return surge_fail(err, SURGE_EINVAL, "features",
                          "region %s: a feature set holds 0 to %d features (got %d)",
                          set->region_id, FEATURES_MAX, set->count);
    for (int i = 0; i < set->count; i++) {
        const char *name = set->values[i].name;
        size_t len = strnlen(name, sizeof set->values[i].name);
        if (len == 0 || len == sizeof set->values[i].name)
            return surge_fail(err, SURGE_EINVAL, "features",
                              "region %s: feature %d needs a name of 1 to %zu characters",
                              set->region_id, i, sizeof set->values[i].name - 1);
    }
    if (ttl_ms <= 0 || set->written_ms > INT64_MAX - ttl_ms)
        return surge_fail(err, SURGE_EINVAL, "ttl", "feature ttl must be > 0 ms (got %lld)",
                          (long long)ttl_ms);
    return fs->ops->put(fs->impl, set, ttl_ms, err);
}

int feature_store_get(feature_store *fs, const char *region_id, int64_t now_ms, feature_set *out,
                      surge_error *err)
{
    if (!fs) return surge_fail(err, SURGE_EUNAVAILABLE, "store", "the feature store is not open");
    CHECK_PTR(out, "out", err);
    int rc = check_id_arg("region_id", region_id, err);
    return rc ? rc : fs->ops->get(fs->impl, region_id, now_ms, out, err);
}

int feature_store_get_values(feature_store *fs, const char *region_id, int64_t now_ms,
                             const char *const *names, int n, double *values,
                             feature_set *meta_without_values)
{
    if (!fs || !region_id) {
        for (int i = 0; i < n; i++)
            values[i] = NAN;
        return SURGE_ENOTFOUND;
    }
    return fs->ops->get_values(fs->impl, region_id, now_ms, names, n, values, meta_without_values);
}

int feature_store_delete(feature_store *fs, const char *region_id, surge_error *err)
{
    if (!fs) return surge_fail(err, SURGE_EUNAVAILABLE, "store", "the feature store is not open");
    int rc = check_id_arg("region_id", region_id, err);
    return rc ? rc : fs->ops->remove(fs->impl, region_id, err);
}

/* ---------------------------------------------------------------- model registry */

void store_model_clear(store_model *m)
{
    if (!m) return;
    free(m->manifest_json);
    free(m->metrics_json);
    free(m->params_json);
    free(m->importance_json);
    free(m->dataset_json);
    m->manifest_json = m->metrics_json = m->params_json = m->importance_json = m->dataset_json =
        NULL;
}

static bool model_status_known(const char *s)
{
    static const char *const names[] = {"staged", "shadow", "canary", "live", "retired"};
    for (size_t i = 0; i < COUNT_OF(names); i++)
        if (strcmp(s, names[i]) == 0) return true;
    return false;
}

int store_model_insert(store_db *db, const store_model *m, surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(m, "model", err);
    int rc;
    if ((rc = check_text("name", m->name, sizeof m->name, true, err)) ||
        (rc = check_text("version", m->version, sizeof m->version, true, err)) ||
        (rc = check_text("sha256", m->sha256, sizeof m->sha256, true, err)) ||
        (rc = check_text("status", m->status, sizeof m->status, true, err)) ||
        (rc = check_text("previous", m->previous, sizeof m->previous, false, err)) ||
        (rc = check_text("created_by", m->created_by, sizeof m->created_by, false, err)))
        return rc;
    if (!model_status_known(m->status))
        return surge_fail(err, SURGE_EINVAL, "status",
                          "status '%s' is not staged, shadow, canary, live or retired", m->status);
    if (m->canary_percent < 0 || m->canary_percent > 100)
        return surge_fail(err, SURGE_EINVAL, "canary_percent",
                          "canary_percent must be 0..100 (got %d)", m->canary_percent);
    return db->ops->model_insert(db->impl, m, err);
}

int store_model_get(store_db *db, const char *name, const char *version, store_model *out,
                    surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    int rc = check_id_arg("name", name, err);
    if (!rc) rc = check_id_arg("version", version, err);
    return rc ? rc : db->ops->model_get(db->impl, name, version, out, err);
}

int store_model_list(store_db *db, const char *name, store_model **out, size_t *count,
                     surge_error *err)
{
    CHECK_DB(db, err);
    CHECK_PTR(out, "out", err);
    CHECK_PTR(count, "count", err);
    *out = NULL;
    *count = 0;
    return db->ops->model_list(db->impl, name && *name ? name : NULL, out, count, err);
}

int store_model_set_status(store_db *db, const char *name, const store_model_change *changes,
                           size_t n, const char *actor, surge_error *err)
{
    CHECK_DB(db, err);
    int rc = check_id_arg("name", name, err);
    if (rc) return rc;
    if (n == 0) return 0;
    CHECK_PTR(changes, "changes", err);
    for (size_t i = 0; i < n; i++) {
        const store_model_change *c = &changes[i];
        if ((rc = check_text("version", c->version, sizeof c->version, true, err)) ||
            (rc = check_text("status", c->status, sizeof c->status, true, err)) ||
            (rc = check_text("previous", c->previous, sizeof c->previous, false, err)))
            return rc;
        if (!model_status_known(c->status))
            return surge_fail(err, SURGE_EINVAL, "status",
                              "status '%s' is not staged, shadow, canary, live or retired",
                              c->status);
        if (c->canary_percent < 0 || c->canary_percent > 100)
            return surge_fail(err, SURGE_EINVAL, "canary_percent",
                              "canary_percent must be 0..100 (got %d)", c->canary_percent);
    }
    return db->ops->model_set_status(db->impl, name, changes, n, actor ? actor : "", err);
}
