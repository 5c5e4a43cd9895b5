/* make_log_seeds.c: writes a seed corpus for fuzz_log_recovery from real logs: the bus writes a
 * few partitions (compressed and not, with headers, long enough for index entries), and each
 * segment becomes one input in the target's format (flags byte, optional index, segment bytes),
 * plus a torn copy. Usage: make_log_seeds OUT_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"

#define FLAG_INDEX 0x01
#define FLAG_COMPRESS 0x02
#define FLAG_CLOSED 0x04
#define FLAG_FIX_CRC 0x08

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc((size_t)n + 1);
    if (!d || fread(d, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "make_log_seeds: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return d;
}

static void seed(const char *out, const char *name, unsigned char flags, const unsigned char *index,
                 size_t index_len, const unsigned char *log, size_t log_len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "make_log_seeds: cannot write %s\n", path);
        exit(1);
    }
    fputc(flags, f);
    if (flags & FLAG_INDEX) {
        if (index_len > 0xffff) index_len = 0xffff;
        fputc((int)(index_len & 0xff), f);
        fputc((int)(index_len >> 8), f);
        fwrite(index, 1, index_len, f);
    }
    fwrite(log, 1, log_len, f);
    if (fclose(f) != 0) exit(1);
}

static void produce(bus *b, int partition, int batches, int per_batch, size_t value_len)
{
    static char value[1024];
    for (size_t i = 0; i < sizeof value; i++)
        value[i] = (char)('a' + i % 7);
    for (int k = 0; k < batches; k++) {
        bus_record recs[32];
        memset(recs, 0, sizeof recs);
        for (int i = 0; i < per_batch; i++) {
            recs[i].key = "dr5ru";
            recs[i].key_len = 5;
            recs[i].value = value;
            recs[i].value_len = value_len + (size_t)i;
            recs[i].timestamp_ms = 1767225600000LL + k * 1000 + (i % 3);
            recs[i].header_count = i % 3;
            for (int h = 0; h < recs[i].header_count; h++)
                recs[i].headers[h] =
                    (bus_header){.name = h ? "trace" : "source", .value = "x1", .value_len = 2};
        }
        surge_error err;
        if (bus_produce(b, BUS_USER_EVENTS, partition, recs, (size_t)per_batch, NULL, &err)) {
            fprintf(stderr, "make_log_seeds: %s\n", err.message);
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_log_seeds OUT_DIR\n");
        return 2;
    }
    char dir[] = "/tmp/surge_seeds_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char url[64];
    snprintf(url, sizeof url, "log://%s", dir);
    bus_config cfg;
    bus_config_defaults(&cfg);
    cfg.fsync_interval_ms = 1000;
    surge_error err;
    log_set_level(LOG_ERROR);

    cfg.compress = false;
    bus *b = bus_open(url, &cfg, &err);
    if (!b) {
        fprintf(stderr, "make_log_seeds: %s\n", err.message);
        return 1;
    }
    produce(b, 0, 3, 4, 20);    /* small, uncompressed */
    produce(b, 1, 12, 10, 150); /* index entries */
    bus_close(b);
    cfg.compress = true;
    b = bus_open(url, &cfg, &err);
    if (!b) return 1;
    produce(b, 2, 4, 8, 60); /* compressed */
    bus_close(b);

    const char *out = argv[1];
    for (int p = 0; p < 3; p++) {
        char path[256];
        size_t log_len, index_len;
        snprintf(path, sizeof path, "%s/user-events/%d/%020d.log", dir, p, 0);
        unsigned char *log = slurp(path, &log_len);
        snprintf(path, sizeof path, "%s/user-events/%d/%020d.index", dir, p, 0);
        unsigned char *index = slurp(path, &index_len);
        if (!log || !index) return 1;
        char name[64];
        snprintf(name, sizeof name, "seed-p%d", p);
        seed(out, name, 0, NULL, 0, log, log_len);
        snprintf(name, sizeof name, "seed-p%d-index", p);
        seed(out, name, FLAG_INDEX | FLAG_COMPRESS, index, index_len, log, log_len);
        snprintf(name, sizeof name, "seed-p%d-closed", p);
        seed(out, name, FLAG_CLOSED | FLAG_INDEX, index, index_len, log, log_len);
        snprintf(name, sizeof name, "seed-p%d-fixcrc", p);
        seed(out, name, FLAG_FIX_CRC, NULL, 0, log, log_len);
        snprintf(name, sizeof name, "seed-p%d-torn", p);
        seed(out, name, 0, NULL, 0, log, log_len - log_len / 7);
        free(log);
        free(index);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
