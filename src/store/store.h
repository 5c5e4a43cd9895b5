/* store: where surge keeps state. Two interfaces, each with backends chosen by URL:
 *   - the relational store (regions, pricing rules, region controls, audit logs, A/B test
 *     configs): `sqlite:///path/surge.db` now, `postgresql://...` in distributed mode;
 *   - the online feature store (features:{region_id}, TTL): `mem:` now, `redis://...` later.
 * Business logic only sees these functions; it never knows which backend answers. */
#ifndef SURGE_STORE_H
#define SURGE_STORE_H

#include "../core/core.h"

#define STORE_REGION_ID_MAX 16   /* geohash up to 12 chars, or "*" */
#define STORE_PRODUCT_MAX 32
#define STORE_NAME_MAX 64
#define STORE_PRODUCTS_MAX 8     /* product types per region */

/* ---------------------------------------------------------------- relational store */

typedef struct store_db store_db;

/* A region: one geohash cell with its metadata. */
typedef struct store_region {
    char region_id[STORE_REGION_ID_MAX];
    char name[STORE_NAME_MAX];
    char timezone[STORE_NAME_MAX]; /* IANA name, e.g. America/New_York */
    double center_lat, center_lon; /* the cell's centre (derived from region_id) */
    int product_count;
    char products[STORE_PRODUCTS_MAX][STORE_PRODUCT_MAX];
    int64_t created_ms, updated_ms;
} store_region;

/* A pricing rule. Rules are immutable: a change is a new rule with a later effective date, and
 * the rule in force for (region, product) at time t is the one with the greatest
 * effective_ms <= t (ties: the greatest rule_id). region_id "*" applies to every region that
 * has no rule of its own for that product. */
typedef struct store_rule {
    int64_t rule_id; /* assigned by store_rule_insert */
    char region_id[STORE_REGION_ID_MAX];
    char product_type[STORE_PRODUCT_MAX];
    int64_t base_price_cents;     /* > 0 */
    double min_multiplier;        /* >= 0.1, default 1.0 */
    double max_multiplier;        /* >= min_multiplier, default 3.0 */
    int64_t effective_ms;         /* effective_date */
    /* the formula's constants (DESIGN §7) */
    double weight_demand, weight_supply, weight_time, weight_event, weight_weather;
    double demand_k, demand_threshold; /* 6, 0.5 */
    double event_coefficient;          /* 0.5 */
    double time_multiplier[24];        /* by local hour; 1.2 at 7,8,17,18 else 1.0 */
    int64_t rounding_cents;            /* round the price to a multiple of this; 25 */
    double max_change_per_min;         /* guardrail: surge moves at most this much per minute */
    char created_by[STORE_NAME_MAX];
    int64_t created_ms;
} store_rule;

/* Fills a rule with DESIGN §7's defaults (weights .4 .3 .2 .1 .1, k 6, threshold .5, ...);
 * region_id, product_type, base price and effective date are left empty/zero. */
void store_rule_defaults(store_rule *rule);

/* Emergency controls for one region (all its products). */
typedef struct store_control {
    char region_id[STORE_REGION_ID_MAX];
    double emergency_cap;     /* 0: no cap; otherwise surge <= cap */
    bool frozen;              /* prices stay where they are */
    double frozen_multiplier; /* 0: freeze at the last computed surge; otherwise this surge */
    char reason[256];
    char updated_by[STORE_NAME_MAX];
    int64_t updated_ms;
} store_control;

/* One audited pricing decision, as stored. Inputs are plain columns (bit-exact doubles, cheap
 * to write and to query); the JSON columns are written by pricing with integer-only writers. */
