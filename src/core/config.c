/* config.c: every configuration key surge knows, with its type, default, range and one line of
 * documentation. docs/configuration.md is generated from this table (`surge config docs`) and a
 * test keeps the two identical. */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct config_key {
    const char *name;
    config_type type;
    const char *def;
    double min, max; /* numeric range; ignored for strings and booleans */
    const char *doc;
} config_key;

static const config_key KEYS[] = {
    {"listen", CONFIG_STRING, "0.0.0.0:8080", 0, 0,
     "HOST:PORT the HTTP API and portal listen on (port 0 picks a free port)."},
    {"data_dir", CONFIG_STRING, "./data", 0, 0,
     "Directory for everything surge stores: database, logs, models. Created if missing."},
    {"db", CONFIG_STRING, "", 0, 0,
     "Relational store URL. Empty means `sqlite://<data_dir>/surge.db`."},
    {"store", CONFIG_STRING, "mem:", 0, 0,
     "Online feature store URL. `mem:` keeps features in process."},
    {"bus", CONFIG_STRING, "", 0, 0,
     "Event bus URL. Empty means `log://<data_dir>/log`, surge's own durable log."},
    {"bus.fsync_interval_ms", CONFIG_INT, "0", 0, 60000,
     "0: an event is acknowledged only after its batch is fsynced. N: fsync at least every N ms "
     "(a crash can lose the last N ms of acknowledged events)."},
    {"bus.retention_hours", CONFIG_INT, "168", 1, 876000,
     "Log segments whose newest record is older than this are deleted."},
    {"bus.retention_bytes", CONFIG_INT, "0", 0, 1099511627776,
     "Per-partition size limit of the log; the oldest segments go first. 0: no limit."},
    {"bus.segment_bytes", CONFIG_INT, "67108864", 65536, 4294967296,
     "A partition's log rolls to a new segment file past this size."},
    {"bus.compress", CONFIG_BOOL, "true", 0, 0, "Compress log batches with snappy."},
    {"ingest.max_events", CONFIG_INT, "10000", 1, 1000000, "Events accepted in one request."},
    {"ingest.max_body_bytes", CONFIG_INT, "33554432", 1024, 1073741824,
     "Largest POST /api/v1/events body; larger bodies get 413."},
    {"ingest.dedup_window_s", CONFIG_INT, "86400", 1, 31536000,
     "An event_id seen within this many seconds is a duplicate (also across restarts)."},
    {"ingest.dedup_max_entries", CONFIG_INT, "4000000", 1024, 1000000000,
     "Event ids remembered at most (16 bytes each); past it the window shrinks, see "
     "surge_ingest_dedup_window_seconds."},
    {"ingest.user_per_min", CONFIG_INT, "1000", 0, 100000000,
     "Events per minute per user_id (token bucket). 0 disables the limit."},
    {"ingest.region_per_min", CONFIG_INT, "120000", 0, 1000000000,
     "Events per minute per region. 0 disables the limit."},
    {"http.threads", CONFIG_INT, "0", 0, 256,
     "HTTP worker threads (one epoll loop each). 0 means one per CPU core."},
    {"http.max_connections", CONFIG_INT, "10000", 1, 1000000,
     "Open connections accepted at once; more are refused."},
    {"http.max_body_bytes", CONFIG_INT, "1048576", 64, 268435456,
     "Largest request body accepted; larger bodies get 413."},
    {"http.max_header_bytes", CONFIG_INT, "8192", 1024, 1048576,
     "Largest request line plus headers accepted; larger requests get 431."},
    {"http.idle_timeout_s", CONFIG_INT, "60", 1, 86400,
     "Seconds a keep-alive connection may stay idle before it is closed."},
    {"admin.token", CONFIG_STRING, "", 0, 0,
     "Bearer token for /api/v1/admin. Empty: a random token is created in "
     "<data_dir>/admin.token on first start and read from there after."},
    {"sample.enabled", CONFIG_BOOL, "true", 0, 0,
     "Create the sample city in an empty database (same as omitting --no-sample)."},
    {"sample.center_lat", CONFIG_DOUBLE, "40.7580", -90, 90, "Latitude of the sample city's centre."},
    {"sample.center_lon", CONFIG_DOUBLE, "-73.9855", -180, 180,
     "Longitude of the sample city's centre."},
    {"sample.grid", CONFIG_INT, "8", 1, 64, "The sample city is a grid x grid block of cells."},
    {"sample.timezone", CONFIG_STRING, "America/New_York", 0, 0,
     "IANA time zone of the sample regions."},
    {"region.precision", CONFIG_INT, "5", 1, 12,
     "Geohash precision of a region; lat/lon requests map to the cell of this size."},
    {"cache.l1_entries", CONFIG_INT, "10000", 0, 10000000,
     "Entries in the in-process price cache (LRU). 0 disables it."},
    {"cache.l1_ttl_s", CONFIG_INT, "30", 1, 3600, "Seconds a cached price stays valid."},
    {"ratelimit.user_per_min", CONFIG_INT, "1000", 0, 100000000,
     "Price requests per minute per user_id (token bucket). 0 disables the limit."},
    {"ratelimit.ip_per_min", CONFIG_INT, "5000", 0, 100000000,
     "Price requests per minute per client IP. 0 disables the limit."},
    {"ratelimit.global_per_s", CONFIG_INT, "50000", 0, 100000000,
     "Price requests per second for the whole process. 0 disables the limit."},
    {"audit.flush_ms", CONFIG_INT, "50", 1, 60000,
     "The audit writer commits at least this often: a crash loses at most this many "
     "milliseconds of decisions."},
    {"audit.queue_capacity", CONFIG_INT, "32768", 1024, 67108864,
     "Decisions waiting to be written; when full, compute waits (it never drops a decision)."},
    {"audit.retention_hours", CONFIG_INT, "168", 0, 876000,
     "Audit rows older than this are deleted (checked every minute). 0 keeps them forever."},
    {"pricing.valid_for_s", CONFIG_INT, "120", 1, 86400, "Seconds a quoted price is valid (valid_until)."},
    {"features.ttl_s", CONFIG_INT, "120", 1, 31536000,
     "Seconds features stay in the online store after they were written."},
    {"stream.enabled", CONFIG_BOOL, "true", 0, 0,
     "Run the stream processor in `surge serve`: input topics -> windows -> live features."},
    {"stream.allowed_lateness_s", CONFIG_INT, "30", 0, 86400,
     "Event-time lateness allowed: a window closes when the watermark (the slowest active "
     "partition's latest event time) passes its end plus this. Later events are counted in "
     "surge_stream_late_events_total and written to <data_dir>/stream/late-events.ndjson."},
    {"stream.idle_timeout_s", CONFIG_INT, "10", 1, 86400,
     "A partition without new events for this long stops holding the watermark back."},
    {"stream.session_gap_min", CONFIG_INT, "30", 1, 1440,
     "A user's session ends after this many minutes without an event."},
    {"stream.driver_stale_s", CONFIG_INT, "900", 10, 86400,
     "A driver not heard of (location or status) for this long no longer counts as supply."},
    {"stream.publish_interval_ms", CONFIG_INT, "200", 10, 60000,
     "Features of regions with new events are written to the online store this often."},
    {"stream.refresh_interval_s", CONFIG_INT, "10", 1, 3600,
     "Features of every region are rewritten this often (rolling windows, TTL)."},
    {"stream.checkpoint_interval_s", CONFIG_INT, "10", 0, 86400,
     "Stream state and consumed offsets are snapshotted together this often (0: never)."},
    {"model.name", CONFIG_STRING, "demand", 0, 0,
     "The registered model whose live version forecasts demand for pricing and "
     "GET /api/v1/forecast/demand."},
    {"model.guard_interval_s", CONFIG_INT, "30", 1, 3600,
     "How often served forecasts are scored against realised demand and the canary guard "
     "decides (advance 10 -> 50 -> 100 -> live, or roll back)."},
    {"model.canary_min_samples", CONFIG_INT, "200", 1, 100000000,
     "Scored forecasts needed from both the live version and the canary before the guard "
     "decides."},
    {"portal.users", CONFIG_STRING, "", 0, 0,
     "Portal users as `name:role:hash,...`; role admin or viewer; hash "
     "`pbkdf2-sha256$ITERATIONS$SALTHEX$HASHHEX` or `sha256$SALTHEX$HASHHEX` (docs/portal.md). "
     "The admin token also logs in, as an admin."},
    {"portal.session_ttl_s", CONFIG_INT, "28800", 1, 2592000,
     "A portal session ends after this many seconds without a request."},
    {"portal.live_max_clients", CONFIG_INT, "64", 1, 10000,
     "Live (SSE) streams open at once; more get 503. Each also holds an HTTP connection."},
    {"log.level", CONFIG_STRING, "info", 0, 0, "debug, info, warn or error."},
    {"log.access", CONFIG_BOOL, "false", 0, 0, "Log one line per HTTP request (with its trace_id)."},
};

