/* bus.c: the bus's public functions. Checks every argument once, picks the backend by the URL's
 * scheme and dispatches through its table of function pointers (bus_backend.h), so backends
 * only ever see valid input. */
#include "bus_backend.h"

#include <stdlib.h>
#include <string.h>

const char *const BUS_TOPIC_NAMES[BUS_NTOPICS] = {
    "user-events",    "supply-events",     "external-events",
    "demand-signals", "pricing-decisions", "system-events",
};

static const bus_backend *const backends[] = {&bus_log_backend};

struct bus {
    const bus_backend *ops;
    void *impl;
};

struct bus_consumer {
    const bus_backend *ops;
    void *impl;
};

int bus_topic_from_name(const char *name)
{
    if (!name) return -1;
    for (int t = 0; t < BUS_NTOPICS; t++)
        if (strcmp(name, BUS_TOPIC_NAMES[t]) == 0) return t;
    return -1;
}

int bus_partition_for_key(const void *key, size_t len)
{
    /* Kafka: Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions. */
    return (int)((hash_murmur2(key, len) & 0x7fffffffu) % BUS_PARTITIONS);
}

void bus_config_defaults(bus_config *cfg)
{
    cfg->fsync_interval_ms = 0;
    cfg->retention_ms = 7LL * 24 * 3600 * 1000;
    cfg->retention_bytes = 0;
    cfg->segment_bytes = 64LL * 1024 * 1024;
    cfg->compress = true;
    cfg->read_only = false;
}

static bool url_has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncmp(url, scheme, n) == 0 && url[n] == ':';
}

static int check_config(const bus_config *cfg, surge_error *err)
{
    if (cfg->fsync_interval_ms < 0)
        return surge_fail(err, SURGE_EINVAL, "fsync_interval_ms",
                          "bus fsync interval must be >= 0 ms (0 = fsync every batch), got %lld",
                          (long long)cfg->fsync_interval_ms);
    if (cfg->retention_ms < 0)
        return surge_fail(err, SURGE_EINVAL, "retention_ms",
                          "bus retention must be >= 0 ms (0 = keep forever), got %lld",
                          (long long)cfg->retention_ms);
    if (cfg->retention_bytes < 0)
        return surge_fail(err, SURGE_EINVAL, "retention_bytes",
                          "bus retention bytes must be >= 0 (0 = no size limit), got %lld",
                          (long long)cfg->retention_bytes);
    if (cfg->segment_bytes < 1024)
        return surge_fail(err, SURGE_EINVAL, "segment_bytes",
                          "bus segment size must be >= 1024 bytes, got %lld",
                          (long long)cfg->segment_bytes);
    return 0;
}

bus *bus_open(const char *url, const bus_config *cfg, surge_error *err)
{
    if (!url || !*url) {
        surge_fail(err, SURGE_EINVAL, "bus", "bus URL is empty");
        return NULL;
    }
    bus_config defaults;
    if (!cfg) {
        bus_config_defaults(&defaults);
        cfg = &defaults;
    }
    if (check_config(cfg, err)) return NULL;
    const bus_backend *ops = NULL;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (url_has_scheme(url, backends[i]->scheme)) ops = backends[i];
    if (!ops) {
        char schemes[128] = "";
        for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
            snprintf(schemes + strlen(schemes), sizeof schemes - strlen(schemes), "%s%s",
                     i ? ", " : "", backends[i]->url_forms);
        surge_fail(err, SURGE_EINVAL, "bus",
                   "bus URL \"%s\" has an unsupported scheme; supported: %s", url, schemes);
        return NULL;
    }
    bus *b = calloc(1, sizeof *b);
    if (!b) {
        surge_fail(err, SURGE_EINTERNAL, "bus", "out of memory opening %s", url);
        return NULL;
    }
    b->ops = ops;
    b->impl = ops->open(url, cfg, err);
    if (!b->impl) {
        free(b);
        return NULL;
    }
    return b;
}

