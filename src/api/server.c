/* server.c: the HTTP server on libmicrohttpd (epoll, a pool of worker threads), the route
 * table, request life cycle (body limits, content types, auth, trace ids) and error bodies. */
#include "api_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* libmicrohttpd keeps a request's headers and the response's headers in one memory pool per
 * connection. It gets http.max_header_bytes plus this much, and surge enforces
 * http.max_header_bytes itself, so a request just under the limit still has room for its
 * answer (without the headroom such requests were closed with no answer at all). */
#define HEADER_HEADROOM 4096

const api_route API_ROUTES[] = {
    {"GET", "/healthz", handle_healthz, false, false, false},
    {"GET", "/readyz", handle_readyz, false, false, false},
    {"GET", "/metrics", handle_metrics, false, false, false},
    {"GET", "/", handle_index, false, false, false},
    {"POST", "/api/v1/pricing/compute", handle_compute, false, true, false},
    {"GET", "/api/v1/pricing/explain", handle_explain, false, false, false},
    {"POST", "/api/v1/events", handle_events, false, true, true},
    {"GET", "/api/v1/features/{region_id}", handle_features_get, false, false, false},
    {"GET", "/api/v1/forecast/demand", handle_forecast_demand, false, false, false},
    {"GET", "/api/v1/stream/status", handle_stream_status, false, false, false},
    {"GET", "/api/v1/regions/{region_id}/timeline", handle_region_timeline, false, false, false},
    {"GET", "/api/v1/admin/regions", handle_regions_list, true, false, false},
    {"POST", "/api/v1/admin/regions", handle_region_create, true, true, false},
    {"GET", "/api/v1/admin/regions/{region_id}", handle_region_get, true, false, false},
    {"PUT", "/api/v1/admin/regions/{region_id}", handle_region_put, true, true, false},
    {"DELETE", "/api/v1/admin/regions/{region_id}", handle_region_delete, true, false, false},
    {"PUT", "/api/v1/admin/regions/{region_id}/features", handle_features_put, true, true, false},
    {"DELETE", "/api/v1/admin/regions/{region_id}/features", handle_features_delete, true, false,
     false},
    {"GET", "/api/v1/admin/regions/{region_id}/controls", handle_controls_get, true, false, false},
    {"PUT", "/api/v1/admin/regions/{region_id}/controls", handle_controls_put, true, true, false},
    {"DELETE", "/api/v1/admin/regions/{region_id}/controls", handle_controls_delete, true, false,
     false},
    {"GET", "/api/v1/admin/rules", handle_rules_list, true, false, false},
    {"POST", "/api/v1/admin/rules", handle_rule_create, true, true, false},
    {"GET", "/api/v1/admin/rules/{rule_id}", handle_rule_get, true, false, false},
    {"DELETE", "/api/v1/admin/rules/{rule_id}", handle_rule_delete, true, false, false},
    {"GET", "/api/v1/admin/experiments", handle_experiments_list, true, false, false},
    {"POST", "/api/v1/admin/experiments", handle_experiment_create, true, true, false},
    {"GET", "/api/v1/admin/experiments/{experiment_id}", handle_experiment_get, true, false, false},
    {"PUT", "/api/v1/admin/experiments/{experiment_id}", handle_experiment_put, true, true, false},
    {"DELETE", "/api/v1/admin/experiments/{experiment_id}", handle_experiment_delete, true, false,
     false},
    {"GET", "/api/v1/admin/experiments/{experiment_id}/results", handle_experiment_results, true,
     false, false},
    /* the model registry and rollout (models.c, docs/models.md) */
    {"GET", "/api/v1/admin/models", handle_models_list, true, false, false},
    {"GET", "/api/v1/admin/models/{version}", handle_model_get, true, false, false},
    {"POST", "/api/v1/admin/models/rollback", handle_model_rollback, true, false, false},
    {"POST", "/api/v1/admin/models/{version}/promote", handle_model_promote, true, false, false},
    {"POST", "/api/v1/admin/models/{version}/shadow", handle_model_shadow, true, false, false},
    {"POST", "/api/v1/admin/models/{version}/canary", handle_model_canary, true, true, false},
    /* the portal (portal.c, docs/portal.md) */
    {"GET", "/assets/{file}", handle_portal_asset, false, false, false},
    {"POST", "/api/v1/portal/login", handle_portal_login, false, true, false},
    {"POST", "/api/v1/portal/logout", handle_portal_logout, false, false, false},
    {"GET", "/api/v1/portal/session", handle_portal_session, false, false, false},
    {"GET", "/api/v1/live", handle_portal_live, true, false, false},
    {"GET", "/api/v1/admin/audit/search", handle_portal_audit_search, true, false, false},
    {"GET", "/api/v1/admin/reports", handle_portal_reports, true, false, false},
    {"GET", "/api/v1/admin/actions", handle_portal_actions, true, false, false},
};
const int API_NROUTES = (int)(sizeof API_ROUTES / sizeof API_ROUTES[0]);

