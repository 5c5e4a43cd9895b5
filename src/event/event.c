/* event.c: the event types and their topics, loading the compiled-in schemas into record
 * descriptions (Avro shape plus the validation rules of each field's "surge" attribute), and the
 * pool of per-thread scratch avro values that encoding and decoding work in. */
#include "event_internal.h"
#include "event_schemas.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *const EVENT_TYPE_NAMES[EVENT_NTYPES] = {
    "search",        "view",         "booking",      "cancel",      "driver_location",
    "driver_status", "weather",      "traffic",      "venue_event", "holiday",
    "config_change", "model_update", "price_change", "alert",
};

/* Each topic's records in union branch order: the wire format, so only ever append. Keep in
 * step with tools/make_topics.py (event_codec_new checks the topic files against this). */
static const struct topic_layout {
    bus_topic topic;
    int count;
    int records[4];
} TOPIC_LAYOUT[] = {
    {BUS_USER_EVENTS, 4, {EVENT_SEARCH, EVENT_VIEW, EVENT_BOOKING, EVENT_CANCEL}},
    {BUS_SUPPLY_EVENTS, 2, {EVENT_DRIVER_LOCATION, EVENT_DRIVER_STATUS}},
    {BUS_EXTERNAL_EVENTS, 4, {EVENT_WEATHER, EVENT_TRAFFIC, EVENT_VENUE_EVENT, EVENT_HOLIDAY}},
    {BUS_PRICING_DECISIONS, 1, {EVENT_RECORD_PRICING_DECISION}},
    {BUS_DEMAND_SIGNALS, 1, {EVENT_RECORD_DEMAND_SIGNAL}},
    {BUS_SYSTEM_EVENTS,
     4,
     {EVENT_CONFIG_CHANGE, EVENT_MODEL_UPDATE, EVENT_PRICE_CHANGE, EVENT_ALERT}},
};

/* The common fields every event record starts with (see field_role). */
static const char *const COMMON_FIELDS[] = {"event_id",  "type", "ts",  "ingest_ts",
                                            "region_id", "lat",  "lon", "source"};
#define COMMON_FIELD_COUNT 8

int event_type_from_name(const char *name)
{
    if (!name) return -1;
    for (int t = 0; t < EVENT_NTYPES; t++)
        if (name[0] == EVENT_TYPE_NAMES[t][0] && strcmp(name, EVENT_TYPE_NAMES[t]) == 0) return t;
    return -1;
}

bus_topic event_topic(event_type type)
{
    if (type <= EVENT_CANCEL) return BUS_USER_EVENTS;
    if (type <= EVENT_DRIVER_STATUS) return BUS_SUPPLY_EVENTS;
    if (type <= EVENT_HOLIDAY) return BUS_EXTERNAL_EVENTS;
    return BUS_SYSTEM_EVENTS;
}

/* ---------------------------------------------------------------- loading the schemas */

static const char *schema_text(const char *name)
{
    for (const event_schema_file *f = EVENT_SCHEMA_FILES; f->name; f++)
        if (strcmp(f->name, name) == 0) return f->text;
    return NULL;
}

static const char *record_file_name(int record)
{
    if (record == EVENT_RECORD_PRICING_DECISION) return "pricing_decision";
    if (record == EVENT_RECORD_DEMAND_SIGNAL) return "demand_signal";
    return EVENT_TYPE_NAMES[record];
}

/* Appends ", item" (or "item" when list is empty) to list, truncating at cap. */
static void list_append(char *list, size_t cap, const char *item)
{
    size_t len = strlen(list);
    if (len && len + 2 < cap) {
        memcpy(list + len, ", ", 3);
        len += 2;
    }
    str_copy(list + len, cap - len, item);
}

static int field_index(const record_desc *r, const char *name)
{
    for (int i = 0; i < r->field_count; i++)
        if (strcmp(r->fields[i].name, name) == 0) return i;
    return -1;
}

/* Reads a field's "surge" attribute: {"min", "max", "minLength", "maxLength", "with", "after"}.
 * Unknown keys are an error so a typo in a schema cannot silently drop a rule. with and after
 * name other fields: returned through with_name/after_name, resolved once all fields are
 * known. */
