/* metrics.c: Prometheus counters and histograms. Each worker thread counts into its own shard
 * (no shared cache lines on the hot path); a scrape sums the shards. */
#include "api_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHARDS 64

static const int STATUS_CODES[METRIC_STATUS_MAX] = {200, 201, 204, 400, 401, 403, 404, 405, 409,
                                                     413, 415, 422, 429, 431, 500, 503, 0};
/* bucket upper bounds in nanoseconds; the last is +Inf */
static const int64_t BUCKET_NS[METRIC_BUCKETS] = {
    50000,    100000,    250000,    500000,     1000000,    2500000,    5000000,
    10000000, 25000000,  50000000,  100000000,  250000000,  1000000000, INT64_MAX};
static const char *const BUCKET_LABELS[METRIC_BUCKETS] = {
    "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
    "0.01",  "0.025",  "0.05",    "0.1",    "0.25",  "1",      "+Inf"};

typedef struct shard {
    _Atomic uint64_t requests[METRIC_ROUTES_MAX][METRIC_STATUS_MAX];
    _Atomic uint64_t buckets[METRIC_ROUTES_MAX][METRIC_BUCKETS];
    _Atomic uint64_t sum_ns[METRIC_ROUTES_MAX];
    _Atomic uint64_t rate_limited[3];
    _Atomic uint64_t guardrails[PRICING_NGUARDS];
    _Atomic uint64_t fallbacks[PRICING_NFALLBACKS];
} shard;

static shard *shards;
static _Atomic int next_shard;
static _Thread_local int my_shard = -1;

void metrics_init(void)
{
    if (!shards) shards = calloc(SHARDS, sizeof *shards);
    if (!shards) abort();
}

static shard *local(void)
{
    if (my_shard < 0) my_shard = atomic_fetch_add(&next_shard, 1) % SHARDS;
    return &shards[my_shard];
}

static int status_index(int status)
{
    for (int i = 0; STATUS_CODES[i]; i++)
        if (STATUS_CODES[i] == status) return i;
    return METRIC_STATUS_MAX - 1; /* "other" */
}

