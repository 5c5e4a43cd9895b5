/* fuzz_log_recovery.c: libFuzzer target for the log backend's recovery and read paths. Each
 * input becomes the segment file (and optionally the index) of one partition in a fresh log
 * directory; the bus is opened (recovery runs), verified, read from the start and the middle,
 * searched by time, appended to, and reopened. Whatever the bytes, nothing may crash, hang or
 * leak, and after the first open has cut any torn tail an append followed by a reopen must find
 * nothing left to cut and read the appended records back exactly.
 *
 * Input: byte 0 holds flags, then (when FLAG_INDEX) a 2-byte little-endian index length and
 * that many index bytes, then the segment bytes.
 *   FLAG_INDEX     write <base>.index too (otherwise recovery builds it)
 *   FLAG_COMPRESS  the append is snappy-compressed
 *   FLAG_CLOSED    the segment is followed by an empty newer one, so it is a closed segment
 *   FLAG_FIX_CRC   before writing, walk the segment by its length fields and store correct
 *                  CRCs, so mutated headers and records get past the CRC check and reach the
 *                  field checks, snappy and the record decoder
 * Build and run: tests/fuzz/run.sh. FUZZ_LOG=1 shows the bus's log lines; FUZZ_TMPDIR is where
 * the log directory goes (default /dev/shm, else /tmp). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus/bus.h"
#include "bus/bus_backend.h"

#define FLAG_INDEX 0x01
#define FLAG_COMPRESS 0x02
#define FLAG_CLOSED 0x04
#define FLAG_FIX_CRC 0x08

static char root[256];
static char url[300];
static char part_dir[400];

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void cleanup(void)
{
    if (root[0]) remove_tree(root);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Stores the CRC each batch's header calls for (docs/log-format.md), walking by lengths. */
static void fix_crcs(uint8_t *d, size_t size)
{
    size_t pos = 0;
    while (size - pos >= 48) {
        uint32_t len = get_u32(d + pos + 16);
        if (len < 48 || len > size - pos) break;
        uint32_t crc = bus_crc32c(bus_crc32c(0, d + pos + 16, len - 16), d + pos + 8, 8);
        for (int i = 0; i < 4; i++)
            d[pos + 4 + i] = (uint8_t)(crc >> (8 * i));
        pos += len;
    }
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (len && fwrite(data, 1, len, f) != len) abort();
    if (fclose(f) != 0) abort();
}

static void setup_once(void)
{
    if (root[0]) return;
    /* run.sh passes a directory it removes afterwards (libFuzzer may end without atexit). */
    const char *base = getenv("FUZZ_TMPDIR");
    if (!base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(root, sizeof root, "%s/surge_fuzz_log_XXXXXX", base);
    if (!mkdtemp(root)) abort();
    atexit(cleanup);
    snprintf(url, sizeof url, "log://%s", root);
    snprintf(part_dir, sizeof part_dir, "%s/user-events", root);
    if (mkdir(part_dir, 0700) != 0) abort();
    snprintf(part_dir, sizeof part_dir, "%s/user-events/0", root);
    if (!getenv("FUZZ_LOG")) log_set_level((log_level)(LOG_ERROR + 1));
}

/* Reads from offset until the end, an error or a bound; returns the records read. */
static int64_t drain(bus *b, int64_t from)
{
    surge_error err;
    bus_consumer *c = bus_consumer_open(b, BUS_USER_EVENTS, 0, from, &err);
    if (!c) return 0;
    bus_record r;
    int64_t n = 0, last = -1;
    while (n < 1000000 && bus_consumer_next(c, &r, &err) == 1) {
        if (r.offset <= last) __builtin_trap(); /* offsets only go up */
        last = r.offset;
        /* Touch every byte handed out, so ASan checks the pointers. */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < r.key_len; i++)
            sink ^= ((const uint8_t *)r.key)[i];
        for (size_t i = 0; i < r.value_len; i++)
            sink ^= ((const uint8_t *)r.value)[i];
        for (int h = 0; h < r.header_count; h++) {
            sink ^= (uint8_t)strlen(r.headers[h].name);
            for (size_t i = 0; i < r.headers[h].value_len; i++)
                sink ^= ((const uint8_t *)r.headers[h].value)[i];
        }
        (void)sink;
        n++;
    }
    bus_consumer_close(c);
    return n;
}

