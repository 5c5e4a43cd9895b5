/* core: the small foundations every surge module shares: errors, time, hashing, buffers and
 * JSON writing, logging, configuration, geohash regions and time zones.
 * Nothing here allocates on a hot path unless its comment says so. */
#ifndef SURGE_CORE_H
#define SURGE_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SURGE_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

/* Every error has a stable code (what kind), an optional field (which input) and a message
 * (which rule it broke, in words a user can act on). */
typedef enum surge_code {
    SURGE_OK = 0,
    SURGE_EINVAL,      /* a value broke a rule: 400/422 */
    SURGE_EPARSE,      /* the input is not well formed (JSON, config syntax): 400 */
    SURGE_ENOTFOUND,   /* the thing named does not exist: 404 */
    SURGE_ECONFLICT,   /* the thing exists or the change contradicts state: 409 */
    SURGE_ETOOLARGE,   /* over a size limit: 413 */
    SURGE_ELIMIT,      /* rate limited: 429 */
    SURGE_EAUTH,       /* missing or bad credentials: 401 */
    SURGE_EFORBIDDEN,  /* authenticated but not allowed: 403 */
    SURGE_EIO,         /* file, socket or database failure: 500/503 */
    SURGE_EINTERNAL,   /* a bug: 500 */
    SURGE_EUNAVAILABLE /* not ready or shutting down: 503 */
} surge_code;

typedef struct surge_error {
    surge_code code;
    char field[64];    /* "" when the error is not about one input field */
    char message[256];
} surge_error;

/* Fills err (when not NULL) and returns code, so callers can `return surge_fail(...)`. */
int surge_fail(surge_error *err, surge_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The stable lower-case name of a code, as used in API error bodies ("invalid_argument"). */
const char *surge_code_name(surge_code code);
/* The HTTP status an error code maps to. */
int surge_code_http_status(surge_code code);

/* ---------------------------------------------------------------- time */

/* Wall-clock UTC milliseconds since the epoch. */
int64_t time_now_ms(void);
/* Monotonic nanoseconds, for durations only. */
int64_t time_mono_ns(void);
/* Writes ms as RFC 3339 UTC with milliseconds ("2026-01-11T10:32:00.000Z") into out (>= 25
 * bytes). Returns the length written. */
int time_format_rfc3339(int64_t ms, char *out, size_t size);
/* Parses RFC 3339 ("2026-01-11T10:32:00Z", fraction and +hh:mm offset allowed) or a plain
 * integer of epoch milliseconds. Returns 0, or -1 when s is neither. */
int time_parse(const char *s, int64_t *ms);

/* ---------------------------------------------------------------- hashing and ids */

uint64_t hash_fnv1a64(const void *data, size_t len);
/* Kafka's murmur2 (the Java client's default partitioner uses murmur2(key) & 0x7fffffff). */
uint32_t hash_murmur2(const void *data, size_t len);
/* Fills out with 2*nbytes lower-case hex characters of fresh randomness and a NUL.
 * Thread-safe; never blocks after the first call. */
void random_hex(char *out, size_t nbytes);
/* A 32-hex-character id that sorts by creation time: 12 hex digits of milliseconds, then 20
 * random ones (80 bits: no collision in practice even at millions of ids per millisecond).
 * Time-ordered ids keep database indexes append-mostly. out needs 33 bytes. */
void random_id_time(char *out, int64_t now_ms);
/* A uniformly random 64-bit value (per-thread generator seeded from getrandom). */
uint64_t random_u64(void);

/* ---------------------------------------------------------------- strings */

/* Copies src into dst (size bytes, always NUL-terminated). Returns true when src fit whole. */
bool str_copy(char *dst, size_t size, const char *src);

/* ---------------------------------------------------------------- buffers and JSON output */

/* A growable byte buffer. Owns its memory; buf_free releases it. data is always NUL-terminated
 * (when non-NULL) so it can be used as a C string. */
typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf;

void buf_init(buf *b);
void buf_free(buf *b);
void buf_reset(buf *b); /* len = 0, keeps the memory */
/* Ensures room for n more bytes. Aborts the process only on out-of-memory. */
void buf_reserve(buf *b, size_t n);
void buf_append(buf *b, const void *data, size_t len);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap);

/* JSON writing straight into a buf. The caller writes the punctuation ({ } [ ] , :);
 * these write values. */
void json_put_string(buf *b, const char *s);             /* quoted and escaped */
void json_put_string_n(buf *b, const char *s, size_t n); /* quoted and escaped */
void json_put_int(buf *b, int64_t v);
/* A fixed-point number: v / 10^decimals, trailing zeros trimmed ("1.31", "-0.12", "2"). */
void json_put_fixed(buf *b, int64_t v, int decimals);
/* A double with up to 6 significant decimals; non-finite values are written as null. */
void json_put_double(buf *b, double v);
void json_put_bool(buf *b, bool v);
/* "key": (with a leading comma when comma is true) */
void json_put_key(buf *b, const char *key, bool comma);

