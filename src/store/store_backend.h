/* store_backend.h: the contract between store.c (the public API, its argument checks and the
 * choice of backend by URL scheme) and the backends (sqlite.c, features_mem.c; postgresql.c and
 * redis.c later). Private to src/store: nothing outside this folder includes it. */
#ifndef SURGE_STORE_BACKEND_H
#define SURGE_STORE_BACKEND_H

#include "store.h"

/* A relational backend. store.c has already checked every argument before calling: pointers
 * are not NULL, strings are NUL-terminated within their arrays, required ids are not empty and
 * numbers are in the ranges store.h documents. impl is what open returned. */
typedef struct store_db_ops {
    const char *scheme;    /* the URL scheme that selects this backend, without ':' */
    const char *url_forms; /* for error messages: "sqlite:///abs/path.db, sqlite://rel.db" */
    void *(*open)(const char *url, surge_error *err);
    void (*close)(void *impl);
    int (*schema_version)(void *impl);
    int (*ping)(void *impl, surge_error *err);

    int (*region_put)(void *impl, const store_region *region, surge_error *err);
    int (*region_get)(void *impl, const char *region_id, store_region *out, surge_error *err);
    int (*region_list)(void *impl, store_region **out, size_t *count, surge_error *err);
    int (*region_delete)(void *impl, const char *region_id, surge_error *err);
    int (*region_count)(void *impl, int64_t *count, surge_error *err);

    int (*rule_insert)(void *impl, store_rule *rule, surge_error *err);
    int (*rule_get)(void *impl, int64_t rule_id, store_rule *out, surge_error *err);
    int (*rule_list)(void *impl, const char *region_id, const char *product_type, store_rule **out,
                     size_t *count, surge_error *err);
    int (*rule_delete)(void *impl, int64_t rule_id, int64_t now_ms, surge_error *err);

    int (*control_put)(void *impl, const store_control *control, surge_error *err);
    int (*control_get)(void *impl, const char *region_id, store_control *out, surge_error *err);
    int (*control_list)(void *impl, store_control **out, size_t *count, surge_error *err);

    int (*audit_insert)(void *impl, const store_audit_row *rows, size_t count, surge_error *err);
    int (*audit_get)(void *impl, const char *request_id, store_audit_row *out, surge_error *err);
    int (*audit_count)(void *impl, int64_t *count, surge_error *err);
    int (*audit_expire)(void *impl, int64_t before_ms, int64_t limit, int64_t *deleted,
                        surge_error *err);

    int (*experiment_put)(void *impl, const store_experiment *e, surge_error *err);
    int (*experiment_get)(void *impl, const char *experiment_id, store_experiment *out,
                          surge_error *err);
    int (*experiment_list)(void *impl, store_experiment **out, size_t *count, surge_error *err);
    int (*experiment_delete)(void *impl, const char *experiment_id, surge_error *err);
    int (*experiment_results)(void *impl, const char *experiment_id, store_variant_stats **out,
                              size_t *count, surge_error *err);

    /* the portal's queries (store.c has checked ranges and limits) */
    int (*audit_search)(void *impl, const store_audit_filter *filter, store_audit_row **out,
                        size_t *count, surge_error *err);
    int (*audit_report)(void *impl, store_report_group group, int64_t from_ms, int64_t to_ms,
                        const char *region_id, store_report_row **out, size_t *count,
                        surge_error *err);
    int (*admin_action_insert)(void *impl, store_admin_action *action, surge_error *err);
    int (*admin_action_list)(void *impl, int64_t before_id, int limit, store_admin_action **out,
                             size_t *count, surge_error *err);

    /* the model registry (store.c has checked names, versions and the change count) */
    int (*model_insert)(void *impl, const store_model *m, surge_error *err);
    int (*model_get)(void *impl, const char *name, const char *version, store_model *out,
                     surge_error *err);
    int (*model_list)(void *impl, const char *name, store_model **out, size_t *count,
                      surge_error *err);
    int (*model_set_status)(void *impl, const char *name, const store_model_change *changes,
                            size_t n, const char *actor, surge_error *err);
} store_db_ops;

extern const store_db_ops store_sqlite_ops;

/* An online feature store backend. Same rule: store.c has checked the arguments of put (region
 * id, count within 0..FEATURES_MAX, every name non-empty and terminated, ttl > 0), except for
 * duplicate names, which the backend finds while it sorts or indexes the names. get, get_values
 * and remove are passed straight through: they are the hot path. */
typedef struct feature_store_ops {
    const char *scheme;
    const char *url_forms;
    void *(*open)(const char *url, surge_error *err);
    void (*close)(void *impl);
    int (*put)(void *impl, const feature_set *set, int64_t ttl_ms, surge_error *err);
    int (*get)(void *impl, const char *region_id, int64_t now_ms, feature_set *out,
               surge_error *err);
    int (*get_values)(void *impl, const char *region_id, int64_t now_ms, const char *const *names,
                      int n, double *values, feature_set *meta_without_values);
    int (*remove)(void *impl, const char *region_id, surge_error *err);
} feature_store_ops;

extern const feature_store_ops feature_store_mem_ops;

#endif
