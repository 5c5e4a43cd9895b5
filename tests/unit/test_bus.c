/* test_bus.c: unit tests of src/bus: CRC-32C, Kafka's partitioner, the log backend's on-disk
 * format, round trips across segment rolls, the time index, committed offsets, retention,
 * recovery from torn tails and bit flips, index rebuilds and concurrent producers.
 * Expected values were derived independently of the code under test: CRC-32C vectors from
 * RFC 3720 B.4 and a bit-at-a-time CRC written in Python; partitions from a murmur2 written in
 * Python from Kafka's Java source (checked against Kafka's own UtilsTest vectors); byte layouts
 * from docs/log-format.md by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "bus/bus_backend.h"

/* ---------------------------------------------------------------- helpers */

typedef struct fixture {
    char dir[64];
    char url[96];
    bus_config cfg;
    bus *b;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/surge_test_bus_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "log://%s", f->dir);
    bus_config_defaults(&f->cfg);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->b) bus_close(f->b);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void reopen(fixture *f)
{
    if (f->b) bus_close(f->b);
    surge_error err = {0};
    f->b = bus_open(f->url, &f->cfg, &err);
    if (!f->b) fail_msg("bus_open(%s): %s", f->url, err.message);
}

static void seg_path(const fixture *f, bus_topic t, int partition, int64_t base, const char *ext,
                     char *out, size_t size)
{
    snprintf(out, size, "%s/%s/%d/%020lld.%s", f->dir, BUS_TOPIC_NAMES[t], partition,
             (long long)base, ext);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return st.st_size;
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Reads a whole file into a malloc'ed buffer. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return data;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void flip_byte(const char *path, int64_t pos)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, pos), 1);
    c ^= 0x10;
    assert_int_equal(pwrite(fd, &c, 1, pos), 1);
    close(fd);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* Deterministic test records: record i has key "key-<i>", a value of (i * 37) % 300 bytes, i % 5
 * headers and a timestamp that is not monotonic within a batch. */
typedef struct sample {
    char key[32];
    unsigned char value[300];
    size_t value_len;
    char header_values[BUS_MAX_HEADERS][24];
    bus_record rec;
} sample;

static const char *const HEADER_NAMES[BUS_MAX_HEADERS] = {"source", "trace_id", "h2", "x"};
#define BASE_TS 1767225600000LL /* 2026-01-01T00:00:00Z */

static void sample_make(sample *s, int i)
{
    memset(s, 0, sizeof *s);
    snprintf(s->key, sizeof s->key, "key-%d", i);
    s->value_len = (size_t)(i * 37) % 300;
    for (size_t k = 0; k < s->value_len; k++)
        s->value[k] = (unsigned char)((i + k * 7) & 0xff);
    s->rec.key = s->key;
    s->rec.key_len = strlen(s->key);
    s->rec.value = s->value_len ? s->value : NULL;
    s->rec.value_len = s->value_len;
    s->rec.timestamp_ms = BASE_TS + i * 10 + (i % 3) * 7;
    s->rec.header_count = i % 5;
    for (int h = 0; h < s->rec.header_count; h++) {
        snprintf(s->header_values[h], sizeof s->header_values[h], "v%d-%d", i, h);
        s->rec.headers[h].name = HEADER_NAMES[h];
        s->rec.headers[h].value = s->header_values[h];
        s->rec.headers[h].value_len = strlen(s->header_values[h]);
    }
}

static void sample_check(const bus_record *got, int i, int64_t offset)
{
    sample s;
    sample_make(&s, i);
    if (got->offset != offset)
        fail_msg("record %d: offset %lld, want %lld", i, (long long)got->offset, (long long)offset);
    assert_int_equal(got->key_len, s.rec.key_len);
    assert_memory_equal(got->key, s.key, s.rec.key_len);
    assert_int_equal(got->value_len, s.value_len);
    if (s.value_len)
        assert_memory_equal(got->value, s.value, s.value_len);
    else
        assert_null(got->value);
    assert_int_equal(got->timestamp_ms, s.rec.timestamp_ms);
    assert_int_equal(got->header_count, s.rec.header_count);
    for (int h = 0; h < s.rec.header_count; h++) {
        assert_string_equal(got->headers[h].name, HEADER_NAMES[h]);
        assert_int_equal(got->headers[h].value_len, strlen(s.header_values[h]));
        assert_memory_equal(got->headers[h].value, s.header_values[h], got->headers[h].value_len);
    }
}

/* Produces samples [first, first + n) as one batch and returns its base offset. */
static int64_t produce_samples(bus *b, bus_topic t, int partition, int first, int n)
{
    sample *s = calloc((size_t)n, sizeof *s);
    bus_record *recs = calloc((size_t)n, sizeof *recs);
    assert_non_null(s);
    assert_non_null(recs);
    for (int k = 0; k < n; k++) {
        sample_make(&s[k], first + k);
        recs[k] = s[k].rec;
    }
    int64_t base = -1;
    surge_error err = {0};
    int rc = bus_produce(b, t, partition, recs, (size_t)n, &base, &err);
    if (rc) fail_msg("bus_produce: %s", err.message);
    free(s);
    free(recs);
    return base;
}

/* Produces one batch of n records with the given timestamps and fixed-size values. */
static int64_t produce_times(bus *b, bus_topic t, int partition, const int64_t *ts, int n,
                             size_t value_len)
{
    bus_record recs[64];
    static unsigned char value[4096];
    memset(value, 'v', sizeof value);
    assert_true(n <= 64 && value_len <= sizeof value);
    for (int k = 0; k < n; k++) {
        memset(&recs[k], 0, sizeof recs[k]);
        recs[k].key = "k";
        recs[k].key_len = 1;
        recs[k].value = value;
        recs[k].value_len = value_len;
        recs[k].timestamp_ms = ts[k];
    }
    int64_t base = -1;
    surge_error err = {0};
    if (bus_produce(b, t, partition, recs, (size_t)n, &base, &err))
        fail_msg("bus_produce: %s", err.message);
    return base;
}

/* Reads every record from offset from to the end; checks each against sample (first + k) and
 * returns how many there were. */
static int consume_samples(bus *b, bus_topic t, int partition, int64_t from, int first)
{
    surge_error err = {0};
    bus_consumer *c = bus_consumer_open(b, t, partition, from, &err);
    if (!c) fail_msg("bus_consumer_open: %s", err.message);
    bus_record r;
    int n = 0, rc;
    while ((rc = bus_consumer_next(c, &r, &err)) == 1) {
        sample_check(&r, first + n, from + n);
        n++;
    }
    if (rc != 0) fail_msg("bus_consumer_next: %s", err.message);
    bus_consumer_close(c);
    return n;
}

static int count_files(const fixture *f, bus_topic t, int partition, const char *suffix)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s/%s/%d | grep -c '%s$'", f->dir, BUS_TOPIC_NAMES[t], partition,
             suffix);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* ---------------------------------------------------------------- CRC-32C */

