/* buf.c: the growable buffer responses and records are written into, and JSON value writers
 * that format numbers without printf on the hot path. */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool str_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    bool fits = n < size;
    if (!fits) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
    return fits;
}

void buf_init(buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_free(buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

void buf_reserve(buf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        fputs("surge: out of memory\n", stderr);
        abort();
    }
    b->data = p;
    b->cap = cap;
}

void buf_append(buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
}

void buf_puts(buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_putc(buf *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}

void buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0 when it is not one:
 * overlong forms, surrogates and code points past U+10FFFF are invalid. */
static size_t utf8_sequence(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return len;
}

/* Writes s as a JSON string. Bytes that are not valid UTF-8 (a client's bad input, or a
 * message cut in the middle of a character) become U+FFFD, so every answer is valid JSON. */
void json_put_string_n(buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    buf_reserve(b, n + 2);
    b->data[b->len++] = '"';
    size_t i = 0;
    while (i < n) {
        /* copy the longest run that needs no escaping in one go */
        size_t run = i;
        while (run < n) {
            if (u[run] < 0x80) {
                if (u[run] < 0x20 || u[run] == '"' || u[run] == '\\') break;
                run++;
            } else {
                size_t len = utf8_sequence(u + run, n - run);
                if (!len) break;
                run += len;
            }
        }
        if (run > i) {
            buf_reserve(b, run - i + 1);
            memcpy(b->data + b->len, s + i, run - i);
            b->len += run - i;
            i = run;
            continue;
        }
        unsigned char c = u[i++];
        buf_reserve(b, 7);
        b->data[b->len++] = '\\';
        switch (c) {
        case '"': b->data[b->len++] = '"'; break;
        case '\\': b->data[b->len++] = '\\'; break;
        case '\n': b->data[b->len++] = 'n'; break;
        case '\r': b->data[b->len++] = 'r'; break;
        case '\t': b->data[b->len++] = 't'; break;
        default:
            if (c >= 0x80) { /* not UTF-8: the replacement character */
                memcpy(b->data + b->len, "ufffd", 5);
                b->len += 5;
                break;
            }
            b->data[b->len++] = 'u';
            b->data[b->len++] = '0';
            b->data[b->len++] = '0';
            b->data[b->len++] = hex[c >> 4];
            b->data[b->len++] = hex[c & 15];
        }
    }
    buf_reserve(b, 1);
    b->data[b->len++] = '"';
    b->data[b->len] = 0;
}

void json_put_string(buf *b, const char *s)
{
    json_put_string_n(b, s, strlen(s));
}

/* Writes the decimal digits of v (v >= 0) and returns how many. */
static int put_uint(char *out, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

void json_put_int(buf *b, int64_t v)
{
    buf_reserve(b, 24);
    char *p = b->data + b->len;
    int n = 0;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        p[n++] = '-';
        u = 0 - u;
    }
    n += put_uint(p + n, u);
    b->len += (size_t)n;
    b->data[b->len] = 0;
}

void json_put_fixed(buf *b, int64_t v, int decimals)
{
    static const int64_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                    100000000};
    if (decimals <= 0 || decimals > 8) {
        json_put_int(b, v);
        return;
    }
    buf_reserve(b, 32);
    char *p = b->data + b->len;
    int n = 0;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        p[n++] = '-';
        u = 0 - u;
    }
    uint64_t ip = u / (uint64_t)pow10[decimals], fp = u % (uint64_t)pow10[decimals];
    n += put_uint(p + n, ip);
    if (fp) {
        int width = decimals;
        while (fp % 10 == 0) {
            fp /= 10;
            width--;
        }
        p[n++] = '.';
        char digits[16];
        int dn = put_uint(digits, fp);
        for (int i = dn; i < width; i++) p[n++] = '0';
        memcpy(p + n, digits, (size_t)dn);
        n += dn;
    }
    b->len += (size_t)n;
    b->data[b->len] = 0;
}

void json_put_double(buf *b, double v)
{
    if (!isfinite(v)) {
        buf_puts(b, "null");
        return;
    }
    /* whole numbers (counts, epoch milliseconds) exactly as integers */
    if (fabs(v) < 9007199254740992.0 && v == floor(v)) {
        json_put_int(b, (int64_t)v);
        return;
    }
    /* six decimals in fixed point while v * 1e6 is exact in a double (|v| < 2^53 / 1e6) */
    if (fabs(v) < 9.0e9) {
        json_put_fixed(b, (int64_t)llround(v * 1e6), 6);
        return;
    }
    buf_printf(b, "%.17g", v);
}

void json_put_bool(buf *b, bool v)
{
    buf_puts(b, v ? "true" : "false");
}

void json_put_key(buf *b, const char *key, bool comma)
{
    if (comma) buf_putc(b, ',');
    json_put_string(b, key);
    buf_putc(b, ':');
}
