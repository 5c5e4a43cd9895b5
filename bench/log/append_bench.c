/* append_bench.c: raw throughput of the log backend (bench/log/run.sh builds and runs it).
 * Producers: one thread per partition (PARTITIONS of user-events), each appending batches of BATCH
 * records (a 5-byte region key and a VALUE-byte JSON-like value whose ids and padding are
 * pseudo-random, so snappy gains about what it gains on real events) for SECONDS seconds, under
 * each fsync policy and with snappy off and on; plus one run with 4 producers per partition to
 * show group commit sharing fsyncs. The clock stops when bus_close has returned, so data still
 * waiting for the interval fsync is included. Consumers: one thread per partition reads
 * everything back (from the page cache: it was just written), then one thread alone.
 * Prints markdown table rows on stdout.
 * Usage: append_bench DIR SECONDS PARTITIONS BATCH VALUE */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"

typedef struct producer {
    bus *b;
    int partition;
    int64_t deadline_ns;
    int batch, value_len;
    uint64_t records;
    int64_t *latency_ns; /* per batch */
    size_t batches, latency_cap;
    int failed;
    char error[256];
} producer;

static void *produce_main(void *arg)
{
    producer *p = arg;
    char *values = malloc((size_t)p->batch * (size_t)p->value_len);
    bus_record *recs = calloc((size_t)p->batch, sizeof *recs);
    if (!values || !recs) abort();
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    for (int i = 0; i < p->batch; i++) {
        char *v = values + (size_t)i * (size_t)p->value_len;
        char text[512];
        uint64_t r = random_u64();
        int n = snprintf(text, sizeof text,
                         "{\"event_id\":\"%016llx\",\"type\":\"search\",\"region_id\":\"dr5ru\","
                         "\"user_id\":\"u%06d\",\"pad\":\"",
                         (unsigned long long)r, (int)(r % 1000000));
        for (; n < (int)sizeof text - 3; n++)
            text[n] = alphabet[random_u64() % 64];
        memcpy(v, text, (size_t)p->value_len);
        v[p->value_len - 2] = '"';
        v[p->value_len - 1] = '}';
        recs[i].key = "dr5ru";
        recs[i].key_len = 5;
        recs[i].value = v;
        recs[i].value_len = (size_t)p->value_len;
    }
    while (time_mono_ns() < p->deadline_ns) {
        int64_t now_ms = time_now_ms();
        for (int i = 0; i < p->batch; i++)
            recs[i].timestamp_ms = now_ms;
        int64_t t0 = time_mono_ns();
        surge_error err;
        if (bus_produce(p->b, BUS_USER_EVENTS, p->partition, recs, (size_t)p->batch, NULL, &err)) {
            p->failed = 1;
            snprintf(p->error, sizeof p->error, "%s", err.message);
            break;
        }
        int64_t t1 = time_mono_ns();
        if (p->batches == p->latency_cap) {
            p->latency_cap = p->latency_cap ? p->latency_cap * 2 : 4096;
            p->latency_ns = realloc(p->latency_ns, p->latency_cap * sizeof *p->latency_ns);
            if (!p->latency_ns) abort();
        }
        p->latency_ns[p->batches++] = t1 - t0;
        p->records += (uint64_t)p->batch;
    }
    free(values);
    free(recs);
    return NULL;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct consumer_arg {
    bus *b;
    int partition;
    uint64_t records, bytes;
    int failed;
} consumer_arg;

static void *consume_main(void *arg)
{
    consumer_arg *c = arg;
    surge_error err;
    bus_consumer *cons = bus_consumer_open(c->b, BUS_USER_EVENTS, c->partition, 0, &err);
    if (!cons) {
        c->failed = 1;
        return NULL;
    }
    bus_record r;
    int rc;
    while ((rc = bus_consumer_next(cons, &r, &err)) == 1) {
        c->records++;
        c->bytes += r.value_len;
    }
    if (rc < 0) c->failed = 1;
    bus_consumer_close(cons);
    return NULL;
}

static void remove_log(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "append_bench: cannot remove %s\n", dir);
}