/* Metric labels: index API_NROUTES is "unmatched" (404/405 and early rejections). */
static const char *route_names[METRIC_ROUTES_MAX];
static const char *route_methods[METRIC_ROUTES_MAX];

/* ---------------------------------------------------------------- routing */

/* Matches path against pattern; fills params. Segments in braces match one non-empty
 * segment. */
static bool path_match(const char *pattern, const char *path, char params[][128])
{
    int np = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            const char *end = strchr(s, '/');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            if (len == 0 || len >= 128 || np >= API_MAX_PARAMS) return false;
            memcpy(params[np], s, len);
            params[np][len] = 0;
            np++;
            p = close + 1;
            s += len;
            continue;
        }
        if (*p != *s) return false;
        p++;
        s++;
    }
    return *p == 0 && *s == 0;
}

/* Finds the route for (method, path). Returns its index, -1 for no path match, or -2 for a
 * path that exists with other methods (allow lists them). */
static int route_find(const char *method, const char *path, char params[][128], char *allow,
                      size_t allow_size)
{
    bool path_seen = false;
    allow[0] = 0;
    for (int i = 0; i < API_NROUTES; i++) {
        char tmp[API_MAX_PARAMS][128];
        for (int k = 0; k < API_MAX_PARAMS; k++)
            tmp[k][0] = 0; /* routes without parameters */
        if (!path_match(API_ROUTES[i].pattern, path, tmp)) continue;
        if (strcmp(API_ROUTES[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(API_ROUTES[i].method, "GET") == 0)) {
            memcpy(params, tmp, sizeof tmp);
            return i;
        }
        path_seen = true;
        size_t l = strlen(allow);
        snprintf(allow + l, allow_size - l, "%s%s", l ? ", " : "", API_ROUTES[i].method);
    }
    return path_seen ? -2 : -1;
}

/* ---------------------------------------------------------------- responses */

static void error_body(api_request *r, int status, const char *code, const char *field,
                       const char *message)
{
    r->status = status;
    buf_reset(&r->out);
    buf_puts(&r->out, "{\"error\":{\"code\":");
    json_put_string(&r->out, code);
    buf_puts(&r->out, ",\"message\":");
    json_put_string(&r->out, message);
    buf_puts(&r->out, ",\"field\":");
    if (field && field[0])
        json_put_string(&r->out, field);
    else
        buf_puts(&r->out, "null");
    buf_puts(&r->out, ",\"trace_id\":");
    json_put_string(&r->out, r->trace_id);
    buf_puts(&r->out, "}}");
}

void api_error(api_request *r, const surge_error *err)
{
    error_body(r, surge_code_http_status(err->code), surge_code_name(err->code), err->field,
               err->message);
}

void api_fail(api_request *r, surge_code code, const char *field, const char *fmt, ...)
{
    surge_error err;
    err.code = code;
    snprintf(err.field, sizeof err.field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    api_error(r, &err);
}

/* MHD_get_connection_values callback: remembers the first query key seen twice. */
static enum MHD_Result note_repeated(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    (void)value;
    api_request *r = cls;
    if (!key) return MHD_YES;
    if (r->query_seen_count < (int)(sizeof r->query_seen / sizeof r->query_seen[0])) {
        for (int i = 0; i < r->query_seen_count; i++)
            if (strcmp(r->query_seen[i], key) == 0) {
                str_copy(r->repeated_query, sizeof r->repeated_query, key);
                return MHD_NO;
            }
        str_copy(r->query_seen[r->query_seen_count++], sizeof r->query_seen[0], key);
    }
    return MHD_YES;
}

/* True when a query parameter appears more than once (its name in r->repeated_query). */
static bool query_repeated(api_request *r)
{
    r->query_seen_count = 0;
    r->repeated_query[0] = 0;
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, note_repeated, r);
    return r->repeated_query[0] != 0;
}

const char *api_query(api_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

json_t *api_body_json(api_request *r)
{
    if (r->body.len == 0) {
        api_fail(r, SURGE_EPARSE, NULL, "the request body is empty; send a JSON object");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        api_fail(r, SURGE_EPARSE, NULL, "the body is not valid JSON: %s (line %d, column %d)",
                 jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        api_fail(r, SURGE_EPARSE, NULL, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* ---------------------------------------------------------------- request life cycle */

/* Request contexts are recycled per worker thread so the hot path does not malloc. The pool
 * hangs off a pthread key whose destructor frees it when a worker thread exits. */
typedef struct request_pool {
    api_request *head;
    int count;
} request_pool;

static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void request_free(api_request *r)
{
    buf_free(&r->body);
    buf_free(&r->out);
    free(r);
}

static void pool_destroy(void *p)
{
    request_pool *pool = p;
    while (pool->head) {
        api_request *next = *(api_request **)pool->head;
        request_free(pool->head);
        pool->head = next;
    }
    free(pool);
}

static void pool_key_create(void)
{
    pthread_key_create(&pool_key, pool_destroy);
}

static request_pool *thread_pool(void)
{
    pthread_once(&pool_once, pool_key_create);
    request_pool *pool = pthread_getspecific(pool_key);
    if (!pool && (pool = calloc(1, sizeof *pool))) pthread_setspecific(pool_key, pool);
    return pool;
}

static api_request *request_new(void)
{
    request_pool *pool = thread_pool();
    api_request *r = pool ? pool->head : NULL;
    if (r) {
        pool->head = *(api_request **)r;
        pool->count--;
        buf body = r->body, out = r->out;
        buf_reset(&body);
        buf_reset(&out);
        memset(r, 0, sizeof *r);
        r->body = body;
        r->out = out;
        return r;
    }
    r = calloc(1, sizeof *r);
    if (r) {
        buf_init(&r->body);
        buf_init(&r->out);
    }
    return r;
}

static void request_release(api_request *r)
{
    /* keep a bounded pool; drop big buffers so one huge request does not pin memory */
    request_pool *pool = thread_pool();
    if (!pool || pool->count >= 256 || r->body.cap > 65536 || r->out.cap > 262144) {
        request_free(r);
        return;
    }
    *(api_request **)r = pool->head;
    pool->head = r;
    pool->count++;
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* W3C traceparent: "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>". A header with an
 * all-zero trace or parent id, version ff, or any malformed part is ignored (a fresh trace id
 * is generated), as the spec requires. Version 00 is exactly 55 characters; a later version
 * may append "-..." fields, which are not ours to read. */
static bool traceparent_valid(const char *tp)
{
    size_t n = tp ? strlen(tp) : 0;
    if (n < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return false;
    if (!is_hex(tp, 2) || strncmp(tp, "ff", 2) == 0) return false;
    if (strncmp(tp, "00", 2) == 0 ? n != 55 : n > 55 && tp[55] != '-') return false;
    return is_hex(tp + 3, 32) && strncmp(tp + 3, "00000000000000000000000000000000", 32) != 0 &&
           is_hex(tp + 36, 16) && strncmp(tp + 36, "0000000000000000", 16) != 0 &&
           is_hex(tp + 53, 2);
}

static void take_trace_id(api_request *r)
{
    const char *tp = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "traceparent");
    if (traceparent_valid(tp)) {
        memcpy(r->trace_id, tp + 3, 32);
        r->trace_id[32] = 0;
        return;
    }
    random_id_time(r->trace_id, time_now_ms());
}

static void client_ip(api_request *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    r->client_ip[0] = 0;
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->client_ip,
                  sizeof r->client_ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  r->client_ip, sizeof r->client_ip);
}

static bool media_type_is(const char *ct, const char *type)
{
    size_t n = strlen(type);
    return strncasecmp(ct, type, n) == 0 && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

static bool content_type_ok(api_request *r)
{
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (!ct) return false;
    while (*ct == ' ')
        ct++;
    if (media_type_is(ct, "application/json")) return true;
    return r->route->ndjson &&
           (media_type_is(ct, "application/x-ndjson") || media_type_is(ct, "application/ndjson"));
}

/* The body limit of the request's route. */
static size_t body_limit(const api_request *r)
{
    return r->route && r->route->ndjson ? r->server->cfg.ingest_max_body_bytes
                                        : r->server->cfg.max_body_bytes;
}

static bool admin_authorized(api_request *r)
{
    const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    const char *token = r->server->cfg.admin_token;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return false;
    auth += 7;
    size_t n = strlen(token), m = strlen(auth);
    /* constant time in the token's length */
    unsigned diff = (unsigned)(n != m) | (unsigned)(n == 0);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(token[i] ^ (i < m ? auth[i] : 0));
    return diff == 0;
}

static enum MHD_Result send_response(api_request *r)
{
    /* a response the handler built (portal assets, SSE) carries its own Content-Type */
    struct MHD_Response *resp = r->response;
    r->response = NULL;
    if (!resp) {
        resp = MHD_create_response_from_buffer(r->out.len, r->out.data ? r->out.data : (void *)"",
                                               MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type",
                                r->content_type ? r->content_type : "application/json");
    }
    if (r->set_cookie[0]) MHD_add_response_header(resp, "Set-Cookie", r->set_cookie);
    MHD_add_response_header(resp, "X-Trace-Id", r->trace_id);
    if (r->retry_after[0]) MHD_add_response_header(resp, "Retry-After", r->retry_after);
    if (r->allow) MHD_add_response_header(resp, "Allow", r->allow);
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void finish(api_request *r)
{
    int64_t ns = time_mono_ns() - r->t0_ns;
    metrics_observe(r->route_index, r->status, ns);
    if (r->status >= 500)
        log_msg(LOG_ERROR, "http", r->trace_id, "%s %s answered %d: %.300s", r->method, r->url,
                r->status, r->out.data ? r->out.data : "");
    else if (r->server->cfg.access_log)
        log_msg(LOG_INFO, "http", r->trace_id, "%s %s %d %.3fms %s", r->method, r->url, r->status,
                ns / 1e6, r->client_ip);
}

/* Percent-decoding for paths and query arguments, as libmicrohttpd's own except that %00 stays
 * as it is: a decoded NUL would silently cut a C string short, so that
 * /regions/dr5ru%00xyz would act on region dr5ru. */
static size_t unescape_no_nul(void *cls, struct MHD_Connection *conn, char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], 0};
            char c = (char)strtol(hex, NULL, 16);
            if (c) {
                *w++ = c;
                r += 2;
                continue;
            }
        }
        *w++ = *r;
    }
    *w = 0;
    return (size_t)(w - s);
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    size_t *total = cls;
    *total += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    api_server *s = cls;
    api_request *r = *con_cls;
    if (!r) {
        r = request_new();
        if (!r) return MHD_NO;
        *con_cls = r;
        r->server = s;
        r->conn = conn;
        r->method = method;
        r->url = url;
        r->t0_ns = time_mono_ns();
        r->status = 200;
        r->route_index = API_NROUTES;
        take_trace_id(r);
        static _Thread_local char allow[64];
        int idx = route_find(method, url, r->params, allow, sizeof allow);
        if (idx >= 0) {
            r->route = &API_ROUTES[idx];
            r->route_index = idx;
        } else if (idx == -2) {
            r->allow = allow;
        }
        /* surge's own header limit, checked below libmicrohttpd's (which is larger, so that
         * the response always has room in the connection's memory) */
        size_t header_bytes = strlen(method) + strlen(url) + 12;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_size, &header_bytes);
        if (header_bytes > s->cfg.max_header_bytes) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "the request line and headers (%zu bytes) are larger than "
                     "http.max_header_bytes (%zu)",
                     header_bytes, s->cfg.max_header_bytes);
            error_body(r, 431, "headers_too_large", NULL, msg);
            finish(r);
            return send_response(r);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > body_limit(r)) {
            /* answer before reading the body; MHD closes the connection afterwards */
            api_fail(r, SURGE_ETOOLARGE, NULL,
                     "the request body (%s bytes) is larger than "
                     "%s (%zu)",
                     cl,
                     r->route && r->route->ndjson ? "ingest.max_body_bytes" : "http.max_body_bytes",
                     body_limit(r));
            finish(r);
            return send_response(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->body_too_large) {
            if (r->body.len + *upload_data_size > body_limit(r))
                r->body_too_large = true;
            else
                buf_append(&r->body, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->status != 200) return MHD_YES; /* an early error response is already queued */

    r->now_ms = time_now_ms();
    if (r->body_too_large) {
        api_fail(r, SURGE_ETOOLARGE, NULL, "the request body is larger than %s (%zu)",
                 r->route && r->route->ndjson ? "ingest.max_body_bytes" : "http.max_body_bytes",
                 body_limit(r));
    } else if (!r->route && r->allow) {
        char msg[256];
        snprintf(msg, sizeof msg, "method %s is not allowed on %s (allowed: %s)", method, url,
                 r->allow);
        error_body(r, 405, "method_not_allowed", NULL, msg);
    } else if (!r->route) {
        api_fail(r, SURGE_ENOTFOUND, NULL, "no such endpoint: %s %s (see docs/openapi.yaml)",
                 method, url);
    } else if (r->route->admin && !admin_authorized(r) && portal_authorize(r) != 0) {
        /* portal_authorize answered 1 after writing why a session may not do this */
        if (r->status == 200)
            api_fail(r, SURGE_EAUTH, NULL,
                     "this endpoint needs 'Authorization: Bearer <admin "
                     "token>' (admin.token in the configuration) or a portal session");
        if (r->actor[0]) portal_record_action(r);
    } else if (r->route->json_body && !content_type_ok(r)) {
        error_body(r, 415, "unsupported_media_type", NULL,
                   r->route->ndjson ? "Content-Type must be application/json or "
                                      "application/x-ndjson"
                                    : "Content-Type must be application/json");
    } else if (!r->route->json_body && r->body.len > 0 && strcmp(method, "GET") != 0 &&
               strcmp(method, "DELETE") != 0) {
        api_fail(r, SURGE_EINVAL, NULL, "%s %s takes no request body", method, url);
    } else if (query_repeated(r)) {
        /* handlers read the first value: ?limit=1&limit=x must not pass as ?limit=1 */
        api_fail(r, SURGE_EINVAL, r->repeated_query,
                 "query parameter '%s' is given more than "
                 "once; give it once",
                 r->repeated_query);
    } else {
        client_ip(r);
        r->route->handler(r);
        if (r->route->admin && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            portal_record_action(r);
    }
    finish(r);
    return send_response(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    api_request *r = *con_cls;
    if (r) request_release(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    log_debug("http", "libmicrohttpd: %s", line);
}

api_server *api_server_start(const api_config *cfg, pricing_engine *engine, store_db *db,
                             feature_store *fs, ingest *in, bus *b, surge_error *err)
{
    api_server *s = calloc(1, sizeof *s);
    if (!s) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->engine = engine;
    s->db = db;
    s->fs = fs;
    s->ingest = in;
    s->bus = b;
    s->start_ms = time_now_ms();
    metrics_init();
    for (int i = 0; i < API_NROUTES && i < METRIC_ROUTES_MAX - 1; i++) {
        route_names[i] = API_ROUTES[i].pattern;
        route_methods[i] = API_ROUTES[i].method;
    }
    route_names[API_NROUTES] = "unmatched";
    route_methods[API_NROUTES] = "";
    if (cfg->rate_user_per_min > 0)
        s->rl_user = ratelimiter_new(cfg->rate_user_per_min / 60.0, (double)cfg->rate_user_per_min);
    if (cfg->rate_ip_per_min > 0)
        s->rl_ip = ratelimiter_new(cfg->rate_ip_per_min / 60.0, (double)cfg->rate_ip_per_min);
    if (cfg->rate_global_per_s > 0)
        s->rl_global =
            ratelimiter_new((double)cfg->rate_global_per_s, (double)cfg->rate_global_per_s);

    if (portal_start(s, err)) goto fail;

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    bool v6 = strchr(cfg->host, ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET6, cfg->host, &a->sin6_addr) != 1) goto bad_host;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET, cfg->host, &a->sin_addr) != 1) goto bad_host;
    }
    int threads = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    /* suspend/resume: a live (SSE) stream waits for its next snapshot suspended, not polling */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (v6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)cfg->max_header_bytes + HEADER_HEADROOM, MHD_OPTION_UNESCAPE_CALLBACK,
        unescape_no_nul, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_END);
    if (!s->daemon) {
        surge_fail(err, SURGE_EIO, "listen",
                   "cannot listen on %s:%d (is the port in use? change it with --listen "
                   "HOST:PORT)",
                   cfg->host, cfg->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->port;
    return s;
bad_host:
    surge_fail(err, SURGE_EINVAL, "listen", "'%s' is not an IP address to listen on", cfg->host);
fail:
    portal_shutdown(s);
    portal_free(s);
    ratelimiter_free(s->rl_user);
    ratelimiter_free(s->rl_ip);
    ratelimiter_free(s->rl_global);
    free(s);
    return NULL;
}

int api_server_port(const api_server *s)
{
    return s->port;
}

void api_server_set_ready(api_server *s, bool ready)
{
    atomic_store(&s->ready, ready);
}

void api_server_stop(api_server *s)
{
    if (!s) return;
    atomic_store(&s->ready, false);
    portal_shutdown(s); /* ends the live streams, which MHD_stop_daemon would wait for */
    MHD_stop_daemon(s->daemon);
    portal_free(s);
    ratelimiter_free(s->rl_user);
    ratelimiter_free(s->rl_ip);
    ratelimiter_free(s->rl_global);
    free(s);
}