static void test_crc32c_matches_check_value_and_rfc3720_vectors(void **state)
{
    unsigned char zeros[32] = {0}, ones[32], up[32], down[32], mixed[1000];
    memset(ones, 0xff, sizeof ones);
    for (int i = 0; i < 32; i++) {
        up[i] = (unsigned char)i;
        down[i] = (unsigned char)(31 - i);
    }
    for (int i = 0; i < 1000; i++)
        mixed[i] = (unsigned char)((i * 7 + 3) & 0xff);
    struct {
        const void *data;
        size_t len;
        uint32_t want;
    } cases[] = {
        {"123456789", 9, 0xE3069283u}, /* the CRC catalogue's check value */
        {zeros, 32, 0x8A9136AAu},      /* RFC 3720 B.4 */
        {ones, 32, 0x62A8AB43u},       {up, 32, 0x46DD794Eu},
        {down, 32, 0x113FDB5Cu},       {"", 0, 0x00000000u},
        {"a", 1, 0xC1D04330u},         {mixed, 1000, 0xDD2EDFF7u}, /* Python, bit at a time */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t fast = bus_crc32c(0, cases[i].data, cases[i].len);
        uint32_t portable = bus_crc32c_portable(0, cases[i].data, cases[i].len);
        if (fast != cases[i].want || portable != cases[i].want)
            fail_msg("case %zu: crc32c 0x%08x, portable 0x%08x, want 0x%08x", i, fast, portable,
                     cases[i].want);
    }
    /* Continuing a CRC equals the CRC of the concatenation, at every split and alignment. */
    uint32_t whole = bus_crc32c(0, mixed, sizeof mixed);
    for (size_t split = 0; split <= 40; split++) {
        assert_int_equal(bus_crc32c(bus_crc32c(0, mixed, split), mixed + split, 1000 - split),
                         whole);
        assert_int_equal(
            bus_crc32c_portable(bus_crc32c_portable(0, mixed, split), mixed + split, 1000 - split),
            whole);
    }
    assert_int_equal(bus_crc32c(bus_crc32c(0, "12345", 5), "6789", 4), 0xE3069283u);
    print_message("crc32c uses %s\n",
                  bus_crc32c_hardware() ? "the SSE4.2 crc32 instruction" : "slicing-by-8 tables");
}

/* ---------------------------------------------------------------- topics and partitions */

