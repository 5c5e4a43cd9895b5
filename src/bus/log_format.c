/* log_format.c: encoding and checking the log's record batches, records and index entries
 * (layout in log_format.h and docs/log-format.md), and the windowed reader every read path of
 * the log backend uses: consumers, recovery, verify. Nothing here takes a lock. */
#include "log_format.h"

#include "bus_backend.h"

#include <errno.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- little-endian fields */

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_i64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

static uint16_t get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t get_i64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | p[i];
    return (int64_t)u;
}

/* ---------------------------------------------------------------- varints */

static size_t uvarint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static unsigned char *put_uvarint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* Reads a uvarint at *p (before end). Returns false when it is truncated or longer than 10
 * bytes or overflows 64 bits. */
static bool get_uvarint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    uint64_t v = 0;
    const unsigned char *q = *p;
    for (int shift = 0; shift < 70; shift += 7) {
        if (q >= end) return false;
        unsigned char byte = *q++;
        if (shift == 63 && byte > 1) return false;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *p = q;
            *out = v;
            return true;
        }
    }
    return false;
}

/* A length field followed by that many bytes, all before end. */
static bool get_bytes(const unsigned char **p, const unsigned char *end, const unsigned char **data,
                      size_t *len)
{
    uint64_t n;
    if (!get_uvarint(p, end, &n) || n > (uint64_t)(end - *p)) return false;
    *data = *p;
    *len = (size_t)n;
    *p += n;
    return true;
}

/* ---------------------------------------------------------------- encoding */

static int64_t record_time(const bus_record *r, int64_t now_ms)
{
    return r->timestamp_ms ? r->timestamp_ms : now_ms;
}

/* Bytes of a record's body (everything after its length varint). */
static size_t record_body_size(const bus_record *r, int64_t delta)
{
    size_t n = uvarint_size(zigzag(delta)) + uvarint_size(r->key_len) + r->key_len +
               uvarint_size(r->value_len) + r->value_len + uvarint_size((uint64_t)r->header_count);
    for (int h = 0; h < r->header_count; h++) {
        size_t name_len = strlen(r->headers[h].name);
        n += uvarint_size(name_len) + name_len + uvarint_size(r->headers[h].value_len) +
             r->headers[h].value_len;
    }
    return n;
}

