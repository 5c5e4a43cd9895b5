/* main.c: the `surge` command. Reading `serve` top to bottom shows the server's whole life:
 * configuration, data dir, stores, sample city, pricing engine, HTTP server, signals, and an
 * orderly shutdown that flushes the audit trail. */
#include "api/api.h"
#include "bus/bus.h"
#include "event/event.h"
#include "ingest/ingest.h"
#include "model/model.h"
#include "cli/cli.h"
#include "pricing/pricing.h"
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <microhttpd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static const char USAGE[] =
    "surge " SURGE_VERSION ": real-time demand forecasting and dynamic pricing\n"
    "\n"
    "Usage: surge <command> [options]\n"
    "\n"
    "Commands:\n"
    "  serve     Run the pricing API, admin API and metrics on embedded storage\n"
    "  price     Compute one price offline from a data dir (no server, no audit)\n"
    "  log       List, print (as JSON lines) and verify the event log's topics\n"
    "  replay    Recompute features and window aggregates from the log (backfill, datasets)\n"
    "  simulate  Run the market simulator against a server, or a pricing backtest\n"
    "  train     Train a demand forecasting model and register it (staged)\n"
    "  models    List, import, inspect, roll out, roll back and export model versions\n"
    "  config    Print the configuration docs, the effective configuration, or check it\n"
    "  version   Print surge's version and the versions of the libraries it uses\n"
    "  help      Show this help, or `surge help <command>` for one command\n"
    "\n"
    "Options every command that reads configuration accepts:\n"
    "  --config FILE      a `key = value` file (also the SURGE_CONFIG variable)\n"
    "  --data-dir DIR     where surge keeps its data (default ./data)\n"
    "  --set KEY=VALUE    set any configuration key; repeatable (see docs/configuration.md)\n"
    "Configuration precedence: defaults < file < SURGE_* environment < flags.\n";

static const char USAGE_SERVE[] =
    "Usage: surge serve [--listen HOST:PORT] [--data-dir DIR] [--config FILE]\n"
    "                   [--set KEY=VALUE]... [--no-sample]\n"
    "\n"
    "Runs the HTTP API on HOST:PORT (default 0.0.0.0:8080; port 0 picks a free port, written to\n"
    "<data_dir>/listen.addr). A fresh data dir gets a sample city unless --no-sample is given.\n"
    "The admin bearer token is admin.token, or the one created in <data_dir>/admin.token.\n"
    "SIGINT or SIGTERM stop it after in-flight requests finish and the audit is flushed.\n";

static const char USAGE_PRICE[] =
    "Usage: surge price (--region GEOHASH | --lat LAT --lon LON) --product TYPE\n"
    "                   [--user ID] [--at TIME] [--feature NAME=VALUE]... [--json]\n"
    "                   [--data-dir DIR] [--config FILE] [--set KEY=VALUE]...\n"
    "\n"
    "Computes a price from the rules in the data dir, as the server would, and prints the\n"
    "breakdown. --at prices at another time (RFC 3339 or epoch ms). --feature supplies an input\n"
    "(demand_score, expected_demand, available_drivers, weather_severity, nearby_event_score,\n"
    "confidence) as if it were live. Nothing is written to the audit log.\n";

static const char USAGE_CONFIG[] =
    "Usage: surge config docs     print docs/configuration.md (every key, default, range)\n"
    "       surge config show     print the effective configuration (secrets masked)\n"
    "       surge config check    validate the configuration and exit 0, or print the error\n";

static int fail(const surge_error *err)
{
    fprintf(stderr, "surge: %s\n", err->message);
    return err->code == SURGE_EINVAL || err->code == SURGE_EPARSE ? 2 : 1;
}

/* Flags left over after cli_config are the subcommand's; any it does not know is an error. */
static int unknown_flag(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (argv[i]) {
            fprintf(stderr, "surge: unknown option '%s'\n\n%s", argv[i], usage);
            return 2;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- serve */

static volatile sig_atomic_t stop_requested;

static int write_listen_addr(const char *data_dir, const char *host, int port)
{
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/listen.addr", data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    const char *shown = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host;
    fprintf(f, "%s:%d\n", shown, port);
    if (fclose(f)) return -1;
    return rename(tmp, path);
}

static int parse_listen(const char *listen, char *host, size_t hsize, int *port,
                        surge_error *err)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    long p = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == listen || !colon[1] || *end || p < 0 || p > 65535)
        return surge_fail(err, SURGE_EINVAL, "listen",
                          "listen = '%s': must be HOST:PORT with a port in 0..65535", listen);
    size_t n = (size_t)(colon - listen);
    if (listen[0] == '[' && colon[-1] == ']') {
        listen++;
        n -= 2;
    }
    if (n >= hsize) return surge_fail(err, SURGE_EINVAL, "listen", "listen host too long");
    memcpy(host, listen, n);
    host[n] = 0;
    if (strcmp(host, "localhost") == 0) snprintf(host, hsize, "127.0.0.1");
    *port = (int)p;
    return 0;
}

