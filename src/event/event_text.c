/* event_text.c: the jansson-free fast path of ingestion. event_split_batch cuts a request body
 * (one event, a JSON array of events, or NDJSON) into per-event spans; event_encode_text scans
 * one event object straight from its bytes into ev_values and hands them to the validation and
 * Avro filling event_encode uses (event_encode_given), so both give the same bytes and the same
 * errors. The scanner accepts exactly what json_loadb(JSON_REJECT_DUPLICATES) accepts: strict
 * UTF-8, no control characters or \u0000 in strings, paired surrogates, no leading zeros,
 * integers within int64, reals within double, nesting up to jansson's 2048 levels; with one
 * deliberate difference: jansson 2.14 drops a NUL byte that directly follows a number or
 * true/false/null (its lex_unget of that byte leaves its stream buffer looking empty), so it
 * accepts {"a":1\0}, which the scanner refuses as the invalid JSON it is. An event
 * with a nested object or array value (never a valid event: events are flat) or with more keys
 * than any event has fields is handed to jansson and event_encode whole, so even its error is
 * the same. */
#include "event_internal.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */
#define TEXT_MEMBERS_MAX 32 /* > EVENT_FIELDS_MAX: more keys means an unknown one */

/* A scan over text: p moves from base to end; on an error, what and where (offset from base). */
typedef struct scan {
    const unsigned char *base, *p, *end;
    size_t error_at;
    char what[160];
} scan;

/* Bytes that stand for themselves inside a JSON string: printable ASCII but '"' and '\\'. */
static const unsigned char STRING_PLAIN[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
    /* 0x80 and above: UTF-8, checked sequence by sequence */
};

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10u)

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

__attribute__((format(printf, 3, 4))) static int scan_fail(scan *s, const unsigned char *at,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->what, sizeof s->what, fmt, ap);
    va_end(ap);
    s->error_at = (size_t)(at - s->base);
    return -1;
}

/* "expected <what>, found <the byte at s->p>". */
static int fail_expected(scan *s, const char *what)
{
    const unsigned char *p = s->p;
    if (p >= s->end) return scan_fail(s, p, "expected %s, found the end of the input", what);
    if (*p > 0x20 && *p < 0x7f) return scan_fail(s, p, "expected %s, found '%c'", what, *p);
    return scan_fail(s, p, "expected %s, found byte 0x%02x", what, *p);
}

/* ---------------------------------------------------------------- tokens */

/* The length of the well-formed UTF-8 sequence of a non-ASCII character at p (no overlong
 * forms, surrogates or code points above U+10FFFF, as jansson checks), or 0. */
static size_t utf8_length(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    if (c >= 0xc2 && c <= 0xdf) return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (avail < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80) return 0;
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f)) return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (avail < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
            (p[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f)) return 0;
        return 4;
    }
    return 0;
}

