/* event_encode.c: a JSON event to its bus record value. Walks the type's record description
 * (built from its schema) over the event's field values (ev_value: from a jansson object here, or
 * from event_text.c's scanner), validating every field with a precise error, enriches it, fills the thread's scratch avro value field by field and writes the Avro binary
 * of the topic's union: the branch index, then the record. libavro has no JSON-datum decoder,
 * hence this walk (DESIGN §10). */
#include "event_internal.h"

#include <math.h>
#include <string.h>

/* What the walk learns on the way, for the cross-field rules, enrichment and event_meta. */
typedef struct walk {
    bool present[EVENT_FIELDS_MAX];
    int64_t time_ms[EVENT_FIELDS_MAX];
    double lat, lon;
    const ev_value *region; /* the region_id the client gave, or NULL */
    const char *event_id, *user_id;
    size_t bound; /* an upper bound of the encoded size */
} walk;

/* ---------------------------------------------------------------- errors */

static int fail_length(const field_desc *f, size_t len, surge_error *err)
{
    if (f->min_length >= 0 && f->max_length >= 0)
        return surge_fail(err, SURGE_EINVAL, f->name,
                          "field '%s' must be %lld to %lld bytes long (is %zu)", f->name,
                          (long long)f->min_length, (long long)f->max_length, len);
    if (f->max_length >= 0)
        return surge_fail(err, SURGE_EINVAL, f->name,
                          "field '%s' must be at most %lld bytes long (is %zu)", f->name,
                          (long long)f->max_length, len);
    return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' must be at least %lld bytes long",
                      f->name, (long long)f->min_length);
}

static int check_range(const field_desc *f, double d, surge_error *err)
{
    if (isfinite(d) && (!f->has_min || d >= f->min) && (!f->has_max || d <= f->max)) return 0;
    if (f->has_min && f->has_max)
        return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' = %.15g is out of range [%g, %g]",
                          f->name, d, f->min, f->max);
    if (f->has_min)
        return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' = %.15g must be >= %g", f->name,
                          d, f->min);
    if (f->has_max)
        return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' = %.15g must be <= %g", f->name,
                          d, f->max);
    return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' must be a finite number", f->name);
}

/* A libavro call failed: only on out-of-memory or a bug. */
static int avro_failed(surge_error *err)
{
    return surge_fail(err, SURGE_EINTERNAL, NULL, "avro value: %s", avro_strerror());
}

/* ---------------------------------------------------------------- one field */

static int set_string(avro_value_t *v, const char *s, size_t len, walk *w)
{
    w->bound += len + 10;
    return avro_value_set_string_len(v, s, len + 1);
}

static int set_time(const field_desc *f, const ev_value *j, int64_t *ms, surge_error *err)
{
    if (j->kind == EV_INTEGER) {
        *ms = j->integer;
        if (*ms < 0 || *ms > EVENT_TIME_MAX_MS)
            return surge_fail(err, SURGE_EINVAL, f->name,
                              "field '%s' must be epoch milliseconds between 1970 and 9999",
                              f->name);
        return 0;
    }
    if (j->kind != EV_STRING || time_parse(j->str, ms) || *ms < 0 ||
        *ms > EVENT_TIME_MAX_MS)
        return surge_fail(err, SURGE_EINVAL, f->name,
                          "field '%s' must be an RFC 3339 time (2026-01-11T10:32:00Z) or epoch "
                          "milliseconds",
                          f->name);
    return 0;
}

static bool is_number(const ev_value *j)
{
    return j->kind == EV_INTEGER || j->kind == EV_REAL;
}

/* The value of a number, as json_number_value gives it. */
static double number_value(const ev_value *j)
{
    return j->kind == EV_INTEGER ? (double)j->integer : j->real;
}

