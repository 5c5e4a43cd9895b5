/* ingest_load.c: the load generator of bench/ingest/run.sh. C connections (one thread each,
 * plain blocking sockets, HTTP/1.1 keep-alive) POST JSON arrays of B realistic mixed events to
 * /api/v1/events as fast as the server answers, and report events/s accepted and the request
 * latency percentiles.
 *
 * Bodies are built before the clock starts: each connection renders its batch once (types,
 * regions, coordinates inside the region's geohash cell, users, drivers, times), remembering
 * where every event_id's 16-hex-digit sequence number sits. Per request it only overwrites those
 * digits in place (B x 16 bytes), so every event_id of the run is unique and nothing is a
 * duplicate, without rendering JSON on the clock.
 *
 *   ingest_load --port P [--host 127.0.0.1] [--connections 8] [--batch 1000] [--warmup 2]
 *               [--duration 10] --regions dr5ru,dr5rv,... [--tag run1]
 *
 * Prints one line: RESULT key=value ... (see print_result). Exit status 1 on a setup error or
 * when a connection fails; a non-200 answer is counted, not fatal. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_REGIONS 1024
#define SEQ_DIGITS 16

static const char *host = "127.0.0.1";
static int port;
static int connections = 8, batch = 1000;
static double warmup_s = 2, duration_s = 10;
static const char *tag = "run";
static char *regions[MAX_REGIONS];
static int nregions;

static atomic_int measuring; /* 1 from the end of the warm-up */
static atomic_int stopping;  /* 1 at the end of the timed window */
static double window_start, window_end;

typedef struct conn_stats {
    /* requests that completed inside the timed window */
    uint64_t requests, events, accepted, duplicates, rejected, rate_limited, non200;
    uint32_t *latency_us;
    size_t nlatency, cap;
    /* every request, warm-up and tail included (for the server-side counters) */
    uint64_t all_requests, all_events, all_non200;
    uint64_t body_bytes;
    char error[256];
} conn_stats;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- bodies */

typedef struct body {
    char *data;
    size_t len, cap;
    size_t *seq_at; /* where each event's sequence digits start */
    int nseq;
} body;

static void put(body *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(body *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 64);
        b->data = realloc(b->data, b->cap);
        if (!b->data) {
            fputs("ingest_load: out of memory\n", stderr);
            exit(1);
        }
    }
}

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

/* The bounds of a geohash cell. */
static int geohash_bounds(const char *hash, double *lat_lo, double *lat_hi, double *lon_lo,
                          double *lon_hi)
{
    static const char base32[] = "0123456789bcdefghjkmnpqrstuvwxyz";
    double la0 = -90, la1 = 90, lo0 = -180, lo1 = 180;
    bool even = true;
    for (const char *p = hash; *p; p++) {
        const char *c = strchr(base32, *p);
        if (!c) return -1;
        int v = (int)(c - base32);
        for (int bit = 4; bit >= 0; bit--) {
            double mid;
            if (even) {
                mid = (lo0 + lo1) / 2;
                if ((v >> bit) & 1)
                    lo0 = mid;
                else
                    lo1 = mid;
            } else {
                mid = (la0 + la1) / 2;
                if ((v >> bit) & 1)
                    la0 = mid;
                else
                    la1 = mid;
            }
            even = !even;
        }
    }
    *lat_lo = la0, *lat_hi = la1, *lon_lo = lo0, *lon_hi = lo1;
    return 0;
}

static void rfc3339(int64_t ms, char *out, size_t size)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* One event, appended to b. The mix is roughly a ride-hailing market's: mostly searches,
 * views and driver positions, some bookings and driver status changes, a little weather and
 * traffic. Positions lie inside the region's cell, so the region surge derives from them is the
 * region itself. */