/* Periodic work that is nobody's request: log retention every minute; every
 * model.guard_interval_s, scoring the forecasts whose window has passed and one step of the
 * automatic canary guard (advance or roll back, published as model_update events). */
typedef struct housekeeping {
    bus *bus;
    model_forecaster *forecaster; /* NULL: no models */
    stream *stream;
    store_db *db;
    ingest *ingest;
    pricing_engine *engine;
    int64_t guard_interval_ms;
    uint64_t canary_min_samples;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
} housekeeping;

static void publish_model_update(housekeeping *hk, const char *name,
                                 const model_version_state *v)
{
    const char *status = MODEL_STATUS_NAMES[v->status];
    log_info("models", "canary guard: model %s %s is now %s", name, v->version, status);
    if (!hk->ingest) return;
    char id[33];
    int64_t now = time_now_ms();
    random_id_time(id, now);
    json_t *ev = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "event_id", id, "type",
                           "model_update", "ts", (json_int_t)now, "model", name, "version",
                           v->version, "status", status);
    if (!ev) return;
    surge_error parse_error = {0}, err;
    ingest_result res;
    json_t *events[1] = {ev};
    if (ingest_batch(hk->ingest, events, &parse_error, 1, "canary-guard", now, &res, &err) ||
        res.status != INGEST_ACCEPTED)
        log_error("models", "publishing the model_update event failed: %s",
                  res.status == INGEST_REJECTED ? res.error.message : err.message);
    json_decref(ev);
}

static void models_step(housekeeping *hk)
{
    if (!hk->forecaster) return;
    stream_stats ss;
    int64_t watermark = time_now_ms();
    if (hk->stream) {
        stream_stats_get(hk->stream, &ss);
        watermark = ss.watermark_ms;
    }
    model_forecaster_score(hk->forecaster, watermark);
    model_guard_decision decision;
    model_version_state changed[2];
    size_t n = 0;
    surge_error err;
    const char *name = model_forecaster_name(hk->forecaster);
    if (model_registry_guard_step(hk->db, name, model_forecaster_router(hk->forecaster),
                                  hk->canary_min_samples, "canary-guard", &decision, changed, &n,
                                  &err)) {
        log_error("models", "canary guard: %s", err.message);
        return;
    }
    if (!n) return;
    for (size_t i = 0; i < n; i++) publish_model_update(hk, name, &changed[i]);
    if (model_forecaster_reload(hk->forecaster, &err))
        log_error("models", "reloading models: %s", err.message);
    pricing_engine_invalidate(hk->engine);
}

static void *housekeeping_main(void *arg)
{
    housekeeping *hk = arg;
    int64_t last_retention = 0;
    pthread_mutex_lock(&hk->lock);
    while (!hk->stop) {
        pthread_mutex_unlock(&hk->lock);
        surge_error err;
        if (time_now_ms() - last_retention >= 60000) {
            int deleted = bus_apply_retention(hk->bus, time_now_ms(), &err);
            if (deleted < 0) log_error("serve", "log retention: %s", err.message);
            else if (deleted > 0) log_info("serve", "log retention deleted %d segments", deleted);
            last_retention = time_now_ms();
        }
        models_step(hk);
        pthread_mutex_lock(&hk->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = hk->guard_interval_ms > 0 && hk->guard_interval_ms < 60000
                           ? hk->guard_interval_ms
                           : 60000;
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&hk->wake, &hk->lock, &ts);
    }
    pthread_mutex_unlock(&hk->lock);
    return NULL;
}

static void housekeeping_start(housekeeping *hk)
{
    pthread_mutex_init(&hk->lock, NULL);
    pthread_cond_init(&hk->wake, NULL);
    hk->running = pthread_create(&hk->thread, NULL, housekeeping_main, hk) == 0;
    if (hk->running) pthread_setname_np(hk->thread, "surge-housekeep");
}