/* The value of the 4 hex digits at p, or -1. */
static int32_t hex4(const unsigned char *p, const unsigned char *end)
{
    if (end - p < 4) return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        int d = IS_DIGIT(c)                ? (int)(c - '0')
                : (c | 0x20) - 'a' < 6u ? (int)((c | 0x20) - 'a' + 10)
                                           : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static char *put_utf8(char *o, int32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The high bit of each byte of v that is a control character, '"', '\\' or non-ASCII. Exact
 * for the lowest such byte, which is all the caller uses (above it, borrows may flag bytes
 * wrongly): below it no subtraction borrows. */
static inline uint64_t special_bytes(uint64_t v)
{
    uint64_t quote = v ^ (ONES * '"'), backslash = v ^ (ONES * '\\');
    return (((v - ONES * 0x20) & ~v) | ((quote - ONES) & ~quote) |
            ((backslash - ONES) & ~backslash) | v) &
           HIGHS;
}

/* Scans the string at s->p (its opening '"'). With o, decodes it there, NUL-terminated, and sets
 * *len; o needs at most as many bytes as the string takes in the text. */
static inline int scan_string(scan *s, char *o, size_t *len)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    char *start = o;
    for (;;) {
        const unsigned char *run = p;
        bool found = false;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        while (end - p >= 8) { /* 8 bytes at a time to the first byte that is not plain */
            uint64_t v;
            memcpy(&v, p, 8);
            uint64_t special = special_bytes(v);
            if (special) {
                p += __builtin_ctzll(special) / 8; /* little-endian: the lowest is the first */
                found = true;
                break;
            }
            p += 8;
        }
#endif
        if (!found) /* the last bytes of the text */
            while (p < end && STRING_PLAIN[*p])
                p++;
        if (o) {
            memcpy(o, run, (size_t)(p - run));
            o += p - run;
        }
        if (p == end)
            return scan_fail(s, p, "unterminated string (it starts at byte %zu)",
                             (size_t)(s->p - s->base));
        unsigned c = *p;
        if (c == '"') break;
        if (c == '\\') {
            if (end - p < 2)
                return scan_fail(s, end, "unterminated string (it starts at byte %zu)",
                                 (size_t)(s->p - s->base));
            char e;
            switch (p[1]) {
            case '"': e = '"'; break;
            case '\\': e = '\\'; break;
            case '/': e = '/'; break;
            case 'b': e = '\b'; break;
            case 'f': e = '\f'; break;
            case 'n': e = '\n'; break;
            case 'r': e = '\r'; break;
            case 't': e = '\t'; break;
            case 'u': {
                const unsigned char *escape = p;
                int32_t cp = hex4(p + 2, end);
                if (cp < 0)
                    return scan_fail(s, p, "invalid \\u escape in a string (\\u must be "
                                           "followed by 4 hex digits)");
                p += 6;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    int32_t low = end - p >= 2 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, end)
                                                                              : -2;
                    if (low == -1)
                        return scan_fail(s, p, "invalid \\u escape in a string (\\u must be "
                                               "followed by 4 hex digits)");
                    if (low < 0xdc00 || low > 0xdfff)
                        return scan_fail(s, escape,
                                         "unpaired UTF-16 surrogate \\u%04X in a string (a high "
                                         "surrogate must be followed by a low one)",
                                         (unsigned)cp);
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                    p += 6;
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return scan_fail(s, escape, "unpaired UTF-16 surrogate \\u%04X in a string",
                                     (unsigned)cp);
                } else if (cp == 0) {
                    return scan_fail(s, escape, "\\u0000 (NUL) is not allowed in a string");
                }
                if (o) o = put_utf8(o, cp);
                continue;
            }
            default:
                if (p[1] > 0x20 && p[1] < 0x7f)
                    return scan_fail(s, p, "invalid escape '\\%c' in a string", p[1]);
                return scan_fail(s, p, "invalid escape (a backslash before byte 0x%02x) in a "
                                       "string",
                                 p[1]);
            }
            if (o) *o++ = e;
            p += 2;
            continue;
        }
        if (c < 0x20) {
            if (c == '\n') return scan_fail(s, p, "unescaped line break in a string");
            return scan_fail(s, p, "unescaped control character 0x%02x in a string", c);
        }
        size_t n = utf8_length(p, end);
        if (!n) return scan_fail(s, p, "invalid UTF-8 (byte 0x%02x) in a string", c);
        if (o) {
            memcpy(o, p, n);
            o += n;
        }
        p += n;
    }
    if (o) {
        *o = 0;
        *len = (size_t)(o - start);
    }
    s->p = p + 1;
    return 0;
}