static int load_rules(const char *file, field_desc *f, json_t *rules, const char **with_name,
                      const char **after_name, surge_error *err)
{
    if (!rules) return 0;
    if (!json_is_object(rules))
        return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: field %s: \"surge\" must be an object",
                          file, f->name);
    const char *key;
    json_t *v;
    json_object_foreach(rules, key, v)
    {
        bool ok = true;
        if (strcmp(key, "min") == 0 && json_is_number(v)) {
            f->has_min = true;
            f->min = json_number_value(v);
        } else if (strcmp(key, "max") == 0 && json_is_number(v)) {
            f->has_max = true;
            f->max = json_number_value(v);
        } else if (strcmp(key, "minLength") == 0 && json_is_integer(v)) {
            f->min_length = json_integer_value(v);
        } else if (strcmp(key, "maxLength") == 0 && json_is_integer(v)) {
            f->max_length = json_integer_value(v);
        } else if (strcmp(key, "with") == 0 && json_is_string(v)) {
            *with_name = json_string_value(v);
        } else if (strcmp(key, "after") == 0 && json_is_string(v)) {
            *after_name = json_string_value(v);
        } else {
            ok = false;
        }
        if (!ok)
            return surge_fail(err, SURGE_EINTERNAL, NULL,
                              "%s: field %s: unknown or mistyped rule \"%s\" (known: min, max, "
                              "minLength, maxLength, with, after)",
                              file, f->name, key);
    }
    bool numeric = f->kind == FIELD_DOUBLE || f->kind == FIELD_INT || f->kind == FIELD_LONG;
    if ((f->has_min || f->has_max) && !numeric)
        return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: field %s: min/max on a non-number", file,
                          f->name);
    if ((f->min_length >= 0 || f->max_length >= 0) && f->kind != FIELD_STRING)
        return surge_fail(err, SURGE_EINTERNAL, NULL,
                          "%s: field %s: minLength/maxLength on a non-string", file, f->name);
    return 0;
}

/* Fills f's kind (and enum symbols) from its Avro schema; json_type is the field's "type" in
 * the schema file, for the logical type libavro does not keep. */
static int load_kind(const char *file, field_desc *f, avro_schema_t fs, json_t *json_type,
                     surge_error *err)
{
    if (avro_typeof(fs) == AVRO_UNION) {
        if (avro_schema_union_size(fs) != 2 ||
            avro_typeof(avro_schema_union_branch(fs, 0)) != AVRO_NULL)
            return surge_fail(err, SURGE_EINTERNAL, NULL,
                              "%s: field %s: the only union allowed is [\"null\", type]", file,
                              f->name);
        f->optional = true;
        fs = avro_schema_union_branch(fs, 1);
        json_type = json_array_get(json_type, 1);
    }
    const char *logical = json_string_value(json_object_get(json_type, "logicalType"));
    switch (avro_typeof(fs)) {
    case AVRO_STRING:
        f->kind = FIELD_STRING;
        break;
    case AVRO_DOUBLE:
        f->kind = FIELD_DOUBLE;
        break;
    case AVRO_INT32:
        f->kind = FIELD_INT;
        break;
    case AVRO_INT64:
        f->kind = logical && strcmp(logical, "timestamp-millis") == 0 ? FIELD_TIME : FIELD_LONG;
        break;
    case AVRO_BOOLEAN:
        f->kind = FIELD_BOOLEAN;
        break;
    case AVRO_ENUM: {
        f->kind = FIELD_ENUM;
        int n = avro_schema_enum_number_of_symbols(fs);
        if (n < 1 || n > EVENT_SYMBOLS_MAX)
            return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: field %s: 1 to %d symbols allowed",
                              file, f->name, EVENT_SYMBOLS_MAX);
        f->symbol_count = n;
        for (int i = 0; i < n; i++) {
            if (!str_copy(f->symbols[i], sizeof f->symbols[i], avro_schema_enum_get(fs, i)))
                return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: field %s: symbol too long", file,
                                  f->name);
            list_append(f->symbol_list, sizeof f->symbol_list, f->symbols[i]);
        }
        break;
    }
    case AVRO_MAP:
        if (avro_typeof(avro_schema_map_values(fs)) == AVRO_DOUBLE) {
            f->kind = FIELD_MAP_DOUBLE;
            break;
        }
        /* fall through */
    default:
        return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: field %s: unsupported Avro type %s",
                          file, f->name, avro_schema_type_name(fs));
    }
    if (f->optional && f->kind == FIELD_MAP_DOUBLE)
        return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: field %s: optional maps unsupported",
                          file, f->name);
    return 0;
}