int log_batch_encode(const bus_record *records, size_t n, int64_t now_ms, bool compress,
                     log_batch *out, surge_error *err)
{
    memset(out, 0, sizeof *out);
    const size_t limit = LOG_MAX_BATCH_BYTES - LOG_HEADER_BYTES;
    int64_t first_ts = record_time(&records[0], now_ms), max_ts = first_ts;
    size_t raw_len = 0;
    for (size_t i = 0; i < n; i++) {
        const bus_record *r = &records[i];
        /* Each length alone is checked first, so the sums below cannot overflow. */
        bool too_big = r->key_len > limit || r->value_len > limit;
        for (int h = 0; h < r->header_count && !too_big; h++)
            too_big = r->headers[h].value_len > limit || strlen(r->headers[h].name) > limit;
        size_t body = too_big ? 0 : record_body_size(r, record_time(r, now_ms) - first_ts);
        if (too_big || body > limit || raw_len + uvarint_size(body) + body > limit)
            return surge_fail(err, SURGE_ETOOLARGE, "records",
                              "a batch may hold at most %d bytes; record %zu takes it past that",
                              LOG_MAX_BATCH_BYTES, i);
        raw_len += uvarint_size(body) + body;
        int64_t ts = record_time(r, now_ms);
        if (ts > max_ts) max_ts = ts;
    }
    size_t max_compressed = compress ? snappy_max_compressed_length(raw_len) : 0;
    /* One allocation: header + room for the compressed records, then the raw records. When not
     * compressing, the raw records go straight after the header. */
    unsigned char *data = malloc(LOG_HEADER_BYTES + max_compressed + raw_len);
    if (!data)
        return surge_fail(err, SURGE_EINTERNAL, "records",
                          "out of memory encoding a batch of %zu bytes", raw_len);
    unsigned char *raw = data + LOG_HEADER_BYTES + max_compressed, *p = raw;
    for (size_t i = 0; i < n; i++) {
        const bus_record *r = &records[i];
        int64_t delta = record_time(r, now_ms) - first_ts;
        p = put_uvarint(p, record_body_size(r, delta));
        p = put_uvarint(p, zigzag(delta));
        p = put_uvarint(p, r->key_len);
        if (r->key_len) memcpy(p, r->key, r->key_len);
        p += r->key_len;
        p = put_uvarint(p, r->value_len);
        if (r->value_len) memcpy(p, r->value, r->value_len);
        p += r->value_len;
        p = put_uvarint(p, (uint64_t)r->header_count);
        for (int h = 0; h < r->header_count; h++) {
            const bus_header *hd = &r->headers[h];
            size_t name_len = strlen(hd->name);
            p = put_uvarint(p, name_len);
            memcpy(p, hd->name, name_len);
            p += name_len;
            p = put_uvarint(p, hd->value_len);
            if (hd->value_len) memcpy(p, hd->value, hd->value_len);
            p += hd->value_len;
        }
    }
    unsigned char attributes = 0;
    size_t payload_len = raw_len;
    if (compress) {
        size_t clen = max_compressed;
        if (snappy_compress((const char *)raw, raw_len, (char *)data + LOG_HEADER_BYTES, &clen) ==
                SNAPPY_OK &&
            clen < raw_len) {
            attributes = LOG_ATTR_SNAPPY;
            payload_len = clen;
        } else {
            memmove(data + LOG_HEADER_BYTES, raw, raw_len);
        }
    }
    unsigned char *hdr = data;
    put_u32(hdr + 0, LOG_MAGIC);
    put_u32(hdr + 4, 0);
    put_i64(hdr + 8, 0);
    put_u32(hdr + 16, (uint32_t)(LOG_HEADER_BYTES + payload_len));
    hdr[20] = LOG_VERSION;
    hdr[21] = attributes;
    put_u16(hdr + 22, 0);
    put_u32(hdr + 24, (uint32_t)n);
    put_u32(hdr + 28, (uint32_t)raw_len);
    put_i64(hdr + 32, first_ts);
    put_i64(hdr + 40, max_ts);
    out->data = data;
    out->len = LOG_HEADER_BYTES + payload_len;
    out->crc_body = bus_crc32c(0, data + 16, out->len - 16);
    out->record_count = (uint32_t)n;
    out->max_timestamp = max_ts;
    return 0;
}

void log_batch_seal(log_batch *batch, int64_t base_offset)
{
    put_i64(batch->data + 8, base_offset);
    put_u32(batch->data + 4, bus_crc32c(batch->crc_body, batch->data + 8, 8));
}

/* ---------------------------------------------------------------- checking and decoding */

/* Every record takes at least 5 bytes: its length, timestamp delta, key length, value length
 * and header count, one byte each at the least. */
#define MIN_RECORD_BYTES 5

const char *log_batch_parse_header(const unsigned char *p, log_batch_header *h)
{
    if (get_u32(p) != LOG_MAGIC) return "bad magic (not the start of a batch)";
    h->crc = get_u32(p + 4);
    h->base_offset = get_i64(p + 8);
    h->length = get_u32(p + 16);
    h->version = p[20];
    h->attributes = p[21];
    h->record_count = get_u32(p + 24);
    h->raw_length = get_u32(p + 28);
    h->first_timestamp = get_i64(p + 32);
    h->max_timestamp = get_i64(p + 40);
    if (h->version != LOG_VERSION) return "unknown batch version";
    if (h->attributes & ~LOG_ATTR_SNAPPY) return "unknown attribute bits";
    if (get_u16(p + 22) != 0) return "reserved field is not zero";
    if (h->length <= LOG_HEADER_BYTES || h->length > LOG_MAX_BATCH_BYTES)
        return "batch length out of range";
    if (h->record_count == 0) return "record count is zero";
    if (h->raw_length > LOG_MAX_BATCH_BYTES || h->raw_length / MIN_RECORD_BYTES < h->record_count)
        return "record bytes out of range for the record count";
    if (!(h->attributes & LOG_ATTR_SNAPPY) && h->raw_length != h->length - LOG_HEADER_BYTES)
        return "record bytes do not match the batch length";
    if (h->base_offset < 0 || h->base_offset > INT64_MAX - (int64_t)h->record_count)
        return "base offset out of range";
    if (h->first_timestamp < 0 || h->max_timestamp < h->first_timestamp)
        return "timestamps out of range";
    return NULL;
}

