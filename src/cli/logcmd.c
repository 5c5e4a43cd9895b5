/* logcmd.c: `surge log`, a kcat for surge's own log: list topics, print records as JSON lines
 * with their decoded events, and verify every batch's CRC. */
#include "cli.h"
#include "event/event.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

const char CLI_LOG_USAGE[] =
    "Usage: surge log topics [--data-dir DIR]\n"
    "       surge log cat TOPIC [--partition N] [--from-offset O | --from-time T] [--limit N]\n"
    "                           [--data-dir DIR]\n"
    "       surge log verify [--data-dir DIR]\n"
    "\n"
    "topics  each topic's partitions with their first and next offsets\n"
    "cat     one JSON object per record: topic, partition, offset, timestamp, key, headers and\n"
    "        the decoded event; all partitions in turn unless --partition is given. --from-time\n"
    "        takes RFC 3339 or epoch ms and starts at the first batch written at or after it.\n"
    "verify  reads every retained batch and checks its CRC; exit code 1 on any corruption\n"
    "Run it beside a live server: it only reads.\n";

static void put_bytes_string(buf *o, const void *data, size_t len)
{
    json_put_string_n(o, data, len);
}

static int print_record(event_codec *codec, bus_topic topic, int partition, const bus_record *r,
                        buf *o)
{
    buf_reset(o);
    char ts[40];
    time_format_rfc3339(r->timestamp_ms, ts, sizeof ts);
    buf_puts(o, "{\"topic\":");
    json_put_string(o, BUS_TOPIC_NAMES[topic]);
    buf_puts(o, ",\"partition\":");
    json_put_int(o, partition);
    buf_puts(o, ",\"offset\":");
    json_put_int(o, r->offset);
    buf_puts(o, ",\"timestamp\":");
    json_put_string(o, ts);
    buf_puts(o, ",\"key\":");
    if (r->key) put_bytes_string(o, r->key, r->key_len);
    else buf_puts(o, "null");
    buf_puts(o, ",\"headers\":{");
    for (int h = 0; h < r->header_count; h++) {
        json_put_key(o, r->headers[h].name, h > 0);
        put_bytes_string(o, r->headers[h].value, r->headers[h].value_len);
    }
    buf_puts(o, "},\"event\":");
    surge_error err;
    size_t before = o->len;
    if (event_decode_json(codec, topic, r->value, r->value_len, o, &err)) {
        o->len = before;
        buf_puts(o, "null,\"decode_error\":");
        json_put_string(o, err.message);
    }
    buf_puts(o, "}\n");
    return fwrite(o->data, 1, o->len, stdout) == o->len ? 0 : -1;
}

static void report_problem(void *ctx, const char *message)
{
    int *problems = ctx;
    (*problems)++;
    printf("CORRUPT %s\n", message);
}