typedef struct store_audit_row {
    char request_id[40];
    char trace_id[40];
    int64_t ts_ms;
    char region_id[STORE_REGION_ID_MAX];
    char product_type[STORE_PRODUCT_MAX];
    char user_id[72];
    int64_t price_cents, base_price_cents;
    double surge_multiplier;
    /* the formula's inputs */
    double demand_score, expected_demand, available_supply, weather_severity, event_score,
        confidence;
    char fallback[64];      /* comma-separated names of inputs that fell back; "" when none */
    int64_t features_ts_ms; /* 0: no features were used */
    int32_t local_hour;
    char model_version[40];
    int64_t rule_id;
    bool cached;
    int64_t latency_us;
    char *factors_json;    /* owned by the row; {"demand":0.45,...,"clip":0,"guardrails":0} */
    char *guardrails_json; /* owned by the row; the guardrails' inputs and what they did */
    /* the A/B experiment that chose the rule (docs/pricing.md); both "" when none */
    char experiment_id[STORE_NAME_MAX];
    char variant[32];
} store_audit_row;

/* Frees the JSON strings of a row read by store_audit_get (not the row itself). */
void store_audit_row_clear(store_audit_row *row);

/* An A/B test configuration (seed: ab_test_configs). */
typedef struct store_experiment {
    char experiment_id[STORE_NAME_MAX];
    char name[128];
    char status[16];           /* draft | running | stopped */
    char *variants_json;       /* owned; JSON array of {"name":..,"rule_id":..} */
    char *traffic_split_json;  /* owned; JSON object {"variant": percent, ...} summing to 100 */
    int64_t created_ms, updated_ms;
} store_experiment;

void store_experiment_clear(store_experiment *e);

/* Opens the store named by url ("sqlite:///abs/path.db" or "sqlite://relative.db") and brings
 * its schema to the newest migration. Returns NULL and fills err on failure. Thread-safe:
 * every function below may be called from any thread. */
store_db *store_db_open(const char *url, surge_error *err);
void store_db_close(store_db *db);
/* The schema version after migrations (for /readyz and `surge version`). */
int store_db_schema_version(store_db *db);
/* Cheap liveness check of the connection. */
int store_db_ping(store_db *db, surge_error *err);

/* Regions. list: *out is malloc'd (caller frees), sorted by region_id. */
int store_region_put(store_db *db, const store_region *region, surge_error *err);
int store_region_get(store_db *db, const char *region_id, store_region *out, surge_error *err);
int store_region_list(store_db *db, store_region **out, size_t *count, surge_error *err);
int store_region_delete(store_db *db, const char *region_id, surge_error *err);
int store_region_count(store_db *db, int64_t *count, surge_error *err);

/* Rules. insert assigns rule->rule_id and created_ms. list filters by region and product when
 * they are not NULL; *out is malloc'd, sorted by (region_id, product_type, effective_ms,
 * rule_id). delete only removes a rule that has not taken effect at now_ms (ECONFLICT
 * otherwise): rules that priced something stay forever so explain can show them. */
int store_rule_insert(store_db *db, store_rule *rule, surge_error *err);
int store_rule_get(store_db *db, int64_t rule_id, store_rule *out, surge_error *err);
int store_rule_list(store_db *db, const char *region_id, const char *product_type,
                    store_rule **out, size_t *count, surge_error *err);
int store_rule_delete(store_db *db, int64_t rule_id, int64_t now_ms, surge_error *err);

/* Region controls. get returns ENOTFOUND when a region has none. */
int store_control_put(store_db *db, const store_control *control, surge_error *err);
int store_control_get(store_db *db, const char *region_id, store_control *out, surge_error *err);
int store_control_list(store_db *db, store_control **out, size_t *count, surge_error *err);

/* Audit. insert writes all rows in one transaction (all or nothing). get: ENOTFOUND when the
 * request_id was never written; fills *out whose JSON strings the caller frees with
 * store_audit_row_clear. */
int store_audit_insert(store_db *db, const store_audit_row *rows, size_t count,
                       surge_error *err);
int store_audit_get(store_db *db, const char *request_id, store_audit_row *out,
                    surge_error *err);
int store_audit_count(store_db *db, int64_t *count, surge_error *err);
/* Retention: deletes up to limit of the oldest audit rows with timestamp < before_ms and sets
 * *deleted. Call again while *deleted == limit. */
int store_audit_expire(store_db *db, int64_t before_ms, int64_t limit, int64_t *deleted,
                       surge_error *err);

