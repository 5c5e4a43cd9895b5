/* event_decode.c: a bus record value back to the event's JSON. The bytes are first walked
 * against the record's schema by a strict checker (every length within the input, UTF-8
 * strings, known union branches and enum symbols, nothing left over), because libavro 1.11
 * trusts encoded lengths (it allocates whatever a string's length prefix claims) and cannot
 * tell whether the input was consumed whole. Then libavro reads it into the thread's scratch
 * value and the fields are written out as JSON: schema field names, nulls omitted, times as
 * epoch milliseconds. */
#include "event_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the strict checker */

typedef struct cursor {
    const uint8_t *p, *end;
    char why[160]; /* what was wrong, when a check failed */
} cursor;

static int bad(cursor *cur, const char *field, const char *what)
{
    snprintf(cur->why, sizeof cur->why, "field '%s': %s", field, what);
    return -1;
}

/* An Avro long: zig-zag varint of at most 10 bytes. */
static int read_varint(cursor *cur, int64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (cur->p >= cur->end) return -1;
        uint8_t b = *cur->p++;
        if (i == 9 && b > 1) return -1; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return -1;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < more) return false;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return false;
        if (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) return false;
        i += more + 1;
    }
    return true;
}

static int check_string(cursor *cur, const char *field)
{
    int64_t len;
    if (read_varint(cur, &len) || len < 0 || len > cur->end - cur->p)
        return bad(cur, field, "string length outside the input");
    if (!utf8_valid(cur->p, (size_t)len)) return bad(cur, field, "string is not UTF-8");
    /* event_encode never writes one; refusing it keeps decoded JSON readable by any parser */
    if (memchr(cur->p, 0, (size_t)len)) return bad(cur, field, "string contains a NUL byte");
    cur->p += len;
    return 0;
}

static int check_double(cursor *cur, const char *field)
{
    double d;
    if (cur->end - cur->p < 8) return bad(cur, field, "double cut short");
    memcpy(&d, cur->p, 8); /* little-endian, as Avro: surge runs on little-endian machines */
    if (!isfinite(d)) return bad(cur, field, "double is not a finite number");
    cur->p += 8;
    return 0;
}

static int check_value(cursor *cur, const field_desc *f)
{
    int64_t n;
    switch (f->kind) {
    case FIELD_STRING:
        return check_string(cur, f->name);
    case FIELD_DOUBLE:
        return check_double(cur, f->name);
    case FIELD_INT:
        if (read_varint(cur, &n) || n < INT32_MIN || n > INT32_MAX)
            return bad(cur, f->name, "malformed int");
        return 0;
    case FIELD_LONG:
    case FIELD_TIME:
        return read_varint(cur, &n) ? bad(cur, f->name, "malformed long") : 0;
    case FIELD_BOOLEAN:
        if (cur->p >= cur->end || *cur->p > 1) return bad(cur, f->name, "malformed boolean");
        cur->p++;
        return 0;
    case FIELD_ENUM:
        if (read_varint(cur, &n) || n < 0 || n >= f->symbol_count)
            return bad(cur, f->name, "enum symbol out of range");
        return 0;
    case FIELD_MAP_DOUBLE:
        for (;;) {
            int64_t count, size;
            if (read_varint(cur, &count)) return bad(cur, f->name, "malformed map block");
            if (count == 0) return 0;
            if (count < 0) {
                if (read_varint(cur, &size) || size < 0)
                    return bad(cur, f->name, "malformed map block size");
                count = count == INT64_MIN ? INT64_MAX : -count;
            }
            /* every entry takes at least 9 bytes (key length and a double) */
            if (count > (cur->end - cur->p) / 9) return bad(cur, f->name, "map larger than input");
            for (int64_t i = 0; i < count; i++)
                if (check_string(cur, f->name) || check_double(cur, f->name)) return -1;
        }
    }
    return bad(cur, f->name, "unknown kind");
}

