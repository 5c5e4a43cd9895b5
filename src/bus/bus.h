/* bus: topics, partitions and offsets (DESIGN §2). One interface, backends chosen by URL:
 * `log:///path` is surge's own segmented, CRC-checked append-only log on local disk (the
 * embedded default); `kafka://host:port` (librdkafka) comes with distributed mode. Business
 * logic never knows which one it talks to. */
#ifndef SURGE_BUS_H
#define SURGE_BUS_H

#include "../core/core.h"

/* The seed's six topics, 12 partitions each. */
typedef enum bus_topic {
    BUS_USER_EVENTS,
    BUS_SUPPLY_EVENTS,
    BUS_EXTERNAL_EVENTS,
    BUS_DEMAND_SIGNALS,
    BUS_PRICING_DECISIONS,
    BUS_SYSTEM_EVENTS,
    BUS_NTOPICS
} bus_topic;

#define BUS_PARTITIONS 12

/* "user-events", "supply-events", ... in enum order. */
extern const char *const BUS_TOPIC_NAMES[BUS_NTOPICS];
/* The topic named name, or -1. */
int bus_topic_from_name(const char *name);
/* Kafka's default partitioner: (murmur2(key) & 0x7fffffff) % BUS_PARTITIONS, so a key lands on
 * the same partition number in both backends. */
int bus_partition_for_key(const void *key, size_t len);

/* A record header (Kafka-style): small metadata carried beside the value. */
typedef struct bus_header {
    const char *name;
    const void *value;
    size_t value_len;
} bus_header;

#define BUS_MAX_HEADERS 4

/* One record to produce, or one record read (then the pointers stay valid until the next read
 * on the same consumer). */
typedef struct bus_record {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp_ms; /* ms since the epoch, >= 0; 0 when producing means "now" */
    int header_count;
    bus_header headers[BUS_MAX_HEADERS];
    int64_t offset; /* set when read */
} bus_record;

typedef struct bus_config {
    /* 0: every produce returns only after its batch is fsynced (default). N > 0: data is
     * fsynced at least every N ms (a crash can lose the last N ms of acknowledged records). */
    int64_t fsync_interval_ms;
    int64_t retention_ms;     /* delete whole segments older than this; default 7 days */
    int64_t retention_bytes;  /* per partition; 0 = no size limit */
    int64_t segment_bytes;    /* roll to a new segment past this size; default 64 MiB */
    bool compress;            /* snappy-compress batches (default true) */
    /* Open for reading only, beside a live writer (`surge log`): no recovery truncation, no
     * index rebuild on disk, no retention, no lock on the writer's side; produce and commit fail
     * with SURGE_EFORBIDDEN. A writer takes an exclusive lock on the log directory, so a second
     * writer on the same directory fails to open with a clear error. */
    bool read_only;
} bus_config;

/* Defaults of DESIGN §2: fsync every batch, 7 days, no size limit, 64 MiB segments, snappy. */
void bus_config_defaults(bus_config *cfg);

typedef struct bus bus;

/* Opens the bus at url ("log:///abs/dir" or "log://relative/dir"), creating topics and
 * partitions as needed and recovering each partition's tail (see bus_recovery_report). NULL and
 * err on failure. Thread-safe: any function may be called from any thread. */
bus *bus_open(const char *url, const bus_config *cfg, surge_error *err);
void bus_close(bus *b);

/* Appends n records to one partition as one batch (atomically: all or none) and returns when
 * they are durable under the fsync policy. *base_offset (if not NULL) is the first record's
 * offset; offsets are consecutive. Concurrent producers share fsyncs (group commit). */
int bus_produce(bus *b, bus_topic topic, int partition, const bus_record *records, size_t n,
                int64_t *base_offset, surge_error *err);

/* One batch of bus_produce_many. */
typedef struct bus_batch {
    bus_topic topic;
    int partition;
    const bus_record *records;
    size_t count;
    int64_t base_offset; /* out: the first record's offset, or -1 when the batch failed */
    int error;           /* out: 0, or the SURGE_* code of this batch's failure */
} bus_batch;

/* Appends several batches, to any partitions, and returns when all of them are durable under
 * the fsync policy. All writes happen first, then each partition is synced once, so a request
 * spanning many partitions costs about one fsync rather than one per partition. Returns 0, or
 * the first failure (err filled): each batch then says whether it was written. */
int bus_produce_many(bus *b, bus_batch *batches, size_t n, surge_error *err);

/* The next offset to be written (the log end) and the first still retained. */
int bus_end_offset(bus *b, bus_topic topic, int partition, int64_t *end, surge_error *err);
int bus_start_offset(bus *b, bus_topic topic, int partition, int64_t *start, surge_error *err);
/* The first offset whose batch timestamp is >= ts_ms (the end offset if none). */
int bus_offset_for_time(bus *b, bus_topic topic, int partition, int64_t ts_ms, int64_t *offset,
                        surge_error *err);

/* Reading one partition from an offset. */
typedef struct bus_consumer bus_consumer;

bus_consumer *bus_consumer_open(bus *b, bus_topic topic, int partition, int64_t from_offset,
                                surge_error *err);
/* Reads the next record: 1 and *out filled, 0 at the end of the log (call again later for new
 * records), or a negative error code (a corrupt batch: err names the file and position). */
int bus_consumer_next(bus_consumer *c, bus_record *out, surge_error *err);
void bus_consumer_close(bus_consumer *c);

/* Committed offsets per consumer group (the next offset the group will read), durable. */
int bus_commit(bus *b, const char *group, bus_topic topic, int partition, int64_t offset,
               surge_error *err);
/* ENOTFOUND when the group never committed on that partition. */
int bus_committed(bus *b, const char *group, bus_topic topic, int partition, int64_t *offset,
                  surge_error *err);

/* Deletes whole segments past retention (by age at now_ms, and by size). Returns the number of
 * segments deleted, or a negative error code (err says which file could not be deleted). */
int bus_apply_retention(bus *b, int64_t now_ms, surge_error *err);

/* What start-up recovery did, for the log and /metrics. */
typedef struct bus_recovery_report {
    int64_t truncated_bytes;   /* torn or corrupt tail bytes cut, over all partitions */
    int truncated_partitions;
    int64_t recovered_records; /* records found intact */
} bus_recovery_report;
void bus_recovery(bus *b, bus_recovery_report *out);

/* A full CRC scan of every retained batch. Calls report(ctx, message) for each problem (file,
 * position, what is wrong). Returns 0 when everything is intact, SURGE_EIO when something is
 * corrupt. */
int bus_verify(bus *b, void (*report)(void *ctx, const char *message), void *ctx,
               surge_error *err);

/* Counters for /metrics. */
typedef struct bus_stats {
    uint64_t batches_written, records_written, bytes_written, fsyncs;
    uint64_t records_read;
} bus_stats;
void bus_get_stats(bus *b, bus_stats *out);

#endif