static void test_partition_for_key_matches_kafka_default_partitioner(void **state)
{
    /* Expected: Utils.toPositive(Utils.murmur2(key)) % 12, computed by a Python port of Kafka's
     * murmur2 with Java int arithmetic (signed 32-bit wrap, >>> as a logical shift), itself
     * checked against UtilsTest (murmur2("21") = -973932308, "foobar" = -790332482, ...).
     * The signed murmur2 value is in each comment. */
    struct {
        const char *key;
        int want;
    } cases[] = {
        {"dr5ru", 4},   /* 188189632 */
        {"dr5rs", 6},   /* -541681670 */
        {"9q8yy", 2},   /* -1745431770 */
        {"u4pru", 7},   /* 2121272551 */
        {"gcpvj", 5},   /* 35099513 */
        {"9q8yyk", 7},  /* -1071280309 */
        {"dr5regw", 0}, /* 424986336 */
        {"", 9},        /* 275646681 */
        {"a", 4},       /* -1563381124 */
        {"21", 0},      /* -973932308 */
        {"foobar", 6},  /* -790332482 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = bus_partition_for_key(cases[i].key, strlen(cases[i].key));
        if (got != cases[i].want)
            fail_msg("partition of \"%s\" = %d, want %d", cases[i].key, got, cases[i].want);
    }
}

static void test_topic_names_are_the_seeds_six_in_enum_order(void **state)
{
    const char *want[] = {"user-events",    "supply-events",     "external-events",
                          "demand-signals", "pricing-decisions", "system-events"};
    assert_int_equal(BUS_NTOPICS, 6);
    for (int t = 0; t < BUS_NTOPICS; t++) {
        assert_string_equal(BUS_TOPIC_NAMES[t], want[t]);
        assert_int_equal(bus_topic_from_name(want[t]), t);
    }
    assert_int_equal(bus_topic_from_name("user_events"), -1);
    assert_int_equal(bus_topic_from_name(""), -1);
    assert_int_equal(bus_topic_from_name(NULL), -1);
}

static void test_config_defaults_follow_design(void **state)
{
    bus_config c;
    memset(&c, 0x5a, sizeof c);
    bus_config_defaults(&c);
    assert_int_equal(c.fsync_interval_ms, 0);
    assert_int_equal(c.retention_ms, 7LL * 24 * 3600 * 1000);
    assert_int_equal(c.retention_bytes, 0);
    assert_int_equal(c.segment_bytes, 64LL * 1024 * 1024);
    assert_true(c.compress);
    assert_false(c.read_only);
}

/* ---------------------------------------------------------------- format on disk */

static void test_batch_bytes_on_disk_follow_the_documented_layout(void **state)
{
    fixture *f = *state;
    f->cfg.compress = false;
    reopen(f);
    bus_record r = {.key = "k", .key_len = 1, .value = "v1", .value_len = 2, .timestamp_ms = 1000};
    bus_record two[2] = {r, r};
    two[0].timestamp_ms = 2000;
    two[1].timestamp_ms = 1990;
    two[1].header_count = 1;
    two[1].headers[0] = (bus_header){.name = "h", .value = "x", .value_len = 1};
    surge_error err = {0};
    int64_t base = -1;
    assert_int_equal(bus_produce(f->b, BUS_SUPPLY_EVENTS, 5, &r, 1, &base, &err), 0);
    assert_int_equal(base, 0);
    assert_int_equal(bus_produce(f->b, BUS_SUPPLY_EVENTS, 5, two, 2, &base, &err), 0);
    assert_int_equal(base, 1);

    char path[256];
    seg_path(f, BUS_SUPPLY_EVENTS, 5, 0, "log", path, sizeof path);
    size_t len;
    unsigned char *d = read_file(path, &len);
    /* Batch 1: 48-byte header + one record: body = ts delta 0, key len 1 "k", value len 2 "v1",
     * 0 headers = 7 bytes, after its length varint 07. */
    const unsigned char rec1[] = {0x07, 0x00, 0x01, 'k', 0x02, 'v', '1', 0x00};
    assert_int_equal(len, 48 + 8 + 48 + 8 + 12);
    assert_memory_equal(d, "SRGL", 4);
    assert_int_equal(le64(d + 8), 0);       /* base offset */
    assert_int_equal(le32(d + 16), 48 + 8); /* length */
    assert_int_equal(d[20], 1);             /* version */
    assert_int_equal(d[21], 0);             /* attributes: not compressed */
    assert_int_equal(d[22] | d[23], 0);     /* reserved */
    assert_int_equal(le32(d + 24), 1);      /* record count */
    assert_int_equal(le32(d + 28), 8);      /* raw length */
    assert_int_equal(le64(d + 32), 1000);   /* first timestamp */
    assert_int_equal(le64(d + 40), 1000);   /* max timestamp */
    assert_memory_equal(d + 48, rec1, sizeof rec1);
    /* CRC-32C of bytes [16, length) followed by bytes [8, 16). */
    uint32_t crc = bus_crc32c(bus_crc32c(0, d + 16, 56 - 16), d + 8, 8);
    assert_int_equal(le32(d + 4), crc);

    /* Batch 2: ts delta 0, then -10 (zigzag 19 = 0x13); record 2 has header "h" = "x". */
    const unsigned char *b2 = d + 56;
    const unsigned char recs2[] = {0x07, 0x00, 0x01, 'k', 0x02, 'v',  '1',  0x00, 0x0b, 0x13,
                                   0x01, 'k',  0x02, 'v', '1',  0x01, 0x01, 'h',  0x01, 'x'};
    assert_memory_equal(b2, "SRGL", 4);
    assert_int_equal(le64(b2 + 8), 1);
    assert_int_equal(le32(b2 + 16), 48 + 20);
    assert_int_equal(le32(b2 + 24), 2);
    assert_int_equal(le32(b2 + 28), 20);
    assert_int_equal(le64(b2 + 32), 2000);
    assert_int_equal(le64(b2 + 40), 2000);
    assert_memory_equal(b2 + 48, recs2, sizeof recs2);
    assert_int_equal(le32(b2 + 4), bus_crc32c(bus_crc32c(0, b2 + 16, 68 - 16), b2 + 8, 8));
    free(d);
    /* No index entry yet: the second batch starts < 4096 bytes after the first. */
    seg_path(f, BUS_SUPPLY_EVENTS, 5, 0, "index", path, sizeof path);
    assert_int_equal(file_size(path), 0);
}

static void test_compressible_batch_is_stored_snappy_compressed(void **state)
{
    fixture *f = *state;
    reopen(f); /* compress = true by default */
    static char value[2000];
    memset(value, 'a', sizeof value);
    bus_record r = {
        .key = "k", .key_len = 1, .value = value, .value_len = sizeof value, .timestamp_ms = 5};
    surge_error err = {0};
    assert_int_equal(bus_produce(f->b, BUS_USER_EVENTS, 0, &r, 1, NULL, &err), 0);
    char path[256];
    seg_path(f, BUS_USER_EVENTS, 0, 0, "log", path, sizeof path);
    size_t len;
    unsigned char *d = read_file(path, &len);
    assert_int_equal(d[21], 1); /* snappy */
    /* body: ts delta 1 + key length 1 + "k" 1 + value length 2 (varint of 2000) + 2000 +
     * header count 1 = 2006 bytes, after a 2-byte length varint: 2008 raw bytes */
    assert_int_equal(le32(d + 28), 2008);
    assert_true(le32(d + 16) < 200);
    assert_int_equal(le32(d + 16), len);
    free(d);
    bus_consumer *c = bus_consumer_open(f->b, BUS_USER_EVENTS, 0, 0, &err);
    assert_non_null(c);
    bus_record got;
    assert_int_equal(bus_consumer_next(c, &got, &err), 1);
    assert_int_equal(got.value_len, sizeof value);
    assert_memory_equal(got.value, value, sizeof value);
    assert_int_equal(got.timestamp_ms, 5);
    assert_int_equal(bus_consumer_next(c, &got, &err), 0);
    bus_consumer_close(c);
}

/* ---------------------------------------------------------------- round trips */

/* 60 batches of 1..10 records (330 in all) into 2 KiB segments, then every record back, from
 * the start and from the middle, before and after a reopen. */
static void round_trip(fixture *f, bool compress)
{
    f->cfg.compress = compress;
    f->cfg.segment_bytes = 2048;
    reopen(f);
    int next = 0;
    for (int b = 0; b < 60; b++) {
        int n = 1 + b % 10;
        assert_int_equal(produce_samples(f->b, BUS_DEMAND_SIGNALS, 7, next, n), next);
        next += n;
    }
    assert_int_equal(next, 330);
    surge_error err = {0};
    int64_t end = -1, start = -1;
    assert_int_equal(bus_end_offset(f->b, BUS_DEMAND_SIGNALS, 7, &end, &err), 0);
    assert_int_equal(bus_start_offset(f->b, BUS_DEMAND_SIGNALS, 7, &start, &err), 0);
    assert_int_equal(end, 330);
    assert_int_equal(start, 0);
    int segments = count_files(f, BUS_DEMAND_SIGNALS, 7, ".log");
    if (segments < 5) fail_msg("only %d segments: the test needs rolls", segments);
    assert_int_equal(consume_samples(f->b, BUS_DEMAND_SIGNALS, 7, 0, 0), 330);
    assert_int_equal(consume_samples(f->b, BUS_DEMAND_SIGNALS, 7, 137, 137), 330 - 137);
    assert_int_equal(consume_samples(f->b, BUS_DEMAND_SIGNALS, 7, 330, 330), 0);
    /* Other partitions stay empty. */
    assert_int_equal(bus_end_offset(f->b, BUS_DEMAND_SIGNALS, 6, &end, &err), 0);
    assert_int_equal(end, 0);

    reopen(f);
    bus_recovery_report rr;
    bus_recovery(f->b, &rr);
    assert_int_equal(rr.truncated_bytes, 0);
    assert_int_equal(rr.truncated_partitions, 0);
    assert_int_equal(rr.recovered_records, 330);
    assert_int_equal(consume_samples(f->b, BUS_DEMAND_SIGNALS, 7, 0, 0), 330);
    assert_int_equal(produce_samples(f->b, BUS_DEMAND_SIGNALS, 7, 330, 5), 330);
    assert_int_equal(consume_samples(f->b, BUS_DEMAND_SIGNALS, 7, 300, 300), 35);
    assert_int_equal(bus_verify(f->b, NULL, NULL, &err), 0);

    bus_stats st;
    bus_get_stats(f->b, &st);
    assert_int_equal(st.records_written, 5);
    assert_int_equal(st.batches_written, 1);
    assert_int_equal(st.records_read, 330 + 35);
}

static void test_round_trip_across_segment_rolls_uncompressed(void **state)
{
    round_trip(*state, false);
}

static void test_round_trip_across_segment_rolls_compressed(void **state)
{
    round_trip(*state, true);
}

static void test_consumer_at_end_sees_later_records_and_rolls(void **state)
{
    fixture *f = *state;
    f->cfg.segment_bytes = 1024;
    f->cfg.compress = false;
    reopen(f);
    surge_error err = {0};
    bus_consumer *c = bus_consumer_open(f->b, BUS_SYSTEM_EVENTS, 11, 0, &err);
    assert_non_null(c);
    bus_record r;
    assert_int_equal(bus_consumer_next(c, &r, &err), 0);
    int next = 0;
    for (int round = 0; round < 8; round++) {
        produce_samples(f->b, BUS_SYSTEM_EVENTS, 11, next, 3);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(bus_consumer_next(c, &r, &err), 1);
            sample_check(&r, next + k, next + k);
        }
        assert_int_equal(bus_consumer_next(c, &r, &err), 0);
        next += 3;
    }
    bus_consumer_close(c);
    assert_true(count_files(f, BUS_SYSTEM_EVENTS, 11, ".log") > 2);
}

static void test_timestamp_zero_means_now(void **state)
{
    fixture *f = *state;
    reopen(f);
    bus_record r = {.value = "x", .value_len = 1};
    surge_error err = {0};
    int64_t before = time_now_ms();
    assert_int_equal(bus_produce(f->b, BUS_USER_EVENTS, 1, &r, 1, NULL, &err), 0);
    int64_t after = time_now_ms();
    bus_consumer *c = bus_consumer_open(f->b, BUS_USER_EVENTS, 1, 0, &err);
    bus_record got;
    assert_int_equal(bus_consumer_next(c, &got, &err), 1);
    assert_true(got.timestamp_ms >= before && got.timestamp_ms <= after);
    assert_null(got.key);
    assert_int_equal(got.key_len, 0);
    bus_consumer_close(c);
}

/* ---------------------------------------------------------------- time index */

static void test_offset_for_time_finds_first_record_at_or_after(void **state)
{
    fixture *f = *state;
    reopen(f);
    surge_error err = {0};
    int64_t a[] = {1000, 1005, 1002}, b[] = {2000, 2001}, c[] = {1500, 3000};
    produce_times(f->b, BUS_PRICING_DECISIONS, 2, a, 3, 10); /* offsets 0..2 */
    produce_times(f->b, BUS_PRICING_DECISIONS, 2, b, 2, 10); /* 3..4 */
    produce_times(f->b, BUS_PRICING_DECISIONS, 2, c, 2, 10); /* 5..6 */
    struct {
        int64_t ts, want;
    } cases[] = {{0, 0},    {1000, 0}, {1001, 1}, {1003, 1}, {1005, 1}, {1006, 3},
                 {2000, 3}, {2001, 4}, {2002, 6}, {3000, 6}, {3001, 7}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t off = -1;
        assert_int_equal(
            bus_offset_for_time(f->b, BUS_PRICING_DECISIONS, 2, cases[i].ts, &off, &err), 0);
        if (off != cases[i].want)
            fail_msg("offset_for_time(%lld) = %lld, want %lld", (long long)cases[i].ts,
                     (long long)off, (long long)cases[i].want);
    }
    int64_t off = -1;
    assert_int_equal(bus_offset_for_time(f->b, BUS_PRICING_DECISIONS, 3, 0, &off, &err), 0);
    assert_int_equal(off, 0); /* empty partition: its end */
}

/* 300 batches of 4 records, batch i at times T + i*1000 + {0, 1, 2, 3}; ~650-byte batches give
 * an index entry every 7th batch and 64 KiB segments, so lookups go through the index. */
static void test_offset_for_time_uses_the_index_across_segments(void **state)
{
    fixture *f = *state;
    f->cfg.compress = false;
    f->cfg.segment_bytes = 64 * 1024;
    reopen(f);
    const int64_t T = BASE_TS;
    for (int i = 0; i < 300; i++) {
        int64_t ts[4] = {T + i * 1000, T + i * 1000 + 1, T + i * 1000 + 2, T + i * 1000 + 3};
        produce_times(f->b, BUS_EXTERNAL_EVENTS, 9, ts, 4, 150);
    }
    assert_true(count_files(f, BUS_EXTERNAL_EVENTS, 9, ".log") >= 3);
    char path[256];
    seg_path(f, BUS_EXTERNAL_EVENTS, 9, 0, "index", path, sizeof path);
    assert_true(file_size(path) >= 24 * 10);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 300; i += 7) {
            surge_error err = {0};
            int64_t off = -1;
            assert_int_equal(
                bus_offset_for_time(f->b, BUS_EXTERNAL_EVENTS, 9, T + i * 1000 + 2, &off, &err), 0);
            assert_int_equal(off, i * 4 + 2);
            assert_int_equal(
                bus_offset_for_time(f->b, BUS_EXTERNAL_EVENTS, 9, T + i * 1000 - 500, &off, &err),
                0);
            assert_int_equal(off, i * 4);
        }
        reopen(f); /* the second pass reads the index files from disk */
    }
}