/* Experiments (ab_test_configs). */
int store_experiment_put(store_db *db, const store_experiment *e, surge_error *err);
int store_experiment_get(store_db *db, const char *experiment_id, store_experiment *out,
                         surge_error *err);
int store_experiment_list(store_db *db, store_experiment **out, size_t *count,
                          surge_error *err); /* free each with store_experiment_clear, then
                                                the array */
int store_experiment_delete(store_db *db, const char *experiment_id, surge_error *err);

/* What the audit says about one variant of an experiment so far. */
typedef struct store_variant_stats {
    char variant[32];
    int64_t decisions;
    int64_t users;              /* distinct non-empty user_id */
    double mean_surge;
    int64_t mean_price_cents;   /* rounded to the cent */
    double p50_surge;           /* the lower median of surge_multiplier */
    int64_t first_ms, last_ms;  /* the first and last decision's timestamp */
} store_variant_stats;

/* Aggregates the audited decisions of experiment_id by variant, sorted by variant. Variants
 * with no decision have no row. *out is malloc'd (caller frees). */
int store_experiment_results(store_db *db, const char *experiment_id, store_variant_stats **out,
                             size_t *count, surge_error *err);

/* ---------------------------------------------------------------- portal queries */

#define STORE_AUDIT_SEARCH_MAX 1000  /* rows one search returns at most */
#define STORE_REPORT_RANGE_MAX_MS (31LL * 24 * 3600 * 1000) /* a report covers at most 31 days */
#define STORE_SURGE_BUCKETS 6 /* [1,1.25) [1.25,1.5) [1.5,2) [2,2.5) [2.5,3) [3,inf) */

/* Audit search (the portal's Audit page). Every filter that is not NULL/empty must match; the
 * time range [from_ms, to_ms) is always applied, so a search is bounded by an index. */
typedef struct store_audit_filter {
    const char *request_id, *trace_id, *region_id, *product_type;
    int64_t from_ms, to_ms;
    int limit; /* 1..STORE_AUDIT_SEARCH_MAX */
} store_audit_filter;

/* Newest first. *out is malloc'd: clear each row with store_audit_row_clear, then free it. */
int store_audit_search(store_db *db, const store_audit_filter *filter, store_audit_row **out,
                       size_t *count, surge_error *err);

/* One line of a report: the decisions of one hour (by_hour) or one region (by_region) in the
 * range. "revenue" is the sum of quoted prices: the audit holds quotes, not completed trips. */
typedef struct store_report_row {
    int64_t hour_ms;                   /* by hour: the hour's start; by region: 0 */
    char region_id[STORE_REGION_ID_MAX]; /* by region: the region; by hour: "" */
    int64_t decisions;
    int64_t revenue_cents;
    double avg_surge, max_surge;
    int64_t surge_buckets[STORE_SURGE_BUCKETS];
} store_report_row;

typedef enum store_report_group { STORE_REPORT_BY_HOUR, STORE_REPORT_BY_REGION } store_report_group;

/* Aggregates audit_logs over [from_ms, to_ms) (at most STORE_REPORT_RANGE_MAX_MS), for one
 * region when region_id is not NULL/empty. by_hour rows ascend by hour, by_region rows by
 * region_id. *out is malloc'd (caller frees). */
int store_audit_report(store_db *db, store_report_group group, int64_t from_ms, int64_t to_ms,
                       const char *region_id, store_report_row **out, size_t *count,
                       surge_error *err);

/* One admin action (who, what, when, result), whatever the channel: portal or bearer token. */
typedef struct store_admin_action {
    int64_t action_id; /* assigned by insert */
    int64_t ts_ms;
    char actor[STORE_NAME_MAX];
    char role[16];
    char method[8];
    char path[256];
    int status;        /* the HTTP status the action got */
    char trace_id[40];
    char client_ip[64];
    char detail[512];  /* the request body (cut) or a note; never a password */
} store_admin_action;

int store_admin_action_insert(store_db *db, store_admin_action *action, surge_error *err);
/* Newest first, at most limit (1..1000) with action_id < before_id (0: from the newest). *out
 * is malloc'd (caller frees). */
int store_admin_action_list(store_db *db, int64_t before_id, int limit, store_admin_action **out,
                            size_t *count, surge_error *err);