/* Validates the JSON value j (not NULL, not null) of field f and stores it in v. */
static int set_value(const field_desc *f, int index, const ev_value *j, avro_value_t *v, walk *w,
                     surge_error *err)
{
    switch (f->kind) {
    case FIELD_STRING: {
        if (j->kind != EV_STRING)
            return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' must be a string", f->name);
        const char *s = j->str;
        size_t len = j->len;
        if ((f->min_length >= 0 && len < (size_t)f->min_length) ||
            (f->max_length >= 0 && len > (size_t)f->max_length))
            return fail_length(f, len, err);
        if (memchr(s, 0, len))
            return surge_fail(err, SURGE_EINVAL, f->name,
                              "field '%s' must not contain NUL characters", f->name);
        if (f->role == ROLE_EVENT_ID) w->event_id = s;
        return set_string(v, s, len, w) ? SURGE_EINTERNAL : 0;
    }
    case FIELD_DOUBLE: {
        if (!is_number(j))
            return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' must be a number", f->name);
        double d = number_value(j);
        int rc = check_range(f, d, err);
        if (rc) return rc;
        if (f->role == ROLE_LAT) w->lat = d;
        if (f->role == ROLE_LON) w->lon = d;
        w->bound += 9;
        return avro_value_set_double(v, d) ? SURGE_EINTERNAL : 0;
    }
    case FIELD_INT:
    case FIELD_LONG: {
        if (j->kind != EV_INTEGER)
            return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' must be an integer", f->name);
        int64_t n = j->integer;
        if (f->kind == FIELD_INT) { /* the schema's range within int32's */
            double lo = f->has_min && f->min > INT32_MIN ? f->min : INT32_MIN;
            double hi = f->has_max && f->max < INT32_MAX ? f->max : INT32_MAX;
            if ((double)n < lo || (double)n > hi)
                return surge_fail(err, SURGE_EINVAL, f->name,
                                  "field '%s' = %lld is out of range [%.0f, %.0f]", f->name,
                                  (long long)n, lo, hi);
            w->bound += 6;
            return avro_value_set_int(v, (int32_t)n) ? SURGE_EINTERNAL : 0;
        }
        if ((f->has_min && (double)n < f->min) || (f->has_max && (double)n > f->max))
            return check_range(f, (double)n, err);
        w->bound += 11;
        return avro_value_set_long(v, n) ? SURGE_EINTERNAL : 0;
    }
    case FIELD_TIME: {
        int64_t ms;
        int rc = set_time(f, j, &ms, err);
        if (rc) return rc;
        w->time_ms[index] = ms;
        w->bound += 11;
        return avro_value_set_long(v, ms) ? SURGE_EINTERNAL : 0;
    }
    case FIELD_BOOLEAN:
        if (j->kind != EV_TRUE && j->kind != EV_FALSE)
            return surge_fail(err, SURGE_EINVAL, f->name,
                              "field '%s' must be a boolean (true or false)", f->name);
        w->bound += 2;
        return avro_value_set_boolean(v, j->kind == EV_TRUE) ? SURGE_EINTERNAL : 0;
    case FIELD_ENUM: {
        const char *s = j->kind == EV_STRING ? j->str : NULL;
        for (int i = 0; s && i < f->symbol_count; i++) {
            if (strcmp(s, f->symbols[i]) == 0) {
                w->bound += 11;
                return avro_value_set_enum(v, i) ? SURGE_EINTERNAL : 0;
            }
        }
        return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' must be one of %s", f->name,
                          f->symbol_list);
    }
    case FIELD_MAP_DOUBLE: {
        /* no event type has a map field (only pricing decisions, which are written directly);
         * event_encode_text hands any object value to jansson, so json is set here */
        if (j->kind != EV_OBJECT || !json_is_object(j->json))
            return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' must be an object of numbers",
                              f->name);
        if (avro_value_reset(v)) return SURGE_EINTERNAL;
        const char *key;
        json_t *item;
        json_object_foreach(j->json, key, item)
        {
            if (!json_is_number(item))
                return surge_fail(err, SURGE_EINVAL, f->name,
                                  "field '%s' must be an object of numbers ('%.40s' is not)",
                                  f->name, key);
            avro_value_t child;
            if (avro_value_add(v, key, &child, NULL, NULL) ||
                avro_value_set_double(&child, json_number_value(item)))
                return SURGE_EINTERNAL;
            w->bound += strlen(key) + 10 + 8;
        }
        w->bound += 20;
        return 0;
    }
    }
    return SURGE_EINTERNAL;
}