/* Exact powers of ten as doubles: 10^22 is the largest one a double holds exactly. */
static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The double of the real number token [start, end), as strtod reads it (jansson's reading). */
static int real_value(const unsigned char *start, const unsigned char *end, double *out)
{
    char small[64];
    size_t n = (size_t)(end - start);
    char *copy = n < sizeof small ? small : malloc(n + 1);
    if (!copy) return -2;
    memcpy(copy, start, n);
    copy[n] = 0;
    errno = 0;
    double d = strtod(copy, NULL);
    int rc = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE ? -1 : 0;
    if (copy != small) free(copy);
    *out = d;
    return rc;
}

/* Scans the number at s->p ('-' or a digit) by JSON's grammar, the way jansson reads it: without
 * '.', 'e' or 'E' it is an integer and must fit int64; otherwise a real, which must not overflow
 * a double. v (when not NULL) gets its value. */
static int scan_number(scan *s, ev_value *v)
{
    const unsigned char *p = s->p, *end = s->end, *start = p;
    bool negative = *p == '-';
    if (negative) p++;
    if (p == end || !IS_DIGIT(*p))
        return scan_fail(s, start, "invalid number (a digit must follow '-')");
    const unsigned char *int_begin = p;
    if (*p == '0') {
        p++;
        if (p < end && IS_DIGIT(*p))
            return scan_fail(s, start, "invalid number (no leading zeros)");
    } else {
        while (p < end && IS_DIGIT(*p))
            p++;
    }
    const unsigned char *int_end = p, *frac_begin = p, *frac_end = p;
    bool real = false;
    int exponent = 0;
    if (p < end && *p == '.') {
        real = true;
        frac_begin = ++p;
        if (p == end || !IS_DIGIT(*p))
            return scan_fail(s, start, "invalid number (a digit must follow '.')");
        while (p < end && IS_DIGIT(*p))
            p++;
        frac_end = p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        bool minus = p < end && *p == '-';
        if (p < end && (*p == '-' || *p == '+')) p++;
        if (p == end || !IS_DIGIT(*p))
            return scan_fail(s, start, "invalid number (a digit must follow the exponent's 'e')");
        while (p < end && IS_DIGIT(*p)) {
            if (exponent < 100000) exponent = exponent * 10 + (*p - '0');
            p++;
        }
        if (minus) exponent = -exponent;
    }
    s->p = p;

    if (!real) {
        if (int_end - int_begin > 19)
            return scan_fail(s, start, "integer out of the 64-bit range");
        uint64_t m = 0;
        for (const unsigned char *q = int_begin; q < int_end; q++)
            m = m * 10 + (uint64_t)(*q - '0');
        if (m > (uint64_t)INT64_MAX + negative)
            return scan_fail(s, start, "integer out of the 64-bit range");
        if (v) {
            v->kind = EV_INTEGER;
            v->integer = negative ? (int64_t)(0 - m) : (int64_t)m;
        }
        return 0;
    }
    /* Up to 15 significant digits times an exact power of ten up to 10^22: one correctly
     * rounded IEEE operation, so the same double strtod gives (Clinger's fast path). */
    double d;
    uint64_t m = 0;
    int digits = 0, scale = exponent;
    bool exact = FLT_EVAL_METHOD == 0;
    for (const unsigned char *q = int_begin; exact && q < int_end; q++) {
        if (m == 0 && *q == '0') continue; /* leading zeros add nothing */
        if (++digits > 15) exact = false;
        m = m * 10 + (uint64_t)(*q - '0');
    }
    for (const unsigned char *q = frac_begin; exact && q < frac_end; q++) {
        if (--scale < -400) exact = false; /* far below any double: strtod decides */
        if (m == 0 && *q == '0') continue;
        if (++digits > 15) exact = false;
        m = m * 10 + (uint64_t)(*q - '0');
    }
    if (exact && m == 0) {
        d = 0.0;
    } else if (exact && scale >= -22 && scale <= 22) {
        d = scale >= 0 ? (double)m * POW10[scale] : (double)m / POW10[-scale];
    } else {
        int rc = real_value(negative ? start + 1 : start, p, &d);
        if (rc == -2) return scan_fail(s, start, "out of memory");
        if (rc) return scan_fail(s, start, "number out of the range of a double");
    }
    if (v) {
        v->kind = EV_REAL;
        v->real = negative ? -d : d;
    }
    return 0;
}

/* Scans true, false or null at s->p. */
static int scan_literal(scan *s, ev_value *v)
{
    size_t avail = (size_t)(s->end - s->p);
    ev_kind kind;
    size_t n;
    if (avail >= 4 && memcmp(s->p, "true", 4) == 0) {
        kind = EV_TRUE;
        n = 4;
    } else if (avail >= 5 && memcmp(s->p, "false", 5) == 0) {
        kind = EV_FALSE;
        n = 5;
    } else if (avail >= 4 && memcmp(s->p, "null", 4) == 0) {
        kind = EV_NULL;
        n = 4;
    } else {
        return fail_expected(s, "a JSON value");
    }
    s->p += n;
    if (v) v->kind = kind;
    return 0;
}

/* Scans `"key" :` at s->p. */
static int skip_key(scan *s, const char *expected)
{
    if (s->p == s->end || *s->p != '"') return fail_expected(s, expected);
    if (scan_string(s, NULL, NULL)) return -1;
    s->p = skip_ws(s->p, s->end);
    if (s->p == s->end || *s->p != ':') return fail_expected(s, "':' after an object key");
    s->p = skip_ws(s->p + 1, s->end);
    return 0;
}

/* Checks the JSON value at s->p (whitespace before it allowed) without decoding it, and moves
 * s->p past it. depth is the value's nesting depth as jansson counts it (1 for a top-level
 * value); jansson refuses values deeper than JSON_MAX_DEPTH. Iterative: no recursion however
 * deep the input. Duplicate keys are not looked for. */
static int skip_value(scan *s, int depth)
{
    uint64_t objects[JSON_MAX_DEPTH / 64 + 1]; /* bit k: the k-th open container is an object */
    int open = 0;
    const unsigned char *end = s->end;
    for (;;) {
        s->p = skip_ws(s->p, end);
        if (depth + open > JSON_MAX_DEPTH)
            return scan_fail(s, s->p, "values nested deeper than %d levels", JSON_MAX_DEPTH);
        if (s->p == end) return fail_expected(s, "a JSON value");
        unsigned c = *s->p;
        if (c == '{' || c == '[') {
            uint64_t bit = (uint64_t)1 << (open % 64);
            if (c == '{') objects[open / 64] |= bit;
            else objects[open / 64] &= ~bit;
            open++;
            s->p = skip_ws(s->p + 1, end);
            if (s->p < end && *s->p == (c == '{' ? '}' : ']')) {
                s->p++;
                open--;
            } else {
                if (c == '{' && skip_key(s, "a string key or '}'")) return -1;
                continue; /* the first member's value or element */
            }
        } else if (c == '"') {
            if (scan_string(s, NULL, NULL)) return -1;
        } else if (c == '-' || IS_DIGIT(c)) {
            if (scan_number(s, NULL)) return -1;
        } else if (scan_literal(s, NULL)) {
            return -1;
        }
        /* after a value: close containers until one goes on with ',' */
        for (;;) {
            if (open == 0) return 0;
            bool object = objects[(open - 1) / 64] >> ((open - 1) % 64) & 1;
            s->p = skip_ws(s->p, end);
            if (s->p < end && *s->p == ',') {
                s->p = skip_ws(s->p + 1, end);
                if (object && skip_key(s, "a string key")) return -1;
                break;
            }
            if (s->p < end && *s->p == (object ? '}' : ']')) {
                s->p++;
                open--;
                continue;
            }
            return fail_expected(s, object ? "',' or '}' in an object" : "',' or ']' in an array");
        }
    }
}

/* ---------------------------------------------------------------- one event */

typedef struct member {
    const char *key; /* NUL-terminated, in the scratch */
    size_t key_len;
    ev_value value;
} member;

enum { PARSED, PARSE_ERROR, PARSE_BY_JANSSON };

/* Scans the event object at s->p into members (decoded strings go to scratch). PARSE_BY_JANSSON
 * when the text is a top-level array, has a nested object or array value, or has more than
 * TEXT_MEMBERS_MAX keys: none is a valid event, and jansson with event_encode gives the answer. */
static int parse_event(scan *s, char *scratch, member *members, int *count)
{
    const unsigned char *end = s->end;
    char *o = scratch;
    int n = 0;
    s->p = skip_ws(s->p, end);
    if (s->p < end && *s->p == '[') return PARSE_BY_JANSSON;
    if (s->p == end || *s->p != '{') {
        fail_expected(s, "'{' (an event is a JSON object)");
        return PARSE_ERROR;
    }
    s->p = skip_ws(s->p + 1, end);
    if (s->p < end && *s->p == '}') {
        s->p++;
    } else {
        for (;;) {
            if (s->p == end || *s->p != '"') {
                fail_expected(s, n ? "a string key" : "a string key or '}'");
                return PARSE_ERROR;
            }
            if (n == TEXT_MEMBERS_MAX) return PARSE_BY_JANSSON;
            member *m = &members[n];
            const unsigned char *key_at = s->p;
            if (scan_string(s, o, &m->key_len)) return PARSE_ERROR;
            m->key = o;
            o += m->key_len + 1;
            for (int k = 0; k < n; k++) {
                if (members[k].key_len == m->key_len &&
                    memcmp(members[k].key, m->key, m->key_len) == 0) {
                    scan_fail(s, key_at, "duplicate key '%.40s'", m->key);
                    return PARSE_ERROR;
                }
            }
            s->p = skip_ws(s->p, end);
            if (s->p == end || *s->p != ':') {
                fail_expected(s, "':' after an object key");
                return PARSE_ERROR;
            }
            s->p = skip_ws(s->p + 1, end);
            if (s->p == end) {
                fail_expected(s, "a JSON value");
                return PARSE_ERROR;
            }
            ev_value *v = &m->value;
            v->json = NULL;
            unsigned c = *s->p;
            if (c == '"') {
                v->kind = EV_STRING;
                if (scan_string(s, o, &v->len)) return PARSE_ERROR;
                v->str = o;
                o += v->len + 1;
            } else if (c == '-' || IS_DIGIT(c)) {
                if (scan_number(s, v)) return PARSE_ERROR;
            } else if (c == '{' || c == '[') {
                return PARSE_BY_JANSSON;
            } else if (scan_literal(s, v)) {
                return PARSE_ERROR;
            }
            n++;
            s->p = skip_ws(s->p, end);
            if (s->p < end && *s->p == ',') {
                s->p = skip_ws(s->p + 1, end);
                continue;
            }
            if (s->p < end && *s->p == '}') {
                s->p++;
                break;
            }
            fail_expected(s, "',' or '}' in an object");
            return PARSE_ERROR;
        }
    }
    s->p = skip_ws(s->p, end);
    if (s->p != end) {
        fail_expected(s, "the end of the event after its closing '}'");
        return PARSE_ERROR;
    }
    *count = n;
    return PARSED;
}

static int encode_by_jansson(event_codec *c, const char *text, size_t len,
                             const event_enrichment *enrich, buf *out, event_meta *meta,
                             surge_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return surge_fail(err, SURGE_EPARSE, NULL, "the event is not valid JSON: %s (byte %d)",
                          jerr.text, jerr.position);
    int rc = event_encode(c, root, enrich, out, meta, err);
    json_decref(root);
    return rc;
}

int event_encode_text(event_codec *c, const char *text, size_t len,
                      const event_enrichment *enrich, buf *out, event_meta *meta,
                      surge_error *err)
{
    /* decoded strings take at most the bytes their tokens take in the text */
    char small[2048];
    char *scratch = len < sizeof small ? small : malloc(len + 1);
    if (!scratch) return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    member members[TEXT_MEMBERS_MAX];
    int n = 0, rc;
    scan s; /* what[] is written only on an error */
    s.base = s.p = (const unsigned char *)text;
    s.end = s.base + len;
    switch (parse_event(&s, scratch, members, &n)) {
    case PARSE_ERROR:
        rc = surge_fail(err, SURGE_EPARSE, NULL, "the event is not valid JSON: %s (byte %zu)",
                        s.what, s.error_at);
        goto done;
    case PARSE_BY_JANSSON:
        rc = encode_by_jansson(c, text, len, enrich, out, meta, err);
        goto done;
    default:
        break;
    }
    /* as event_encode: the type, then unknown keys in the order given, then the fields */
    const ev_value *type_value = NULL;
    for (int k = 0; k < n; k++) {
        if (members[k].key_len == 4 && memcmp(members[k].key, "type", 4) == 0) {
            type_value = &members[k].value;
            break;
        }
    }
    int type = type_value && type_value->kind == EV_STRING
                   ? event_type_from_name(type_value->str)
                   : -1;
    if (type < 0) {
        rc = event_fail_type(type_value, err);
        goto done;
    }
    const record_desc *r = &c->records[type];
    const ev_value *given[EVENT_FIELDS_MAX] = {0};
    for (int k = 0; k < n; k++) {
        int i = event_field_lookup(r, members[k].key, members[k].key_len);
        if (i < 0) {
            rc = event_fail_unknown(r, members[k].key, err);
            goto done;
        }
        if (members[k].value.kind != EV_NULL) given[i] = &members[k].value;
    }
    rc = event_encode_given(c, type, given, enrich, out, meta, err);
done:
    if (scratch != small) free(scratch);
    return rc;
}

/* ---------------------------------------------------------------- a request body */

typedef struct span_list {
    event_span *spans;
    size_t count, cap;
} span_list;

/* Appends a span; NULL on out-of-memory. */
static event_span *span_add(span_list *l, size_t offset, size_t len)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        event_span *spans = realloc(l->spans, cap * sizeof *spans);
        if (!spans) return NULL;
        l->spans = spans;
        l->cap = cap;
    }
    event_span *sp = &l->spans[l->count++];
    sp->offset = offset;
    sp->len = len;
    sp->ok = true;
    sp->error.code = SURGE_OK;
    sp->error.field[0] = 0;
    sp->error.message[0] = 0;
    return sp;
}

