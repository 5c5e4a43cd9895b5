/* api_internal.h: what the files of the api module share with each other (not an interface
 * for other modules: they use api.h). */
#ifndef SURGE_API_INTERNAL_H
#define SURGE_API_INTERNAL_H

#include "api.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>

/* ---------------------------------------------------------------- metrics */

enum { METRIC_STATUS_MAX = 20, METRIC_BUCKETS = 14, METRIC_ROUTES_MAX = 48 };

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

/* The route table (server.c), for metrics labels and the OpenAPI consistency test. */
extern const api_route API_ROUTES[];
extern const int API_NROUTES;

#endif
