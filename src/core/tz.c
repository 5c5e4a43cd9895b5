/* tz.c: local time for a region's IANA zone without touching the process-wide TZ variable.
 * glibc only offers localtime() for one zone per process (and setenv is not thread-safe), so
 * surge reads the system's TZif files itself (RFC 8536, version 2+ 64-bit section). Times past
 * the file's last transition use its last type: Debian ships "fat" files with transitions
 * through 2037. */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TZ_DIR "/usr/share/zoneinfo/"

struct tz_zone {
    char name[64];
    int count;            /* transitions */
    int64_t *at;          /* transition times, UTC seconds, ascending */
    int32_t *offset_after;/* UTC offset in force from at[i] */
    int32_t initial;      /* offset before the first transition */
    struct tz_zone *next;
};

static pthread_mutex_t zones_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz_zone *zones; /* loaded zones; a list only grows, entries are never freed */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= 64 || name[0] == '/' || strstr(name, "..")) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+'))
            return false;
    }
    return true;
}

static struct tz_zone *parse_tzif(const char *name, const unsigned char *d, size_t size,
                                  surge_error *err)
{
    if (size < 44 || memcmp(d, "TZif", 4) != 0) {
        surge_fail(err, SURGE_EINVAL, "timezone", "time zone '%s': not a TZif file", name);
        return NULL;
    }
    uint32_t cnt[6];
    for (int i = 0; i < 6; i++) cnt[i] = be32(d + 20 + 4 * i);
    size_t v1 = 44 + cnt[3] * 5 + cnt[4] * 6 + cnt[5] + cnt[2] * 8 + cnt[1] + cnt[0];
    const unsigned char *h = d;
    int tsize = 4;
    if (d[4] >= '2' && size >= v1 + 44 && memcmp(d + v1, "TZif", 4) == 0) {
        h = d + v1;
        for (int i = 0; i < 6; i++) cnt[i] = be32(h + 20 + 4 * i);
        tsize = 8;
    }
    uint32_t isut = cnt[0], isstd = cnt[1], leap = cnt[2], timecnt = cnt[3], typecnt = cnt[4],
             charcnt = cnt[5];
    size_t need = 44 + (size_t)timecnt * (size_t)(tsize + 1) + typecnt * 6 + charcnt +
                  leap * (size_t)(tsize + 4) + isstd + isut;
    if ((size_t)(h - d) + need > size || typecnt == 0 || typecnt > 256) {
        surge_fail(err, SURGE_EINVAL, "timezone", "time zone '%s': truncated TZif file", name);
        return NULL;
    }
    const unsigned char *times = h + 44, *idx = times + (size_t)timecnt * (size_t)tsize,
                        *types = idx + timecnt;
    struct tz_zone *z = calloc(1, sizeof *z);
    z->at = calloc(timecnt ? timecnt : 1, sizeof *z->at);
    z->offset_after = calloc(timecnt ? timecnt : 1, sizeof *z->offset_after);
    if (!z->at || !z->offset_after) abort();
    snprintf(z->name, sizeof z->name, "%s", name);
    z->count = (int)timecnt;
    for (uint32_t i = 0; i < timecnt; i++) {
        z->at[i] = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        uint32_t t = idx[i] < typecnt ? idx[i] : 0;
        z->offset_after[i] = (int32_t)be32(types + 6 * t);
    }
    /* RFC 8536: before the first transition, the first non-DST type (or type 0) applies */
    z->initial = (int32_t)be32(types);
    for (uint32_t t = 0; t < typecnt; t++) {
        if (!types[6 * t + 4]) {
            z->initial = (int32_t)be32(types + 6 * t);
            break;
        }
    }
    return z;
}

const tz_zone *tz_load(const char *name, surge_error *err)
{
    if (!name_ok(name)) {
        surge_fail(err, SURGE_EINVAL, "timezone",
                   "time zone '%s' is not an IANA zone name such as America/New_York", name);
        return NULL;
    }
    pthread_mutex_lock(&zones_lock);
    for (struct tz_zone *z = zones; z; z = z->next) {
        if (strcmp(z->name, name) == 0) {
            pthread_mutex_unlock(&zones_lock);
            return z;
        }
    }
    char path[128];
    snprintf(path, sizeof path, TZ_DIR "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        pthread_mutex_unlock(&zones_lock);
        surge_fail(err, SURGE_EINVAL, "timezone", "time zone '%s' is unknown (%s: %s)", name,
                   path, strerror(errno));
        return NULL;
    }
    unsigned char *data = malloc(1 << 20);
    size_t size = data ? fread(data, 1, 1 << 20, f) : 0;
    fclose(f);
    struct tz_zone *z = data ? parse_tzif(name, data, size, err) : NULL;
    free(data);
    if (z) {
        z->next = zones;
        zones = z;
    }
    pthread_mutex_unlock(&zones_lock);
    return z;
}

int tz_offset_s(const tz_zone *zone, int64_t utc_ms)
{
    int64_t t = utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000);
    if (zone->count == 0 || t < zone->at[0]) return zone->initial;
    int lo = 0, hi = zone->count - 1; /* last transition with at <= t */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (zone->at[mid] <= t) lo = mid; else hi = mid - 1;
    }
    return zone->offset_after[lo];
}

void tz_local_hour(const tz_zone *zone, int64_t utc_ms, int *hour, int *day_of_week)
{
    int64_t t = (utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000)) +
                tz_offset_s(zone, utc_ms);
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t secs = t - days * 86400;
    if (hour) *hour = (int)(secs / 3600);
    /* 1970-01-01 was a Thursday (ISO 4) */
    if (day_of_week) *day_of_week = (int)(((days % 7) + 7 + 3) % 7) + 1;
}