#define NKEYS (sizeof KEYS / sizeof KEYS[0])

struct config {
    char *values[NKEYS];
};

static int key_index(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].name, name) == 0) return (int)i;
    return -1;
}

config *config_new(void)
{
    config *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    for (size_t i = 0; i < NKEYS; i++) c->values[i] = strdup(KEYS[i].def);
    return c;
}

void config_free(config *c)
{
    if (!c) return;
    for (size_t i = 0; i < NKEYS; i++) free(c->values[i]);
    free(c);
}

static int validate(const config_key *k, const char *value, const char *origin, surge_error *err)
{
    char *end;
    switch (k->type) {
    case CONFIG_STRING:
        if (strcmp(k->name, "log.level") == 0) {
            log_level l;
            if (log_parse_level(value, &l))
                return surge_fail(err, SURGE_EINVAL, k->name,
                                  "%s: %s = '%s': must be one of debug, info, warn, error", origin,
                                  k->name, value);
        }
        return 0;
    case CONFIG_BOOL:
        if (strcmp(value, "true") && strcmp(value, "false") && strcmp(value, "1") &&
            strcmp(value, "0") && strcmp(value, "yes") && strcmp(value, "no"))
            return surge_fail(err, SURGE_EINVAL, k->name,
                              "%s: %s = '%s': must be true or false", origin, k->name, value);
        return 0;
    case CONFIG_INT: {
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno)
            return surge_fail(err, SURGE_EINVAL, k->name, "%s: %s = '%s': must be an integer",
                              origin, k->name, value);
        if ((double)v < k->min || (double)v > k->max)
            return surge_fail(err, SURGE_EINVAL, k->name,
                              "%s: %s = %lld: must be between %.0f and %.0f", origin, k->name, v,
                              k->min, k->max);
        return 0;
    }
    case CONFIG_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v))
            return surge_fail(err, SURGE_EINVAL, k->name, "%s: %s = '%s': must be a number",
                              origin, k->name, value);
        if (v < k->min || v > k->max)
            return surge_fail(err, SURGE_EINVAL, k->name,
                              "%s: %s = %g: must be between %g and %g", origin, k->name, v, k->min,
                              k->max);
        return 0;
    }
    }
    return 0;
}