/* ---------------------------------------------------------------- committed offsets */

static void test_committed_offsets_survive_reopen(void **state)
{
    fixture *f = *state;
    reopen(f);
    surge_error err = {0};
    int64_t off = -1;
    assert_int_equal(bus_committed(f->b, "stream", BUS_USER_EVENTS, 3, &off, &err),
                     SURGE_ENOTFOUND);
    assert_int_equal(bus_commit(f->b, "stream", BUS_USER_EVENTS, 3, 42, &err), 0);
    assert_int_equal(bus_commit(f->b, "stream", BUS_SYSTEM_EVENTS, 11, 7, &err), 0);
    assert_int_equal(bus_commit(f->b, "audit-writer.v2", BUS_USER_EVENTS, 3, 5, &err), 0);
    assert_int_equal(bus_commit(f->b, "stream", BUS_USER_EVENTS, 3, 43, &err), 0);
    reopen(f);
    assert_int_equal(bus_committed(f->b, "stream", BUS_USER_EVENTS, 3, &off, &err), 0);
    assert_int_equal(off, 43);
    assert_int_equal(bus_committed(f->b, "stream", BUS_SYSTEM_EVENTS, 11, &off, &err), 0);
    assert_int_equal(off, 7);
    assert_int_equal(bus_committed(f->b, "audit-writer.v2", BUS_USER_EVENTS, 3, &off, &err), 0);
    assert_int_equal(off, 5);
    assert_int_equal(bus_committed(f->b, "stream", BUS_USER_EVENTS, 4, &off, &err),
                     SURGE_ENOTFOUND);
    assert_int_equal(bus_committed(f->b, "nobody", BUS_USER_EVENTS, 3, &off, &err),
                     SURGE_ENOTFOUND);
    /* No temp file is left behind. */
    char path[256];
    snprintf(path, sizeof path, "%s/offsets/stream.tmp", f->dir);
    assert_false(file_exists(path));
    assert_int_equal(bus_commit(f->b, "../evil", BUS_USER_EVENTS, 0, 1, &err), SURGE_EINVAL);
    assert_int_equal(bus_commit(f->b, "", BUS_USER_EVENTS, 0, 1, &err), SURGE_EINVAL);
    assert_int_equal(bus_commit(f->b, ".hidden", BUS_USER_EVENTS, 0, 1, &err), SURGE_EINVAL);
    assert_int_equal(bus_commit(f->b, "ok", BUS_USER_EVENTS, 0, -1, &err), SURGE_EINVAL);
}

/* ---------------------------------------------------------------- retention */

/* One record of 800 bytes, its own batch and (with 1 KiB segments) its own segment. */
static int64_t produce_big(fixture *f, int64_t ts)
{
    int64_t t[1] = {ts};
    return produce_times(f->b, BUS_USER_EVENTS, 4, t, 1, 800);
}

static void test_retention_by_age_deletes_the_oldest_expired_segments(void **state)
{
    fixture *f = *state;
    f->cfg.segment_bytes = 1024;
    f->cfg.compress = false;
    f->cfg.retention_ms = 2500;
    reopen(f);
    /* Segments 0..5 with newest records at 1000, 2000, 9000, 3000, 4000, 5000 (5 is active). */
    int64_t times[] = {1000, 2000, 9000, 3000, 4000, 5000};
    for (int i = 0; i < 6; i++)
        assert_int_equal(produce_big(f, times[i]), i);
    assert_int_equal(count_files(f, BUS_USER_EVENTS, 4, ".log"), 6);
    surge_error err = {0};
    /* now 6000: older than 3500 are 1000, 2000 (then 9000 stops the walk; 3000 waits). */
    assert_int_equal(bus_apply_retention(f->b, 6000, &err), 2);
    char path[256];
    for (int i = 0; i < 6; i++) {
        seg_path(f, BUS_USER_EVENTS, 4, i, "log", path, sizeof path);
        if (file_exists(path) != (i >= 2)) fail_msg("segment %d exists: %d", i, file_exists(path));
        seg_path(f, BUS_USER_EVENTS, 4, i, "index", path, sizeof path);
        assert_int_equal(file_exists(path), i >= 2);
    }
    int64_t start = -1;
    assert_int_equal(bus_start_offset(f->b, BUS_USER_EVENTS, 4, &start, &err), 0);
    assert_int_equal(start, 2);
    assert_int_equal(bus_apply_retention(f->b, 6000, &err), 0);
    /* Far in the future everything is expired except the active segment. */
    assert_int_equal(bus_apply_retention(f->b, 1000000, &err), 3);
    assert_int_equal(bus_start_offset(f->b, BUS_USER_EVENTS, 4, &start, &err), 0);
    assert_int_equal(start, 5);
    seg_path(f, BUS_USER_EVENTS, 4, 5, "log", path, sizeof path);
    assert_true(file_exists(path));
    /* The retained state survives a reopen, and a consumer from 0 starts at 5. */
    reopen(f);
    assert_int_equal(bus_start_offset(f->b, BUS_USER_EVENTS, 4, &start, &err), 0);
    assert_int_equal(start, 5);
    bus_consumer *c = bus_consumer_open(f->b, BUS_USER_EVENTS, 4, 0, &err);
    bus_record r;
    assert_int_equal(bus_consumer_next(c, &r, &err), 1);
    assert_int_equal(r.offset, 5);
    assert_int_equal(r.timestamp_ms, 5000);
    bus_consumer_close(c);
}