/* Checks that an event record starts with the common fields in order, with their shapes. */
static int check_common_fields(const char *file, record_desc *r, surge_error *err)
{
    if (r->field_count < COMMON_FIELD_COUNT)
        return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: an event record starts with %d fields",
                          file, COMMON_FIELD_COUNT);
    for (int i = 0; i < COMMON_FIELD_COUNT; i++) {
        field_desc *f = &r->fields[i];
        if (strcmp(f->name, COMMON_FIELDS[i]) != 0)
            return surge_fail(err, SURGE_EINTERNAL, NULL,
                              "%s: field %d must be %s (the common event fields come first)", file,
                              i, COMMON_FIELDS[i]);
        f->role = (field_role)i;
        static const field_kind want[] = {FIELD_STRING, FIELD_STRING, FIELD_TIME,   FIELD_TIME,
                                          FIELD_STRING, FIELD_DOUBLE, FIELD_DOUBLE, FIELD_STRING};
        bool may_be_optional = i == ROLE_REGION_ID || i == ROLE_LAT || i == ROLE_LON;
        if (f->kind != want[i] || (f->optional && !may_be_optional))
            return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: field %s has the wrong type", file,
                              f->name);
    }
    if (r->fields[ROLE_LAT].optional != r->fields[ROLE_LON].optional)
        return surge_fail(err, SURGE_EINTERNAL, NULL,
                          "%s: lat and lon must be both optional or both required", file);
    if (r->fields[ROLE_EVENT_ID].max_length < 1 ||
        r->fields[ROLE_EVENT_ID].max_length > EVENT_ID_MAX)
        return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: event_id needs a maxLength of 1..%d",
                          file, EVENT_ID_MAX);
    int u = field_index(r, "user_id");
    if (u >= 0 && (r->fields[u].kind != FIELD_STRING || r->fields[u].max_length < 1 ||
                   r->fields[u].max_length > EVENT_ID_MAX))
        return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: user_id needs a maxLength of 1..%d",
                          file, EVENT_ID_MAX);
    r->user_id_field = u;
    return 0;
}