int config_set(config *c, const char *key, const char *value, const char *origin,
               surge_error *err)
{
    int i = key_index(key);
    if (i < 0)
        return surge_fail(err, SURGE_EINVAL, key,
                          "%s: unknown configuration key '%s' (see docs/configuration.md or "
                          "`surge config docs`)",
                          origin, key);
    if (validate(&KEYS[i], value, origin, err)) return SURGE_EINVAL;
    char *copy = strdup(value);
    if (!copy) return surge_fail(err, SURGE_EINTERNAL, key, "out of memory");
    free(c->values[i]);
    c->values[i] = copy;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

int config_load_file(config *c, const char *path, surge_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return surge_fail(err, SURGE_EIO, "config", "cannot open config file %s: %s", path,
                          strerror(errno));
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char origin[300];
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = surge_fail(err, SURGE_EPARSE, "config", "%s: line longer than %zu bytes", origin,
                            sizeof line - 2);
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = surge_fail(err, SURGE_EPARSE, "config",
                            "%s: expected `key = value`, got '%s'", origin, s);
            break;
        }
        *eq = 0;
        char *key = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = 0;
            value++;
        }
        if ((rc = config_set(c, key, value, origin, err))) break;
    }
    if (!rc && ferror(f))
        rc = surge_fail(err, SURGE_EIO, "config", "error reading %s", path);
    fclose(f);
    return rc;
}