static void test_retention_by_size_keeps_the_partition_under_the_limit(void **state)
{
    fixture *f = *state;
    f->cfg.segment_bytes = 1024;
    f->cfg.compress = false;
    f->cfg.retention_ms = 0; /* keep forever by age */
    reopen(f);
    for (int i = 0; i < 6; i++)
        produce_big(f, BASE_TS + i);
    char path[256];
    seg_path(f, BUS_USER_EVENTS, 4, 0, "log", path, sizeof path);
    int64_t seg = file_size(path); /* every segment holds one identical-size batch */
    assert_true(seg > 800 && seg < 1024);
    surge_error err = {0};
    /* 6 segments = 6 * seg bytes; a limit of 2.5 segments deletes 4 (down to 2 * seg). */
    f->cfg.retention_bytes = seg * 5 / 2;
    reopen(f);
    /* A consumer positioned before retention runs continues at the new start. */
    bus_consumer *c = bus_consumer_open(f->b, BUS_USER_EVENTS, 4, 0, &err);
    bus_record r;
    assert_int_equal(bus_consumer_next(c, &r, &err), 1);
    assert_int_equal(r.offset, 0);
    assert_int_equal(bus_apply_retention(f->b, BASE_TS, &err), 4);
    for (int i = 0; i < 6; i++) {
        seg_path(f, BUS_USER_EVENTS, 4, i, "log", path, sizeof path);
        assert_int_equal(file_exists(path), i >= 4);
    }
    assert_int_equal(bus_consumer_next(c, &r, &err), 1);
    assert_int_equal(r.offset, 4);
    bus_consumer_close(c);
    /* Below one segment: all but the active one go. */
    bus_close(f->b);
    f->b = NULL;
    f->cfg.retention_bytes = seg / 2;
    reopen(f);
    assert_int_equal(bus_apply_retention(f->b, BASE_TS, &err), 1);
    int64_t start = -1;
    assert_int_equal(bus_start_offset(f->b, BUS_USER_EVENTS, 4, &start, &err), 0);
    assert_int_equal(start, 5);
    assert_int_equal(count_files(f, BUS_USER_EVENTS, 4, ".log"), 1);
}

/* ---------------------------------------------------------------- recovery */

/* Three uncompressed batches of samples 0..3, 4..8, 9..14 in supply-events/2; returns the
 * end position of each. */
static void three_batches(fixture *f, int64_t ends[3], char *path, size_t size)
{
    f->cfg.compress = false;
    reopen(f);
    seg_path(f, BUS_SUPPLY_EVENTS, 2, 0, "log", path, size);
    assert_int_equal(produce_samples(f->b, BUS_SUPPLY_EVENTS, 2, 0, 4), 0);
    ends[0] = file_size(path);
    assert_int_equal(produce_samples(f->b, BUS_SUPPLY_EVENTS, 2, 4, 5), 4);
    ends[1] = file_size(path);
    assert_int_equal(produce_samples(f->b, BUS_SUPPLY_EVENTS, 2, 9, 6), 9);
    ends[2] = file_size(path);
    bus_close(f->b);
    f->b = NULL;
}

/* Cuts the file inside the third batch, keep_in_last bytes after its start (-1: half of it). */
static void torn_tail_at(fixture *f, int64_t keep_in_last)
{
    int64_t ends[3];
    char path[256];
    three_batches(f, ends, path, sizeof path);
    if (keep_in_last < 0) keep_in_last = (ends[2] - ends[1]) / 2;
    assert_int_equal(truncate(path, ends[1] + keep_in_last), 0);
    reopen(f);
    bus_recovery_report rr;
    bus_recovery(f->b, &rr);
    assert_int_equal(rr.truncated_bytes, keep_in_last);
    assert_int_equal(rr.truncated_partitions, 1);
    assert_int_equal(rr.recovered_records, 9);
    assert_int_equal(file_size(path), ends[1]);
    int64_t end = -1;
    surge_error err = {0};
    assert_int_equal(bus_end_offset(f->b, BUS_SUPPLY_EVENTS, 2, &end, &err), 0);
    assert_int_equal(end, 9);
    assert_int_equal(consume_samples(f->b, BUS_SUPPLY_EVENTS, 2, 0, 0), 9);
    /* Appends continue at the right offset, and a second open finds nothing to cut. */
    assert_int_equal(produce_samples(f->b, BUS_SUPPLY_EVENTS, 2, 9, 6), 9);
    reopen(f);
    bus_recovery(f->b, &rr);
    assert_int_equal(rr.truncated_bytes, 0);
    assert_int_equal(rr.truncated_partitions, 0);
    assert_int_equal(rr.recovered_records, 15);
    assert_int_equal(consume_samples(f->b, BUS_SUPPLY_EVENTS, 2, 0, 0), 15);
    assert_int_equal(bus_verify(f->b, NULL, NULL, &err), 0);
}

static void test_torn_tail_mid_batch_is_cut_and_appends_continue(void **state)
{
    torn_tail_at(*state, -1);
}

static void test_torn_tail_inside_the_header_is_cut(void **state)
{
    torn_tail_at(*state, 20);
}

/* The torn batch has an index entry (written before the crash): recovery starts from an
 * earlier entry, cuts the batch and drops its entry. */
static void test_torn_tail_with_an_index_entry_trims_the_index(void **state)
{
    fixture *f = *state;
    f->cfg.compress = false;
    reopen(f);
    char log_path[256], index_path[256];
    seg_path(f, BUS_USER_EVENTS, 8, 0, "log", log_path, sizeof log_path);
    seg_path(f, BUS_USER_EVENTS, 8, 0, "index", index_path, sizeof index_path);
    int next = 0, batches = 0;
    int64_t log_before = 0, index_before = 0;
    for (;;) {
        log_before = file_size(log_path);
        index_before = file_size(index_path);
        produce_samples(f->b, BUS_USER_EVENTS, 8, next, 10);
        next += 10;
        batches++;
        if (batches >= 20 && file_size(index_path) > index_before) break;
    }
    assert_true(index_before >= 24 * 3);
    size_t len;
    bus_close(f->b);
    f->b = NULL;
    unsigned char *index_full = read_file(index_path, &len);
    free(index_full);
    assert_int_equal(len, index_before + 24);
    assert_int_equal(truncate(log_path, log_before + 100), 0);
    reopen(f);
    bus_recovery_report rr;
    bus_recovery(f->b, &rr);
    assert_int_equal(rr.truncated_bytes, 100);
    assert_int_equal(rr.recovered_records, next - 10);
    assert_int_equal(file_size(log_path), log_before);
    assert_int_equal(file_size(index_path), index_before);
    assert_int_equal(consume_samples(f->b, BUS_USER_EVENTS, 8, 0, 0), next - 10);
    /* The batch produced again gets its entry back. */
    produce_samples(f->b, BUS_USER_EVENTS, 8, next - 10, 10);
    assert_int_equal(file_size(index_path), index_before + 24);
    surge_error err = {0};
    assert_int_equal(bus_verify(f->b, NULL, NULL, &err), 0);
}

typedef struct reports {
    int count;
    char first[512];
} reports;

static void collect(void *ctx, const char *message)
{
    reports *r = ctx;
    if (r->count++ == 0) snprintf(r->first, sizeof r->first, "%s", message);
}

static void test_bit_flip_in_last_batch_is_cut(void **state)
{
    fixture *f = *state;
    int64_t ends[3];
    char path[256];
    three_batches(f, ends, path, sizeof path);
    flip_byte(path, ends[1] + 48 + 10); /* inside the last batch's records */
    reopen(f);
    bus_recovery_report rr;
    bus_recovery(f->b, &rr);
    assert_int_equal(rr.truncated_bytes, ends[2] - ends[1]);
    assert_int_equal(rr.truncated_partitions, 1);
    assert_int_equal(rr.recovered_records, 9);
    assert_int_equal(consume_samples(f->b, BUS_SUPPLY_EVENTS, 2, 0, 0), 9);
    surge_error err = {0};
    reports rep = {0, ""};
    assert_int_equal(bus_verify(f->b, collect, &rep, &err), 0);
    assert_int_equal(rep.count, 0);
}