/* Selects an optional field's branch: 1 (the value, returned through branch) or 0 (null). */
static int set_present(const field_desc *f, avro_value_t *v, bool present, avro_value_t *branch)
{
    if (!f->optional) {
        *branch = *v;
        return 0;
    }
    if (avro_value_set_branch(v, present ? 1 : 0, branch)) return -1;
    return present ? 0 : avro_value_set_null(branch);
}

/* ---------------------------------------------------------------- the record */

/* Region enrichment: checks a given region_id (a geohash, containing lat/lon when those are
 * given too) or derives it from lat/lon. Writes the final region ("" for none) to region. */
static int resolve_region(const record_desc *r, const walk *w, const event_enrichment *enrich,
                          char region[GEOHASH_MAX + 1], surge_error *err)
{
    bool has_point = w->present[ROLE_LAT] && w->present[ROLE_LON];
    region[0] = 0;
    if (w->region) {
        if (w->region->kind != EV_STRING)
            return surge_fail(err, SURGE_EINVAL, "region_id", "field 'region_id' must be a string");
        const char *given = w->region->str;
        if (!geohash_valid(given))
            return surge_fail(err, SURGE_EINVAL, "region_id",
                              "region_id '%.40s' is not a geohash (1-12 characters of "
                              "0123456789bcdefghjkmnpqrstuvwxyz)",
                              given);
        if (has_point) {
            char cell[GEOHASH_MAX + 1];
            geohash_encode(w->lat, w->lon, (int)strlen(given), cell);
            if (strcmp(cell, given) != 0)
                return surge_fail(
                    err, SURGE_EINVAL, "region_id",
                    "region_id '%s' does not contain lat/lon (%.15g, %.15g), which lie "
                    "in '%s'",
                    given, w->lat, w->lon, cell);
        }
        memcpy(region, given, strlen(given) + 1);
        return 0;
    }
    if (has_point) {
        if (geohash_encode(w->lat, w->lon, enrich->region_precision, region))
            return surge_fail(err, SURGE_EINTERNAL, "region_id", "region precision %d is not 1..%d",
                              enrich->region_precision, GEOHASH_MAX);
        return 0;
    }
    if (!r->fields[ROLE_REGION_ID].optional)
        return surge_fail(err, SURGE_EINVAL, "region_id",
                          "field 'region_id' (or 'lat' and 'lon') is required for a %s event",
                          r->name);
    return 0;
}

int event_fail_unknown(const record_desc *r, const char *key, surge_error *err)
{
    return surge_fail(err, SURGE_EINVAL, key, "unknown field '%.64s' in a %s event (allowed: %s)",
                      key, r->name, r->allowed);
}

