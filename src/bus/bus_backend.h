/* bus_backend.h: the contract between bus.c (the public API, its argument checks and the choice
 * of backend by URL scheme) and the backends (log.c; kafka.c later), plus the CRC-32C they
 * share. Private to src/bus and its tests: nothing else includes it. */
#ifndef SURGE_BUS_BACKEND_H
#define SURGE_BUS_BACKEND_H

#include "bus.h"

/* A bus backend. bus.c has already checked every argument before calling: topic and partition
 * are in range, pointers are not NULL, n >= 1, every record's header count is 0..BUS_MAX_HEADERS
 * with non-NULL names, lengths > 0 come with non-NULL pointers, timestamps are >= 0 (0 means
 * "now"), group names match [A-Za-z0-9._-]{1,100} and offsets are >= 0. impl is what open
 * returned; a consumer handle is what consumer_open returned. */
typedef struct bus_backend {
    const char *scheme;    /* the URL scheme that selects this backend, without ':' */
    const char *url_forms; /* for error messages: "log:///abs/dir, log://relative/dir" */
    void *(*open)(const char *url, const bus_config *cfg, surge_error *err);
    void (*close)(void *impl);
    int (*produce)(void *impl, bus_topic topic, int partition, const bus_record *records, size_t n,
                   int64_t *base_offset, surge_error *err);
    /* optional: NULL makes bus_produce_many call produce for each batch */
    int (*produce_many)(void *impl, bus_batch *batches, size_t n, surge_error *err);
    int (*end_offset)(void *impl, bus_topic topic, int partition, int64_t *end, surge_error *err);
    int (*start_offset)(void *impl, bus_topic topic, int partition, int64_t *start,
                        surge_error *err);
    int (*offset_for_time)(void *impl, bus_topic topic, int partition, int64_t ts_ms,
                           int64_t *offset, surge_error *err);
    void *(*consumer_open)(void *impl, bus_topic topic, int partition, int64_t from_offset,
                           surge_error *err);
    int (*consumer_next)(void *consumer, bus_record *out, surge_error *err);
    void (*consumer_close)(void *consumer);
    int (*commit)(void *impl, const char *group, bus_topic topic, int partition, int64_t offset,
                  surge_error *err);
    int (*committed)(void *impl, const char *group, bus_topic topic, int partition, int64_t *offset,
                     surge_error *err);
    int (*apply_retention)(void *impl, int64_t now_ms, surge_error *err); /* count or -code */
    void (*recovery)(void *impl, bus_recovery_report *out);
    int (*verify)(void *impl, void (*report)(void *ctx, const char *message), void *ctx,
                  surge_error *err);
    void (*get_stats)(void *impl, bus_stats *out);
} bus_backend;

extern const bus_backend bus_log_backend;

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, as in iSCSI, ext4 and Kafka's record
 * batches). crc is the value returned for the preceding bytes, 0 to start, so
 * bus_crc32c(bus_crc32c(0, a, n), b, m) is the CRC of a followed by b. Uses the SSE4.2 crc32
 * instruction when the CPU has it. */
uint32_t bus_crc32c(uint32_t crc, const void *data, size_t len);
/* The same with the table-driven code only, so tests can compare both on any CPU. */
uint32_t bus_crc32c_portable(uint32_t crc, const void *data, size_t len);
/* True when bus_crc32c uses the crc32 instruction on this CPU. */
bool bus_crc32c_hardware(void);

#endif