static void middle_corruption(fixture *f, int64_t flip_at_in_batch2)
{
    int64_t ends[3];
    char path[256];
    three_batches(f, ends, path, sizeof path);
    flip_byte(path, ends[0] + flip_at_in_batch2);
    reopen(f); /* opens: nothing is cut */
    bus_recovery_report rr;
    bus_recovery(f->b, &rr);
    assert_int_equal(rr.truncated_bytes, 0);
    assert_int_equal(rr.truncated_partitions, 0);
    assert_int_equal(file_size(path), ends[2]);
    surge_error err = {0};
    int64_t end = -1;
    assert_int_equal(bus_end_offset(f->b, BUS_SUPPLY_EVENTS, 2, &end, &err), 0);
    assert_int_equal(end, 15);

    char where[320];
    snprintf(where, sizeof where, "%s: corrupt batch at position %lld", path, (long long)ends[0]);
    reports rep = {0, ""};
    assert_int_equal(bus_verify(f->b, collect, &rep, &err), SURGE_EIO);
    assert_int_equal(rep.count, 1);
    if (!strstr(rep.first, where))
        fail_msg("verify reported \"%s\", want \"%s\"", rep.first, where);
    char resume[96];
    snprintf(resume, sizeof resume, "resume at position %lld (offset 9)", (long long)ends[1]);
    assert_non_null(strstr(rep.first, resume));

    /* The consumer reads batch 1, then fails at batch 2, again and again. */
    bus_consumer *c = bus_consumer_open(f->b, BUS_SUPPLY_EVENTS, 2, 0, &err);
    bus_record r;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(bus_consumer_next(c, &r, &err), 1);
        sample_check(&r, i, i);
    }
    snprintf(where, sizeof where, "corrupt batch in %s at position %lld", path, (long long)ends[0]);
    for (int again = 0; again < 2; again++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(bus_consumer_next(c, &r, &err), -SURGE_EIO);
        assert_int_equal(err.code, SURGE_EIO);
        if (!strstr(err.message, where))
            fail_msg("consumer error \"%s\", want \"%s\"", err.message, where);
    }
    bus_consumer_close(c);
    /* A consumer starting after the corrupt batch reads on: it holds none of its offsets. */
    assert_int_equal(consume_samples(f->b, BUS_SUPPLY_EVENTS, 2, 9, 9), 6);
    /* Appending is still possible after the intact last batch. */
    assert_int_equal(produce_samples(f->b, BUS_SUPPLY_EVENTS, 2, 15, 1), 15);
}

static void test_bit_flip_in_middle_batch_records_is_reported_not_cut(void **state)
{
    middle_corruption(*state, 48 + 5);
}

static void test_bit_flip_in_middle_batch_length_is_reported_not_cut(void **state)
{
    middle_corruption(*state, 17); /* the length field's second byte */
}

/* Garbage between two batches loses no record: consumers read every offset; verify reports it. */
static void test_garbage_between_batches_is_reported_but_loses_nothing(void **state)
{
    fixture *f = *state;
    int64_t ends[3];
    char path[256];
    three_batches(f, ends, path, sizeof path);
    size_t len;
    unsigned char *d = read_file(path, &len);
    unsigned char *spliced = malloc(len + 100);
    memcpy(spliced, d, (size_t)ends[1]);
    memset(spliced + ends[1], 0xee, 100);
    memcpy(spliced + ends[1] + 100, d + ends[1], len - (size_t)ends[1]);
    write_file(path, spliced, len + 100);
    free(d);
    free(spliced);
    reopen(f);
    bus_recovery_report rr;
    bus_recovery(f->b, &rr);
    assert_int_equal(rr.truncated_bytes, 0);
    assert_int_equal(rr.recovered_records, 15);
    assert_int_equal(consume_samples(f->b, BUS_SUPPLY_EVENTS, 2, 0, 0), 15);
    surge_error err = {0};
    reports rep = {0, ""};
    assert_int_equal(bus_verify(f->b, collect, &rep, &err), SURGE_EIO);
    assert_int_equal(rep.count, 1);
    char want[320];
    snprintf(want, sizeof want, "%s: corrupt batch at position %lld (bad magic", path,
             (long long)ends[1]);
    if (!strstr(rep.first, want)) fail_msg("verify reported \"%s\", want \"%s\"", rep.first, want);
}

