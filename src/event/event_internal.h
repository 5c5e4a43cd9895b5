/* event_internal.h: what the files of the event module share: the record descriptions the codec
 * builds from the schemas at start-up, and the per-thread scratch avro values. Not for other
 * modules. */
#ifndef SURGE_EVENT_INTERNAL_H
#define SURGE_EVENT_INTERNAL_H

#include <avro.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "event.h"

/* The records the codec knows: the event types in enum order, then the pricing decision and
 * the demand signal. */
#define EVENT_RECORD_PRICING_DECISION EVENT_NTYPES
#define EVENT_RECORD_DEMAND_SIGNAL (EVENT_NTYPES + 1)
#define EVENT_RECORDS (EVENT_NTYPES + 2)

#define EVENT_FIELDS_MAX 24
#define EVENT_FIELD_NAME_MAX 40
#define EVENT_SYMBOLS_MAX 16
#define EVENT_SYMBOL_MAX 32

#define EVENT_LOOKUP_SLOTS 64 /* a power of two, > 2 * EVENT_FIELDS_MAX */

/* A time field's accepted range: 1970-01-01 to the end of 9999 (RFC 3339's four-digit years). */
#define EVENT_TIME_MAX_MS 253402300799999LL

/* How a field is written in Avro (for optional fields: the non-null branch). */
typedef enum field_kind {
    FIELD_STRING,
    FIELD_DOUBLE,
    FIELD_INT,
    FIELD_LONG,
    FIELD_TIME, /* long with logicalType timestamp-millis */
    FIELD_BOOLEAN,
    FIELD_ENUM,
    FIELD_MAP_DOUBLE
} field_kind;

/* The common fields every event record starts with, in this order; everything after them is
 * type-specific and validated by its schema rules alone. */
typedef enum field_role {
    ROLE_EVENT_ID,
    ROLE_TYPE,
    ROLE_TS,
    ROLE_INGEST_TS,
    ROLE_REGION_ID,
    ROLE_LAT,
    ROLE_LON,
    ROLE_SOURCE,
    ROLE_PLAIN
} field_role;

/* One record field: its Avro shape and the rules of its "surge" schema attribute. */
typedef struct field_desc {
    char name[EVENT_FIELD_NAME_MAX];
    size_t name_length;
    field_kind kind;
    field_role role;
    bool optional; /* ["null", X]: null is branch 0 */
    bool has_min, has_max;
    double min, max;
    int64_t min_length, max_length; /* bytes; -1 when not limited */
    int with;                       /* field that must be given with this one, or -1 */
    int after;                      /* time field this one must be later than, or -1 */
    int symbol_count;
    char symbols[EVENT_SYMBOLS_MAX][EVENT_SYMBOL_MAX];
    char symbol_list[EVENT_SYMBOLS_MAX * (EVENT_SYMBOL_MAX + 2)]; /* "available, busy, offline" */
} field_desc;

typedef struct record_desc {
    char name[EVENT_FIELD_NAME_MAX]; /* "search", ..., "pricing_decision" */
    size_t name_length;
    bool is_event;
    avro_schema_t schema;
    avro_value_iface_t *iface; /* shared by every thread: only read after event_codec_new */
    int field_count;
    field_desc fields[EVENT_FIELDS_MAX];
    int user_id_field; /* -1 when the record has none */
    /* field name -> index: open addressing on event_field_hash, -1 for an empty slot */
    int8_t lookup[EVENT_LOOKUP_SLOTS];
    char allowed[EVENT_FIELDS_MAX * (EVENT_FIELD_NAME_MAX + 2)]; /* for unknown-field errors */
} record_desc;

/* The lookup slot a field name starts probing at (name need not be NUL-terminated). */
static inline unsigned event_field_hash(const char *name, size_t len)
{
    unsigned h = (unsigned)len;
    for (size_t i = 0; i < len; i++)
        h = h * 31 + (unsigned char)name[i];
    return h & (EVENT_LOOKUP_SLOTS - 1);
}