static void ignore_report(void *ctx, const char *message)
{
    (void)ctx;
    (void)message;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    if (size < 1) return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    const uint8_t *index = NULL;
    size_t index_len = 0;
    if (flags & FLAG_INDEX) {
        if (size < 2) return 0;
        index_len = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        if (index_len > size) index_len = size;
        index = data;
        data += index_len;
        size -= index_len;
    }

    /* Only this partition changes between inputs: the other 71 stay empty and are reused. */
    char path[512];
    remove_tree(part_dir);
    if (mkdir(part_dir, 0700) != 0) abort();
    snprintf(path, sizeof path, "%s/%020d.log", part_dir, 0);
    if (flags & FLAG_FIX_CRC) {
        uint8_t *copy = malloc(size + 1);
        if (!copy) abort();
        memcpy(copy, data, size);
        fix_crcs(copy, size);
        write_file(path, copy, size);
        free(copy);
    } else {
        write_file(path, data, size);
    }
    if (index) {
        snprintf(path, sizeof path, "%s/%020d.index", part_dir, 0);
        write_file(path, index, index_len);
    }
    if (flags & FLAG_CLOSED) {
        snprintf(path, sizeof path, "%s/%020d.log", part_dir, 1000000);
        write_file(path, NULL, 0);
    }

    bus_config cfg;
    bus_config_defaults(&cfg);
    cfg.fsync_interval_ms = 0; /* fdatasync on tmpfs costs nothing; no fsync thread to start */
    cfg.segment_bytes = 4096;
    cfg.compress = (flags & FLAG_COMPRESS) != 0;
    surge_error err;
    bus *b = bus_open(url, &cfg, &err);
    if (!b) return 0;
    bus_verify(b, ignore_report, NULL, &err);
    int64_t start = 0, end = 0, off = 0;
    bus_start_offset(b, BUS_USER_EVENTS, 0, &start, &err);
    bus_end_offset(b, BUS_USER_EVENTS, 0, &end, &err);
    drain(b, start);
    drain(b, start + (end - start) / 2);
    int64_t times[] = {0, 1, 1767225600000LL, INT64_MAX};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        bus_offset_for_time(b, BUS_USER_EVENTS, 0, times[i], &off, &err);

    /* Append three records and read them back, then reopen: nothing may need cutting. */
    bus_record recs[3];
    memset(recs, 0, sizeof recs);
    const char *values[3] = {"alpha", "", "gamma-gamma-gamma-gamma-gamma"};
    for (int i = 0; i < 3; i++) {
        recs[i].key = "dr5ru";
        recs[i].key_len = 5;
        recs[i].value = values[i];
        recs[i].value_len = strlen(values[i]);
        recs[i].timestamp_ms = 1767225600000LL + i;
    }
    recs[2].header_count = 1;
    recs[2].headers[0] = (bus_header){.name = "source", .value = "fuzz", .value_len = 4};
    int64_t base = -1;
    bool appended = bus_produce(b, BUS_USER_EVENTS, 0, recs, 3, &base, &err) == 0;
    bus_close(b);

    b = bus_open(url, &cfg, &err);
    if (!b) {
        if (appended) __builtin_trap(); /* it opened before and we only appended */
        return 0;
    }
    bus_recovery_report rr;
    bus_recovery(b, &rr);
    if (appended && rr.truncated_bytes != 0) __builtin_trap();
    if (appended) {
        bus_consumer *c = bus_consumer_open(b, BUS_USER_EVENTS, 0, base, &err);
        if (!c) __builtin_trap();
        for (int i = 0; i < 3; i++) {
            bus_record r;
            if (bus_consumer_next(c, &r, &err) != 1 || r.offset != base + i ||
                r.value_len != recs[i].value_len ||
                (r.value_len && memcmp(r.value, recs[i].value, r.value_len) != 0) ||
                r.timestamp_ms != recs[i].timestamp_ms || r.header_count != recs[i].header_count)
                __builtin_trap();
        }
        bus_consumer_close(c);
    }
    bus_verify(b, ignore_report, NULL, &err);
    bus_apply_retention(b, 1767225600000LL + 10LL * 24 * 3600 * 1000, &err);
    drain(b, 0);
    bus_close(b);
    return 0;
}