static void test_deleted_or_damaged_index_is_rebuilt_identically(void **state)
{
    fixture *f = *state;
    f->cfg.compress = false;
    f->cfg.segment_bytes = 1 << 20;
    reopen(f);
    for (int b = 0; b < 40; b++)
        produce_samples(f->b, BUS_USER_EVENTS, 8, b * 10, 10);
    bus_close(f->b);
    f->b = NULL;
    char path[256];
    seg_path(f, BUS_USER_EVENTS, 8, 0, "index", path, sizeof path);
    size_t len;
    unsigned char *original = read_file(path, &len);
    assert_true(len >= 24 * 5);
    assert_int_equal(len % 24, 0);
    /* Every entry points at the start of a batch with its offset, at least 4096 bytes after the
     * previous indexed batch (position 0 the first time), with a running max timestamp. */
    char log_path[256];
    seg_path(f, BUS_USER_EVENTS, 8, 0, "log", log_path, sizeof log_path);
    size_t log_len;
    unsigned char *log = read_file(log_path, &log_len);
    int64_t prev_pos = 0, prev_ts = 0;
    for (size_t e = 0; e < len / 24; e++) {
        int64_t offset = le64(original + e * 24), pos = le64(original + e * 24 + 8),
                max_ts = le64(original + e * 24 + 16);
        assert_true(pos - prev_pos >= 4096 && pos + 48 <= (int64_t)log_len);
        assert_memory_equal(log + pos, "SRGL", 4);
        assert_int_equal(le64(log + pos + 8), offset);
        assert_true(max_ts >= le64(log + pos + 40) && max_ts >= prev_ts);
        prev_pos = pos;
        prev_ts = max_ts;
    }
    free(log);

    assert_int_equal(unlink(path), 0);
    reopen(f);
    size_t len2;
    unsigned char *rebuilt = read_file(path, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(rebuilt, original, len);
    free(rebuilt);
    assert_int_equal(consume_samples(f->b, BUS_USER_EVENTS, 8, 333, 333), 400 - 333);
    bus_close(f->b);
    f->b = NULL;

    /* A torn entry (size not a multiple of 24) and a garbage last entry. */
    write_file(path, original, len - 7);
    reopen(f);
    rebuilt = read_file(path, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(rebuilt, original, len);
    free(rebuilt);
    bus_close(f->b);
    f->b = NULL;
    unsigned char *garbage = malloc(len);
    memcpy(garbage, original, len);
    memset(garbage + len - 24, 0x33, 24);
    write_file(path, garbage, len);
    reopen(f);
    rebuilt = read_file(path, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(rebuilt, original, len);
    free(rebuilt);
    free(garbage);
    free(original);
    assert_int_equal(consume_samples(f->b, BUS_USER_EVENTS, 8, 201, 201), 400 - 201);
}

static void test_missing_segment_is_reported_as_a_gap(void **state)
{
    fixture *f = *state;
    f->cfg.segment_bytes = 1024;
    f->cfg.compress = false;
    reopen(f);
    for (int i = 0; i < 4; i++)
        produce_big(f, BASE_TS + i);
    bus_close(f->b);
    f->b = NULL;
    char path[256];
    seg_path(f, BUS_USER_EVENTS, 4, 2, "log", path, sizeof path);
    assert_int_equal(unlink(path), 0);
    reopen(f);
    surge_error err = {0};
    reports rep = {0, ""};
    assert_int_equal(bus_verify(f->b, collect, &rep, &err), SURGE_EIO);
    assert_int_equal(rep.count, 1);
    assert_non_null(strstr(rep.first, "starts at offset 3 but the previous segment ends at 2"));
    bus_consumer *c = bus_consumer_open(f->b, BUS_USER_EVENTS, 4, 0, &err);
    bus_record r;
    assert_int_equal(bus_consumer_next(c, &r, &err), 1);
    assert_int_equal(bus_consumer_next(c, &r, &err), 1);
    assert_int_equal(bus_consumer_next(c, &r, &err), -SURGE_EIO);
    assert_non_null(strstr(err.message, "offsets 2..2 are missing"));
    bus_consumer_close(c);
}

/* ---------------------------------------------------------------- concurrency, policies */

#define THREADS 4
#define BATCHES_PER_THREAD 60
#define RECORDS_PER_BATCH 10

typedef struct producer_arg {
    bus *b;
    int thread;
    int failures;
} producer_arg;

static void *producer_main(void *argp)
{
    producer_arg *a = argp;
    for (int batch = 0; batch < BATCHES_PER_THREAD; batch++) {
        char values[RECORDS_PER_BATCH][16];
        bus_record recs[RECORDS_PER_BATCH];
        memset(recs, 0, sizeof recs);
        for (int k = 0; k < RECORDS_PER_BATCH; k++) {
            int seq = batch * RECORDS_PER_BATCH + k;
            snprintf(values[k], sizeof values[k], "%d:%d", a->thread, seq);
            recs[k].value = values[k];
            recs[k].value_len = strlen(values[k]);
            recs[k].timestamp_ms = BASE_TS + seq;
        }
        surge_error err = {0};
        if (bus_produce(a->b, BUS_USER_EVENTS, 0, recs, RECORDS_PER_BATCH, NULL, &err))
            a->failures++;
    }
    return NULL;
}

static void concurrent_producers(fixture *f)
{
    producer_arg args[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (producer_arg){f->b, t, 0};
        assert_int_equal(pthread_create(&th[t], NULL, producer_main, &args[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    const int total = THREADS * BATCHES_PER_THREAD * RECORDS_PER_BATCH;
    static bool seen[THREADS][BATCHES_PER_THREAD * RECORDS_PER_BATCH];
    memset(seen, 0, sizeof seen);
    int last_seq[THREADS] = {-1, -1, -1, -1};
    surge_error err = {0};
    bus_consumer *c = bus_consumer_open(f->b, BUS_USER_EVENTS, 0, 0, &err);
    bus_record r;
    int n = 0, rc;
    while ((rc = bus_consumer_next(c, &r, &err)) == 1) {
        assert_int_equal(r.offset, n);
        char text[16] = "";
        memcpy(text, r.value, r.value_len < 15 ? r.value_len : 15);
        int thread = -1, seq = -1;
        assert_int_equal(sscanf(text, "%d:%d", &thread, &seq), 2);
        assert_true(thread >= 0 && thread < THREADS && seq >= 0 &&
                    seq < BATCHES_PER_THREAD * RECORDS_PER_BATCH);
        assert_false(seen[thread][seq]);
        seen[thread][seq] = true;
        assert_true(seq > last_seq[thread]); /* each producer's records stay in order */
        last_seq[thread] = seq;
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, total);
    bus_consumer_close(c);
    bus_stats st;
    bus_get_stats(f->b, &st);
    assert_int_equal(st.records_written, total);
    assert_int_equal(st.batches_written, THREADS * BATCHES_PER_THREAD);
    print_message("%d batches from %d threads took %llu fsyncs\n", THREADS * BATCHES_PER_THREAD,
                  THREADS, (unsigned long long)st.fsyncs);
}

static void test_concurrent_producers_on_one_partition_fsync_every_batch(void **state)
{
    fixture *f = *state;
    f->cfg.segment_bytes = 8192; /* rolls while the threads race */
    reopen(f);
    concurrent_producers(f);
    /* At most one fdatasync per batch plus one per roll; sharing usually makes it far fewer. */
    bus_stats st;
    bus_get_stats(f->b, &st);
    int rolls = count_files(f, BUS_USER_EVENTS, 0, ".log") - 1;
    assert_true(rolls >= 1);
    assert_true(st.fsyncs >= 1 && st.fsyncs <= (uint64_t)(THREADS * BATCHES_PER_THREAD + rolls));
}

static void test_concurrent_producers_with_interval_fsync(void **state)
{
    fixture *f = *state;
    f->cfg.fsync_interval_ms = 10;
    reopen(f);
    concurrent_producers(f);
    struct timespec ts = {0, 60 * 1000 * 1000};
    nanosleep(&ts, NULL);
    bus_stats st;
    bus_get_stats(f->b, &st);
    assert_true(st.fsyncs >= 1);
    reopen(f);
    int64_t end = -1;
    surge_error err = {0};
    assert_int_equal(bus_end_offset(f->b, BUS_USER_EVENTS, 0, &end, &err), 0);
    assert_int_equal(end, THREADS * BATCHES_PER_THREAD * RECORDS_PER_BATCH);
}

static void test_one_writer_per_directory_and_read_only_beside_it(void **state)
{
    fixture *f = *state;
    reopen(f);
    produce_samples(f->b, BUS_USER_EVENTS, 3, 0, 5);
    surge_error err = {0};
    assert_null(bus_open(f->url, &f->cfg, &err));
    assert_int_equal(err.code, SURGE_ECONFLICT);
    assert_non_null(strstr(err.message, f->dir));

    bus_config ro = f->cfg;
    ro.read_only = true;
    bus *r = bus_open(f->url, &ro, &err);
    if (!r) fail_msg("read-only open: %s", err.message);
    assert_int_equal(consume_samples(r, BUS_USER_EVENTS, 3, 0, 0), 5);
    bus_record rec = {.value = "x", .value_len = 1};
    assert_int_equal(bus_produce(r, BUS_USER_EVENTS, 3, &rec, 1, NULL, &err), SURGE_EFORBIDDEN);
    assert_int_equal(bus_commit(r, "g", BUS_USER_EVENTS, 3, 1, &err), SURGE_EFORBIDDEN);
    assert_int_equal(bus_apply_retention(r, INT64_MAX / 2, &err), -SURGE_EFORBIDDEN);
    assert_int_equal(bus_verify(r, NULL, NULL, &err), 0);
    bus_close(r);

    /* A half-written batch is left alone by a read-only open. */
    char path[256];
    seg_path(f, BUS_USER_EVENTS, 3, 0, "log", path, sizeof path);
    int64_t size = file_size(path);
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    assert_int_equal(fwrite("SRGL\1\2\3", 1, 7, fp), 7);
    fclose(fp);
    r = bus_open(f->url, &ro, &err);
    assert_non_null(r);
    bus_recovery_report rr;
    bus_recovery(r, &rr);
    assert_int_equal(rr.truncated_bytes, 0);
    assert_int_equal(consume_samples(r, BUS_USER_EVENTS, 3, 0, 0), 5);
    bus_close(r);
    assert_int_equal(file_size(path), size + 7);

    char missing[128];
    snprintf(missing, sizeof missing, "log://%s/nope", f->dir);
    assert_null(bus_open(missing, &ro, &err));
    assert_int_equal(err.code, SURGE_ENOTFOUND);
}

static void test_arguments_are_checked(void **state)
{
    fixture *f = *state;
    reopen(f);
    surge_error err = {0};
    bus_record r = {.value = "x", .value_len = 1};
    assert_int_equal(bus_produce(f->b, BUS_NTOPICS, 0, &r, 1, NULL, &err), SURGE_EINVAL);
    assert_int_equal(bus_produce(f->b, BUS_USER_EVENTS, 12, &r, 1, NULL, &err), SURGE_EINVAL);
    assert_int_equal(bus_produce(f->b, BUS_USER_EVENTS, -1, &r, 1, NULL, &err), SURGE_EINVAL);
    assert_int_equal(bus_produce(f->b, BUS_USER_EVENTS, 0, &r, 0, NULL, &err), SURGE_EINVAL);
    bus_record bad = r;
    bad.header_count = BUS_MAX_HEADERS + 1;
    assert_int_equal(bus_produce(f->b, BUS_USER_EVENTS, 0, &bad, 1, NULL, &err), SURGE_EINVAL);
    bad = r;
    bad.header_count = 1;
    assert_int_equal(bus_produce(f->b, BUS_USER_EVENTS, 0, &bad, 1, NULL, &err), SURGE_EINVAL);
    bad = r;
    bad.value = NULL;
    assert_int_equal(bus_produce(f->b, BUS_USER_EVENTS, 0, &bad, 1, NULL, &err), SURGE_EINVAL);
    bad = r;
    bad.timestamp_ms = -5;
    assert_int_equal(bus_produce(f->b, BUS_USER_EVENTS, 0, &bad, 1, NULL, &err), SURGE_EINVAL);
    assert_null(bus_consumer_open(f->b, BUS_USER_EVENTS, 0, 1, &err)); /* past the end (0) */
    assert_int_equal(err.code, SURGE_EINVAL);
    assert_null(bus_consumer_open(f->b, BUS_USER_EVENTS, 0, -1, &err));
    assert_int_equal(err.code, SURGE_EINVAL);
    assert_null(bus_open("kafka2://x", NULL, &err));
    assert_int_equal(err.code, SURGE_EINVAL);
    assert_non_null(strstr(err.message, "log:///abs/dir"));
    bus_config c;
    bus_config_defaults(&c);
    c.segment_bytes = 10;
    assert_null(bus_open(f->url, &c, &err));
    assert_int_equal(err.field[0] != 0, 1);
    assert_string_equal(err.field, "segment_bytes");
}

static void test_produce_many_writes_every_batch_and_reports_each(void **state)
{
    fixture *f = *state;
    reopen(f);
    bus_record a[2] = {{.key = "k", .key_len = 1, .value = "a0", .value_len = 2, .timestamp_ms = 5},
                       {.key = "k", .key_len = 1, .value = "a1", .value_len = 2, .timestamp_ms = 6}};
    bus_record b1 = {.key = "k", .key_len = 1, .value = "b0", .value_len = 2, .timestamp_ms = 7};
    bus_batch batches[3] = {
        {.topic = BUS_USER_EVENTS, .partition = 3, .records = a, .count = 2},
        {.topic = BUS_SYSTEM_EVENTS, .partition = 0, .records = &b1, .count = 1},
        {.topic = BUS_USER_EVENTS, .partition = 3, .records = &b1, .count = 1},
    };
    surge_error err = {0};
    assert_int_equal(bus_produce_many(f->b, batches, 3, &err), 0);
    /* offsets per partition are consecutive in batch order */
    assert_int_equal(batches[0].base_offset, 0);
    assert_int_equal(batches[1].base_offset, 0);
    assert_int_equal(batches[2].base_offset, 2);
    for (int i = 0; i < 3; i++) assert_int_equal(batches[i].error, 0);
    int64_t end = -1;
    assert_int_equal(bus_end_offset(f->b, BUS_USER_EVENTS, 3, &end, &err), 0);
    assert_int_equal(end, 3);
    bus_consumer *c = bus_consumer_open(f->b, BUS_USER_EVENTS, 3, 0, &err);
    assert_non_null(c);
    const char *want[] = {"a0", "a1", "b0"};
    bus_record r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(bus_consumer_next(c, &r, &err), 1);
        assert_int_equal(r.offset, i);
        assert_memory_equal(r.value, want[i], 2);
    }
    assert_int_equal(bus_consumer_next(c, &r, &err), 0);
    bus_consumer_close(c);
    /* a batch for a partition that does not exist: nothing is written */
    bus_batch bad[2] = {{.topic = BUS_USER_EVENTS, .partition = 3, .records = a, .count = 1},
                        {.topic = BUS_USER_EVENTS, .partition = 12, .records = a, .count = 1}};
    assert_int_equal(bus_produce_many(f->b, bad, 2, &err), SURGE_EINVAL);
    assert_int_equal(bus_end_offset(f->b, BUS_USER_EVENTS, 3, &end, &err), 0);
    assert_int_equal(end, 3);
}

static void test_produce_many_over_many_partitions_syncs_once(void **state)
{
    fixture *f = *state;
    reopen(f);
    bus_record r = {.key = "k", .key_len = 1, .value = "v", .value_len = 1, .timestamp_ms = 9};
    bus_batch batches[6];
    for (int round = 0; round < 2; round++) {
        for (int p = 0; p < 6; p++)
            batches[p] = (bus_batch){.topic = BUS_SUPPLY_EVENTS, .partition = p, .records = &r,
                                     .count = 1};
        bus_stats before, after;
        bus_get_stats(f->b, &before);
        surge_error err = {0};
        assert_int_equal(bus_produce_many(f->b, batches, 6, &err), 0);
        bus_get_stats(f->b, &after);
        for (int p = 0; p < 6; p++) assert_int_equal(batches[p].base_offset, round);
        /* the second round finds every directory synced: one syncfs covers all six */
        if (round == 1) assert_int_equal(after.fsyncs - before.fsyncs, 1);
    }
    /* and the data is there after a reopen */
    reopen(f);
    surge_error err = {0};
    for (int p = 0; p < 6; p++) {
        int64_t end = -1;
        assert_int_equal(bus_end_offset(f->b, BUS_SUPPLY_EVENTS, p, &end, &err), 0);
        assert_int_equal(end, 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_matches_check_value_and_rfc3720_vectors),
        cmocka_unit_test(test_partition_for_key_matches_kafka_default_partitioner),
        cmocka_unit_test(test_topic_names_are_the_seeds_six_in_enum_order),
        cmocka_unit_test(test_config_defaults_follow_design),
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_batch_bytes_on_disk_follow_the_documented_layout),
        T(test_produce_many_writes_every_batch_and_reports_each),
        T(test_produce_many_over_many_partitions_syncs_once),
        T(test_compressible_batch_is_stored_snappy_compressed),
        T(test_round_trip_across_segment_rolls_uncompressed),
        T(test_round_trip_across_segment_rolls_compressed),
        T(test_consumer_at_end_sees_later_records_and_rolls),
        T(test_timestamp_zero_means_now),
        T(test_offset_for_time_finds_first_record_at_or_after),
        T(test_offset_for_time_uses_the_index_across_segments),
        T(test_committed_offsets_survive_reopen),
        T(test_retention_by_age_deletes_the_oldest_expired_segments),
        T(test_retention_by_size_keeps_the_partition_under_the_limit),
        T(test_torn_tail_mid_batch_is_cut_and_appends_continue),
        T(test_torn_tail_inside_the_header_is_cut),
        T(test_torn_tail_with_an_index_entry_trims_the_index),
        T(test_bit_flip_in_last_batch_is_cut),
        T(test_bit_flip_in_middle_batch_records_is_reported_not_cut),
        T(test_bit_flip_in_middle_batch_length_is_reported_not_cut),
        T(test_garbage_between_batches_is_reported_but_loses_nothing),
        T(test_deleted_or_damaged_index_is_rebuilt_identically),
        T(test_missing_segment_is_reported_as_a_gap),
        T(test_concurrent_producers_on_one_partition_fsync_every_batch),
        T(test_concurrent_producers_with_interval_fsync),
        T(test_one_writer_per_directory_and_read_only_beside_it),
        T(test_arguments_are_checked),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