void metrics_observe(int route, int status, int64_t latency_ns)
{
    if (!shards || route < 0 || route >= METRIC_ROUTES_MAX) return;
    shard *s = local();
    atomic_fetch_add_explicit(&s->requests[route][status_index(status)], 1,
                              memory_order_relaxed);
    int b = 0;
    while (latency_ns > BUCKET_NS[b]) b++;
    atomic_fetch_add_explicit(&s->buckets[route][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_ns[route], (uint64_t)latency_ns, memory_order_relaxed);
}

void metrics_count_rate_limited(int scope)
{
    if (shards && scope >= 0 && scope < 3)
        atomic_fetch_add_explicit(&local()->rate_limited[scope], 1, memory_order_relaxed);
}

void metrics_count_guardrail(int guard)
{
    if (shards && guard >= 0 && guard < PRICING_NGUARDS)
        atomic_fetch_add_explicit(&local()->guardrails[guard], 1, memory_order_relaxed);
}

void metrics_count_fallback(int bit)
{
    if (shards && bit >= 0 && bit < PRICING_NFALLBACKS)
        atomic_fetch_add_explicit(&local()->fallbacks[bit], 1, memory_order_relaxed);
}

static uint64_t sum(const _Atomic uint64_t *first, size_t stride_bytes)
{
    uint64_t total = 0;
    for (int i = 0; i < SHARDS; i++)
        total += atomic_load_explicit(
            (const _Atomic uint64_t *)(const void *)((const char *)first + i * stride_bytes),
            memory_order_relaxed);
    return total;
}

#define SUM(field) sum(&shards[0].field, sizeof(shard))

static long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

void metrics_write(buf *out, int nroutes, const char *const *route_names,
                   const char *const *route_methods, const pricing_stats *ps, int64_t start_ms)
{
    buf_puts(out, "# HELP surge_http_requests_total HTTP requests answered, by route, method and "
                  "status.\n# TYPE surge_http_requests_total counter\n");
    for (int r = 0; r <= nroutes && r < METRIC_ROUTES_MAX; r++) {
        for (int st = 0; st < METRIC_STATUS_MAX; st++) {
            if (st < METRIC_STATUS_MAX - 1 && !STATUS_CODES[st]) continue;
            uint64_t v = SUM(requests[r][st]);
            if (!v) continue;
            char code[8] = "other";
            if (st != METRIC_STATUS_MAX - 1) snprintf(code, sizeof code, "%d", STATUS_CODES[st]);
            buf_printf(out,
                       "surge_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} "
                       "%llu\n",
                       route_names[r], route_methods[r], code, (unsigned long long)v);
        }
    }
    buf_puts(out, "# HELP surge_http_request_duration_seconds Time from the request's first byte "
                  "to its response, by route.\n"
                  "# TYPE surge_http_request_duration_seconds histogram\n");
    for (int r = 0; r <= nroutes && r < METRIC_ROUTES_MAX; r++) {
        uint64_t cum = 0, count = 0;
        for (int b = 0; b < METRIC_BUCKETS; b++) count += SUM(buckets[r][b]);
        if (!count) continue;
        for (int b = 0; b < METRIC_BUCKETS; b++) {
            cum += SUM(buckets[r][b]);
            buf_printf(out,
                       "surge_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
                       "le=\"%s\"} %llu\n",
                       route_names[r], route_methods[r], BUCKET_LABELS[b],
                       (unsigned long long)cum);
        }
        buf_printf(out,
                   "surge_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.9f\n"
                   "surge_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} "
                   "%llu\n",
                   route_names[r], route_methods[r], SUM(sum_ns[r]) / 1e9, route_names[r],
                   route_methods[r], (unsigned long long)count);
    }
    static const char *scopes[3] = {"user", "ip", "global"};
    buf_puts(out, "# HELP surge_rate_limited_total Price requests refused with 429, by limit.\n"
                  "# TYPE surge_rate_limited_total counter\n");
    for (int i = 0; i < 3; i++)
        buf_printf(out, "surge_rate_limited_total{scope=\"%s\"} %llu\n", scopes[i],
                   (unsigned long long)SUM(rate_limited[i]));
    buf_puts(out, "# HELP surge_guardrail_actions_total Computed prices a guardrail changed.\n"
                  "# TYPE surge_guardrail_actions_total counter\n");
    for (int i = 0; i < PRICING_NGUARDS; i++)
        buf_printf(out, "surge_guardrail_actions_total{guardrail=\"%s\"} %llu\n",
                   PRICING_GUARD_NAMES[i], (unsigned long long)SUM(guardrails[i]));
    buf_puts(out, "# HELP surge_pricing_fallback_total Computed prices that used a neutral value "
                  "for a missing input.\n# TYPE surge_pricing_fallback_total counter\n");
    for (int i = 0; i < PRICING_NFALLBACKS; i++)
        buf_printf(out, "surge_pricing_fallback_total{input=\"%s\"} %llu\n",
                   PRICING_FALLBACK_NAMES[i], (unsigned long long)SUM(fallbacks[i]));
    buf_printf(out,
               "# HELP surge_pricing_decisions_total Prices computed (cached or not).\n"
               "# TYPE surge_pricing_decisions_total counter\n"
               "surge_pricing_decisions_total %llu\n"
               "# HELP surge_price_cache_hits_total L1 price cache hits.\n"
               "# TYPE surge_price_cache_hits_total counter\n"
               "surge_price_cache_hits_total %llu\n"
               "# HELP surge_price_cache_misses_total L1 price cache misses.\n"
               "# TYPE surge_price_cache_misses_total counter\n"
               "surge_price_cache_misses_total %llu\n"
               "# HELP surge_price_cache_entries Entries in the L1 price cache.\n"
               "# TYPE surge_price_cache_entries gauge\n"
               "surge_price_cache_entries %zu\n"
               "# HELP surge_audit_queue_depth Decisions waiting for the audit writer.\n"
               "# TYPE surge_audit_queue_depth gauge\n"
               "surge_audit_queue_depth %zu\n"
               "# HELP surge_audit_written_total Decisions written to audit_logs.\n"
               "# TYPE surge_audit_written_total counter\n"
               "surge_audit_written_total %llu\n"
               "# HELP surge_audit_expired_total Audit rows deleted by retention.\n"
               "# TYPE surge_audit_expired_total counter\n"
               "surge_audit_expired_total %llu\n"
               "# HELP surge_audit_write_failures_total Failed audit batch writes (retried).\n"
               "# TYPE surge_audit_write_failures_total counter\n"
               "surge_audit_write_failures_total %llu\n"
               "# HELP process_resident_memory_bytes Resident memory.\n"
               "# TYPE process_resident_memory_bytes gauge\n"
               "process_resident_memory_bytes %ld\n"
               "# HELP process_start_time_seconds Start time since the epoch.\n"
               "# TYPE process_start_time_seconds gauge\n"
               "process_start_time_seconds %.3f\n"
               "# HELP surge_build_info Version of this build.\n"
               "# TYPE surge_build_info gauge\n"
               "surge_build_info{version=\"%s\"} 1\n",
               (unsigned long long)ps->computed, (unsigned long long)ps->cache_hits,
               (unsigned long long)ps->cache_misses, ps->cache_size, ps->audit_queue_depth,
               (unsigned long long)ps->audit_written, (unsigned long long)ps->audit_expired,
               (unsigned long long)ps->audit_failed,
               resident_bytes(), start_ms / 1000.0, SURGE_VERSION);
}

int64_t metrics_route_quantile_ns(int route, double q, uint64_t *prev)
{
    if (!shards || route < 0 || route >= METRIC_ROUTES_MAX) return 0;
    uint64_t delta[METRIC_BUCKETS], total = 0;
    for (int b = 0; b < METRIC_BUCKETS; b++) {
        uint64_t now = SUM(buckets[route][b]);
        delta[b] = now - prev[b];
        prev[b] = now;
        total += delta[b];
    }
    if (!total) return 0;
    uint64_t rank = (uint64_t)(q * (double)total), cum = 0;
    for (int b = 0; b < METRIC_BUCKETS; b++) {
        cum += delta[b];
        /* the +Inf bucket reports the largest finite bound */
        if (cum > rank || b == METRIC_BUCKETS - 1)
            return BUCKET_NS[b] == INT64_MAX ? BUCKET_NS[METRIC_BUCKETS - 2] : BUCKET_NS[b];
    }
    return 0;
}