int config_load_env(config *c, char **envp, surge_error *err)
{
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, "SURGE_", 6) != 0) continue;
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        char var[128];
        size_t n = (size_t)(eq - *e);
        if (n >= sizeof var) n = sizeof var - 1;
        memcpy(var, *e, n);
        var[n] = 0;
        if (strcmp(var, "SURGE_CONFIG") == 0) continue;
        int found = -1;
        for (size_t i = 0; i < NKEYS && found < 0; i++) {
            char want[128] = "SURGE_";
            size_t k = 6;
            for (const char *p = KEYS[i].name; *p && k < sizeof want - 1; p++)
                want[k++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
            want[k] = 0;
            if (strcmp(want, var) == 0) found = (int)i;
        }
        if (found < 0)
            return surge_fail(err, SURGE_EINVAL, var,
                              "environment variable %s does not name a configuration key "
                              "(SURGE_ + key upper-cased, dots as underscores)",
                              var);
        if (config_set(c, KEYS[found].name, eq + 1, var, err)) return SURGE_EINVAL;
    }
    return 0;
}

static const char *value_of(const config *c, const char *key, config_type type)
{
    int i = key_index(key);
    if (i < 0 || KEYS[i].type != type) {
        /* a typo in surge's own code, not user input: fail loudly in every build */
        fprintf(stderr, "surge: internal error: config key '%s' read with the wrong type\n", key);
        abort();
    }
    return c->values[i];
}

const char *config_get_string(const config *c, const char *key)
{
    return value_of(c, key, CONFIG_STRING);
}

int64_t config_get_int(const config *c, const char *key)
{
    return strtoll(value_of(c, key, CONFIG_INT), NULL, 10);
}

double config_get_double(const config *c, const char *key)
{
    return strtod(value_of(c, key, CONFIG_DOUBLE), NULL);
}

bool config_get_bool(const config *c, const char *key)
{
    const char *v = value_of(c, key, CONFIG_BOOL);
    return strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0;
}

void config_write_docs(FILE *out)
{
    static const char *types[] = {"string", "integer", "number", "boolean"};
    fputs("# Configuration\n\n"
          "surge reads a flat `key = value` file (`surge serve --config FILE`, or the file named by\n"
          "`SURGE_CONFIG`), then `SURGE_*` environment variables (the key upper-cased with dots as\n"
          "underscores: `http.threads` is `SURGE_HTTP_THREADS`), then command-line flags\n"
          "(`--listen`, `--data-dir`, `--set key=value`). Later sources win. An unknown key or a\n"
          "value of the wrong type or out of range stops start-up with the key, the value and the\n"
          "rule it broke. `surge config show` prints the effective configuration.\n\n"
          "This page is generated by `surge config docs`; a test keeps it identical.\n\n"
          "| key | type | default | range | description |\n"
          "|---|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < NKEYS; i++) {
        const config_key *k = &KEYS[i];
        char range[64] = "";
        if (k->type == CONFIG_INT) snprintf(range, sizeof range, "%.0f .. %.0f", k->min, k->max);
        if (k->type == CONFIG_DOUBLE) snprintf(range, sizeof range, "%g .. %g", k->min, k->max);
        fprintf(out, "| `%s` | %s | `%s` | %s | %s |\n", k->name, types[k->type],
                *k->def ? k->def : "\"\"", range, k->doc);
    }
}

void config_dump(const config *c, FILE *out)
{
    for (size_t i = 0; i < NKEYS; i++) {
        bool secret = strstr(KEYS[i].name, "token") != NULL && *c->values[i];
        fprintf(out, "%s = %s\n", KEYS[i].name, secret ? "********" : c->values[i]);
    }
}