uint32_t log_batch_crc(const unsigned char *batch, size_t length)
{
    return bus_crc32c(bus_crc32c(0, batch + 16, length - 16), batch + 8, 8);
}

const char *log_batch_records(const unsigned char *batch, const log_batch_header *h, buf *scratch,
                              const unsigned char **raw)
{
    const unsigned char *payload = batch + LOG_HEADER_BYTES;
    size_t payload_len = h->length - LOG_HEADER_BYTES;
    if (!(h->attributes & LOG_ATTR_SNAPPY)) {
        *raw = payload;
        return NULL;
    }
    size_t ulen;
    if (snappy_uncompressed_length((const char *)payload, payload_len, &ulen) != SNAPPY_OK)
        return "snappy data is malformed";
    if (ulen != h->raw_length) return "snappy data does not decompress to the record bytes";
    buf_reset(scratch);
    buf_reserve(scratch, ulen);
    if (snappy_uncompress((const char *)payload, payload_len, scratch->data, &ulen) != SNAPPY_OK ||
        ulen != h->raw_length)
        return "snappy data is malformed";
    scratch->len = ulen;
    *raw = (const unsigned char *)scratch->data;
    return NULL;
}

const char *log_record_decode(const unsigned char **pp, const unsigned char *end, int64_t first_ts,
                              bus_record *out, buf *names)
{
    const unsigned char *p = *pp, *field;
    uint64_t body, u;
    size_t len;
    if (!get_uvarint(&p, end, &body) || body > (uint64_t)(end - p))
        return "record length runs past the batch";
    const unsigned char *body_end = p + body;
    if (!get_uvarint(&p, body_end, &u)) return "record timestamp is malformed";
    int64_t ts;
    if (__builtin_add_overflow(first_ts, unzigzag(u), &ts) || ts < 0)
        return "record timestamp out of range";
    out->timestamp_ms = ts;
    if (!get_bytes(&p, body_end, &field, &len)) return "record key runs past the record";
    out->key = len ? field : NULL;
    out->key_len = len;
    if (!get_bytes(&p, body_end, &field, &len)) return "record value runs past the record";
    out->value = len ? field : NULL;
    out->value_len = len;
    if (!get_uvarint(&p, body_end, &u) || u > BUS_MAX_HEADERS)
        return "record header count out of range";
    out->header_count = (int)u;
    size_t name_at[BUS_MAX_HEADERS];
    buf_reset(names);
    for (int h = 0; h < out->header_count; h++) {
        if (!get_bytes(&p, body_end, &field, &len)) return "header name runs past the record";
        if (memchr(field, 0, len)) return "header name holds a NUL byte";
        name_at[h] = names->len;
        buf_append(names, field, len);
        buf_append(names, "", 1);
        if (!get_bytes(&p, body_end, &field, &len)) return "header value runs past the record";
        out->headers[h].value = len ? field : NULL;
        out->headers[h].value_len = len;
    }
    for (int h = 0; h < out->header_count; h++)
        out->headers[h].name = names->data + name_at[h];
    if (p != body_end) return "record has bytes after its last field";
    *pp = p;
    return NULL;
}

void log_index_entry_encode(const log_index_entry *e, unsigned char out[LOG_INDEX_ENTRY_BYTES])
{
    put_i64(out, e->offset);
    put_i64(out + 8, e->position);
    put_i64(out + 16, e->max_timestamp);
}

void log_index_entry_decode(const unsigned char in[LOG_INDEX_ENTRY_BYTES], log_index_entry *e)
{
    e->offset = get_i64(in);
    e->position = get_i64(in + 8);
    e->max_timestamp = get_i64(in + 16);
}

/* ---------------------------------------------------------------- the windowed reader */

#define READ_WINDOW (256 * 1024)

void log_reader_init(log_reader *r, int fd, const char *path)
{
    r->fd = fd;
    r->path = path;
    buf_init(&r->window);
    r->window_pos = 0;
}

void log_reader_free(log_reader *r)
{
    buf_free(&r->window);
}

/* Makes the window hold [pos, pos + need) by reading from pos up to limit (at least need, at
 * most max(need, READ_WINDOW) bytes). need <= limit - pos. Returns false with why on a read
 * error or when the file is shorter than limit says. */