static void housekeeping_stop(housekeeping *hk)
{
    if (!hk->running) return;
    pthread_mutex_lock(&hk->lock);
    hk->stop = true;
    pthread_cond_signal(&hk->wake);
    pthread_mutex_unlock(&hk->lock);
    pthread_join(hk->thread, NULL);
    hk->running = false;
}

/* The stream wrote new features: prices cached before them are stale. */
static void invalidate_prices(void *engine)
{
    pricing_engine_invalidate(engine);
}

static int cmd_serve(int argc, char **argv)
{
    surge_error err;
    cli_common common;
    config *cfg = cli_config(argc, argv, environ, &common, &err);
    if (!cfg) return fail(&err);
    int rc = unknown_flag(argc, argv, USAGE_SERVE);
    if (rc) {
        config_free(cfg);
        return rc;
    }
    api_config ac;
    memset(&ac, 0, sizeof ac);
    char db_url[1200];
    store_db *db = NULL;
    feature_store *fs = NULL;
    pricing_engine *engine = NULL;
    api_server *server = NULL;
    bus *b = NULL;
    event_codec *codec = NULL;
    ingest *in = NULL;
    stream *st = NULL;
    model_forecaster *forecaster = NULL;
    housekeeping hk = {0};
    char bus_url[1200];
    bus_config bc;
    rc = 1;
    if (parse_listen(config_get_string(cfg, "listen"), ac.host, sizeof ac.host, &ac.port, &err) ||
        cli_prepare_data_dir(cfg, db_url, sizeof db_url, &err) ||
        cli_admin_token(cfg, ac.admin_token, sizeof ac.admin_token, &err)) {
        rc = fail(&err);
        goto out;
    }
    cli_bus_settings(cfg, bus_url, sizeof bus_url, &bc);
    if (!(db = store_db_open(db_url, &err)) ||
        !(fs = feature_store_open(config_get_string(cfg, "store"), &err)) ||
        !(b = bus_open(bus_url, &bc, &err)) || !(codec = event_codec_new(&err))) {
        rc = fail(&err);
        goto out;
    }
    ingest_config ic = {
        .dedup_window_ms = config_get_int(cfg, "ingest.dedup_window_s") * 1000,
        .dedup_max_entries = (size_t)config_get_int(cfg, "ingest.dedup_max_entries"),
        .rate_user_per_min = config_get_int(cfg, "ingest.user_per_min"),
        .rate_region_per_min = config_get_int(cfg, "ingest.region_per_min"),
        .region_precision = (int)config_get_int(cfg, "region.precision"),
    };
    if (!(in = ingest_new(b, codec, &ic, &err))) {
        rc = fail(&err);
        goto out;
    }
    bool created = false;
    if (config_get_bool(cfg, "sample.enabled") && !common.no_sample &&
        cli_sample_city(db, cfg, &created, &err)) {
        rc = fail(&err);
        goto out;
    }
    pricing_engine_config pc = {
        .cache_entries = (size_t)config_get_int(cfg, "cache.l1_entries"),
        .cache_ttl_ms = config_get_int(cfg, "cache.l1_ttl_s") * 1000,
        .valid_for_ms = config_get_int(cfg, "pricing.valid_for_s") * 1000,
        .audit_flush_ms = config_get_int(cfg, "audit.flush_ms"),
        .audit_queue_capacity = (size_t)config_get_int(cfg, "audit.queue_capacity"),
        .audit_retention_ms = config_get_int(cfg, "audit.retention_hours") * 3600000,
    };
    if (!(engine = pricing_engine_new(db, fs, &pc, &err))) {
        rc = fail(&err);
        goto out;
    }
    pricing_engine_set_bus(engine, b);
    if (config_get_bool(cfg, "stream.enabled")) {
        stream_config sc;
        cli_stream_settings(cfg, &sc);
        /* blocked signals are inherited: the stream thread must not take SIGINT either */
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &block, NULL);
        if (!(st = stream_start(&sc, b, fs, db, invalidate_prices, engine, &err))) {
            rc = fail(&err);
            goto out;
        }
        ac.stream = st;
    }
    if (!(forecaster = model_forecaster_new(db, config_get_string(cfg, "data_dir"),
                                            config_get_string(cfg, "model.name"), st, fs, &err))) {
        rc = fail(&err);
        goto out;
    }
    pricing_engine_set_source(engine, model_forecaster_source(forecaster));
    ac.forecaster = forecaster;
    ac.threads = (int)config_get_int(cfg, "http.threads");
    ac.max_connections = (int)config_get_int(cfg, "http.max_connections");
    ac.max_body_bytes = (size_t)config_get_int(cfg, "http.max_body_bytes");
    ac.max_header_bytes = (size_t)config_get_int(cfg, "http.max_header_bytes");
    ac.idle_timeout_s = (int)config_get_int(cfg, "http.idle_timeout_s");
    ac.region_precision = (int)config_get_int(cfg, "region.precision");
    ac.features_ttl_ms = config_get_int(cfg, "features.ttl_s") * 1000;
    ac.rate_user_per_min = config_get_int(cfg, "ratelimit.user_per_min");
    ac.rate_ip_per_min = config_get_int(cfg, "ratelimit.ip_per_min");
    ac.rate_global_per_s = config_get_int(cfg, "ratelimit.global_per_s");
    ac.access_log = config_get_bool(cfg, "log.access");
    ac.ingest_max_body_bytes = (size_t)config_get_int(cfg, "ingest.max_body_bytes");
    ac.ingest_max_events = (int)config_get_int(cfg, "ingest.max_events");
    ac.portal_users = config_get_string(cfg, "portal.users");
    ac.portal_session_ttl_ms = config_get_int(cfg, "portal.session_ttl_s") * 1000;
    ac.portal_live_max_clients = (int)config_get_int(cfg, "portal.live_max_clients");

    /* every thread started from here on inherits these blocked signals; main waits for them */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!(server = api_server_start(&ac, engine, db, fs, in, b, &err))) {
        rc = fail(&err);
        goto out;
    }
    hk.bus = b;
    hk.forecaster = forecaster;
    hk.stream = st;
    hk.db = db;
    hk.ingest = in;
    hk.engine = engine;
    hk.guard_interval_ms = config_get_int(cfg, "model.guard_interval_s") * 1000;
    hk.canary_min_samples = (uint64_t)config_get_int(cfg, "model.canary_min_samples");
    housekeeping_start(&hk);
    const char *data_dir = config_get_string(cfg, "data_dir");
    if (write_listen_addr(data_dir, ac.host, api_server_port(server)))
        log_warn("serve", "cannot write %s/listen.addr: %s", data_dir, strerror(errno));
    api_server_set_ready(server, true);
    log_info("serve", "surge %s serving on http://%s:%d (data dir %s, db %s, store %s)",
             SURGE_VERSION, ac.host, api_server_port(server), data_dir, db_url,
             config_get_string(cfg, "store"));

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("serve", "received %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    /* in the reverse order of start-up: no request in flight, no housekeeping, the stream
     * stopped (its final checkpoint; it calls into the engine after each publish), then the
     * audit flushed (it publishes to the bus), then the forecaster (the engine's source, it
     * reads the stream), the bus and the stores */
    api_server_stop(server);
    housekeeping_stop(&hk);
    stream_stop(st);
    st = NULL;
    if (engine) {
        pricing_stats ps;
        pricing_engine_flush(engine, NULL);
        pricing_engine_stats(engine, &ps);
        pricing_engine_free(engine);
        if (server)
            log_info("serve", "stopped after %llu decisions (%llu audited)",
                     (unsigned long long)ps.computed, (unsigned long long)ps.audit_written);
    }
    model_forecaster_free(forecaster); /* the engine (its source) is gone */
    ingest_free(in);
    event_codec_free(codec);
    bus_close(b);
    feature_store_close(fs);
    store_db_close(db);
    if (server) {
        char path[1024];
        snprintf(path, sizeof path, "%s/listen.addr", config_get_string(cfg, "data_dir"));
        unlink(path);
    }
    config_free(cfg);
    return rc;
}