static int load_record(event_codec *c, int index, surge_error *err)
{
    record_desc *r = &c->records[index];
    char file[64];
    snprintf(file, sizeof file, "%s.avsc", record_file_name(index));
    snprintf(r->name, sizeof r->name, "%s", record_file_name(index));
    r->name_length = strlen(r->name);
    r->is_event = index < EVENT_NTYPES;
    r->user_id_field = -1;
    const char *text = schema_text(file);
    if (!text) return surge_fail(err, SURGE_EINTERNAL, NULL, "schema %s is not compiled in", file);
    if (avro_schema_from_json_length(text, strlen(text), &r->schema))
        return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: %s", file, avro_strerror());
    if (avro_typeof(r->schema) != AVRO_RECORD)
        return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: not a record schema", file);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    json_t *jfields = json_object_get(root, "fields");
    int rc = 0;
    size_t n = avro_schema_record_size(r->schema);
    if (!json_is_array(jfields) || json_array_size(jfields) != n) {
        rc = surge_fail(err, SURGE_EINTERNAL, NULL, "%s: fields do not parse", file);
        goto done;
    }
    if (n > EVENT_FIELDS_MAX) {
        rc = surge_fail(err, SURGE_EINTERNAL, NULL, "%s: more than %d fields", file,
                        EVENT_FIELDS_MAX);
        goto done;
    }
    const char *with_names[EVENT_FIELDS_MAX] = {0}, *after_names[EVENT_FIELDS_MAX] = {0};
    r->field_count = (int)n;
    for (int i = 0; i < (int)n; i++) {
        field_desc *f = &r->fields[i];
        memset(f, 0, sizeof *f);
        f->role = ROLE_PLAIN;
        f->min_length = f->max_length = -1;
        f->with = f->after = -1;
        if (!str_copy(f->name, sizeof f->name, avro_schema_record_field_name(r->schema, i))) {
            rc = surge_fail(err, SURGE_EINTERNAL, NULL, "%s: field name too long", file);
            goto done;
        }
        f->name_length = strlen(f->name);
        json_t *jf = json_array_get(jfields, (size_t)i);
        if ((rc = load_kind(file, f, avro_schema_record_field_get_by_index(r->schema, i),
                            json_object_get(jf, "type"), err)) ||
            (rc = load_rules(file, f, json_object_get(jf, "surge"), &with_names[i], &after_names[i],
                             err)))
            goto done;
    }
    for (int i = 0; i < (int)n; i++) {
        field_desc *f = &r->fields[i];
        if (with_names[i] && ((f->with = field_index(r, with_names[i])) < 0 || !f->optional)) {
            rc = surge_fail(err, SURGE_EINTERNAL, NULL,
                            "%s: field %s: \"with\" needs an optional field and names one", file,
                            f->name);
            goto done;
        }
        if (after_names[i] && ((f->after = field_index(r, after_names[i])) < 0 ||
                               f->kind != FIELD_TIME || r->fields[f->after].kind != FIELD_TIME)) {
            rc = surge_fail(err, SURGE_EINTERNAL, NULL,
                            "%s: field %s: \"after\" must name another time field", file, f->name);
            goto done;
        }
    }
    if (r->is_event && (rc = check_common_fields(file, r, err))) goto done;
    for (int i = 0; i < (int)n; i++) {
        if (r->is_event && (i == ROLE_INGEST_TS || i == ROLE_SOURCE)) continue; /* server-set */
        list_append(r->allowed, sizeof r->allowed, r->fields[i].name);
    }
    memset(r->lookup, -1, sizeof r->lookup);
    for (int i = 0; i < (int)n; i++) {
        unsigned k = event_field_hash(r->fields[i].name, r->fields[i].name_length);
        while (r->lookup[k] >= 0)
            k = (k + 1) & (EVENT_LOOKUP_SLOTS - 1);
        r->lookup[k] = (int8_t)i;
    }
    r->iface = avro_generic_class_from_schema(r->schema);
    if (!r->iface) rc = surge_fail(err, SURGE_EINTERNAL, NULL, "%s: %s", file, avro_strerror());
done:
    json_decref(root);
    return rc;
}

/* Checks that topics/<topic>.avsc is exactly the union of its records' schemas in layout order,
 * so the branch index surge writes is the one every consumer of the topic file reads. */
static int load_topic(event_codec *c, const struct topic_layout *layout, surge_error *err)
{
    char file[80];
    snprintf(file, sizeof file, "topics/%s.avsc", BUS_TOPIC_NAMES[layout->topic]);
    const char *text = schema_text(file);
    if (!text) return surge_fail(err, SURGE_EINTERNAL, NULL, "schema %s is not compiled in", file);
    avro_schema_t u;
    if (avro_schema_from_json_length(text, strlen(text), &u))
        return surge_fail(err, SURGE_EINTERNAL, NULL, "%s: %s", file, avro_strerror());
    int rc = 0;
    if (avro_typeof(u) != AVRO_UNION || (int)avro_schema_union_size(u) != layout->count) {
        rc = surge_fail(err, SURGE_EINTERNAL, NULL,
                        "%s must be a union of %d records: run tools/make_topics.py", file,
                        layout->count);
        goto done;
    }
    for (int b = 0; b < layout->count; b++) {
        const record_desc *r = &c->records[layout->records[b]];
        if (!avro_schema_equal(avro_schema_union_branch(u, b), r->schema)) {
            rc = surge_fail(err, SURGE_EINTERNAL, NULL,
                            "%s: branch %d differs from %s.avsc: run tools/make_topics.py", file,
                            b, r->name);
            goto done;
        }
    }
    topic_desc *t = &c->topics[layout->topic];
    t->branch_count = layout->count;
    for (int b = 0; b < layout->count; b++) {
        t->records[b] = layout->records[b];
        c->branch[layout->records[b]] = b;
    }
done:
    avro_schema_decref(u);
    return rc;
}