/* ---------------------------------------------------------------- logging */

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
int log_parse_level(const char *s, log_level *out);
/* One line to stderr: "2026-01-11T10:32:00.000Z INFO  [component] message trace_id=..."
 * trace_id may be NULL. Lines are written with one write(2) so they never interleave. */
void log_msg(log_level level, const char *component, const char *trace_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define log_debug(comp, ...)                                                                     \
    do {                                                                                         \
        if (log_get_level() <= LOG_DEBUG) log_msg(LOG_DEBUG, comp, NULL, __VA_ARGS__);           \
    } while (0)
#define log_info(comp, ...) log_msg(LOG_INFO, comp, NULL, __VA_ARGS__)
#define log_warn(comp, ...) log_msg(LOG_WARN, comp, NULL, __VA_ARGS__)
#define log_error(comp, ...) log_msg(LOG_ERROR, comp, NULL, __VA_ARGS__)

/* ---------------------------------------------------------------- configuration */

/* A flat list of documented `key = value` properties, each with a type, default and range.
 * Precedence, lowest first: defaults, the config file, SURGE_* environment variables
 * (key upper-cased, dots as underscores: http.threads -> SURGE_HTTP_THREADS), flags. */
typedef struct config config;

typedef enum config_type { CONFIG_STRING, CONFIG_INT, CONFIG_DOUBLE, CONFIG_BOOL } config_type;

/* A config with every key at its default. Free with config_free. */
config *config_new(void);
void config_free(config *c);
/* Sets one key from text; validates the type and range. origin names where the value came
 * from for error messages ("surge.conf:12", "SURGE_HTTP_THREADS", "--listen"). */
int config_set(config *c, const char *key, const char *value, const char *origin,
               surge_error *err);
/* Reads a `key = value` file ('#' comments, blank lines allowed). */
int config_load_file(config *c, const char *path, surge_error *err);
/* Applies every SURGE_* variable of envp (NULL-terminated). Unknown SURGE_ variables are an
 * error, except SURGE_CONFIG which names the config file. */
int config_load_env(config *c, char **envp, surge_error *err);
const char *config_get_string(const config *c, const char *key);
int64_t config_get_int(const config *c, const char *key);
double config_get_double(const config *c, const char *key);
bool config_get_bool(const config *c, const char *key);
/* Writes docs/configuration.md's table of every key (markdown). */
void config_write_docs(FILE *out);
/* Writes the effective configuration as `key = value` lines (secrets masked). */
void config_dump(const config *c, FILE *out);

/* ---------------------------------------------------------------- rate limits */

/* Token buckets keyed by a string (user, IP, region, or one global key): rate_per_s tokens a
 * second, at most burst stored. Thread-safe; memory is bounded (idle full buckets are
 * forgotten). */
typedef struct ratelimiter ratelimiter;

ratelimiter *ratelimiter_new(double rate_per_s, double burst);
void ratelimiter_free(ratelimiter *r);
/* Takes one token for key at now_ns. Returns 0, or the seconds (>= 1) to wait. */
int ratelimiter_take(ratelimiter *r, const char *key, size_t keylen, int64_t now_ns);

/* ---------------------------------------------------------------- SHA-256 (sha256.c) */

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t used;
} sha256_ctx;
void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, unsigned char out[32]);
/* The digest of data as 64 lower-case hex characters and a NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* ---------------------------------------------------------------- geohash */

#define GEOHASH_MAX 12

/* Encodes lat/lon at precision 1..12 into out (precision+1 bytes). Returns 0, or -1 when
 * lat is outside [-90, 90], lon outside [-180, 180] or precision out of range. */
int geohash_encode(double lat, double lon, int precision, char *out);
/* Decodes a geohash to its cell's centre and half-sizes. Returns -1 on a bad character or
 * length. */
int geohash_decode(const char *hash, double *lat, double *lon, double *lat_err, double *lon_err);
/* True when s is a valid geohash of 1..12 characters. */
bool geohash_valid(const char *s);
/* The neighbour of a cell in direction (dlat, dlon), each -1, 0 or 1. Returns -1 at the poles. */
int geohash_neighbour(const char *hash, int dlat, int dlon, char *out);

/* ---------------------------------------------------------------- time zones */

/* An IANA time zone read from the system's TZif files. Loaded zones are cached for the life
 * of the process and never freed; the returned pointer is immutable and thread-safe. */
typedef struct tz_zone tz_zone;

const tz_zone *tz_load(const char *name, surge_error *err);
/* Offset from UTC in seconds at utc_ms. */
int tz_offset_s(const tz_zone *zone, int64_t utc_ms);
/* Local hour 0..23 and ISO day of week 1 (Monday)..7 at utc_ms. */
void tz_local_hour(const tz_zone *zone, int64_t utc_ms, int *hour, int *day_of_week);

#endif