/* ---------------------------------------------------------------- price */

static int cmd_price(int argc, char **argv)
{
    surge_error err;
    cli_common common;
    config *cfg = cli_config(argc, argv, environ, &common, &err);
    if (!cfg) return fail(&err);
    const char *region = NULL, *product = NULL, *user = "", *at = NULL;
    double lat = NAN, lon = NAN;
    bool json = false;
    feature_set *set = calloc(1, sizeof *set);
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        if (!argv[i]) continue;
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "--region") == 0 || strcmp(a, "--product") == 0 ||
                     strcmp(a, "--user") == 0 || strcmp(a, "--at") == 0 ||
                     strcmp(a, "--lat") == 0 || strcmp(a, "--lon") == 0 ||
                     strcmp(a, "--feature") == 0;
        if (takes && !v) {
            fprintf(stderr, "surge: %s needs a value\n", a);
            goto out;
        }
        if (strcmp(a, "--region") == 0) region = v;
        else if (strcmp(a, "--product") == 0) product = v;
        else if (strcmp(a, "--user") == 0) user = v;
        else if (strcmp(a, "--at") == 0) at = v;
        else if (strcmp(a, "--lat") == 0) lat = strtod(v, NULL);
        else if (strcmp(a, "--lon") == 0) lon = strtod(v, NULL);
        else if (strcmp(a, "--feature") == 0) {
            const char *eq = strchr(v, '=');
            char *end = NULL;
            double d = eq ? strtod(eq + 1, &end) : NAN;
            if (!eq || !end || *end || !isfinite(d) || set->count >= FEATURES_MAX ||
                eq - v >= FEATURE_NAME_MAX) {
                fprintf(stderr, "surge: --feature needs NAME=NUMBER, got '%s'\n", v);
                goto out;
            }
            snprintf(set->values[set->count].name, FEATURE_NAME_MAX, "%.*s", (int)(eq - v), v);
            set->values[set->count++].value = d;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
            argv[i] = NULL;
            continue;
        } else {
            fprintf(stderr, "surge: unknown option '%s'\n\n%s", a, USAGE_PRICE);
            goto out;
        }
        i++;
    }
    if (!product || (!region && (isnan(lat) || isnan(lon)))) {
        fprintf(stderr, "surge: price needs --product and --region (or --lat and --lon)\n\n%s",
                USAGE_PRICE);
        goto out;
    }
    int64_t now = time_now_ms();
    if (at && time_parse(at, &now)) {
        fprintf(stderr, "surge: --at '%s' is not an RFC 3339 time or epoch milliseconds\n", at);
        goto out;
    }
    pricing_request req;
    memset(&req, 0, sizeof req);
    if (region) {
        if (!geohash_valid(region) || strlen(region) >= sizeof req.region_id) {
            fprintf(stderr, "surge: --region '%s' is not a geohash\n", region);
            goto out;
        }
        snprintf(req.region_id, sizeof req.region_id, "%s", region);
    } else if (geohash_encode(lat, lon, (int)config_get_int(cfg, "region.precision"),
                              req.region_id)) {
        fprintf(stderr, "surge: --lat/--lon out of range\n");
        goto out;
    }
    snprintf(req.product_type, sizeof req.product_type, "%s", product);
    snprintf(req.user_id, sizeof req.user_id, "%s", user);

    rc = 1;
    char db_url[1200];
    store_db *db = NULL;
    feature_store *fs = NULL;
    pricing_engine *engine = NULL;
    bool created;
    if (cli_prepare_data_dir(cfg, db_url, sizeof db_url, &err) ||
        !(db = store_db_open(db_url, &err)) || !(fs = feature_store_open("mem:", &err)) ||
        (config_get_bool(cfg, "sample.enabled") && !common.no_sample &&
         cli_sample_city(db, cfg, &created, &err))) {
        rc = fail(&err);
        goto close;
    }
    if (set->count) {
        snprintf(set->region_id, sizeof set->region_id, "%s", req.region_id);
        snprintf(set->source, sizeof set->source, "cli");
        set->event_ts_ms = set->written_ms = now;
        if (feature_store_put(fs, set, 60000, &err)) {
            rc = fail(&err);
            goto close;
        }
    }
    pricing_engine_config pc = {.cache_entries = 0,
                                .cache_ttl_ms = 1000,
                                .valid_for_ms = config_get_int(cfg, "pricing.valid_for_s") * 1000,
                                .audit_disabled = true};
    pricing_decision d;
    if (!(engine = pricing_engine_new(db, fs, &pc, &err)) ||
        pricing_engine_compute(engine, &req, now, &d, &err)) {
        rc = fail(&err);
        goto close;
    }
    if (json) {
        buf b;
        buf_init(&b);
        pricing_decision_write_json(&d, &b);
        puts(b.data);
        buf_free(&b);
    } else {
        const pricing_result *r = &d.result;
        printf("region %s  product %s  rule %lld  local hour %d\n", d.region_id, d.product_type,
               (long long)d.rule_id, r->local_hour);
        printf("price %lld.%02lld = base %lld.%02lld x surge %.4f (rounded to %lld.%02lld)\n",
               (long long)(r->price_cents / 100), (long long)(r->price_cents % 100),
               (long long)(r->base_price_cents / 100), (long long)(r->base_price_cents % 100),
               r->surge_e4 / 1e4, (long long)(d.rounding_cents / 100),
               (long long)(d.rounding_cents % 100));
        printf("  %-12s %9s %9s\n", "factor", "value", "contrib");
        for (int i = 0; i < PRICING_NFACTORS; i++)
            printf("  %-12s %+9.4f %+9.4f\n", PRICING_FACTOR_NAMES[i], r->factor[i],
                   r->contribution_e4[i] / 1e4);
        printf("  %-12s %9s %+9.4f\n", "clip", "", r->clip_e4 / 1e4);
        for (int i = 0; i < PRICING_NGUARDS; i++)
            if (r->guard_acted & (1u << i))
                printf("  %-12s %9s %+9.4f\n", PRICING_GUARD_NAMES[i], "", r->guard_e4[i] / 1e4);
        printf("  %-12s %9s %+9.4f  (= surge - 1)\n", "total", "", (r->surge_e4 - 10000) / 1e4);
        if (d.inputs.fallback) {
            printf("fallback (neutral values used for):");
            for (int i = 0; i < PRICING_NFALLBACKS; i++)
                if (d.inputs.fallback & (1u << i)) printf(" %s", PRICING_FALLBACK_NAMES[i]);
            printf("\n");
        }
    }
    rc = 0;