int cli_log_command(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : NULL;
    if (!what || (strcmp(what, "topics") && strcmp(what, "cat") && strcmp(what, "verify"))) {
        fputs(CLI_LOG_USAGE, stderr);
        return 2;
    }
    argv[1] = NULL;
    const char *topic_name = NULL;
    if (strcmp(what, "cat") == 0) {
        if (argc < 3 || argv[2][0] == '-') {
            fprintf(stderr, "surge: log cat needs a TOPIC\n\n%s", CLI_LOG_USAGE);
            return 2;
        }
        topic_name = argv[2];
        argv[2] = NULL;
    }
    surge_error err;
    cli_common common;
    config *cfg = cli_config(argc, argv, environ, &common, &err);
    if (!cfg) {
        fprintf(stderr, "surge: %s\n", err.message);
        return 2;
    }
    int partition = -1;
    int64_t from_offset = -1, from_time = -1, limit = -1;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        if (!argv[i]) continue;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(what, "cat") == 0 && v && strcmp(argv[i], "--partition") == 0) {
            partition = (int)strtol(v, &end, 10);
            if (*end || partition < 0 || partition >= BUS_PARTITIONS) {
                fprintf(stderr, "surge: --partition must be 0..%d\n", BUS_PARTITIONS - 1);
                goto out;
            }
        } else if (strcmp(what, "cat") == 0 && v && strcmp(argv[i], "--from-offset") == 0) {
            from_offset = strtoll(v, &end, 10);
            if (*end || from_offset < 0) {
                fprintf(stderr, "surge: --from-offset must be an offset >= 0\n");
                goto out;
            }
        } else if (strcmp(what, "cat") == 0 && v && strcmp(argv[i], "--from-time") == 0) {
            if (time_parse(v, &from_time)) {
                fprintf(stderr, "surge: --from-time '%s' is not RFC 3339 or epoch ms\n", v);
                goto out;
            }
        } else if (strcmp(what, "cat") == 0 && v && strcmp(argv[i], "--limit") == 0) {
            limit = strtoll(v, &end, 10);
            if (*end || limit < 0) {
                fprintf(stderr, "surge: --limit must be a count >= 0\n");
                goto out;
            }
        } else {
            fprintf(stderr, "surge: unknown option '%s'\n\n%s", argv[i], CLI_LOG_USAGE);
            goto out;
        }
        i++;
    }
    if (from_offset >= 0 && from_time >= 0) {
        fprintf(stderr, "surge: give --from-offset or --from-time, not both\n");
        goto out;
    }
    int topic = -1;
    if (topic_name && (topic = bus_topic_from_name(topic_name)) < 0) {
        fprintf(stderr, "surge: unknown topic '%s' (topics:", topic_name);
        for (int t = 0; t < BUS_NTOPICS; t++) fprintf(stderr, " %s", BUS_TOPIC_NAMES[t]);
        fprintf(stderr, ")\n");
        goto out;
    }

    char url[1200];
    bus_config bc;
    cli_bus_settings(cfg, url, sizeof url, &bc);
    bc.read_only = true;
    rc = 1;
    bus *b = bus_open(url, &bc, &err);
    if (!b) {
        fprintf(stderr, "surge: %s\n", err.message);
        goto out;
    }
    if (strcmp(what, "topics") == 0) {
        printf("%-18s %9s %14s %14s %12s\n", "topic", "partition", "start_offset", "end_offset",
               "records");
        for (int t = 0; t < BUS_NTOPICS; t++) {
            for (int p = 0; p < BUS_PARTITIONS; p++) {
                int64_t start = 0, endo = 0;
                if (bus_start_offset(b, t, p, &start, &err) || bus_end_offset(b, t, p, &endo, &err)) {
                    fprintf(stderr, "surge: %s\n", err.message);
                    goto close;
                }
                printf("%-18s %9d %14lld %14lld %12lld\n", BUS_TOPIC_NAMES[t], p,
                       (long long)start, (long long)endo, (long long)(endo - start));
            }
        }
        rc = 0;
    } else if (strcmp(what, "verify") == 0) {
        int problems = 0;
        int vrc = bus_verify(b, report_problem, &problems, &err);
        if (vrc == 0) {
            printf("log OK: every batch's CRC matches\n");
            rc = 0;
        } else {
            if (!problems) fprintf(stderr, "surge: %s\n", err.message);
            printf("log CORRUPT: %d problem(s)\n", problems);
            rc = 1;
        }
    } else {
        event_codec *codec = event_codec_new(&err);
        if (!codec) {
            fprintf(stderr, "surge: %s\n", err.message);
            goto close;
        }
        buf o;
        buf_init(&o);
        int64_t printed = 0;
        rc = 0;
        for (int p = partition >= 0 ? partition : 0;
             p < (partition >= 0 ? partition + 1 : BUS_PARTITIONS) && rc == 0; p++) {
            int64_t start = from_offset >= 0 ? from_offset : 0;
            if (from_time >= 0 && bus_offset_for_time(b, topic, p, from_time, &start, &err)) {
                fprintf(stderr, "surge: %s\n", err.message);
                rc = 1;
                break;
            }
            if (from_offset < 0 && from_time < 0 && bus_start_offset(b, topic, p, &start, &err)) {
                fprintf(stderr, "surge: %s\n", err.message);
                rc = 1;
                break;
            }
            bus_consumer *c = bus_consumer_open(b, topic, p, start, &err);
            if (!c) {
                fprintf(stderr, "surge: %s\n", err.message);
                rc = 1;
                break;
            }
            bus_record r;
            int n = 0;
            while ((limit < 0 || printed < limit) && (n = bus_consumer_next(c, &r, &err)) == 1) {
                if (print_record(codec, topic, p, &r, &o)) {
                    rc = 1; /* stdout closed (e.g. piped into head): stop quietly */
                    break;
                }
                printed++;
            }
            if (rc == 0 && n < 0 && (limit < 0 || printed < limit)) {
                fprintf(stderr, "surge: %s\n", err.message);
                rc = 1;
            }
            bus_consumer_close(c);
        }
        buf_free(&o);
        event_codec_free(codec);
    }
close:
    bus_close(b);
out:
    config_free(cfg);
    return rc;
}