static void put_event(body *b, int conn, uint64_t *rng, int64_t now_ms)
{
    const char *region = regions[rng_next(rng) % (uint64_t)nregions];
    double la0, la1, lo0, lo1;
    geohash_bounds(region, &la0, &la1, &lo0, &lo1);
    /* a margin keeps the printed (rounded) point inside the cell */
    double lat = la0 + (la1 - la0) * (0.02 + 0.96 * rng_unit(rng));
    double lon = lo0 + (lo1 - lo0) * (0.02 + 0.96 * rng_unit(rng));
    int64_t ts = now_ms - (int64_t)(rng_next(rng) % 5000);
    char when[80];
    if (rng_next(rng) % 2)
        rfc3339(ts, when, sizeof when);
    else
        snprintf(when, sizeof when, "%lld", (long long)ts);
    bool quoted = when[4] == '-';
    unsigned user = (unsigned)(rng_next(rng) % 200000), driver = (unsigned)(rng_next(rng) % 20000);
    const char *product = rng_next(rng) % 4 ? "standard" : "premium";

    put(b, "{\"event_id\":\"%s-%02d-", tag, conn);
    b->seq_at[b->nseq++] = b->len;
    put(b, "%0*d\",", SEQ_DIGITS, 0);
    put(b, quoted ? "\"ts\":\"%s\"," : "\"ts\":%s,", when);
    unsigned kind = (unsigned)(rng_next(rng) % 100);
    if (kind < 35) {
        put(b,
            "\"type\":\"search\",\"lat\":%.6f,\"lon\":%.6f,\"user_id\":\"u%u\","
            "\"product_type\":\"%s\"",
            lat, lon, user, product);
        if (kind < 20) {
            const char *to = regions[rng_next(rng) % (uint64_t)nregions];
            double ta0, ta1, to0, to1;
            geohash_bounds(to, &ta0, &ta1, &to0, &to1);
            put(b, ",\"destination_lat\":%.6f,\"destination_lon\":%.6f", (ta0 + ta1) / 2,
                (to0 + to1) / 2);
        }
    } else if (kind < 60) {
        put(b, "\"type\":\"view\",\"region_id\":\"%s\",\"user_id\":\"u%u\",\"product_type\":\"%s\"",
            region, user, product);
    } else if (kind < 67) {
        put(b,
            "\"type\":\"booking\",\"region_id\":\"%s\",\"user_id\":\"u%u\","
            "\"product_type\":\"%s\",\"booking_id\":\"b%llx\"",
            region, user, product, (unsigned long long)(rng_next(rng) >> 16));
    } else if (kind < 69) {
        put(b,
            "\"type\":\"cancel\",\"region_id\":\"%s\",\"user_id\":\"u%u\",\"product_type\":\"%s\"",
            region, user, product);
    } else if (kind < 92) {
        put(b, "\"type\":\"driver_location\",\"lat\":%.6f,\"lon\":%.6f,\"driver_id\":\"d%u\"", lat,
            lon, driver);
    } else if (kind < 98) {
        static const char *status[] = {"available", "busy", "offline"};
        put(b,
            "\"type\":\"driver_status\",\"region_id\":\"%s\",\"driver_id\":\"d%u\","
            "\"status\":\"%s\"",
            region, driver, status[rng_next(rng) % 3]);
    } else if (kind < 99) {
        put(b,
            "\"type\":\"weather\",\"region_id\":\"%s\",\"temp_c\":%.1f,\"precip_mm\":%.1f,"
            "\"severity\":%.2f",
            region, -5 + 35 * rng_unit(rng), 10 * rng_unit(rng), rng_unit(rng));
    } else {
        put(b, "\"type\":\"traffic\",\"region_id\":\"%s\",\"congestion\":%.2f", region,
            rng_unit(rng));
    }
    put(b, "}");
}

static void build_body(body *b, int conn)
{
    memset(b, 0, sizeof *b);
    b->cap = (size_t)batch * 256 + 64;
    b->data = malloc(b->cap);
    b->seq_at = malloc((size_t)batch * sizeof *b->seq_at);
    if (!b->data || !b->seq_at) {
        fputs("ingest_load: out of memory\n", stderr);
        exit(1);
    }
    uint64_t rng = 0x5eed0000ULL + (uint64_t)conn * 7919;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    int64_t now_ms = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
    put(b, "[");
    for (int i = 0; i < batch; i++) {
        if (i) put(b, ",");
        put_event(b, conn, &rng, now_ms);
    }
    put(b, "]");
}

/* Writes the request's sequence numbers: event i of request r gets r * batch + i. */
static void number_body(body *b, uint64_t request)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < b->nseq; i++) {
        uint64_t v = request * (uint64_t)batch + (uint64_t)i;
        char *p = b->data + b->seq_at[i];
        for (int d = SEQ_DIGITS - 1; d >= 0; d--, v >>= 4)
            p[d] = hex[v & 15];
    }
}

/* ---------------------------------------------------------------- HTTP */

