/* events.c: POST /api/v1/events: one event (a JSON object), a batch (a JSON array) or NDJSON.
 * Each event gets its own result, so one bad event never rejects its batch-mates; the answer is
 * sent only once every accepted event is durable. */
#include "api_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Splits the body into parsed events: events[i] is NULL when event i did not parse, with the
 * reason in parse_errors[i]. Returns the count, or -1 after writing an error response. */
static long parse_events(api_request *r, json_t ***events_out, surge_error **errors_out,
                         json_t **root_out)
{
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    bool ndjson = ct && (strncasecmp(ct, "application/x-ndjson", 20) == 0 ||
                         strncasecmp(ct, "application/ndjson", 18) == 0);
    size_t max = (size_t)r->server->cfg.ingest_max_events;
    json_t **events = NULL;
    surge_error *errors = NULL;
    size_t n = 0;
    *root_out = NULL;
    if (r->body.len == 0) {
        api_fail(r, SURGE_EPARSE, NULL, "the request body is empty; send an event, a JSON array "
                 "of events or NDJSON");
        return -1;
    }
    if (!ndjson) {
        json_error_t jerr;
        json_t *root = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            api_fail(r, SURGE_EPARSE, NULL, "the body is not valid JSON: %s (line %d, column %d)",
                     jerr.text, jerr.line, jerr.column);
            return -1;
        }
        if (!json_is_object(root) && !json_is_array(root)) {
            json_decref(root);
            api_fail(r, SURGE_EPARSE, NULL,
                     "the body must be an event (JSON object) or a JSON array of events");
            return -1;
        }
        n = json_is_array(root) ? json_array_size(root) : 1;
        if (n == 0) { /* as for NDJSON: without it the answer would be a 429 with no event */
            json_decref(root);
            api_fail(r, SURGE_EPARSE, NULL, "the JSON array holds no events");
            return -1;
        }
        if (n > max) {
            json_decref(root);
            api_fail(r, SURGE_ETOOLARGE, NULL, "%zu events in one request; at most %zu "
                     "(ingest.max_events)", n, max);
            return -1;
        }
        events = calloc(n ? n : 1, sizeof *events);
        errors = calloc(n ? n : 1, sizeof *errors);
        if (!events || !errors) goto oom;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_is_array(root) ? json_array_get(root, i) : root;
            if (json_is_object(e)) events[i] = e;
            else surge_fail(&errors[i], SURGE_EPARSE, NULL, "event %zu is not a JSON object", i);
        }
        *root_out = root; /* owns the events */
    } else {
        size_t cap = 64;
        events = calloc(cap, sizeof *events);
        errors = calloc(cap, sizeof *errors);
        if (!events || !errors) goto oom;
        const char *p = r->body.data, *end = p + r->body.len;
        size_t line = 0;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl ? nl : end;
            line++;
            const char *q = p;
            while (q < stop && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
            if (q < stop) {
                if (n == max) {
                    for (size_t i = 0; i < n; i++) json_decref(events[i]);
                    free(events);
                    free(errors);
                    api_fail(r, SURGE_ETOOLARGE, NULL, "more than %zu events in one request "
                             "(ingest.max_events)", max);
                    return -1;
                }
                if (n == cap) {
                    cap *= 2;
                    json_t **ne = realloc(events, cap * sizeof *events);
                    if (ne) events = ne;
                    surge_error *nr = realloc(errors, cap * sizeof *errors);
                    if (nr) errors = nr;
                    if (!ne || !nr) goto oom;
                }
                json_error_t jerr;
                events[n] = json_loadb(p, (size_t)(stop - p), JSON_REJECT_DUPLICATES, &jerr);
                memset(&errors[n], 0, sizeof errors[n]);
                if (!events[n])
                    surge_fail(&errors[n], SURGE_EPARSE, NULL, "line %zu is not valid JSON: %s",
                               line, jerr.text);
                else if (!json_is_object(events[n])) {
                    json_decref(events[n]);
                    events[n] = NULL;
                    surge_fail(&errors[n], SURGE_EPARSE, NULL, "line %zu is not a JSON object",
                               line);
                }
                n++;
            }
            p = nl ? nl + 1 : end;
        }
        if (n == 0) {
            free(events);
            free(errors);
            api_fail(r, SURGE_EPARSE, NULL, "the NDJSON body holds no events");
            return -1;
        }
    }
    *events_out = events;
    *errors_out = errors;
    return (long)n;
oom:
    free(events);
    free(errors);
    json_decref(*root_out);
    *root_out = NULL;
    api_fail(r, SURGE_EINTERNAL, NULL, "out of memory");
    return -1;
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
    json_t **events = NULL;
    surge_error *errors = NULL;
    json_t *root = NULL;
    long n = parse_events(r, &events, &errors, &root);
    if (n < 0) return;
    ingest_result *results = calloc((size_t)n, sizeof *results);
    if (!results) {
        api_fail(r, SURGE_EINTERNAL, NULL, "out of memory");
        goto out;
    }
    char source[96];
    snprintf(source, sizeof source, "api:%s", r->client_ip[0] ? r->client_ip : "unknown");
    surge_error err;
    int rc = ingest_batch(in, events, errors, (size_t)n, source, r->now_ms, results, &err);
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
    if (root) json_decref(root);
    else if (events)
        for (long i = 0; i < n; i++) json_decref(events[i]);
    free(events);
    free(errors);
}