/* Validates the field values given (of a record of type r) and fills the record's values. */
static int fill_record(const record_desc *r, avro_value_t *fields,
                       const ev_value *const given[EVENT_FIELDS_MAX],
                       const event_enrichment *enrich, walk *w, event_meta *meta, surge_error *err)
{
    int rc = 0;
    for (int i = 0; i < r->field_count; i++) {
        const field_desc *f = &r->fields[i];
        const ev_value *j = given[i];
        w->present[i] = j != NULL;
        avro_value_t v;
        if (r->is_event && f->role != ROLE_PLAIN) {
            switch (f->role) {
            case ROLE_TYPE:
                if (set_string(&fields[i], r->name, r->name_length, w)) goto avro_fail;
                continue;
            case ROLE_INGEST_TS:
            case ROLE_SOURCE: {
                if (j)
                    return surge_fail(err, SURGE_EINVAL, f->name,
                                      "field '%s' is set by the server and must not be sent",
                                      f->name);
                const char *source = enrich->source ? enrich->source : "";
                if (f->role == ROLE_SOURCE ? set_string(&fields[i], source, strlen(source), w)
                                           : avro_value_set_long(&fields[i], enrich->ingest_ts_ms))
                    goto avro_fail;
                w->bound += 11;
                continue;
            }
            case ROLE_REGION_ID:
                w->region = j; /* checked and set once lat/lon are known */
                continue;
            default:
                break;
            }
        }
        if (!j && !f->optional)
            return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' is required", f->name);
        if (set_present(f, &fields[i], j != NULL, &v)) goto avro_fail;
        w->bound += 1;
        if (j && (rc = set_value(f, i, j, &v, w, err)))
            return rc == SURGE_EINTERNAL ? avro_failed(err) : rc;
    }
    /* cross-field rules */
    for (int i = 0; i < r->field_count; i++) {
        const field_desc *f = &r->fields[i];
        if (f->with >= 0 && w->present[i] && !w->present[f->with]) {
            const char *other = r->fields[f->with].name;
            return surge_fail(err, SURGE_EINVAL, other, "field '%s' is required with '%s'", other,
                              f->name);
        }
        if (f->after >= 0 && w->present[i] && w->present[f->after] &&
            w->time_ms[i] <= w->time_ms[f->after])
            return surge_fail(err, SURGE_EINVAL, f->name, "field '%s' must be after '%s'", f->name,
                              r->fields[f->after].name);
    }
    if (r->is_event) {
        avro_value_t v;
        rc = resolve_region(r, w, enrich, meta->region_id, err);
        if (rc) return rc;
        const field_desc *f = &r->fields[ROLE_REGION_ID];
        bool has_region = meta->region_id[0] != 0;
        if (set_present(f, &fields[ROLE_REGION_ID], has_region, &v) ||
            (has_region && set_string(&v, meta->region_id, strlen(meta->region_id), w)))
            goto avro_fail;
        w->bound += 1;
        if (r->user_id_field >= 0 && given[r->user_id_field])
            w->user_id = given[r->user_id_field]->str; /* a string: set_value checked */
    }
    return 0;
avro_fail:
    return avro_failed(err);
}

/* Appends varint(zigzag(v)) as Avro writes longs. Returns the bytes written (<= 10). */
static size_t put_varint(char *p, int64_t v)
{
    uint64_t n = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t len = 0;
    while (n & ~(uint64_t)0x7f) {
        p[len++] = (char)((n & 0x7f) | 0x80);
        n >>= 7;
    }
    p[len++] = (char)n;
    return len;
}

/* Appends the branch index and the record's Avro binary to out. */
static int write_record(event_scratch *s, avro_value_t *record, int branch, size_t bound, buf *out,
                        surge_error *err)
{
    size_t need = bound + 16;
    for (int attempt = 0; attempt < 8; attempt++, need *= 2) {
        buf_reserve(out, need);
        char *p = out->data + out->len;
        size_t n = put_varint(p, branch);
        avro_writer_memory_set_dest(s->writer, p + n, (int64_t)(out->cap - out->len - 1 - n));
        if (avro_value_write(s->writer, record) == 0) {
            out->len += n + (size_t)avro_writer_tell(s->writer);
            out->data[out->len] = 0;
            return 0;
        }
    }
    return surge_fail(err, SURGE_EINTERNAL, NULL, "avro encoding failed: %s", avro_strerror());
}

int event_fail_type(const ev_value *type, surge_error *err)
{
    if (!type || type->kind == EV_NULL)
        return surge_fail(err, SURGE_EINVAL, "type", "field 'type' is required");
    if (type->kind != EV_STRING)
        return surge_fail(err, SURGE_EINVAL, "type", "field 'type' must be a string");
    char known[256] = "";
    for (int t = 0; t < EVENT_NTYPES; t++) {
        size_t len = strlen(known);
        snprintf(known + len, sizeof known - len, "%s%s", t ? ", " : "", EVENT_TYPE_NAMES[t]);
    }
    return surge_fail(err, SURGE_EINVAL, "type", "field 'type' must be one of %s (not '%.32s')",
                      known, type->str);
}

