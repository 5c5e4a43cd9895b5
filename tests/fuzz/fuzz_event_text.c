/* fuzz_event_text.c: libFuzzer target for the jansson-free ingestion path of src/event
 * (event_split_batch, event_encode_text). The first input byte picks the mode and max_events;
 * the rest is
 *   (0) one event: event_encode_text and json_loadb(JSON_REJECT_DUPLICATES) + event_encode must
 *       agree exactly: the same record bytes and meta, or the same code, field and message;
 *       where jansson refuses the text, event_encode_text must say SURGE_EPARSE;
 *   (1) a JSON body, (2) an NDJSON body: event_split_batch must agree with jansson on whether
 *       the body (each line) is JSON, how many events there are and which are objects, every
 *       span must lie inside the body, and every object span goes through (0).
 * Never a crash, a leak, a hang or a disagreement (abort() with both answers printed).
 *
 * Build (clang, from the repository root, after `cmake -S . -B build` generated the schemas;
 * src/bus is linked for BUS_TOPIC_NAMES):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *     $(find src/core src/event src/bus -name '*.c') build/generated/event_schemas.c \
 *     tests/fuzz/fuzz_event_text.c -o build/fuzz_event_text -lavro -ljansson -lpthread -lm
 *   build/fuzz_event_text -dict=tests/fuzz/fuzz_event_text.dict -max_total_time=60 [corpus-dir]
 * Without clang, -DFUZZ_STANDALONE builds a main() that runs each file named on the command
 * line (or stdin) through the target once, for replaying crashes with gcc and ASan. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"

static event_codec *codec; /* made on the first input, kept for the life of the process */

/* See fuzz_event_decode.c: libavro's unaligned pointers would otherwise look leaked. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "use_unaligned=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* jansson 2.14 drops one NUL byte that directly follows a number or true/false/null (its
 * lex_unget of that byte leaves the stream buffer looking empty), so it accepts {"a":1\0}; the
 * scanner refuses such text, the one deliberate difference. True when message, an error of the
 * fast path about text, is exactly that case. */
static bool jansson_nul_quirk(const char *text, size_t len, const char *message)
{
    const char *b = strstr(message, "found byte 0x00 (byte ");
    if (!b) return false;
    size_t at = (size_t)strtoull(b + 22, NULL, 10);
    if (at == 0 || at >= len || text[at] != 0) return false;
    char prev = text[at - 1];
    return (prev >= '0' && prev <= '9') || prev == 'e' || prev == 'l';
}

static void disagree(const char *what, const char *text, size_t len, const char *a,
                     const char *b)
{
    fprintf(stderr, "%s\n  text: %.*s\n  jansson: %s\n  fast path: %s\n", what,
            (int)(len < 300 ? len : 300), text, a, b);
    abort();
}

/* Mode 0: both entry points on text[0..len). */
static void check_event(const char *text, size_t len)
{
    static const event_enrichment enrich = {1768127520123, "fuzz", 5};
    char *copy = malloc(len ? len : 1); /* exactly len bytes: ASan sees any over-read */
    if (!copy) abort();
    memcpy(copy, text, len);
    buf a, b;
    buf_init(&a);
    buf_init(&b);
    buf_puts(&a, "keep");
    buf_puts(&b, "keep");
    event_meta ma, mb;
    surge_error ea = {0}, eb = {0};
    json_error_t jerr;
    json_t *root = json_loadb(copy, len, JSON_REJECT_DUPLICATES, &jerr);
    int ra = root ? event_encode(codec, root, &enrich, &a, &ma, &ea) : SURGE_EPARSE;
    int rb = event_encode_text(codec, copy, len, &enrich, &b, &mb, &eb);
    if (!root) {
        if (rb != SURGE_EPARSE || eb.code != SURGE_EPARSE ||
            strncmp(eb.message, "the event is not valid JSON: ", 29) != 0)
            disagree("jansson refuses the text, the fast path does not", copy, len, jerr.text,
                     eb.message);
    } else if (rb == SURGE_EPARSE && jansson_nul_quirk(copy, len, eb.message)) {
        /* the known difference */
    } else if (ra != rb || (ra && (ea.code != eb.code || strcmp(ea.field, eb.field) != 0 ||
                                   strcmp(ea.message, eb.message) != 0))) {
        disagree("different answers", copy, len, ea.message, eb.message);
    } else if (!ra) {
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            disagree("different record bytes", copy, len, "", "");
        if (ma.type != mb.type || strcmp(ma.event_id, mb.event_id) != 0 ||
            strcmp(ma.region_id, mb.region_id) != 0 || strcmp(ma.user_id, mb.user_id) != 0 ||
            ma.ts_ms != mb.ts_ms || ma.ingest_ts_ms != mb.ingest_ts_ms)
            disagree("different meta", copy, len, ma.event_id, mb.event_id);
    }
    if ((ra || !root) && (a.len != 4 || b.len != 4)) disagree("out changed", copy, len, "", "");
    if (rb && rb != SURGE_EPARSE && rb != SURGE_EINVAL)
        disagree("unexpected code", copy, len, "", eb.message);
    json_decref(root);
    buf_free(&a);
    buf_free(&b);
    free(copy);
}