/* Splits a JSON body (an object or an array) into l, up to max_events spans; *total gets the
 * number of events, which may be more. */
static int split_json(const char *text, size_t len, span_list *l, size_t max_events,
                      size_t *total, surge_error *err)
{
    scan s; /* what[] is written only on an error */
    s.base = (const unsigned char *)text;
    s.end = s.base + len;
    s.p = skip_ws(s.base, s.end);
    const unsigned char *first = s.p;
    size_t n = 0;
    if (first < s.end && *first == '[') {
        s.p = skip_ws(s.p + 1, s.end);
        if (s.p < s.end && *s.p == ']') {
            s.p++;
        } else {
            for (;;) {
                s.p = skip_ws(s.p, s.end);
                const unsigned char *start = s.p;
                if (skip_value(&s, 2)) goto invalid;
                if (n++ < max_events) { /* past it, only count */
                    event_span *sp =
                        span_add(l, (size_t)(start - s.base), (size_t)(s.p - start));
                    if (!sp) return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
                    if (*start != '{') {
                        sp->ok = false;
                        surge_fail(&sp->error, SURGE_EPARSE, NULL,
                                   "event %zu is not a JSON object", n - 1);
                    }
                }
                s.p = skip_ws(s.p, s.end);
                if (s.p < s.end && *s.p == ',') {
                    s.p++;
                    continue;
                }
                if (s.p < s.end && *s.p == ']') {
                    s.p++;
                    break;
                }
                fail_expected(&s, "',' or ']' in an array");
                goto invalid;
            }
        }
    } else {
        if (skip_value(&s, 1)) goto invalid;
        if (*first == '{') {
            n = 1;
            if (!span_add(l, (size_t)(first - s.base), (size_t)(s.p - first)))
                return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        }
    }
    s.p = skip_ws(s.p, s.end);
    if (s.p != s.end) {
        fail_expected(&s, "the end of the body after the JSON value");
        goto invalid;
    }
    if (*first != '{' && *first != '[')
        return surge_fail(err, SURGE_EPARSE, NULL,
                          "the body must be an event (JSON object) or a JSON array of events");
    *total = n;
    return 0;
invalid:
    return surge_fail(err, SURGE_EPARSE, NULL, "the body is not valid JSON: %s (byte %zu)", s.what,
                      s.error_at);
}