void bus_close(bus *b)
{
    if (!b) return;
    b->ops->close(b->impl);
    free(b);
}

static int check_place(bus_topic topic, int partition, surge_error *err)
{
    if ((int)topic < 0 || topic >= BUS_NTOPICS)
        return surge_fail(err, SURGE_EINVAL, "topic", "topic %d is not one of the %d bus topics",
                          (int)topic, BUS_NTOPICS);
    if (partition < 0 || partition >= BUS_PARTITIONS)
        return surge_fail(err, SURGE_EINVAL, "partition", "partition %d of %s is outside 0..%d",
                          partition, BUS_TOPIC_NAMES[topic], BUS_PARTITIONS - 1);
    return 0;
}

static int check_record(const bus_record *r, size_t i, surge_error *err)
{
    if (r->key_len > 0 && !r->key)
        return surge_fail(err, SURGE_EINVAL, "key", "record %zu has key_len %zu but no key", i,
                          r->key_len);
    if (r->value_len > 0 && !r->value)
        return surge_fail(err, SURGE_EINVAL, "value", "record %zu has value_len %zu but no value",
                          i, r->value_len);
    if (r->timestamp_ms < 0)
        return surge_fail(err, SURGE_EINVAL, "timestamp_ms",
                          "record %zu has a negative timestamp (%lld ms); 0 means now", i,
                          (long long)r->timestamp_ms);
    if (r->header_count < 0 || r->header_count > BUS_MAX_HEADERS)
        return surge_fail(err, SURGE_EINVAL, "headers",
                          "record %zu has %d headers; a record carries 0..%d", i, r->header_count,
                          BUS_MAX_HEADERS);
    for (int h = 0; h < r->header_count; h++) {
        const bus_header *hd = &r->headers[h];
        if (!hd->name)
            return surge_fail(err, SURGE_EINVAL, "headers", "record %zu header %d has no name", i,
                              h);
        if (hd->value_len > 0 && !hd->value)
            return surge_fail(err, SURGE_EINVAL, "headers",
                              "record %zu header \"%s\" has value_len %zu but no value", i,
                              hd->name, hd->value_len);
    }
    return 0;
}

int bus_produce(bus *b, bus_topic topic, int partition, const bus_record *records, size_t n,
                int64_t *base_offset, surge_error *err)
{
    int rc = check_place(topic, partition, err);
    if (rc) return rc;
    if (!records || n == 0)
        return surge_fail(err, SURGE_EINVAL, "records", "produce needs at least one record");
    for (size_t i = 0; i < n; i++)
        if ((rc = check_record(&records[i], i, err))) return rc;
    return b->ops->produce(b->impl, topic, partition, records, n, base_offset, err);
}

int bus_produce_many(bus *b, bus_batch *batches, size_t n, surge_error *err)
{
    if (!b) return surge_fail(err, SURGE_EINVAL, "bus", "no bus");
    for (size_t i = 0; i < n; i++) {
        bus_batch *bt = &batches[i];
        bt->base_offset = -1;
        bt->error = check_place(bt->topic, bt->partition, err);
        if (!bt->error && (!bt->records || bt->count == 0))
            bt->error = surge_fail(err, SURGE_EINVAL, "records",
                                   "produce needs at least one record");
        for (size_t k = 0; !bt->error && k < bt->count; k++)
            bt->error = check_record(&bt->records[k], k, err);
        if (bt->error) return bt->error;
    }
    if (b->ops->produce_many) return b->ops->produce_many(b->impl, batches, n, err);
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        bus_batch *bt = &batches[i];
        surge_error e;
        bt->error = b->ops->produce(b->impl, bt->topic, bt->partition, bt->records, bt->count,
                                    &bt->base_offset, &e);
        if (bt->error) {
            bt->base_offset = -1;
            if (!first && err) *err = e;
            if (!first) first = bt->error;
        }
    }
    return first;
}