/* Checks that [p, end) is exactly one record of r. */
static int check_record(cursor *cur, const record_desc *r)
{
    for (int i = 0; i < r->field_count; i++) {
        const field_desc *f = &r->fields[i];
        if (f->optional) {
            int64_t branch;
            if (read_varint(cur, &branch) || branch < 0 || branch > 1)
                return bad(cur, f->name, "union branch is not 0 (null) or 1");
            if (branch == 0) continue;
        }
        if (check_value(cur, f)) return -1;
    }
    if (cur->p != cur->end) {
        snprintf(cur->why, sizeof cur->why, "%td bytes left over after the record",
                 cur->end - cur->p);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- JSON out */

/* A double that reads back as the same double: 6 decimals when they are exact (the common
 * case: coordinates, multipliers), else the shortest of %.15g..%.17g that round-trips. */
static void put_double(buf *out, double d)
{
    if (fabs(d) < 9e12 && (double)llround(d * 1e6) / 1e6 == d) {
        json_put_double(out, d);
        return;
    }
    char tmp[40];
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(tmp, sizeof tmp, "%.*g", precision, d);
        if (strtod(tmp, NULL) == d) break;
    }
    buf_puts(out, tmp);
}

static int put_value(buf *out, const field_desc *f, avro_value_t *v)
{
    switch (f->kind) {
    case FIELD_STRING: {
        const char *s;
        size_t size;
        if (avro_value_get_string(v, &s, &size)) return -1;
        json_put_string_n(out, s, size ? size - 1 : 0);
        return 0;
    }
    case FIELD_DOUBLE: {
        double d;
        if (avro_value_get_double(v, &d)) return -1;
        put_double(out, d);
        return 0;
    }
    case FIELD_INT: {
        int32_t n;
        if (avro_value_get_int(v, &n)) return -1;
        json_put_int(out, n);
        return 0;
    }
    case FIELD_LONG:
    case FIELD_TIME: {
        int64_t n;
        if (avro_value_get_long(v, &n)) return -1;
        json_put_int(out, n);
        return 0;
    }
    case FIELD_BOOLEAN: {
        int b;
        if (avro_value_get_boolean(v, &b)) return -1;
        json_put_bool(out, b != 0);
        return 0;
    }
    case FIELD_ENUM: {
        int symbol;
        if (avro_value_get_enum(v, &symbol) || symbol < 0 || symbol >= f->symbol_count) return -1;
        json_put_string(out, f->symbols[symbol]);
        return 0;
    }
    case FIELD_MAP_DOUBLE: {
        size_t count;
        if (avro_value_get_size(v, &count)) return -1;
        buf_putc(out, '{');
        for (size_t i = 0; i < count; i++) {
            avro_value_t child;
            const char *key;
            double d;
            if (avro_value_get_by_index(v, i, &child, &key) || avro_value_get_double(&child, &d))
                return -1;
            json_put_key(out, key, i > 0);
            put_double(out, d);
        }
        buf_putc(out, '}');
        return 0;
    }
    }
    return -1;
}

static int put_record(buf *out, const record_desc *r, avro_value_t *fields)
{
    buf_putc(out, '{');
    bool comma = false;
    for (int i = 0; i < r->field_count; i++) {
        const field_desc *f = &r->fields[i];
        avro_value_t v = fields[i];
        if (f->optional) {
            int branch;
            if (avro_value_get_discriminant(&fields[i], &branch)) return -1;
            if (branch != 1) continue; /* null: omitted */
            if (avro_value_get_current_branch(&fields[i], &v)) return -1;
        }
        json_put_key(out, f->name, comma);
        comma = true;
        if (put_value(out, f, &v)) return -1;
    }
    buf_putc(out, '}');
    return 0;
}

int event_decode_json(event_codec *c, bus_topic topic, const void *data, size_t len, buf *out,
                      surge_error *err)
{
    if ((int)topic < 0 || topic >= BUS_NTOPICS)
        return surge_fail(err, SURGE_EINVAL, "topic", "topic %d does not exist", (int)topic);
    const topic_desc *t = &c->topics[topic];
    const char *name = BUS_TOPIC_NAMES[topic];
    if (t->branch_count == 0)
        return surge_fail(err, SURGE_ENOTFOUND, "topic", "topic %s has no record schema yet", name);
    if (len == 0 || !data)
        return surge_fail(err, SURGE_EPARSE, NULL, "not a %s record: empty", name);
    cursor cur = {.p = data, .end = (const uint8_t *)data + len};
    int64_t branch;
    if (read_varint(&cur, &branch) || branch < 0 || branch >= t->branch_count)
        return surge_fail(err, SURGE_EPARSE, NULL, "not a %s record: the union branch is not 0..%d",
                          name, t->branch_count - 1);
    int record = t->records[branch];
    const record_desc *r = &c->records[record];
    const uint8_t *body = cur.p;
    if (check_record(&cur, r))
        return surge_fail(err, SURGE_EPARSE, NULL, "not a valid %s record (%s): %s", name, r->name,
                          cur.why);

    int slot;
    event_scratch *s = event_scratch_acquire(c, &slot);
    if (!s) return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory for avro values");
    size_t start = out->len;
    int rc = 0;
    avro_reader_memory_set_source(s->reader, (const char *)body, (int64_t)(cur.end - body));
    if (avro_value_read(s->reader, &s->values[record]))
        rc = surge_fail(err, SURGE_EPARSE, NULL, "not a valid %s record (%s): %s", name, r->name,
                        avro_strerror());
    else if (put_record(out, r, s->fields[record]))
        rc = surge_fail(err, SURGE_EINTERNAL, NULL, "reading the decoded %s record: %s", r->name,
                        avro_strerror());
    event_scratch_release(c, s, slot);
    if (rc) {
        out->len = start;
        if (out->data) out->data[start] = 0;
    }
    return rc;
}