/* The index of field name in r, or -1. */
static inline int event_field_lookup(const record_desc *r, const char *name, size_t len)
{
    for (unsigned k = event_field_hash(name, len);; k = (k + 1) & (EVENT_LOOKUP_SLOTS - 1)) {
        int i = r->lookup[k];
        if (i < 0) return -1;
        if (r->fields[i].name_length == len && memcmp(r->fields[i].name, name, len) == 0) return i;
    }
}

typedef struct topic_desc {
    int branch_count; /* 0: the topic has no schema yet */
    int records[EVENT_RECORDS];
} topic_desc;

/* Avro values one thread at a time works in: one value per record, its fields' child values
 * (stable pointers into the record), and a memory reader and writer. */
typedef struct event_scratch {
    avro_value_t values[EVENT_RECORDS];
    avro_value_t fields[EVENT_RECORDS][EVENT_FIELDS_MAX];
    avro_writer_t writer;
    avro_reader_t reader;
} event_scratch;

#define EVENT_SCRATCH_SLOTS 64

/* A slot of the scratch pool; padded to its own cache line so threads do not share one. */
typedef struct scratch_slot {
    atomic_int busy; /* taken with an exchange (acquire), given back with a release store */
    event_scratch *scratch;
    char pad[64 - sizeof(atomic_int) - sizeof(event_scratch *)];
} scratch_slot;

struct event_codec {
    record_desc records[EVENT_RECORDS];
    topic_desc topics[BUS_NTOPICS];
    int branch[EVENT_RECORDS]; /* each record's union branch in its topic's schema */
    /* Creating and freeing scratch values changes the shared ifaces' reference counts: done
     * under this lock (rarely: once per slot) so it never depends on libavro's atomics. */
    pthread_mutex_t lock;
    scratch_slot slots[EVENT_SCRATCH_SLOTS];
};

/* A JSON value as event validation sees it, whichever parser produced it: jansson
 * (event_encode) or the scanner of event_text.c (event_encode_text). Both give the same values
 * for the same text, so both entry points run one validation with identical results. */
typedef enum ev_kind {
    EV_NULL,
    EV_FALSE,
    EV_TRUE,
    EV_INTEGER, /* a JSON number without '.', 'e' or 'E' (jansson's integer) */
    EV_REAL,
    EV_STRING,
    EV_OBJECT,
    EV_ARRAY
} ev_kind;

typedef struct ev_value {
    ev_kind kind;
    const char *str; /* EV_STRING: NUL-terminated UTF-8 (it never holds a NUL: \u0000 is refused) */
    size_t len;      /* EV_STRING: bytes */
    int64_t integer; /* EV_INTEGER */
    double real;     /* EV_REAL */
    json_t *json;    /* EV_OBJECT, EV_ARRAY: the jansson value (event_encode only) */
} ev_value;

/* The error for a missing, mistyped or unknown `type` (type is NULL when absent). */
int event_fail_type(const ev_value *type, surge_error *err);
/* The error for key, a field record r does not have. */
int event_fail_unknown(const record_desc *r, const char *key, surge_error *err);
/* Validates, enriches and encodes an event of type whose field values are given[i] for record
 * field i (NULL when absent or null), as event_encode documents. The caller has checked the
 * type and that every key is a field of the record. */
int event_encode_given(event_codec *c, int type, const ev_value *const given[EVENT_FIELDS_MAX],
                       const event_enrichment *enrich, buf *out, event_meta *meta,
                       surge_error *err);

/* Takes a scratch set for the calling thread (NULL on out-of-memory); give it back with
 * event_scratch_release and the same slot. */
event_scratch *event_scratch_acquire(event_codec *c, int *slot);
void event_scratch_release(event_codec *c, event_scratch *s, int slot);

#endif