int bus_end_offset(bus *b, bus_topic topic, int partition, int64_t *end, surge_error *err)
{
    int rc = check_place(topic, partition, err);
    if (rc) return rc;
    return b->ops->end_offset(b->impl, topic, partition, end, err);
}

int bus_start_offset(bus *b, bus_topic topic, int partition, int64_t *start, surge_error *err)
{
    int rc = check_place(topic, partition, err);
    if (rc) return rc;
    return b->ops->start_offset(b->impl, topic, partition, start, err);
}

int bus_offset_for_time(bus *b, bus_topic topic, int partition, int64_t ts_ms, int64_t *offset,
                        surge_error *err)
{
    int rc = check_place(topic, partition, err);
    if (rc) return rc;
    return b->ops->offset_for_time(b->impl, topic, partition, ts_ms, offset, err);
}

bus_consumer *bus_consumer_open(bus *b, bus_topic topic, int partition, int64_t from_offset,
                                surge_error *err)
{
    if (check_place(topic, partition, err)) return NULL;
    if (from_offset < 0) {
        surge_fail(err, SURGE_EINVAL, "offset", "consumer offset must be >= 0, got %lld",
                   (long long)from_offset);
        return NULL;
    }
    bus_consumer *c = calloc(1, sizeof *c);
    if (!c) {
        surge_fail(err, SURGE_EINTERNAL, "bus", "out of memory opening a consumer");
        return NULL;
    }
    c->ops = b->ops;
    c->impl = b->ops->consumer_open(b->impl, topic, partition, from_offset, err);
    if (!c->impl) {
        free(c);
        return NULL;
    }
    return c;
}

int bus_consumer_next(bus_consumer *c, bus_record *out, surge_error *err)
{
    return c->ops->consumer_next(c->impl, out, err);
}

void bus_consumer_close(bus_consumer *c)
{
    if (!c) return;
    c->ops->consumer_close(c->impl);
    free(c);
}

/* Group names become file names (log backend) and Kafka group ids: keep them plain. */
static int check_group(const char *group, surge_error *err)
{
    size_t n = group ? strlen(group) : 0;
    if (n == 0 || n > 100 || group[0] == '.')
        return surge_fail(err, SURGE_EINVAL, "group",
                          "consumer group name must be 1..100 characters of A-Z a-z 0-9 . _ - "
                          "and not start with '.'");
    for (size_t i = 0; i < n; i++) {
        char ch = group[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return surge_fail(err, SURGE_EINVAL, "group",
                              "consumer group \"%s\" has character '%c' at %zu; allowed: "
                              "A-Z a-z 0-9 . _ -",
                              group, ch, i);
    }
    return 0;
}

int bus_commit(bus *b, const char *group, bus_topic topic, int partition, int64_t offset,
               surge_error *err)
{
    int rc = check_place(topic, partition, err);
    if (rc || (rc = check_group(group, err))) return rc;
    if (offset < 0)
        return surge_fail(err, SURGE_EINVAL, "offset", "committed offset must be >= 0, got %lld",
                          (long long)offset);
    return b->ops->commit(b->impl, group, topic, partition, offset, err);
}

int bus_committed(bus *b, const char *group, bus_topic topic, int partition, int64_t *offset,
                  surge_error *err)
{
    int rc = check_place(topic, partition, err);
    if (rc || (rc = check_group(group, err))) return rc;
    return b->ops->committed(b->impl, group, topic, partition, offset, err);
}

int bus_apply_retention(bus *b, int64_t now_ms, surge_error *err)
{
    return b->ops->apply_retention(b->impl, now_ms, err);
}

void bus_recovery(bus *b, bus_recovery_report *out)
{
    b->ops->recovery(b->impl, out);
}

int bus_verify(bus *b, void (*report)(void *ctx, const char *message), void *ctx, surge_error *err)
{
    return b->ops->verify(b->impl, report, ctx, err);
}

void bus_get_stats(bus *b, bus_stats *out)
{
    b->ops->get_stats(b->impl, out);
}