static int split_ndjson(const char *text, size_t len, span_list *l, size_t max_events,
                        surge_error *err)
{
    const char *p = text, *end = text + len;
    size_t line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        line++;
        const char *q = p;
        while (q < stop && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < stop) {
            if (l->count == max_events)
                return surge_fail(err, SURGE_ETOOLARGE, NULL,
                                  "more than %zu events in one request (ingest.max_events)",
                                  max_events);
            scan s; /* what[] is written only on an error */
            s.base = (const unsigned char *)p;
            s.p = (const unsigned char *)q;
            s.end = (const unsigned char *)stop;
            int rc = skip_value(&s, 1);
            const unsigned char *value_end = s.p;
            if (!rc) {
                s.p = skip_ws(s.p, s.end);
                if (s.p != s.end) rc = fail_expected(&s, "the end of the line after the JSON value");
            }
            event_span *sp = span_add(l, (size_t)(q - text),
                                      rc ? (size_t)(stop - q) : (size_t)((const char *)value_end - q));
            if (!sp) return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
            if (rc) {
                sp->ok = false;
                surge_fail(&sp->error, SURGE_EPARSE, NULL,
                           "line %zu is not valid JSON: %s (byte %zu of the line)", line, s.what,
                           s.error_at);
            } else if (*q != '{') {
                sp->ok = false;
                surge_fail(&sp->error, SURGE_EPARSE, NULL, "line %zu is not a JSON object", line);
            }
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int event_split_batch(const char *text, size_t len, bool ndjson, event_span **spans,
                      size_t *count, size_t max_events, surge_error *err)
{
    span_list l = {0};
    int rc;
    *spans = NULL;
    *count = 0;
    if (ndjson) {
        rc = split_ndjson(text, len, &l, max_events, err);
    } else {
        size_t n = 0;
        rc = split_json(text, len, &l, max_events, &n, err);
        if (!rc && n > max_events)
            rc = surge_fail(err, SURGE_ETOOLARGE, NULL,
                            "%zu events in one request; at most %zu (ingest.max_events)", n,
                            max_events);
    }
    if (rc) {
        free(l.spans);
        return rc;
    }
    *spans = l.spans;
    *count = l.count;
    return 0;
}
