/* events.c: POST /api/v1/events: one event (a JSON object), a batch (a JSON array) or NDJSON.
 * Each event gets its own result, so one bad event never rejects its batch-mates; the answer is
 * sent only once every accepted event is durable. */
#include "api_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Finds the events in the body without parsing them into a tree (event_split_batch): JSON
 * object, JSON array, or NDJSON by Content-Type. Returns the count, or -1 after writing an
 * error response. */
static long split_events(api_request *r, event_span **spans)
{
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    bool ndjson = ct && (strncasecmp(ct, "application/x-ndjson", 20) == 0 ||
                         strncasecmp(ct, "application/ndjson", 18) == 0);
    if (r->body.len == 0) {
        api_fail(r, SURGE_EPARSE, NULL, "the request body is empty; send an event, a JSON array "
                 "of events or NDJSON");
        return -1;
    }
    size_t n = 0;
    surge_error err;
    if (event_split_batch(r->body.data, r->body.len, ndjson, spans, &n,
                          (size_t)r->server->cfg.ingest_max_events, &err)) {
        api_error(r, &err);
        return -1;
    }
    if (n == 0) {
        free(*spans);
        *spans = NULL;
        api_fail(r, SURGE_EPARSE, NULL, ndjson ? "the NDJSON body holds no events"
                                               : "the JSON array holds no events");
        return -1;
    }
    return (long)n;
}

static void write_result(buf *o, size_t index, const ingest_result *res)
{
    buf_puts(o, "{\"index\":");
    json_put_int(o, (int64_t)index);
    buf_puts(o, ",\"event_id\":");
    if (res->event_id[0]) json_put_string(o, res->event_id);
    else buf_puts(o, "null");
    buf_puts(o, ",\"status\":");
    json_put_string(o, INGEST_STATUS_NAMES[res->status]);
    if (res->status == INGEST_ACCEPTED || res->status == INGEST_DUPLICATE) {
        buf_puts(o, ",\"topic\":");
        json_put_string(o, BUS_TOPIC_NAMES[res->topic]);
        buf_puts(o, ",\"partition\":");
        json_put_int(o, res->partition);
    }
    if (res->status == INGEST_ACCEPTED) {
        buf_puts(o, ",\"offset\":");
        json_put_int(o, res->offset);
    }
    if (res->status == INGEST_REJECTED || res->status == INGEST_RATE_LIMITED) {
        buf_puts(o, ",\"error\":{\"code\":");
        json_put_string(o, surge_code_name(res->error.code));
        buf_puts(o, ",\"message\":");
        json_put_string(o, res->error.message);
        buf_puts(o, ",\"field\":");
        if (res->error.field[0]) json_put_string(o, res->error.field);
        else buf_puts(o, "null");
        buf_putc(o, '}');
    }
    if (res->status == INGEST_RATE_LIMITED) {
        buf_puts(o, ",\"retry_after_s\":");
        json_put_int(o, res->retry_after_s);
    }
    buf_putc(o, '}');
}

void handle_events(api_request *r)
{
    ingest *in = r->server->ingest;
    if (!in) {
        api_fail(r, SURGE_EUNAVAILABLE, NULL, "event ingestion is not enabled on this server");
        return;
    }
    event_span *spans = NULL;
    long n = split_events(r, &spans);
    if (n < 0) return;
    ingest_result *results = calloc((size_t)n, sizeof *results);
    if (!results) {
        api_fail(r, SURGE_EINTERNAL, NULL, "out of memory");
        goto out;
    }
    char source[96];
    snprintf(source, sizeof source, "api:%s", r->client_ip[0] ? r->client_ip : "unknown");
    surge_error err;
    int rc = ingest_batch_text(in, r->body.data, spans, (size_t)n, source, r->now_ms, results,
                               &err);
    size_t count[4] = {0};
    int retry = 0;
    for (long i = 0; i < n; i++) {
        count[results[i].status]++;
        if (results[i].retry_after_s > retry) retry = results[i].retry_after_s;
    }
    buf *o = &r->out;
    buf_puts(o, "{\"accepted\":");
    json_put_int(o, (int64_t)count[INGEST_ACCEPTED]);
    buf_puts(o, ",\"duplicates\":");
    json_put_int(o, (int64_t)count[INGEST_DUPLICATE]);
    buf_puts(o, ",\"rejected\":");
    json_put_int(o, (int64_t)count[INGEST_REJECTED]);
    buf_puts(o, ",\"rate_limited\":");
    json_put_int(o, (int64_t)count[INGEST_RATE_LIMITED]);
    buf_puts(o, ",\"results\":[");
    for (long i = 0; i < n; i++) {
        if (i) buf_putc(o, ',');
        write_result(o, (size_t)i, &results[i]);
    }
    buf_puts(o, "]}");
    /* the status says what happened to the request as a whole; results say it per event */
    size_t total = (size_t)n;
    if (rc) r->status = 503;
    else if (count[INGEST_RATE_LIMITED] == total) r->status = 429;
    else if (count[INGEST_REJECTED] == total) r->status = 422;
    else r->status = 200;
    if (r->status == 429) snprintf(r->retry_after, sizeof r->retry_after, "%d", retry);
out:
    free(results);
    free(spans);
}
