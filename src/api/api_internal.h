/* api_internal.h: what the files of the api module share with each other (not an interface
 * for other modules: they use api.h). */
#ifndef SURGE_API_INTERNAL_H
#define SURGE_API_INTERNAL_H

#include "api.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>

/* ---------------------------------------------------------------- metrics */

enum { METRIC_STATUS_MAX = 20, METRIC_BUCKETS = 14, METRIC_ROUTES_MAX = 64 };

void metrics_init(void);
/* Counts one request of route (index into the route table) with status and latency. */
void metrics_observe(int route, int status, int64_t latency_ns);
void metrics_count_rate_limited(int scope); /* 0 user, 1 ip, 2 global */
void metrics_count_guardrail(int guard);
void metrics_count_fallback(int bit);
/* Writes every metric in Prometheus text format. route_names[i] and route_methods[i] label
 * route i. */
void metrics_write(buf *out, int nroutes, const char *const *route_names,
                   const char *const *route_methods, const pricing_stats *ps, int64_t start_ms);

/* ---------------------------------------------------------------- requests */

typedef struct api_request api_request;
typedef void (*api_handler)(api_request *r);

typedef struct api_route {
    const char *method;
    const char *pattern; /* "/api/v1/admin/regions/{id}" */
    api_handler handler;
    bool admin;          /* needs the bearer token */
    bool json_body;      /* needs Content-Type: application/json and a body */
    bool ndjson;         /* also takes application/x-ndjson, with the larger ingest body limit */
} api_route;

struct api_server {
    api_config cfg;
    struct MHD_Daemon *daemon;
    pricing_engine *engine;
    store_db *db;
    feature_store *fs;
    ingest *ingest;
    bus *bus;
    ratelimiter *rl_user, *rl_ip, *rl_global;
    _Atomic bool ready;
    int64_t start_ms;
    int port;
    struct portal *portal; /* sessions, users, the live snapshot producer (portal.c) */
};

#define API_MAX_PARAMS 2

struct api_request {
    api_server *server;
    struct MHD_Connection *conn;
    const api_route *route;
    int route_index;
    const char *method;
    const char *url;
    char params[API_MAX_PARAMS][128]; /* path parameters, in pattern order */
    /* query keys seen (a repeated one is refused before the handler runs) */
    char query_seen[8][48];
    int query_seen_count;
    char repeated_query[48];
    buf body;
    bool body_too_large;
    int64_t t0_ns;
    int64_t now_ms;
    char trace_id[40];
    char client_ip[64];
    /* the response */
    int status;
    buf out;
    char retry_after[16];
    const char *content_type;
    const char *allow; /* for 405 */
    /* the portal: a response the handler built itself (assets, SSE), sent instead of out; a
     * Set-Cookie header; who is acting (a portal user, or "" for the bearer token) and how */
    struct MHD_Response *response;
    char set_cookie[160];
    char actor[64];
    char role[16];
};

/* Writes the error body {"error":{"code","message","field"}} with the status for err->code. */
void api_error(api_request *r, const surge_error *err);
/* Same from parts. */
void api_fail(api_request *r, surge_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A query-string argument or NULL. */
const char *api_query(api_request *r, const char *name);
/* Parses the body as a JSON object. NULL after writing a 400 naming line and column. */
json_t *api_body_json(api_request *r);

/* Field readers for JSON objects: each names the field and the rule in err. */
int jin_check_keys(json_t *obj, const char *const *allowed, const char *where, surge_error *err);
int jin_string(json_t *obj, const char *key, bool required, char *out, size_t cap,
               surge_error *err);
int jin_number(json_t *obj, const char *key, bool required, double min, double max,
               double *out, surge_error *err);
int jin_bool(json_t *obj, const char *key, bool required, bool *out, surge_error *err);
int jin_time(json_t *obj, const char *key, bool required, int64_t *out_ms, surge_error *err);

/* Shared JSON writers (admin.c, handlers.c). status may be NULL. */
void write_rule_json(buf *out, const store_rule *rule, const char *status);
void write_features_json(buf *out, const feature_set *set, int64_t now_ms);

/* The handlers (handlers.c, admin.c). */
void handle_healthz(api_request *r);
void handle_readyz(api_request *r);
void handle_metrics(api_request *r);
void handle_compute(api_request *r);
void handle_explain(api_request *r);
/* forecast_api.c: the forecast endpoint, and what every model change must call (reloads the
 * forecaster's routing and warms the versions that serve, drops cached prices) */
void handle_forecast_demand(api_request *r);
void api_models_changed(api_server *s);
void metrics_write_models(buf *out, model_forecaster *f);
/* stream_api.c */
void handle_stream_status(api_request *r);
void handle_region_timeline(api_request *r);
void metrics_write_stream(buf *out, stream *st);
void handle_features_get(api_request *r);
void handle_events(api_request *r);
void handle_index(api_request *r);
void handle_regions_list(api_request *r);
void handle_region_create(api_request *r);
void handle_region_get(api_request *r);
void handle_region_put(api_request *r);
void handle_region_delete(api_request *r);
void handle_features_put(api_request *r);
void handle_features_delete(api_request *r);
void handle_controls_get(api_request *r);
void handle_controls_put(api_request *r);
void handle_controls_delete(api_request *r);
void handle_rules_list(api_request *r);
void handle_rule_create(api_request *r);
void handle_rule_get(api_request *r);
void handle_rule_delete(api_request *r);
void handle_experiments_list(api_request *r);
void handle_experiment_create(api_request *r);
void handle_experiment_get(api_request *r);
void handle_experiment_put(api_request *r);
void handle_experiment_delete(api_request *r);
void handle_experiment_results(api_request *r);
/* models.c: the model registry and rollout */
void handle_models_list(api_request *r);
void handle_model_get(api_request *r);
void handle_model_promote(api_request *r);
void handle_model_shadow(api_request *r);
void handle_model_canary(api_request *r);
void handle_model_rollback(api_request *r);

/* Percentile of a route's request latency (nanoseconds, a bucket's upper bound) counted since
 * the last call with the same *prev snapshot; prev holds METRIC_BUCKETS counters, updated. 0
 * when nothing was counted. */
int64_t metrics_route_quantile_ns(int route, double q, uint64_t *prev);

/* ---------------------------------------------------------------- portal (portal.c) */

/* Starts the session table and the live snapshot producer; EINVAL naming portal.users when a
 * user entry is malformed. */
int portal_start(api_server *s, surge_error *err);
/* Ends every live stream (so MHD_stop_daemon never waits on one), stops the producer. Call
 * before MHD_stop_daemon. */
void portal_shutdown(api_server *s);
/* Frees what portal_start made; after MHD_stop_daemon. */
void portal_free(api_server *s);
/* The session check for admin routes without a valid bearer token: 0 when the request's
 * session cookie allows it (fills r->actor and r->role); -1 when there is no session cookie
 * (nothing written); 1 after writing the 401/403 (expired session, viewer on a change, missing
 * or wrong CSRF token). */
int portal_authorize(api_request *r);
/* Records an admin change (non-GET admin route) with its result in admin_actions. */
void portal_record_action(api_request *r);

void handle_portal_asset(api_request *r);
void handle_portal_login(api_request *r);
void handle_portal_logout(api_request *r);
void handle_portal_session(api_request *r);
void handle_portal_live(api_request *r);
void handle_portal_audit_search(api_request *r);
void handle_portal_reports(api_request *r);
void handle_portal_actions(api_request *r);

/* The route table (server.c), for metrics labels and the OpenAPI consistency test. */
extern const api_route API_ROUTES[];
extern const int API_NROUTES;

#endif