static bool window_fill(log_reader *r, int64_t pos, size_t need, int64_t limit, char *why,
                        size_t why_size)
{
    if (pos >= r->window_pos && pos + (int64_t)need <= r->window_pos + (int64_t)r->window.len)
        return true;
    size_t want = need > READ_WINDOW ? need : READ_WINDOW;
    if ((int64_t)want > limit - pos) want = (size_t)(limit - pos);
    buf_reset(&r->window);
    buf_reserve(&r->window, want);
    r->window_pos = pos;
    size_t got = 0;
    while (got < want) {
        ssize_t k = pread(r->fd, r->window.data + got, want - got, (off_t)(pos + (int64_t)got));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            snprintf(why, why_size, "read at position %lld failed: %s",
                     (long long)(pos + (int64_t)got), strerror(errno));
            r->window.len = got;
            return false;
        }
        if (k == 0) break;
        got += (size_t)k;
    }
    r->window.len = got;
    if (got < need) {
        snprintf(why, why_size, "file ends at %lld, before the %lld bytes expected",
                 (long long)(pos + (int64_t)got), (long long)limit);
        return false;
    }
    return true;
}

log_read_status log_reader_batch(log_reader *r, int64_t pos, int64_t limit, bool check_crc,
                                 log_batch_header *h, const unsigned char **batch, char *why,
                                 size_t why_size)
{
    if (limit - pos < LOG_HEADER_BYTES) {
        snprintf(why, why_size, "%lld bytes left, fewer than a %d-byte batch header",
                 (long long)(limit - pos), LOG_HEADER_BYTES);
        return LOG_READ_SHORT;
    }
    if (!window_fill(r, pos, LOG_HEADER_BYTES, limit, why, why_size)) return LOG_READ_IOERR;
    const unsigned char *p = (const unsigned char *)r->window.data + (pos - r->window_pos);
    const char *bad = log_batch_parse_header(p, h);
    if (bad) {
        snprintf(why, why_size, "%s", bad);
        return LOG_READ_BAD;
    }
    if ((int64_t)h->length > limit - pos) {
        snprintf(why, why_size, "batch of %u bytes runs past the end of the data at %lld",
                 h->length, (long long)limit);
        return LOG_READ_SHORT;
    }
    if (!window_fill(r, pos, h->length, limit, why, why_size)) return LOG_READ_IOERR;
    p = (const unsigned char *)r->window.data + (pos - r->window_pos);
    if (check_crc) {
        uint32_t crc = log_batch_crc(p, h->length);
        if (crc != h->crc) {
            snprintf(why, why_size, "CRC mismatch (stored 0x%08x, computed 0x%08x)", h->crc, crc);
            return LOG_READ_BAD;
        }
    }
    *batch = p;
    return LOG_READ_OK;
}

int64_t log_reader_resync(log_reader *r, int64_t from, int64_t limit, int64_t min_offset, char *why,
                          size_t why_size)
{
    static const unsigned char magic[4] = {'S', 'R', 'G', 'L'};
    int64_t q = from;
    while (limit - q >= LOG_HEADER_BYTES) {
        /* Asks for a header's worth only: a window that already holds it is searched as is. */
        if (!window_fill(r, q, LOG_HEADER_BYTES, limit, why, why_size)) return -2;
        const unsigned char *w = (const unsigned char *)r->window.data + (q - r->window_pos);
        size_t avail = (size_t)(r->window_pos + (int64_t)r->window.len - q);
        const unsigned char *hit = memmem(w, avail, magic, sizeof magic);
        if (!hit) {
            /* Keep the last 3 bytes: a magic may straddle the window's end. */
            q += avail > 3 ? (int64_t)avail - 3 : 1;
            continue;
        }
        int64_t candidate = q + (hit - w);
        log_batch_header h;
        const unsigned char *batch;
        char reason[160];
        log_read_status st =
            log_reader_batch(r, candidate, limit, true, &h, &batch, reason, sizeof reason);
        if (st == LOG_READ_IOERR) {
            snprintf(why, why_size, "%s", reason);
            return -2;
        }
        if (st == LOG_READ_OK && h.base_offset >= min_offset) return candidate;
        q = candidate + 1;
    }
    return -1;
}