event_codec *event_codec_new(surge_error *err)
{
    event_codec *c = calloc(1, sizeof *c);
    if (!c) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    for (int i = 0; i < EVENT_RECORDS; i++) {
        if (load_record(c, i, err)) {
            event_codec_free(c);
            return NULL;
        }
    }
    for (size_t i = 0; i < sizeof TOPIC_LAYOUT / sizeof TOPIC_LAYOUT[0]; i++) {
        if (load_topic(c, &TOPIC_LAYOUT[i], err)) {
            event_codec_free(c);
            return NULL;
        }
    }
    return c;
}

/* ---------------------------------------------------------------- scratch values */

static void scratch_free_locked(event_scratch *s)
{
    for (int r = 0; r < EVENT_RECORDS; r++)
        if (s->values[r].iface) avro_value_decref(&s->values[r]);
    if (s->writer) avro_writer_free(s->writer);
    if (s->reader) avro_reader_free(s->reader);
    free(s);
}

static event_scratch *scratch_new(event_codec *c)
{
    event_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_lock(&c->lock);
    bool ok = true;
    for (int r = 0; r < EVENT_RECORDS && ok; r++) {
        if (avro_generic_value_new(c->records[r].iface, &s->values[r])) {
            s->values[r].iface = NULL;
            ok = false;
            break;
        }
        for (int i = 0; i < c->records[r].field_count && ok; i++)
            ok = avro_value_get_by_index(&s->values[r], (size_t)i, &s->fields[r][i], NULL) == 0;
    }
    static const char empty[1] = "";
    if (ok) ok = (s->writer = avro_writer_memory(empty, 0)) != NULL;
    if (ok) ok = (s->reader = avro_reader_memory(empty, 0)) != NULL;
    if (!ok) {
        scratch_free_locked(s);
        s = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    return s;
}

static void scratch_free(event_codec *c, event_scratch *s)
{
    pthread_mutex_lock(&c->lock);
    scratch_free_locked(s);
    pthread_mutex_unlock(&c->lock);
}

/* The slot this thread found free last time: tried first, so each thread keeps reusing "its"
 * slot (a cache-warm set of values) and threads rarely contend for one. */
static _Thread_local int thread_slot = -1;

event_scratch *event_scratch_acquire(event_codec *c, int *slot)
{
    int start = thread_slot;
    if (start < 0) start = (int)(((uintptr_t)&thread_slot >> 6) % EVENT_SCRATCH_SLOTS);
    for (int i = 0; i < EVENT_SCRATCH_SLOTS; i++) {
        int k = (start + i) % EVENT_SCRATCH_SLOTS;
        scratch_slot *sl = &c->slots[k];
        if (atomic_load_explicit(&sl->busy, memory_order_relaxed) ||
            atomic_exchange_explicit(&sl->busy, 1, memory_order_acquire))
            continue;
        thread_slot = k;
        if (!sl->scratch && !(sl->scratch = scratch_new(c))) {
            atomic_store_explicit(&sl->busy, 0, memory_order_release);
            return NULL;
        }
        *slot = k;
        return sl->scratch;
    }
    /* more threads than slots at this instant: a set of their own, freed on release */
    *slot = -1;
    return scratch_new(c);
}

void event_scratch_release(event_codec *c, event_scratch *s, int slot)
{
    if (slot < 0) {
        scratch_free(c, s);
        return;
    }
    atomic_store_explicit(&c->slots[slot].busy, 0, memory_order_release);
}

void event_codec_free(event_codec *c)
{
    if (!c) return;
    for (int k = 0; k < EVENT_SCRATCH_SLOTS; k++)
        if (c->slots[k].scratch) scratch_free(c, c->slots[k].scratch);
    for (int r = 0; r < EVENT_RECORDS; r++) {
        if (c->records[r].iface) avro_value_iface_decref(c->records[r].iface);
        if (c->records[r].schema) avro_schema_decref(c->records[r].schema);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}