close:
    pricing_engine_free(engine);
    feature_store_close(fs);
    store_db_close(db);
out:
    free(set);
    config_free(cfg);
    return rc;
}

/* ---------------------------------------------------------------- config, version */

static int cmd_config(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : NULL;
    if (!what || (strcmp(what, "docs") && strcmp(what, "show") && strcmp(what, "check"))) {
        fputs(USAGE_CONFIG, stderr);
        return 2;
    }
    if (strcmp(what, "docs") == 0) {
        config_write_docs(stdout);
        return 0;
    }
    argv[1] = NULL;
    surge_error err;
    cli_common common;
    config *cfg = cli_config(argc, argv, environ, &common, &err);
    if (!cfg) return fail(&err);
    int rc = unknown_flag(argc, argv, USAGE_CONFIG);
    if (!rc && strcmp(what, "show") == 0) config_dump(cfg, stdout);
    if (!rc && strcmp(what, "check") == 0) printf("configuration OK\n");
    config_free(cfg);
    return rc;
}

static int cmd_version(void)
{
    printf("surge %s\n", SURGE_VERSION);
    printf("  sqlite %s, libmicrohttpd %s, jansson %s\n", sqlite3_libversion(),
           MHD_get_version(), JANSSON_VERSION);
    return 0;
}