static int dial(char *error, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(error, size, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(error, size, "bad IPv4 address %s", host);
        close(fd);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(error, size, "connect %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

typedef struct response {
    char *buf;
    size_t len, cap;
    int status;
    bool close;
    const char *body;
    size_t body_len;
} response;

/* Reads one response (Content-Length framed). 0, or -1 with error set. */
static int read_response(int fd, response *r, char *error, size_t size)
{
    r->len = 0;
    size_t header_end = 0, need = 0;
    for (;;) {
        if (r->cap - r->len < 65536) {
            r->cap = r->cap * 2 + 65536;
            r->buf = realloc(r->buf, r->cap + 1);
            if (!r->buf) {
                snprintf(error, size, "out of memory");
                return -1;
            }
        }
        ssize_t got = read(fd, r->buf + r->len, r->cap - r->len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            snprintf(error, size, "the server closed the connection%s%s", got < 0 ? ": " : "",
                     got < 0 ? strerror(errno) : "");
            return -1;
        }
        r->len += (size_t)got;
        r->buf[r->len] = 0;
        if (!header_end) {
            char *end = strstr(r->buf, "\r\n\r\n");
            if (!end) continue;
            header_end = (size_t)(end - r->buf) + 4;
            if (sscanf(r->buf, "HTTP/1.%*d %d", &r->status) != 1) {
                snprintf(error, size, "not an HTTP response: %.40s", r->buf);
                return -1;
            }
            const char *cl = strcasestr(r->buf, "\r\nContent-Length:");
            if (!cl || cl > end) {
                snprintf(error, size, "a response without Content-Length");
                return -1;
            }
            need = header_end + strtoull(cl + 17, NULL, 10);
            const char *conn = strcasestr(r->buf, "\r\nConnection: close");
            r->close = conn && conn < end;
        }
        if (r->len >= need) {
            r->body = r->buf + header_end;
            r->body_len = need - header_end;
            return 0;
        }
    }
}

static uint64_t count_of(const response *r, const char *key)
{
    const char *p = strstr(r->body, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* ---------------------------------------------------------------- connections */

typedef struct worker {
    pthread_t thread;
    int id;
    conn_stats st;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    conn_stats *st = &w->st;
    body b;
    build_body(&b, w->id);
    char head[256];
    int head_len = snprintf(head, sizeof head,
                            "POST /api/v1/events HTTP/1.1\r\nHost: %s:%d\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                            host, port, b.len);
    response r = {0};
    int fd = dial(st->error, sizeof st->error);
    if (fd < 0) goto out;
    for (uint64_t request = 0; !atomic_load(&stopping); request++) {
        number_body(&b, request);
        struct iovec iov[2] = {{head, (size_t)head_len}, {b.data, b.len}};
        int counted = atomic_load(&measuring);
        double t0 = now_s();
        if (write_all(fd, iov, 2) != 0) {
            snprintf(st->error, sizeof st->error, "write: %s", strerror(errno));
            break;
        }
        if (read_response(fd, &r, st->error, sizeof st->error) != 0) break;
        double t1 = now_s();
        st->all_requests++;
        st->all_events += (uint64_t)batch;
        st->body_bytes += b.len;
        if (r.status != 200) st->all_non200++;
        if (counted && !atomic_load(&stopping)) {
            st->requests++;
            st->events += (uint64_t)batch;
            if (r.status != 200) st->non200++;
            st->accepted += count_of(&r, "\"accepted\":");
            st->duplicates += count_of(&r, "\"duplicates\":");
            st->rejected += count_of(&r, "\"rejected\":");
            st->rate_limited += count_of(&r, "\"rate_limited\":");
            if (st->nlatency == st->cap) {
                st->cap = st->cap * 2 + 1024;
                st->latency_us = realloc(st->latency_us, st->cap * sizeof *st->latency_us);
                if (!st->latency_us) {
                    snprintf(st->error, sizeof st->error, "out of memory");
                    break;
                }
            }
            st->latency_us[st->nlatency++] = (uint32_t)((t1 - t0) * 1e6);
        }
        if (r.status != 200 && st->all_non200 <= 3)
            fprintf(stderr, "ingest_load: connection %d: HTTP %d: %.300s\n", w->id, r.status,
                    r.body);
        if (r.close) {
            close(fd);
            if ((fd = dial(st->error, sizeof st->error)) < 0) break;
        }
    }
    if (fd >= 0) close(fd);
out:
    free(r.buf);
    free(b.data);
    free(b.seq_at);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t percentile(const uint32_t *v, size_t n, double p)
{
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void usage(void)
{
    fputs("usage: ingest_load --port P [--host 127.0.0.1] [--connections 8] [--batch 1000]\n"
          "                   [--warmup 2] [--duration 10] --regions r1,r2,... [--tag run]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    char *region_list = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--connections"))
            connections = atoi(v);
        else if (!strcmp(a, "--batch"))
            batch = atoi(v);
        else if (!strcmp(a, "--warmup"))
            warmup_s = atof(v);
        else if (!strcmp(a, "--duration"))
            duration_s = atof(v);
        else if (!strcmp(a, "--regions"))
            region_list = strdup(v);
        else if (!strcmp(a, "--tag"))
            tag = v;
        else
            usage();
    }
    if (port <= 0 || connections < 1 || batch < 1 || duration_s <= 0 || !region_list) usage();
    for (char *save = NULL, *t = strtok_r(region_list, ",", &save); t && nregions < MAX_REGIONS;
         t = strtok_r(NULL, ",", &save)) {
        double a, b, c, d;
        if (geohash_bounds(t, &a, &b, &c, &d) != 0) {
            fprintf(stderr, "ingest_load: '%s' is not a geohash\n", t);
            return 2;
        }
        regions[nregions++] = t;
    }
    if (!nregions) usage();

    worker *workers = calloc((size_t)connections, sizeof *workers);
    if (!workers) return 1;
    for (int i = 0; i < connections; i++) {
        workers[i].id = i;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "ingest_load: pthread_create failed\n");
            return 1;
        }
    }
    struct timespec ts = {(time_t)warmup_s, (long)((warmup_s - (double)(time_t)warmup_s) * 1e9)};
    nanosleep(&ts, NULL);
    window_start = now_s();
    atomic_store(&measuring, 1);
    ts = (struct timespec){(time_t)duration_s,
                           (long)((duration_s - (double)(time_t)duration_s) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stopping, 1);
    window_end = now_s();

    conn_stats total = {0};
    int failed = 0;
    for (int i = 0; i < connections; i++) {
        pthread_join(workers[i].thread, NULL);
        conn_stats *s = &workers[i].st;
        if (s->error[0]) {
            fprintf(stderr, "ingest_load: connection %d: %s\n", i, s->error);
            failed = 1;
        }
        total.requests += s->requests;
        total.events += s->events;
        total.accepted += s->accepted;
        total.duplicates += s->duplicates;
        total.rejected += s->rejected;
        total.rate_limited += s->rate_limited;
        total.non200 += s->non200;
        total.all_requests += s->all_requests;
        total.all_events += s->all_events;
        total.all_non200 += s->all_non200;
        total.body_bytes += s->body_bytes;
        if (total.cap < total.nlatency + s->nlatency) {
            total.cap = total.nlatency + s->nlatency;
            total.latency_us = realloc(total.latency_us, total.cap * sizeof *total.latency_us);
            if (!total.latency_us) return 1;
        }
        if (s->nlatency)
            memcpy(total.latency_us + total.nlatency, s->latency_us,
                   s->nlatency * sizeof *s->latency_us);
        total.nlatency += s->nlatency;
        free(s->latency_us);
    }
    qsort(total.latency_us, total.nlatency, sizeof *total.latency_us, cmp_u32);
    double seconds = window_end - window_start;
    printf("RESULT seconds=%.3f requests=%llu events=%llu accepted=%llu duplicates=%llu "
           "rejected=%llu rate_limited=%llu non200=%llu events_per_s=%.0f requests_per_s=%.1f "
           "p50_us=%u p90_us=%u p99_us=%u max_us=%u all_requests=%llu all_events=%llu "
           "all_non200=%llu body_bytes_per_request=%.0f\n",
           seconds, (unsigned long long)total.requests, (unsigned long long)total.events,
           (unsigned long long)total.accepted, (unsigned long long)total.duplicates,
           (unsigned long long)total.rejected, (unsigned long long)total.rate_limited,
           (unsigned long long)total.non200, (double)total.accepted / seconds,
           (double)total.requests / seconds, percentile(total.latency_us, total.nlatency, 0.50),
           percentile(total.latency_us, total.nlatency, 0.90),
           percentile(total.latency_us, total.nlatency, 0.99),
           total.nlatency ? total.latency_us[total.nlatency - 1] : 0,
           (unsigned long long)total.all_requests, (unsigned long long)total.all_events,
           (unsigned long long)total.all_non200,
           total.all_requests ? (double)total.body_bytes / (double)total.all_requests : 0.0);
    free(total.latency_us);
    free(workers);
    free(region_list);
    return failed;
}
