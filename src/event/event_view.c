/* event_view.c: decodes the few fields the stream processor needs straight from an input
 * topic's Avro bytes, without libavro: the stream reads every event of the log and must go at
 * millions per second. The layout it walks is the one of schemas/topics/ (the topic unions); the
 * unit tests check it against libavro-encoded records of every type. */
#include "event/event.h"

#include <string.h>

typedef struct reader {
    const unsigned char *p, *end;
    bool bad;
} reader;

static int64_t read_long(reader *r)
{
    uint64_t v = 0;
    int shift = 0;
    while (r->p < r->end && shift < 64) {
        unsigned char c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
        shift += 7;
    }
    r->bad = true;
    return 0;
}

static const char *read_string(reader *r, size_t *len)
{
    int64_t n = read_long(r);
    if (r->bad || n < 0 || n > r->end - r->p) {
        r->bad = true;
        *len = 0;
        return "";
    }
    const char *s = (const char *)r->p;
    r->p += n;
    *len = (size_t)n;
    return s;
}

static double read_double(reader *r)
{
    if (r->end - r->p < 8) {
        r->bad = true;
        return 0;
    }
    uint64_t bits = 0;
    for (int i = 7; i >= 0; i--)
        bits = bits << 8 | r->p[i];
    r->p += 8;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* ["null", "double"] and ["null", "string"]: branch 0 is null. */
static void skip_optional(reader *r, bool is_string)
{
    int64_t branch = read_long(r);
    if (branch == 0) return;
    if (branch != 1) {
        r->bad = true;
        return;
    }
    size_t len;
    if (is_string)
        read_string(r, &len);
    else
        read_double(r);
}

/* The first branch of each input topic's union, in event_type order. */
static int topic_first_type(bus_topic topic, int *count)
{
    switch (topic) {
    case BUS_USER_EVENTS:
        *count = 4;
        return EVENT_SEARCH;
    case BUS_SUPPLY_EVENTS:
        *count = 2;
        return EVENT_DRIVER_LOCATION;
    case BUS_EXTERNAL_EVENTS:
        *count = 4;
        return EVENT_WEATHER;
    default:
        *count = 0;
        return -1;
    }
}

int event_view_decode(bus_topic topic, const void *data, size_t len, event_view *out,
                      surge_error *err)
{
    int count;
    int first = topic_first_type(topic, &count);
    if (first < 0)
        return surge_fail(err, SURGE_EINVAL, "topic", "%s is not an input topic",
                          (unsigned)topic < BUS_NTOPICS ? BUS_TOPIC_NAMES[topic] : "?");
    reader r = {data, (const unsigned char *)data + len, false};
    memset(out, 0, sizeof *out);
    int64_t branch = read_long(&r);
    if (r.bad || branch < 0 || branch >= count)
        return surge_fail(err, SURGE_EPARSE, "value", "union branch %lld is not one of %s's %d",
                          (long long)branch, BUS_TOPIC_NAMES[topic], count);
    out->type = (event_type)(first + branch);
    size_t n;
    out->event_id = read_string(&r, &out->event_id_len);
    read_string(&r, &n); /* type */
    out->ts_ms = read_long(&r);
    out->ingest_ts_ms = read_long(&r);
    const char *region = "";
    n = 0;
    if (out->type == EVENT_HOLIDAY) { /* ["null", "string"]: a holiday may be city-wide */
        int64_t b = read_long(&r);
        if (b == 1)
            region = read_string(&r, &n);
        else if (b != 0)
            r.bad = true;
    } else {
        region = read_string(&r, &n);
    }
    if (!r.bad && n > GEOHASH_MAX) r.bad = true;
    if (!r.bad) {
        memcpy(out->region_id, region, n);
        out->region_id[n] = 0;
    }
    if (out->type == EVENT_DRIVER_LOCATION) { /* a position is the point: lat/lon required */
        read_double(&r);
        read_double(&r);
    } else {
        skip_optional(&r, false); /* lat */
        skip_optional(&r, false); /* lon */
    }
    read_string(&r, &n); /* source */
    switch (out->type) {
    case EVENT_SEARCH:
    case EVENT_VIEW:
    case EVENT_BOOKING:
    case EVENT_CANCEL:
        out->subject = read_string(&r, &out->subject_len);
        out->product_type = read_string(&r, &out->product_type_len);
        if (out->type == EVENT_SEARCH) {
            skip_optional(&r, false);
            skip_optional(&r, false);
        } else if (out->type != EVENT_VIEW) {
            skip_optional(&r, true); /* booking_id */
        }
        break;
    case EVENT_DRIVER_LOCATION:
        out->subject = read_string(&r, &out->subject_len);
        break;
    case EVENT_DRIVER_STATUS:
        out->subject = read_string(&r, &out->subject_len);
        out->driver_status = (int)read_long(&r);
        if (out->driver_status < 0 || out->driver_status > 2) r.bad = true;
        break;
    case EVENT_WEATHER:
        out->temp_c = read_double(&r);
        out->precip_mm = read_double(&r);
        out->severity = read_double(&r);
        break;
    case EVENT_TRAFFIC:
        out->congestion = read_double(&r);
        break;
    case EVENT_VENUE_EVENT:
        out->subject = read_string(&r, &out->subject_len);
        out->venue_start_ms = read_long(&r);
        out->venue_end_ms = read_long(&r);
        out->attendance = read_long(&r);
        break;
    case EVENT_HOLIDAY:
        out->subject = read_string(&r, &out->subject_len);
        break;
    default:
        break;
    }
    if (r.bad || r.p != r.end)
        return surge_fail(err, SURGE_EPARSE, "value",
                          "not a valid %s record of type %s (%s at byte %zu of %zu)",
                          BUS_TOPIC_NAMES[topic], EVENT_TYPE_NAMES[out->type],
                          r.bad ? "truncated or malformed" : "trailing bytes",
                          (size_t)(r.p - (const unsigned char *)data), len);
    return 0;
}