/* Subcommands that live in their own files (cli.h). */
static const struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} SUBCOMMANDS[] = {
    {"log", cli_log_command, CLI_LOG_USAGE},
    {"replay", cli_replay_command, CLI_REPLAY_USAGE},
    {"simulate", cli_simulate_command, CLI_SIMULATE_USAGE},
    {"train", cli_train_command, CLI_TRAIN_USAGE},
    {"models", cli_models_command, CLI_MODELS_USAGE},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    bool help = argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0);
    if (strcmp(cmd, "serve") == 0) {
        if (help) return fputs(USAGE_SERVE, stdout), 0;
        return cmd_serve(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "price") == 0) {
        if (help) return fputs(USAGE_PRICE, stdout), 0;
        return cmd_price(argc - 1, argv + 1);
    }
    for (size_t i = 0; i < sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0]; i++) {
        if (strcmp(cmd, SUBCOMMANDS[i].name) == 0) {
            if (help) return fputs(SUBCOMMANDS[i].usage, stdout), 0;
            return SUBCOMMANDS[i].run(argc - 1, argv + 1);
        }
    }
    if (strcmp(cmd, "config") == 0) {
        if (help) return fputs(USAGE_CONFIG, stdout), 0;
        return cmd_config(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) return cmd_version();
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        const char *topic = argc > 2 ? argv[2] : "";
        if (strcmp(topic, "serve") == 0) fputs(USAGE_SERVE, stdout);
        else if (strcmp(topic, "price") == 0) fputs(USAGE_PRICE, stdout);
        else if (strcmp(topic, "config") == 0) fputs(USAGE_CONFIG, stdout);
        else {
            const char *usage = USAGE;
            for (size_t i = 0; i < sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0]; i++)
                if (strcmp(topic, SUBCOMMANDS[i].name) == 0) usage = SUBCOMMANDS[i].usage;
            fputs(usage, stdout);
        }
        return 0;
    }
    fprintf(stderr, "surge: unknown command '%s'\n\n%s", cmd, USAGE);
    return 2;
}