/* One producer run plus a read-back; prints its table rows. Returns 0 or 1 on failure. */
static int run(const char *dir, double seconds, int partitions, int per_partition, int batch,
               int value_len, int64_t fsync_interval_ms, bool compress)
{
    int threads = partitions * per_partition;
    remove_log(dir);
    char url[1100];
    snprintf(url, sizeof url, "log://%s", dir);
    bus_config cfg;
    bus_config_defaults(&cfg);
    cfg.fsync_interval_ms = fsync_interval_ms;
    cfg.compress = compress;
    surge_error err;
    bus *b = bus_open(url, &cfg, &err);
    if (!b) {
        fprintf(stderr, "append_bench: %s\n", err.message);
        return 1;
    }
    producer *ps = calloc((size_t)threads, sizeof *ps);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    int64_t start = time_mono_ns();
    for (int t = 0; t < threads; t++) {
        ps[t] = (producer){.b = b,
                           .partition = t % partitions,
                           .deadline_ns = start + (int64_t)(seconds * 1e9),
                           .batch = batch,
                           .value_len = value_len};
        pthread_create(&th[t], NULL, produce_main, &ps[t]);
    }
    uint64_t records = 0;
    size_t nlat = 0;
    int failed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        records += ps[t].records;
        nlat += ps[t].batches;
        if (ps[t].failed) {
            fprintf(stderr, "append_bench: producer %d: %s\n", t, ps[t].error);
            failed = 1;
        }
    }
    bus_stats st;
    bus_get_stats(b, &st);
    bus_close(b); /* includes the last interval fsync */
    double elapsed = (double)(time_mono_ns() - start) / 1e9;
    int64_t *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    size_t k = 0;
    for (int t = 0; t < threads; t++) {
        memcpy(lat + k, ps[t].latency_ns, ps[t].batches * sizeof *lat);
        k += ps[t].batches;
        free(ps[t].latency_ns);
    }
    qsort(lat, nlat, sizeof *lat, compare_i64);
    double p50 = nlat ? (double)lat[nlat / 2] / 1e3 : 0,
           p99 = nlat ? (double)lat[nlat * 99 / 100] / 1e3 : 0;
    free(lat);
    char policy[64];
    if (fsync_interval_ms)
        snprintf(policy, sizeof policy, "every %lld ms", (long long)fsync_interval_ms);
    else
        snprintf(policy, sizeof policy, "every batch");
    char who[64];
    if (per_partition > 1)
        snprintf(who, sizeof who, "%d (%d per partition)", threads, per_partition);
    else
        snprintf(who, sizeof who, "%d", threads);
    printf("| append | fsync %s | %s | %s | %.0f | %.1f | %.1f | %llu | %.0f | %.0f |\n", policy,
           compress ? "snappy" : "off", who, (double)records / elapsed,
           (double)records * value_len / elapsed / 1e6, (double)st.bytes_written / elapsed / 1e6,
           (unsigned long long)st.fsyncs, p50, p99);

    /* Read it back: one consumer thread per partition, then one thread alone. */
    cfg.fsync_interval_ms = 0;
    b = bus_open(url, &cfg, &err);
    if (!b) {
        fprintf(stderr, "append_bench: %s\n", err.message);
        return 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        int readers = pass == 0 ? partitions : 1;
        consumer_arg *cs = calloc((size_t)readers, sizeof *cs);
        int64_t t0 = time_mono_ns();
        for (int t = 0; t < readers; t++) {
            cs[t] = (consumer_arg){.b = b, .partition = t};
            pthread_create(&th[t], NULL, consume_main, &cs[t]);
        }
        uint64_t got = 0;
        for (int t = 0; t < readers; t++) {
            pthread_join(th[t], NULL);
            got += cs[t].records;
            failed |= cs[t].failed;
        }
        double secs = (double)(time_mono_ns() - t0) / 1e9;
        uint64_t want = 0;
        for (int t = 0; t < threads; t++)
            if (ps[t].partition < readers) want += ps[t].records;
        if (got != want) {
            fprintf(stderr, "append_bench: read %llu records, wrote %llu\n",
                    (unsigned long long)got, (unsigned long long)want);
            failed = 1;
        }
        printf("| consume | written with fsync %s | %s | %d | %.0f | %.1f | | | | |\n", policy,
               compress ? "snappy" : "off", readers, (double)got / secs,
               (double)got * value_len / secs / 1e6);
        free(cs);
    }
    bus_close(b);
    fflush(stdout);
    free(ps);
    free(th);
    remove_log(dir);
    return failed;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: append_bench DIR SECONDS PARTITIONS BATCH VALUE\n");
        return 2;
    }
    const char *dir = argv[1];
    double seconds = atof(argv[2]);
    int partitions = atoi(argv[3]), batch = atoi(argv[4]), value_len = atoi(argv[5]);
    if (seconds <= 0 || partitions < 1 || partitions > BUS_PARTITIONS || batch < 1 ||
        value_len < 64) {
        fprintf(stderr, "append_bench: bad arguments\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    int failed = 0;
    failed |= run(dir, seconds, partitions, 1, batch, value_len, 0, false);
    failed |= run(dir, seconds, partitions, 1, batch, value_len, 0, true);
    failed |= run(dir, seconds, partitions, 4, batch, value_len, 0, false);
    failed |= run(dir, seconds, partitions, 1, batch, value_len, 100, false);
    failed |= run(dir, seconds, partitions, 1, batch, value_len, 100, true);
    return failed;
}
