/* api: the HTTP/1.1 JSON API (DESIGN §8) on libmicrohttpd: routing, limits, auth, rate limits,
 * metrics, and the handlers for pricing, explain, features and admin. */
#ifndef SURGE_API_H
#define SURGE_API_H

#include "../core/core.h"
#include "../ingest/ingest.h"
#include "../pricing/pricing.h"
#include "../store/store.h"
#include "../stream/stream.h"
#include "../model/model.h"

typedef struct api_server api_server;

typedef struct api_config {
    char host[64];            /* "0.0.0.0", "127.0.0.1", "::" */
    int port;                 /* 0: pick a free port (see api_server_port) */
    int threads;              /* epoll worker threads; 0 = one per core */
    int max_connections;
    size_t max_body_bytes;
    size_t max_header_bytes;
    int idle_timeout_s;
    char admin_token[128];
    int region_precision;     /* geohash precision lat/lon requests map to */
    int64_t features_ttl_ms;  /* default TTL of an admin feature override */
    int64_t rate_user_per_min, rate_ip_per_min, rate_global_per_s; /* 0 disables */
    size_t ingest_max_body_bytes; /* POST /api/v1/events */
    int ingest_max_events;        /* events per request */
    bool access_log;
    const char *web_dir;      /* static files served at / (NULL: none) */
    /* the portal (docs/portal.md): users as "name:role:hash,..." (borrowed, copied at start),
     * idle session lifetime, and how many live (SSE) streams may be open at once */
    const char *portal_users;
    int64_t portal_session_ttl_ms;
    int portal_live_max_clients;
    stream *stream; /* borrowed; NULL: the stream endpoints answer 503 (stream.enabled off) */
    model_forecaster *forecaster; /* borrowed; NULL: GET /api/v1/forecast/demand answers 503 */
} api_config;

/* Starts listening and serving on cfg->threads threads. The engine, stores, ingester and bus
 * are borrowed and must outlive the server (in and b may be NULL: no ingestion). NULL and err (naming the address) when the port cannot be bound. */
api_server *api_server_start(const api_config *cfg, pricing_engine *engine, store_db *db,
                             feature_store *fs, ingest *in, bus *b, surge_error *err);
/* The bound port (useful when cfg->port was 0). */
int api_server_port(const api_server *s);
/* /readyz answers 503 while not ready (during start-up and shutdown). */
void api_server_set_ready(api_server *s, bool ready);
/* Stops accepting, finishes in-flight requests and frees the server. */
void api_server_stop(api_server *s);

#endif
