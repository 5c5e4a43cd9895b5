/* fuzz_event_decode.c: libFuzzer target for src/event. The first input byte picks what to
 * fuzz; the rest is either (a) bytes decoded as a record value of each topic, which must give
 * SURGE_EPARSE or a JSON object jansson can read, or (b) JSON text that, when jansson parses
 * it, is encoded as an event, and whatever encodes must decode back to the same event_id. Never
 * a crash, a leak or a hang.
 *
 * Build (clang, from the repository root, after `cmake -S . -B build` generated the schemas;
 * src/bus is linked for BUS_TOPIC_NAMES):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *     $(find src/core src/event src/bus -name '*.c') build/generated/event_schemas.c \
 *     tests/fuzz/fuzz_event_decode.c -o build/fuzz_event_decode -lavro -ljansson -lpthread -lm
 *   build/fuzz_event_decode -max_total_time=60 [corpus-dir]
 * Without clang, -DFUZZ_STANDALONE builds a main() that runs each file named on the command
 * line (or stdin) through the target once, for replaying crashes with gcc and ASan. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"

static event_codec *codec; /* made on the first input, kept for the life of the process */

/* libavro places a generic value's fields 4 bytes into its allocation (after a refcount), so
 * the pointers they hold are not 8-byte aligned and LeakSanitizer's default scan misses them:
 * everything the long-lived codec holds would be reported as leaked at exit. Scanning
 * unaligned words too removes those false reports (real leaks are still found). */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "use_unaligned=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decodes(bus_topic topic, const void *bytes, size_t len)
{
    buf out;
    buf_init(&out);
    surge_error err;
    int rc = event_decode_json(codec, topic, bytes, len, &out, &err);
    if (rc == 0) {
        json_error_t jerr;
        json_t *j = json_loadb(out.data, out.len, 0, &jerr);
        if (!json_is_object(j)) {
            fprintf(stderr, "decoded to invalid JSON (%s): %s\n", jerr.text, out.data);
            abort();
        }
        json_decref(j);
    } else if (rc != SURGE_EPARSE && rc != SURGE_ENOTFOUND) {
        fprintf(stderr, "decode returned %d: %s\n", rc, err.message);
        abort();
    }
    buf_free(&out);
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
    if (data[0] & 1) {
        for (int t = 0; t < BUS_NTOPICS; t++)
            check_decodes((bus_topic)t, data + 1, size - 1);
        return 0;
    }
    json_error_t jerr;
    json_t *event = json_loadb((const char *)data + 1, size - 1, 0, &jerr);
    if (!event) return 0;
    event_enrichment enrich = {1768127520123, "fuzz", 1 + data[0] / 2 % 12};
    buf out;
    buf_init(&out);
    buf_puts(&out, "keep");
    event_meta meta;
    surge_error err;
    int rc = event_encode(codec, event, &enrich, &out, &meta, &err);
    if (rc != 0) {
        if (rc != SURGE_EINVAL || out.len != 4 || memcmp(out.data, "keep", 4) != 0) {
            fprintf(stderr, "encode failed with %d (%s) or changed out\n", rc, err.message);
            abort();
        }
    } else {
        buf js;
        buf_init(&js);
        if (event_decode_json(codec, event_topic(meta.type), out.data + 4, out.len - 4, &js,
                              &err)) {
            fprintf(stderr, "an encoded %s does not decode: %s\n", EVENT_TYPE_NAMES[meta.type],
                    err.message);
            abort();
        }
        json_t *back = json_loadb(js.data, js.len, 0, &jerr);
        const char *id = json_string_value(json_object_get(back, "event_id"));
        if (!id || strcmp(id, meta.event_id) != 0) {
            fprintf(stderr, "event_id did not survive: %s\n", js.data);
            abort();
        }
        json_decref(back);
        buf_free(&js);
    }
    buf_free(&out);
    json_decref(event);
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