static void check_span_bounds(const char *body, size_t len, const event_span *sp)
{
    if (sp->offset > len || sp->len > len - sp->offset) abort();
    if (sp->ok && (sp->len < 2 || body[sp->offset] != '{' || body[sp->offset + sp->len - 1] != '}'))
        disagree("an ok span is not {...}", body + sp->offset, sp->len, "", "");
    if (sp->ok != (sp->error.code == SURGE_OK)) abort();
}

/* Modes 1 and 2: the splitter against jansson, then every object span both ways. */
static void check_split(const char *body, size_t len, bool ndjson, size_t max)
{
    event_span *spans;
    size_t count;
    surge_error err;
    int rc = event_split_batch(body, len, ndjson, &spans, &count, max, &err);
    if (rc && (spans || count)) abort();
    json_error_t jerr;
    if (!ndjson) {
        json_t *root = json_loadb(body, len, JSON_DECODE_ANY, &jerr); /* duplicates allowed */
        if (root && rc == SURGE_EPARSE && jansson_nul_quirk(body, len, err.message)) {
            /* the known difference */
        } else if (!root) {
            if (rc != SURGE_EPARSE || strncmp(err.message, "the body is not valid JSON: ", 28) != 0)
                disagree("jansson refuses the body, the splitter does not", body, len, jerr.text,
                         err.message);
        } else if (!json_is_object(root) && !json_is_array(root)) {
            if (rc != SURGE_EPARSE || !strstr(err.message, "must be an event"))
                disagree("a scalar body", body, len, "", err.message);
        } else {
            size_t n = json_is_array(root) ? json_array_size(root) : 1;
            if (n > max) {
                if (rc != SURGE_ETOOLARGE) disagree("too many events", body, len, "", err.message);
            } else if (rc || count != n) {
                disagree("jansson reads the body, the splitter does not", body, len, "",
                         err.message);
            } else {
                for (size_t i = 0; i < n; i++) {
                    json_t *e = json_is_array(root) ? json_array_get(root, i) : root;
                    check_span_bounds(body, len, &spans[i]);
                    if (spans[i].ok != json_is_object(e))
                        disagree("an element's kind", body + spans[i].offset, spans[i].len, "",
                                 spans[i].error.message);
                }
            }
        }
        json_decref(root);
    } else {
        /* the lines that are not blank, as the splitter sees them: first how many, then each */
        size_t lines = 0;
        for (int pass = 0; pass < 2; pass++) {
            size_t k = 0;
            const char *p = body, *end = body + len;
            while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop = nl ? nl : end;
                const char *q = p;
                while (q < stop && (*q == ' ' || *q == '\t' || *q == '\r'))
                    q++;
                if (q < stop && pass == 1) {
                    json_t *j = json_loadb(p, (size_t)(stop - p), JSON_DECODE_ANY, &jerr);
                    check_span_bounds(body, len, &spans[k]);
                    if (j && jansson_nul_quirk(p, (size_t)(stop - p), spans[k].error.message)) {
                        /* the known difference */
                    } else if (spans[k].ok != json_is_object(j) ||
                               (!j) != (strstr(spans[k].error.message, "is not valid JSON") != NULL))
                        disagree("a line", p, (size_t)(stop - p), j ? "valid" : jerr.text,
                                 spans[k].error.message);
                    json_decref(j);
                }
                if (q < stop) k++;
                p = nl ? nl + 1 : end;
            }
            if (pass == 0) {
                lines = k;
                if (lines > max) {
                    if (rc != SURGE_ETOOLARGE)
                        disagree("too many lines", body, len, "", err.message);
                    break;
                }
                if (rc || count != lines)
                    disagree("the splitter refused an NDJSON body", body, len, "", err.message);
            }
        }
    }
    for (size_t i = 0; i < count; i++)
        if (spans[i].ok) check_event(body + spans[i].offset, spans[i].len);
    free(spans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!codec) {
        surge_error err;
        codec = event_codec_new(&err);
        if (!codec) {
            fprintf(stderr, "event_codec_new: %s\n", err.message);
            abort();
        }
    }
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: check_event(text, len); break;
    case 1: check_split(text, len, false, (size_t)(data[0] / 3 % 16)); break;
    default: check_split(text, len, true, (size_t)(data[0] / 3 % 16)); break;
    }
    return 0;
}

#ifdef FUZZ_STANDALONE
static void run_file(FILE *f)
{
    buf in;
    buf_init(&in);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&in, chunk, n);
    LLVMFuzzerTestOneInput((const uint8_t *)(in.data ? in.data : ""), in.len);
    buf_free(&in);
}

int main(int argc, char **argv)
{
    if (argc < 2) run_file(stdin);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        run_file(f);
        fclose(f);
    }
    event_codec_free(codec);
    return 0;
}
#endif