/* The ev_value of a jansson value. */
static void from_json(json_t *j, ev_value *v)
{
    v->json = j;
    switch (json_typeof(j)) {
    case JSON_OBJECT: v->kind = EV_OBJECT; break;
    case JSON_ARRAY: v->kind = EV_ARRAY; break;
    case JSON_STRING:
        v->kind = EV_STRING;
        v->str = json_string_value(j);
        v->len = json_string_length(j);
        break;
    case JSON_INTEGER:
        v->kind = EV_INTEGER;
        v->integer = json_integer_value(j);
        break;
    case JSON_REAL:
        v->kind = EV_REAL;
        v->real = json_real_value(j);
        break;
    case JSON_TRUE: v->kind = EV_TRUE; break;
    case JSON_FALSE: v->kind = EV_FALSE; break;
    case JSON_NULL: v->kind = EV_NULL; break;
    }
}

int event_encode(event_codec *c, json_t *event, const event_enrichment *enrich, buf *out,
                 event_meta *meta, surge_error *err)
{
    if (!json_is_object(event))
        return surge_fail(err, SURGE_EINVAL, "", "an event must be a JSON object");
    json_t *type_json = json_object_get(event, "type");
    ev_value type_value;
    if (type_json) from_json(type_json, &type_value);
    int type = event_type_from_name(json_string_value(type_json));
    if (type < 0) return event_fail_type(type_json ? &type_value : NULL, err);
    /* one pass over the object's keys: unknown fields are reported before any other error,
     * since a typo ("usr_id") explains the "missing" field it was meant to be */
    const record_desc *r = &c->records[type];
    ev_value values[EVENT_FIELDS_MAX];
    const ev_value *given[EVENT_FIELDS_MAX] = {0};
    const char *key;
    size_t key_length;
    json_t *j;
    json_object_keylen_foreach(event, key, key_length, j)
    {
        int i = event_field_lookup(r, key, key_length);
        if (i < 0) return event_fail_unknown(r, key, err);
        if (!json_is_null(j)) { /* null is the same as absent */
            from_json(j, &values[i]);
            given[i] = &values[i];
        }
    }
    return event_encode_given(c, type, given, enrich, out, meta, err);
}

int event_encode_given(event_codec *c, int type, const ev_value *const given[EVENT_FIELDS_MAX],
                       const event_enrichment *enrich, buf *out, event_meta *meta,
                       surge_error *err)
{
    event_enrichment defaults;
    if (!enrich) {
        defaults = (event_enrichment){time_now_ms(), "", 5};
        enrich = &defaults;
    }

    int slot;
    event_scratch *s = event_scratch_acquire(c, &slot);
    if (!s) return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory for avro values");
    const record_desc *r = &c->records[type];
    walk w; /* present[] and time_ms[] are written before they are read */
    w.lat = w.lon = 0;
    w.region = NULL;
    w.event_id = w.user_id = NULL;
    w.bound = 0;
    event_meta m;
    m.region_id[0] = 0;
    surge_error local;
    if (!err) err = &local;
    int rc = fill_record(r, s->fields[type], given, enrich, &w, &m, err);
    if (!rc) rc = write_record(s, &s->values[type], c->branch[type], w.bound, out, err);
    event_scratch_release(c, s, slot);
    if (rc) return rc;
    if (meta) {
        meta->type = (event_type)type;
        str_copy(meta->event_id, sizeof meta->event_id, w.event_id);
        memcpy(meta->region_id, m.region_id, sizeof meta->region_id);
        str_copy(meta->user_id, sizeof meta->user_id, w.user_id ? w.user_id : "");
        meta->ts_ms = w.time_ms[ROLE_TS];
        meta->ingest_ts_ms = enrich->ingest_ts_ms;
    }
    return 0;
}