/* ---------------------------------------------------------------- model registry */

#define STORE_MODEL_VERSION_MAX 32

/* One registered model version (DESIGN §6). The artifacts themselves are files under
 * <data_dir>/models named by their sha256; the row describes them. */
typedef struct store_model {
    char name[STORE_NAME_MAX];              /* "demand" */
    char version[STORE_MODEL_VERSION_MAX];  /* semver */
    char sha256[65];                        /* the version's identity (docs/models.md) */
    char status[16];                        /* staged | shadow | canary | live | retired */
    int canary_percent;                     /* 1..100 while canary, else 0 */
    char previous[STORE_MODEL_VERSION_MAX]; /* live: the version it replaced, for rollback */
    char *manifest_json;   /* owned; features, horizons, step, artifacts */
    char *metrics_json;    /* owned; per-horizon metrics */
    char *params_json;     /* owned; hyperparameters */
    char *importance_json; /* owned; feature importance */
    char *dataset_json;    /* owned; where the training data came from */
    char created_by[STORE_NAME_MAX];
    int64_t created_ms;
    char updated_by[STORE_NAME_MAX];
    int64_t updated_ms;
} store_model;

/* Frees the JSON strings of a row (not the row). */
void store_model_clear(store_model *m);

/* A status change of one version, as written by store_model_set_status. */
typedef struct store_model_change {
    char version[STORE_MODEL_VERSION_MAX];
    char status[16];
    int canary_percent;
    char previous[STORE_MODEL_VERSION_MAX];
} store_model_change;

/* insert: ECONFLICT when (name, version) exists. get: ENOTFOUND when it does not. list: every
 * version of name (all names when NULL), oldest first; clear each row, then free the array.
 * set_status applies all changes of one model in one transaction (all or nothing, ENOTFOUND
 * when a version does not exist), stamping updated_by and updated_ms. */
int store_model_insert(store_db *db, const store_model *m, surge_error *err);
int store_model_get(store_db *db, const char *name, const char *version, store_model *out,
                    surge_error *err);
int store_model_list(store_db *db, const char *name, store_model **out, size_t *count,
                     surge_error *err);
int store_model_set_status(store_db *db, const char *name, const store_model_change *changes,
                           size_t n, const char *actor, surge_error *err);

/* ---------------------------------------------------------------- online feature store */

#define FEATURE_NAME_MAX 48
#define FEATURES_MAX 128

typedef struct feature_value {
    char name[FEATURE_NAME_MAX];
    double value;
} feature_value;

/* All features of one region, as written at one moment. */
typedef struct feature_set {
    char region_id[STORE_REGION_ID_MAX];
    int64_t event_ts_ms;   /* event time the features describe */
    int64_t written_ms;    /* when they were written */
    int64_t expires_ms;    /* written_ms + ttl */
    char source[32];       /* "override", "stream", ... */
    int count;
    feature_value values[FEATURES_MAX];
} feature_set;

typedef struct feature_store feature_store;

/* Opens "mem:" (in process). NULL and err on an unknown or bad URL. Thread-safe. */
feature_store *feature_store_open(const char *url, surge_error *err);
void feature_store_close(feature_store *fs);
/* Replaces the region's features with set; they expire ttl_ms after set->written_ms. */
int feature_store_put(feature_store *fs, const feature_set *set, int64_t ttl_ms,
                      surge_error *err);
/* Copies the region's whole set if present and not expired at now_ms. ENOTFOUND otherwise. */
int feature_store_get(feature_store *fs, const char *region_id, int64_t now_ms,
                      feature_set *out, surge_error *err);
/* The hot-path read: for each of n names, values[i] = the feature or NAN when absent.
 * Returns 0 when the region has an unexpired set (meta filled if not NULL), ENOTFOUND
 * otherwise (all values NAN). */
int feature_store_get_values(feature_store *fs, const char *region_id, int64_t now_ms,
                             const char *const *names, int n, double *values,
                             feature_set *meta_without_values);
int feature_store_delete(feature_store *fs, const char *region_id, surge_error *err);

#endif
