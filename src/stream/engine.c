/* engine.c: the stream operator. Per region it keeps one-minute panes in a ring (the building
 * block of every window and rolling feature), hourly buckets for the 7-day features, the latest
 * external conditions and a short timeline of closed minutes; per driver its latest status and
 * region; per user the open session. Event time throughout: windows close when the watermark
 * passes their end, and nothing here reads the wall clock, so the same input in the same order
 * gives the same state (replay, checkpoints). */
#include "stream/stream.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PANE_MS 60000
#define HOUR_MS 3600000
#define RING 128        /* panes kept per region: the 60-minute features plus slack ahead */
#define FORCE_AHEAD 112 /* a pane this far past the closed ones forces the watermark forward */
#define TIMELINE 360    /* closed minutes kept per region for the portal */
#define WEEK_HOURS 168  /* the 7-day features' window */
#define HOURS 192       /* hourly buckets kept: 8 days, so last week's slot is still there */
#define QUARTER_MS 900000
#define QUARTERS 800 /* 15-minute search counts: 8 days and a bit, the forecaster's lags */
#define VENUES 8
#define SWEEP_PANES 5 /* stale drivers and ended sessions are swept every 5 closed minutes */

const char *const STREAM_WINDOW_NAMES[STREAM_NWINDOWS] = {"tumbling_1m", "tumbling_5m",
                                                          "sliding_15m"};

enum count {
    C_SEARCH,
    C_VIEW,
    C_BOOKING,
    C_CANCEL,
    C_LOCATION,
    C_STATUS,
    C_COUNTED, /* the counts above make a window non-empty */
    C_SESSION_START = C_COUNTED,
    C_SESSION_END,
    C_AVAILABLE_EVENTS, /* driver_status events saying available */
    NCOUNTS
};

typedef struct pane {
    int64_t k; /* pane index (start / PANE_MS); INT64_MIN when the slot is empty */
    uint32_t c[NCOUNTS];
    int64_t session_ms;        /* total length of the sessions that ended in this pane */
    uint32_t session_searches; /* their searches */
} pane;

typedef struct hour_bucket {
    int64_t h; /* hour index (ts / HOUR_MS); INT64_MIN when empty */
    uint32_t searches, bookings;
} hour_bucket;

typedef struct venue {
    int64_t start, end, attendance, ts;
    uint64_t id; /* hash of the venue name and start: the same event sent again replaces */
} venue;

typedef struct timeline_point {
    int64_t k;
    uint32_t c[C_COUNTED];
    int32_t available, busy;
} timeline_point;

typedef struct region {
    char id[GEOHASH_MAX + 1];
    pane ring[RING];
    int64_t last_data_k;   /* latest pane holding counted events */
    int64_t emitted_end_k; /* windows ending at or before this pane index were emitted */
    hour_bucket hours[HOURS];
    int64_t quarter_k[QUARTERS]; /* which quarter (ts / QUARTER_MS) each slot holds */
    uint32_t quarter_searches[QUARTERS];
    int64_t first_hour; /* the first hour the region had an event: history coverage */
    int64_t last_search_ts, last_booking_ts, last_event_ts;
    int32_t available, busy; /* drivers whose latest status is this, located here */
    int32_t active_sessions;
    int64_t weather_ts, traffic_ts, holiday_ts;
    double temp_c, precip_mm, severity, congestion;
    venue venues[VENUES];
    int32_t venue_count;
    timeline_point timeline[TIMELINE];
    int32_t timeline_head, timeline_count;
    bool dirty;
    char neighbours[8][GEOHASH_MAX + 1];
    int32_t neighbour_index[8]; /* -1: not known yet; refreshed when regions are added */
} region;

/* ---------------------------------------------------------------- a string-keyed table */

/* Chained hash table over a pool of fixed-size entries that each begin with a table_node. */
typedef struct table_node {
    int32_t next;
    uint8_t key_len;
    bool live;
    char key[EVENT_ID_MAX + 1];
} table_node;

typedef struct table {
    unsigned char *pool;
    size_t entry_size, used, capacity;
    int32_t *heads;
    size_t head_count, live;
    int32_t free_list;
} table;

static void table_init(table *t, size_t entry_size)
{
    memset(t, 0, sizeof *t);
    t->entry_size = entry_size;
    t->free_list = -1;
}

static void table_destroy(table *t)
{
    free(t->pool);
    free(t->heads);
}

static table_node *table_at(const table *t, int32_t i)
{
    return (table_node *)(t->pool + (size_t)i * t->entry_size);
}

static void table_rehash(table *t, size_t heads)
{
    int32_t *h = malloc(heads * sizeof *h);
    if (!h) abort(); /* the process cannot go on without its state */
    for (size_t i = 0; i < heads; i++)
        h[i] = -1;
    for (size_t i = 0; i < t->used; i++) {
        table_node *n = table_at(t, (int32_t)i);
        if (!n->live) continue;
        size_t b = hash_fnv1a64(n->key, n->key_len) & (heads - 1);
        n->next = h[b];
        h[b] = (int32_t)i;
    }
    free(t->heads);
    t->heads = h;
    t->head_count = heads;
}

static int32_t table_find(const table *t, const char *key, size_t len)
{
    if (!t->head_count || len > EVENT_ID_MAX) return -1;
    int32_t i = t->heads[hash_fnv1a64(key, len) & (t->head_count - 1)];
    while (i >= 0) {
        table_node *n = table_at(t, i);
        if (n->key_len == len && memcmp(n->key, key, len) == 0) return i;
        i = n->next;
    }
    return -1;
}

/* The entry for key, created zeroed (apart from its node) when absent; *created says so. */
static int32_t table_upsert(table *t, const char *key, size_t len, bool *created)
{
    if (len > EVENT_ID_MAX) len = EVENT_ID_MAX;
    int32_t i = table_find(t, key, len);
    *created = i < 0;
    if (i >= 0) return i;
    if (t->free_list >= 0) {
        i = t->free_list;
        t->free_list = table_at(t, i)->next;
    } else {
        if (t->used == t->capacity) {
            size_t cap = t->capacity ? t->capacity * 2 : 64;
            unsigned char *p = realloc(t->pool, cap * t->entry_size);
            if (!p) abort();
            t->pool = p;
            t->capacity = cap;
        }
        i = (int32_t)t->used++;
    }
    table_node *n = table_at(t, i);
    memset(n, 0, t->entry_size);
    n->key_len = (uint8_t)len;
    memcpy(n->key, key, len);
    n->live = true;
    t->live++;
    if (t->live * 2 > t->head_count) {
        table_rehash(t, t->head_count ? t->head_count * 2 : 64);
    } else {
        size_t b = hash_fnv1a64(key, len) & (t->head_count - 1);
        n->next = t->heads[b];
        t->heads[b] = i;
    }
    return i;
}

static void table_remove(table *t, int32_t i)
{
    table_node *n = table_at(t, i);
    size_t b = hash_fnv1a64(n->key, n->key_len) & (t->head_count - 1);
    int32_t *link = &t->heads[b];
    while (*link != i)
        link = &table_at(t, *link)->next;
    *link = n->next;
    n->live = false;
    n->next = t->free_list;
    t->free_list = i;
    t->live--;
}

/* ---------------------------------------------------------------- the engine's state */

typedef struct driver {
    table_node node;
    int32_t region; /* index into regions, -1 before the first event with a region */
    int8_t status;  /* 0 available, 1 busy, 2 offline, -1 unknown */
    int8_t counted; /* the status it contributes to its region's counts (-1 none) */
    int64_t status_ts, location_ts, seen_ts;
} driver;

typedef struct user {
    table_node node;
    int32_t region; /* where the session started */
    int64_t start_ts, last_ts;
    uint32_t searches;
} user;

typedef struct region_entry {
    table_node node;
    int32_t index;
} region_entry;

struct stream_engine {
    stream_engine_config cfg;
    stream_engine_callbacks cb;
    region **regions;
    size_t region_count, region_capacity;
    table region_index, drivers, users;
    const tz_zone **zones;              /* per region, parallel to regions; NULL = UTC */
    int64_t source_max[STREAM_SOURCES]; /* largest event time per source; INT64_MIN: none */
    bool source_idle[STREAM_SOURCES];
    bool source_pending[STREAM_SOURCES]; /* has records not read yet (set by the reader) */
    int64_t watermark, stream_time;
    int64_t closed_end_k; /* windows ending at pane index <= this are closed */
    int64_t forced_end_k; /* the floor FORCE_AHEAD imposed */
    int64_t swept_end_k;
    int64_t global_holiday_ts; /* latest holiday event without a region */
    uint64_t events, late, windows;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void stream_engine_config_defaults(stream_engine_config *cfg)
{
    cfg->allowed_lateness_ms = 30000;
    cfg->session_gap_ms = 30 * 60000;
    cfg->driver_stale_ms = 15 * 60000;
}

int stream_source_index(bus_topic topic, int partition)
{
    if (partition < 0 || partition >= BUS_PARTITIONS) return -1;
    switch (topic) {
    case BUS_USER_EVENTS:
        return partition;
    case BUS_SUPPLY_EVENTS:
        return BUS_PARTITIONS + partition;
    case BUS_EXTERNAL_EVENTS:
        return 2 * BUS_PARTITIONS + partition;
    default:
        return -1;
    }
}

stream_engine *stream_engine_new(const stream_engine_config *cfg,
                                 const stream_engine_callbacks *callbacks)
{
    stream_engine *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->cfg = *cfg;
    if (callbacks) e->cb = *callbacks;
    table_init(&e->region_index, sizeof(region_entry));
    table_init(&e->drivers, sizeof(driver));
    table_init(&e->users, sizeof(user));
    for (int i = 0; i < STREAM_SOURCES; i++)
        e->source_max[i] = INT64_MIN;
    e->watermark = INT64_MIN;
    e->stream_time = INT64_MIN;
    e->closed_end_k = INT64_MIN;
    e->forced_end_k = INT64_MIN;
    e->swept_end_k = INT64_MIN;
    e->global_holiday_ts = INT64_MIN;
    return e;
}

void stream_engine_free(stream_engine *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->region_count; i++)
        free(e->regions[i]);
    free(e->regions);
    free(e->zones);
    table_destroy(&e->region_index);
    table_destroy(&e->drivers);
    table_destroy(&e->users);
    free(e);
}

static void region_link_neighbours(stream_engine *e, region *r)
{
    for (int i = 0; i < 8; i++) {
        if (r->neighbour_index[i] >= 0 || !r->neighbours[i][0]) continue;
        int32_t at = table_find(&e->region_index, r->neighbours[i], strlen(r->neighbours[i]));
        if (at >= 0)
            r->neighbour_index[i] = ((region_entry *)table_at(&e->region_index, at))->index;
    }
}

static int32_t region_get(stream_engine *e, const char *id)
{
    size_t len = strlen(id);
    bool created;
    int32_t at = table_upsert(&e->region_index, id, len, &created);
    region_entry *entry = (region_entry *)table_at(&e->region_index, at);
    if (!created) return entry->index;
    if (e->region_count == e->region_capacity) {
        size_t cap = e->region_capacity ? e->region_capacity * 2 : 64;
        region **rs = realloc(e->regions, cap * sizeof *rs);
        const tz_zone **zs = realloc(e->zones, cap * sizeof *zs);
        if (!rs || !zs) abort();
        e->regions = rs;
        e->zones = zs;
        e->region_capacity = cap;
    }
    region *r = calloc(1, sizeof *r);
    if (!r) abort();
    str_copy(r->id, sizeof r->id, id);
    for (int i = 0; i < RING; i++)
        r->ring[i].k = INT64_MIN;
    for (int i = 0; i < HOURS; i++)
        r->hours[i].h = INT64_MIN;
    for (int i = 0; i < QUARTERS; i++)
        r->quarter_k[i] = INT64_MIN;
    r->last_data_k = INT64_MIN;
    r->emitted_end_k = e->closed_end_k;
    r->first_hour = INT64_MAX;
    r->last_search_ts = r->last_booking_ts = r->last_event_ts = INT64_MIN;
    r->weather_ts = r->traffic_ts = r->holiday_ts = INT64_MIN;
    static const int8_t d[8][2] = {{1, 0}, {-1, 0}, {0, 1},  {0, -1},
                                   {1, 1}, {1, -1}, {-1, 1}, {-1, -1}};
    for (int i = 0; i < 8; i++) {
        r->neighbour_index[i] = -1;
        if (geohash_neighbour(id, d[i][0], d[i][1], r->neighbours[i])) r->neighbours[i][0] = 0;
    }
    entry->index = (int32_t)e->region_count;
    e->regions[e->region_count] = r;
    e->zones[e->region_count] = NULL;
    e->region_count++;
    for (size_t i = 0; i < e->region_count; i++)
        region_link_neighbours(e, e->regions[i]);
    return entry->index;
}

void stream_engine_set_timezone(stream_engine *e, const char *region_id, const tz_zone *zone)
{
    if (!geohash_valid(region_id)) return;
    int32_t ri = region_get(e, region_id); /* may grow e->zones */
    e->zones[ri] = zone;
}

/* ---------------------------------------------------------------- panes and windows */

static pane *pane_at(region *r, int64_t k)
{
    pane *p = &r->ring[(uint64_t)k % RING];
    if (p->k != k) {
        memset(p, 0, sizeof *p);
        p->k = k;
    }
    return p;
}

/* Sums panes first..last (inclusive) into c; slots that hold another pane count as empty. */
static void pane_sum(const region *r, int64_t first, int64_t last, uint32_t c[NCOUNTS],
                     int64_t *session_ms, uint64_t *session_searches)
{
    memset(c, 0, NCOUNTS * sizeof *c);
    if (session_ms) *session_ms = 0;
    if (session_searches) *session_searches = 0;
    if (last - first >= RING) first = last - RING + 1;
    for (int64_t k = first; k <= last; k++) {
        const pane *p = &r->ring[(uint64_t)k % RING];
        if (p->k != k) continue;
        for (int i = 0; i < NCOUNTS; i++)
            c[i] += p->c[i];
        if (session_ms) *session_ms += p->session_ms;
        if (session_searches) *session_searches += p->session_searches;
    }
}

static bool counted_empty(const uint32_t c[NCOUNTS])
{
    for (int i = 0; i < C_COUNTED; i++)
        if (c[i]) return false;
    return true;
}

static void emit(stream_engine *e, region *r, stream_window w, int64_t end_k, int panes,
                 const uint32_t c[NCOUNTS])
{
    stream_aggregate a;
    memset(&a, 0, sizeof a);
    memcpy(a.region_id, r->id, sizeof a.region_id);
    a.window = w;
    a.start_ms = (end_k - panes) * PANE_MS;
    a.end_ms = end_k * PANE_MS;
    a.searches = c[C_SEARCH];
    a.views = c[C_VIEW];
    a.bookings = c[C_BOOKING];
    a.cancels = c[C_CANCEL];
    a.driver_locations = c[C_LOCATION];
    a.driver_statuses = c[C_STATUS];
    a.cancel_rate = a.bookings ? (double)a.cancels / (double)a.bookings : 0;
    a.available_drivers = r->available;
    a.busy_drivers = r->busy;
    e->windows++;
    if (w == STREAM_TUMBLING_1M) {
        timeline_point *t = &r->timeline[(r->timeline_head + r->timeline_count) % TIMELINE];
        if (r->timeline_count == TIMELINE)
            r->timeline_head = (r->timeline_head + 1) % TIMELINE;
        else
            r->timeline_count++;
        t->k = end_k - 1;
        memcpy(t->c, c, sizeof t->c);
        t->available = r->available;
        t->busy = r->busy;
    }
    if (e->cb.window_closed) e->cb.window_closed(e->cb.ctx, &a);
}

/* Emits the region's windows ending at pane indexes emitted_end_k+1 .. to_k. */
static void region_close(stream_engine *e, region *r, int64_t to_k)
{
    if (r->last_data_k == INT64_MIN) {
        r->emitted_end_k = to_k;
        return;
    }
    int64_t from = r->emitted_end_k == INT64_MIN ? r->last_data_k - RING : r->emitted_end_k;
    int64_t last = r->last_data_k + 15; /* the last sliding window holding the latest pane */
    if (last > to_k) last = to_k;
    if (from < r->last_data_k - RING) from = r->last_data_k - RING;
    uint32_t c[NCOUNTS];
    for (int64_t end = from + 1; end <= last; end++) {
        pane_sum(r, end - 1, end - 1, c, NULL, NULL);
        if (!counted_empty(c)) emit(e, r, STREAM_TUMBLING_1M, end, 1, c);
        if (floor_div(end, 5) * 5 == end) {
            pane_sum(r, end - 5, end - 1, c, NULL, NULL);
            if (!counted_empty(c)) emit(e, r, STREAM_TUMBLING_5M, end, 5, c);
        }
        pane_sum(r, end - 15, end - 1, c, NULL, NULL);
        if (!counted_empty(c)) emit(e, r, STREAM_SLIDING_15M, end, 15, c);
    }
    if (to_k > r->emitted_end_k || r->emitted_end_k == INT64_MIN) r->emitted_end_k = to_k;
}

static void driver_uncount(stream_engine *e, driver *d)
{
    if (d->counted < 0 || d->region < 0) return;
    region *r = e->regions[d->region];
    if (d->counted == 0)
        r->available--;
    else if (d->counted == 1)
        r->busy--;
    d->counted = -1;
}

static void driver_count(stream_engine *e, driver *d)
{
    if (d->region < 0 || d->status < 0 || d->status > 1) return;
    region *r = e->regions[d->region];
    if (d->status == 0)
        r->available++;
    else
        r->busy++;
    d->counted = d->status;
}

static void session_close(stream_engine *e, user *u)
{
    if (u->region < 0) return;
    region *r = e->regions[u->region];
    r->active_sessions--;
    int64_t k = floor_div(u->last_ts, PANE_MS);
    if (r->ring[(uint64_t)k % RING].k > k) return; /* older than the panes kept */
    pane *p = pane_at(r, k);
    p->c[C_SESSION_END]++;
    p->session_ms += u->last_ts - u->start_ts;
    p->session_searches += u->searches;
}

/* Forgets drivers not heard of for driver_stale_ms and closes sessions idle for the gap, as of
 * the watermark. */
static void sweep(stream_engine *e)
{
    int64_t wm = e->closed_end_k * PANE_MS;
    for (size_t i = 0; i < e->drivers.used; i++) {
        driver *d = (driver *)table_at(&e->drivers, (int32_t)i);
        if (!d->node.live || d->seen_ts >= wm - e->cfg.driver_stale_ms) continue;
        driver_uncount(e, d);
        table_remove(&e->drivers, (int32_t)i);
    }
    for (size_t i = 0; i < e->users.used; i++) {
        user *u = (user *)table_at(&e->users, (int32_t)i);
        if (!u->node.live || u->last_ts >= wm - e->cfg.session_gap_ms) continue;
        session_close(e, u);
        table_remove(&e->users, (int32_t)i);
    }
}

static void close_to(stream_engine *e, int64_t end_k)
{
    if (end_k <= e->closed_end_k && e->closed_end_k != INT64_MIN) return;
    e->closed_end_k = end_k;
    for (size_t i = 0; i < e->region_count; i++)
        region_close(e, e->regions[i], end_k);
    if (e->swept_end_k == INT64_MIN || end_k - e->swept_end_k >= SWEEP_PANES) {
        sweep(e);
        e->swept_end_k = end_k;
    }
}

static void advance(stream_engine *e)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    bool any_active = false;
    for (int i = 0; i < STREAM_SOURCES; i++) {
        /* a source about to deliver its first event may be the slowest one */
        if (e->source_max[i] == INT64_MIN && e->source_pending[i] && !e->source_idle[i]) return;
        if (e->source_max[i] == INT64_MIN) continue;
        if (e->source_max[i] > hi) hi = e->source_max[i];
        if (e->source_idle[i]) continue;
        any_active = true;
        if (e->source_max[i] < lo) lo = e->source_max[i];
    }
    if (hi == INT64_MIN) return;
    int64_t wm = (any_active ? lo : hi) - e->cfg.allowed_lateness_ms;
    if (wm > e->watermark || e->watermark == INT64_MIN) e->watermark = wm;
    int64_t end_k = floor_div(e->watermark, PANE_MS);
    if (e->forced_end_k != INT64_MIN && e->forced_end_k > end_k) end_k = e->forced_end_k;
    if (e->closed_end_k == INT64_MIN || end_k > e->closed_end_k) close_to(e, end_k);
}

void stream_engine_set_idle(stream_engine *e, int source, bool idle)
{
    if (source < 0 || source >= STREAM_SOURCES || e->source_idle[source] == idle) return;
    e->source_idle[source] = idle;
    advance(e);
}

void stream_engine_set_pending(stream_engine *e, int source, bool pending)
{
    if (source < 0 || source >= STREAM_SOURCES || e->source_pending[source] == pending) return;
    e->source_pending[source] = pending;
    if (!pending) advance(e);
}

bool stream_engine_far_ahead(const stream_engine *e, int64_t ts_ms)
{
    return e->closed_end_k != INT64_MIN &&
           floor_div(ts_ms, PANE_MS) - e->closed_end_k >= FORCE_AHEAD;
}

bool stream_engine_source_active(const stream_engine *e, int source)
{
    return source >= 0 && source < STREAM_SOURCES && e->source_max[source] != INT64_MIN &&
           !e->source_idle[source];
}

void stream_engine_finish(stream_engine *e)
{
    if (e->stream_time == INT64_MIN) return;
    int64_t end_k = floor_div(e->stream_time, PANE_MS) + 16;
    close_to(e, end_k);
    e->watermark = end_k * PANE_MS;
}

int64_t stream_engine_watermark(const stream_engine *e)
{
    return e->watermark;
}

int64_t stream_engine_stream_time(const stream_engine *e)
{
    return e->stream_time;
}

/* ---------------------------------------------------------------- processing */

static void hour_add(region *r, int64_t ts, enum count what)
{
    int64_t h = floor_div(ts, HOUR_MS);
    hour_bucket *b = &r->hours[(uint64_t)h % HOURS];
    if (b->h != h) {
        if (b->h != INT64_MIN && b->h > h) return; /* older than the kept week */
        memset(b, 0, sizeof *b);
        b->h = h;
    }
    if (what == C_SEARCH)
        b->searches++;
    else
        b->bookings++;
    if (h < r->first_hour) r->first_hour = h;
    if (what != C_SEARCH) return;
    int64_t q = floor_div(ts, QUARTER_MS);
    int slot = (int)((uint64_t)q % QUARTERS);
    if (r->quarter_k[slot] != q) {
        if (r->quarter_k[slot] != INT64_MIN && r->quarter_k[slot] > q) return;
        r->quarter_k[slot] = q;
        r->quarter_searches[slot] = 0;
    }
    r->quarter_searches[slot]++;
}

static void on_user(stream_engine *e, int32_t ri, const event_view *ev, pane *p)
{
    region *r = e->regions[ri];
    if (!ev->subject_len) return;
    bool created;
    int32_t at = table_upsert(&e->users, ev->subject, ev->subject_len, &created);
    user *u = (user *)table_at(&e->users, at);
    if (!created && ev->ts_ms > u->last_ts + e->cfg.session_gap_ms) {
        session_close(e, u);
        created = true;
    }
    if (created) {
        u->region = ri;
        u->start_ts = u->last_ts = ev->ts_ms;
        u->searches = 0;
        r->active_sessions++;
        p->c[C_SESSION_START]++;
    } else {
        if (ev->ts_ms > u->last_ts) u->last_ts = ev->ts_ms;
        /* the session belongs to the region of its earliest event (ties: the smaller region
         * id), whatever order the partitions were read in */
        if (ev->ts_ms < u->start_ts || (ev->ts_ms == u->start_ts && ri != u->region &&
                                        strcmp(r->id, e->regions[u->region]->id) < 0)) {
            region *old = e->regions[u->region];
            old->active_sessions--;
            int64_t ok = floor_div(u->start_ts, PANE_MS);
            pane *op = &old->ring[(uint64_t)ok % RING];
            if (op->k == ok && op->c[C_SESSION_START]) op->c[C_SESSION_START]--;
            u->region = ri;
            u->start_ts = ev->ts_ms;
            r->active_sessions++;
            p->c[C_SESSION_START]++;
        }
    }
    if (ev->type == EVENT_SEARCH) u->searches++;
}

static void on_driver(stream_engine *e, int32_t ri, const event_view *ev, pane *p)
{
    if (!ev->subject_len) return;
    bool created;
    int32_t at = table_upsert(&e->drivers, ev->subject, ev->subject_len, &created);
    driver *d = (driver *)table_at(&e->drivers, at);
    if (created) {
        d->region = -1;
        d->status = -1;
        d->counted = -1;
        d->status_ts = d->location_ts = INT64_MIN;
    }
    if (ev->ts_ms > d->seen_ts || created) d->seen_ts = ev->ts_ms;
    /* the latest by event time wins: an older event arriving late changes nothing */
    bool move = ev->ts_ms >= d->location_ts;
    bool status = ev->type == EVENT_DRIVER_STATUS && ev->ts_ms >= d->status_ts;
    if (!move && !status) return;
    driver_uncount(e, d);
    if (move) {
        d->region = ri;
        d->location_ts = ev->ts_ms;
    }
    if (status) {
        d->status = (int8_t)ev->driver_status;
        d->status_ts = ev->ts_ms;
    }
    driver_count(e, d);
}

static void on_external(region *r, const event_view *ev)
{
    switch (ev->type) {
    case EVENT_WEATHER:
        if (ev->ts_ms < r->weather_ts) return;
        r->weather_ts = ev->ts_ms;
        r->temp_c = ev->temp_c;
        r->precip_mm = ev->precip_mm;
        r->severity = ev->severity;
        return;
    case EVENT_TRAFFIC:
        if (ev->ts_ms < r->traffic_ts) return;
        r->traffic_ts = ev->ts_ms;
        r->congestion = ev->congestion;
        return;
    case EVENT_HOLIDAY:
        if (ev->ts_ms > r->holiday_ts) r->holiday_ts = ev->ts_ms;
        return;
    case EVENT_VENUE_EVENT: {
        uint64_t id = hash_fnv1a64(ev->subject, ev->subject_len) ^ (uint64_t)ev->venue_start_ms;
        venue *slot = NULL;
        for (int i = 0; i < r->venue_count; i++)
            if (r->venues[i].id == id) slot = &r->venues[i];
        if (slot && ev->ts_ms < slot->ts) return;
        if (!slot && r->venue_count < VENUES) slot = &r->venues[r->venue_count++];
        if (!slot) { /* full: replace the one that ends first */
            slot = &r->venues[0];
            for (int i = 1; i < VENUES; i++)
                if (r->venues[i].end < slot->end) slot = &r->venues[i];
            if (slot->end > ev->venue_end_ms) return;
        }
        slot->id = id;
        slot->start = ev->venue_start_ms;
        slot->end = ev->venue_end_ms;
        slot->attendance = ev->attendance;
        slot->ts = ev->ts_ms;
        return;
    }
    default:
        return;
    }
}

int stream_engine_process(stream_engine *e, int source, const event_view *ev)
{
    if (source < 0 || source >= STREAM_SOURCES) return 0;
    if (!ev->region_id[0]) { /* a holiday for every region */
        if (ev->type == EVENT_HOLIDAY && ev->ts_ms > e->global_holiday_ts)
            e->global_holiday_ts = ev->ts_ms;
        return 0;
    }
    int64_t k = floor_div(ev->ts_ms, PANE_MS);
    if (e->closed_end_k != INT64_MIN && k + 1 <= e->closed_end_k) {
        e->late++;
        if (e->cb.late_event) e->cb.late_event(e->cb.ctx, source, ev, e->watermark);
        return 1;
    }
    e->events++;
    if (ev->ts_ms > e->stream_time) e->stream_time = ev->ts_ms;
    int32_t ri = region_get(e, ev->region_id);
    region *r = e->regions[ri];
    r->dirty = true;
    if (ev->ts_ms > r->last_event_ts) r->last_event_ts = ev->ts_ms;
    if (e->closed_end_k != INT64_MIN && k - e->closed_end_k >= FORCE_AHEAD) {
        e->forced_end_k = k - FORCE_AHEAD + 1;
        close_to(e, e->forced_end_k);
    }
    pane *p = pane_at(r, k);
    switch (ev->type) {
    case EVENT_SEARCH:
    case EVENT_VIEW:
    case EVENT_BOOKING:
    case EVENT_CANCEL:
        p->c[C_SEARCH + (ev->type - EVENT_SEARCH)]++;
        if (ev->type == EVENT_SEARCH) {
            hour_add(r, ev->ts_ms, C_SEARCH);
            if (ev->ts_ms > r->last_search_ts) r->last_search_ts = ev->ts_ms;
        } else if (ev->type == EVENT_BOOKING) {
            hour_add(r, ev->ts_ms, C_BOOKING);
            if (ev->ts_ms > r->last_booking_ts) r->last_booking_ts = ev->ts_ms;
        }
        on_user(e, ri, ev, p);
        break;
    case EVENT_DRIVER_LOCATION:
    case EVENT_DRIVER_STATUS:
        p->c[ev->type == EVENT_DRIVER_LOCATION ? C_LOCATION : C_STATUS]++;
        if (ev->type == EVENT_DRIVER_STATUS && ev->driver_status == 0) p->c[C_AVAILABLE_EVENTS]++;
        on_driver(e, ri, ev, p);
        break;
    default:
        on_external(r, ev);
        break;
    }
    if (ev->type <= EVENT_DRIVER_STATUS && k > r->last_data_k) r->last_data_k = k;
    if (ev->ts_ms > e->source_max[source]) {
        e->source_max[source] = ev->ts_ms;
        advance(e);
    }
    return 0;
}

/* ---------------------------------------------------------------- features */

/* Every feature stream_engine_features can write, in its order (docs/features.md). */
const char *const STREAM_FEATURE_NAMES[] = {"hour_of_day",
                                            "day_of_week",
                                            "minute_of_day",
                                            "is_weekend",
                                            "hour_sin",
                                            "hour_cos",
                                            "dow_sin",
                                            "dow_cos",
                                            "is_peak_hour",
                                            "is_holiday",
                                            "search_count_1min",
                                            "search_volume_5min",
                                            "search_volume_15min",
                                            "search_volume_60min",
                                            "view_count_5min",
                                            "booking_count_1min",
                                            "booking_count_5min",
                                            "booking_count_15min",
                                            "cancel_count_15min",
                                            "cancel_rate_15min",
                                            "conversion_rate_15min",
                                            "demand_trend",
                                            "rolling_avg_demand_1h",
                                            "rolling_avg_demand_7d",
                                            "history_hours",
                                            "demand_vs_7d_ratio",
                                            "seasonality_score",
                                            "same_slot_last_week",
                                            "expected_demand",
                                            "demand_score",
                                            "time_since_last_booking_s",
                                            "time_since_last_search_s",
                                            "last_event_ts_ms",
                                            "active_sessions",
                                            "sessions_started_15min",
                                            "avg_session_length_min_1h",
                                            "searches_per_session_1h",
                                            "available_drivers",
                                            "busy_drivers",
                                            "online_drivers",
                                            "utilization_ratio",
                                            "supply_demand_ratio",
                                            "driver_location_updates_5min",
                                            "driver_status_changes_15min",
                                            "driver_available_events_15min",
                                            "neighbour_available_drivers",
                                            "neighbour_search_volume_15min",
                                            "neighbour_supply_demand_ratio",
                                            "weather_temp_c",
                                            "weather_precip_mm",
                                            "weather_severity",
                                            "weather_age_s",
                                            "is_raining",
                                            "weather_from_neighbour",
                                            "traffic_congestion",
                                            "traffic_age_s",
                                            "nearby_event_score",
                                            "nearby_event_attendance",
                                            "active_venue_events",
                                            "minutes_to_next_event"};
const int STREAM_FEATURE_COUNT =
    (int)(sizeof STREAM_FEATURE_NAMES / sizeof STREAM_FEATURE_NAMES[0]);

typedef struct feature_writer {
    feature_set *set;
} feature_writer;

static void put(feature_writer *w, const char *name, double v)
{
    if (!isfinite(v) || w->set->count >= FEATURES_MAX) return;
    feature_value *f = &w->set->values[w->set->count++];
    str_copy(f->name, sizeof f->name, name);
    f->value = v;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

/* Searches per hour over the week before hour h (only hours since the region's first event). */
static double hourly_average(const region *r, int64_t h, int64_t *covered)
{
    int64_t from = h - WEEK_HOURS;
    if (r->first_hour > from) from = r->first_hour;
    *covered = r->first_hour == INT64_MAX ? 0 : h - from;
    if (*covered <= 0) return NAN;
    uint64_t sum = 0;
    for (int64_t x = from; x < h; x++) {
        const hour_bucket *b = &r->hours[(uint64_t)x % HOURS];
        if (b->h == x) sum += b->searches;
    }
    return (double)sum / (double)*covered;
}

/* Searches in the same hour on the previous days of the kept week; NAN without one. */
static double same_hour_average(const region *r, int64_t h)
{
    uint64_t sum = 0;
    int days = 0;
    for (int64_t x = h - 24; x >= h - WEEK_HOURS && x >= r->first_hour; x -= 24) {
        const hour_bucket *b = &r->hours[(uint64_t)x % HOURS];
        sum += b->h == x ? b->searches : 0;
        days++;
    }
    return days ? (double)sum / days : NAN;
}

static double venue_score(const venue *v, int64_t t, double weight)
{
    double ramp;
    if (t >= v->start && t < v->end)
        ramp = 1;
    else if (t < v->start && t >= v->start - HOUR_MS)
        ramp = 1 - (double)(v->start - t) / HOUR_MS;
    else if (t >= v->end && t < v->end + 30 * 60000)
        ramp = 1 - (double)(t - v->end) / (30 * 60000);
    else
        return 0;
    double size = (double)v->attendance / 20000.0;
    return (size > 1 ? 1 : size) * weight * ramp;
}

int stream_engine_features(stream_engine *e, const char *region_id, int64_t at_ms, feature_set *out)
{
    int32_t at = table_find(&e->region_index, region_id, strlen(region_id));
    if (at < 0) return SURGE_ENOTFOUND;
    int32_t ri = ((region_entry *)table_at(&e->region_index, at))->index;
    const region *r = e->regions[ri];
    if (r->last_event_ts == INT64_MIN || at_ms == INT64_MIN) return SURGE_ENOTFOUND;
    memset(out, 0, offsetof(feature_set, values));
    str_copy(out->region_id, sizeof out->region_id, region_id);
    str_copy(out->source, sizeof out->source, "stream");
    out->event_ts_ms = at_ms;
    feature_writer w = {out};
    int64_t T = at_ms, K = floor_div(T, PANE_MS), H = floor_div(T, HOUR_MS);

    /* calendar, in the region's local time */
    const tz_zone *zone = e->zones[ri];
    int64_t local_s = floor_div(T, 1000) + (zone ? tz_offset_s(zone, T) : 0);
    int64_t day = floor_div(local_s, 86400), sod = local_s - day * 86400;
    int hour = (int)(sod / 3600), dow = (int)(((day % 7) + 7 + 3) % 7) + 1;
    put(&w, "hour_of_day", hour);
    put(&w, "day_of_week", dow);
    put(&w, "minute_of_day", (double)(sod / 60));
    put(&w, "is_weekend", dow >= 6);
    put(&w, "hour_sin", sin(2 * M_PI * (double)sod / 86400));
    put(&w, "hour_cos", cos(2 * M_PI * (double)sod / 86400));
    put(&w, "dow_sin", sin(2 * M_PI * (dow - 1) / 7.0));
    put(&w, "dow_cos", cos(2 * M_PI * (dow - 1) / 7.0));
    put(&w, "is_peak_hour", (hour >= 7 && hour < 10) || (hour >= 17 && hour < 20));
    /* a holiday event marks its (local) day */
    int64_t hts = r->holiday_ts > e->global_holiday_ts ? r->holiday_ts : e->global_holiday_ts;
    bool holiday = false;
    if (hts != INT64_MIN && hts <= T) {
        int64_t hl = floor_div(hts, 1000) + (zone ? tz_offset_s(zone, hts) : 0);
        holiday = floor_div(hl, 86400) == day;
    }
    put(&w, "is_holiday", holiday);

    /* demand from the panes: "N min" = the current minute and the N - 1 before it */
    uint32_t c1[NCOUNTS], c5[NCOUNTS], c15[NCOUNTS], c60[NCOUNTS], prev5[NCOUNTS];
    int64_t s60_ms;
    uint64_t s60_searches;
    pane_sum(r, K, K, c1, NULL, NULL);
    pane_sum(r, K - 4, K, c5, NULL, NULL);
    pane_sum(r, K - 9, K - 5, prev5, NULL, NULL);
    pane_sum(r, K - 14, K, c15, NULL, NULL);
    pane_sum(r, K - 59, K, c60, &s60_ms, &s60_searches);
    put(&w, "search_count_1min", c1[C_SEARCH]);
    put(&w, "search_volume_5min", c5[C_SEARCH]);
    put(&w, "search_volume_15min", c15[C_SEARCH]);
    put(&w, "search_volume_60min", c60[C_SEARCH]);
    put(&w, "view_count_5min", c5[C_VIEW]);
    put(&w, "booking_count_1min", c1[C_BOOKING]);
    put(&w, "booking_count_5min", c5[C_BOOKING]);
    put(&w, "booking_count_15min", c15[C_BOOKING]);
    put(&w, "cancel_count_15min", c15[C_CANCEL]);
    put(&w, "cancel_rate_15min", c15[C_BOOKING] ? (double)c15[C_CANCEL] / c15[C_BOOKING] : 0);
    put(&w, "conversion_rate_15min", c15[C_SEARCH] ? (double)c15[C_BOOKING] / c15[C_SEARCH] : 0);
    put(&w, "demand_trend",
        ((double)c5[C_SEARCH] - prev5[C_SEARCH]) / (prev5[C_SEARCH] > 0 ? prev5[C_SEARCH] : 1));
    put(&w, "rolling_avg_demand_1h", c60[C_SEARCH] / 60.0);
    int64_t covered;
    double avg7 = hourly_average(r, H, &covered);
    double same_hour = same_hour_average(r, H);
    put(&w, "rolling_avg_demand_7d", avg7);
    put(&w, "history_hours", (double)covered);
    put(&w, "demand_vs_7d_ratio", ratio(c60[C_SEARCH], avg7));
    put(&w, "seasonality_score", ratio(same_hour, avg7));
    const hour_bucket *lw = &r->hours[(uint64_t)(H - WEEK_HOURS) % HOURS];
    if (r->first_hour <= H - WEEK_HOURS)
        put(&w, "same_slot_last_week", lw->h == H - WEEK_HOURS ? lw->searches : 0);
    put(&w, "expected_demand", c15[C_SEARCH]);
    /* the model-free demand score: the last 15 minutes' hourly rate against the usual rate of
     * this hour (same hour on previous days, else the weekly average); 0.5 = as usual */
    double baseline = isfinite(same_hour) ? same_hour : avg7;
    double recent = c15[C_SEARCH] * 4.0;
    if (isfinite(baseline))
        put(&w, "demand_score", recent + baseline > 0 ? recent / (recent + baseline) : 0.5);

    /* recency (event time) */
    if (r->last_booking_ts != INT64_MIN)
        put(&w, "time_since_last_booking_s", (double)(T - r->last_booking_ts) / 1000);
    if (r->last_search_ts != INT64_MIN)
        put(&w, "time_since_last_search_s", (double)(T - r->last_search_ts) / 1000);
    put(&w, "last_event_ts_ms", (double)r->last_event_ts);

    /* sessions */
    put(&w, "active_sessions", r->active_sessions);
    put(&w, "sessions_started_15min", c15[C_SESSION_START]);
    put(&w, "avg_session_length_min_1h",
        c60[C_SESSION_END] ? (double)s60_ms / c60[C_SESSION_END] / 60000.0 : NAN);
    put(&w, "searches_per_session_1h",
        c60[C_SESSION_END] ? (double)s60_searches / c60[C_SESSION_END] : NAN);

    /* supply, and the neighbours' */
    put(&w, "available_drivers", r->available);
    put(&w, "busy_drivers", r->busy);
    put(&w, "online_drivers", r->available + r->busy);
    put(&w, "utilization_ratio",
        r->available + r->busy ? (double)r->busy / (r->available + r->busy) : 0);
    put(&w, "supply_demand_ratio", (double)r->available / (c15[C_SEARCH] > 0 ? c15[C_SEARCH] : 1));
    put(&w, "driver_location_updates_5min", c5[C_LOCATION]);
    put(&w, "driver_status_changes_15min", c15[C_STATUS]);
    put(&w, "driver_available_events_15min", c15[C_AVAILABLE_EVENTS]);
    int64_t n_avail = 0, n_search = 0;
    const region *wx = r->weather_ts != INT64_MIN ? r : NULL;
    double event_score = 0, attendance = 0, to_next = NAN;
    int active = 0;
    for (int i = -1; i < 8; i++) {
        const region *n = i < 0                        ? r
                          : r->neighbour_index[i] >= 0 ? e->regions[r->neighbour_index[i]]
                                                       : NULL;
        if (!n) continue;
        if (i >= 0) {
            uint32_t cn[NCOUNTS];
            pane_sum(n, K - 14, K, cn, NULL, NULL);
            n_avail += n->available;
            n_search += cn[C_SEARCH];
            if (n->weather_ts != INT64_MIN && (!wx || (wx != r && n->weather_ts > wx->weather_ts)))
                wx = n;
        }
        for (int v = 0; v < n->venue_count; v++) {
            const venue *ve = &n->venues[v];
            double s = venue_score(ve, T, i < 0 ? 1.0 : 0.5);
            event_score += s;
            if (s > 0) attendance += (double)ve->attendance;
            if (T >= ve->start && T < ve->end) active++;
            if (ve->start > T && (isnan(to_next) || (ve->start - T) / 60000.0 < to_next))
                to_next = (double)(ve->start - T) / 60000.0;
        }
    }
    put(&w, "neighbour_available_drivers", (double)n_avail);
    put(&w, "neighbour_search_volume_15min", (double)n_search);
    put(&w, "neighbour_supply_demand_ratio", (double)n_avail / (n_search > 0 ? n_search : 1));

    /* external: own weather, else the freshest neighbour's */
    if (wx) {
        put(&w, "weather_temp_c", wx->temp_c);
        put(&w, "weather_precip_mm", wx->precip_mm);
        put(&w, "weather_severity", wx->severity);
        put(&w, "weather_age_s", (double)(T - wx->weather_ts) / 1000);
        put(&w, "is_raining", wx->precip_mm >= 0.1);
        put(&w, "weather_from_neighbour", wx != r);
    }
    if (r->traffic_ts != INT64_MIN) {
        put(&w, "traffic_congestion", r->congestion);
        put(&w, "traffic_age_s", (double)(T - r->traffic_ts) / 1000);
    }
    put(&w, "nearby_event_score", event_score > 1 ? 1 : event_score);
    put(&w, "nearby_event_attendance", attendance);
    put(&w, "active_venue_events", active);
    put(&w, "minutes_to_next_event", to_next);
    return 0;
}

int stream_engine_demand_history(stream_engine *e, const char *region_id, int64_t first_ms,
                                 int count, float *out)
{
    int32_t at = table_find(&e->region_index, region_id, strlen(region_id));
    for (int i = 0; i < count; i++)
        out[i] = NAN;
    if (at < 0) return SURGE_ENOTFOUND;
    const region *r = e->regions[((region_entry *)table_at(&e->region_index, at))->index];
    if (r->first_hour == INT64_MAX) return 0;
    int64_t known_from = r->first_hour * (HOUR_MS / QUARTER_MS);
    int64_t q0 = floor_div(first_ms, QUARTER_MS);
    for (int i = 0; i < count; i++) {
        int64_t q = q0 + i;
        if (q < known_from) continue;
        int slot = (int)((uint64_t)q % QUARTERS);
        if (r->quarter_k[slot] == q)
            out[i] = (float)r->quarter_searches[slot];
        else if (r->quarter_k[slot] == INT64_MIN || r->quarter_k[slot] < q)
            out[i] = 0;
        /* a slot holding a later quarter: q is older than the kept 8 days, unknown */
    }
    return 0;
}

size_t stream_engine_take_dirty(stream_engine *e, char (*ids)[GEOHASH_MAX + 1], size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < e->region_count && n < max; i++) {
        region *r = e->regions[i];
        if (!r->dirty) continue;
        r->dirty = false;
        memcpy(ids[n++], r->id, GEOHASH_MAX + 1);
    }
    return n;
}

size_t stream_engine_regions(stream_engine *e, char (*ids)[GEOHASH_MAX + 1], size_t max)
{
    for (size_t i = 0; i < e->region_count && i < max; i++)
        memcpy(ids[i], e->regions[i]->id, GEOHASH_MAX + 1);
    return e->region_count;
}

size_t stream_engine_timeline(stream_engine *e, const char *region_id, int64_t since_ms,
                              stream_aggregate *out, size_t max)
{
    int32_t at = table_find(&e->region_index, region_id, strlen(region_id));
    if (at < 0) return 0;
    const region *r = e->regions[((region_entry *)table_at(&e->region_index, at))->index];
    size_t n = 0;
    for (int i = 0; i < r->timeline_count && n < max; i++) {
        const timeline_point *t = &r->timeline[(r->timeline_head + i) % TIMELINE];
        if (t->k * PANE_MS < since_ms) continue;
        stream_aggregate *a = &out[n++];
        memset(a, 0, sizeof *a);
        memcpy(a->region_id, r->id, sizeof a->region_id);
        a->window = STREAM_TUMBLING_1M;
        a->start_ms = t->k * PANE_MS;
        a->end_ms = a->start_ms + PANE_MS;
        a->searches = t->c[C_SEARCH];
        a->views = t->c[C_VIEW];
        a->bookings = t->c[C_BOOKING];
        a->cancels = t->c[C_CANCEL];
        a->driver_locations = t->c[C_LOCATION];
        a->driver_statuses = t->c[C_STATUS];
        a->cancel_rate = a->bookings ? (double)a->cancels / a->bookings : 0;
        a->available_drivers = t->available;
        a->busy_drivers = t->busy;
    }
    return n;
}

void stream_engine_stats_get(const stream_engine *e, stream_engine_stats *out)
{
    out->events = e->events;
    out->late_events = e->late;
    out->windows_closed = e->windows;
    out->regions = e->region_count;
    out->drivers = e->drivers.live;
    out->users = e->users.live;
}

/* ---------------------------------------------------------------- checkpoints */

/* Layout: magic, version, sizes of the structs (a build with another layout refuses the file
 * and the runner rebuilds from the log), the scalars, the regions, then the live drivers and
 * users. Native byte order: a checkpoint is only read back by the same build on the same
 * machine. */
#define CHECKPOINT_MAGIC 0x5354524d43484b31ULL /* "STRMCHK1" */

typedef struct checkpoint_header {
    uint64_t magic;
    uint32_t region_size, driver_size, user_size, sources;
    int64_t watermark, stream_time, closed_end_k, forced_end_k, swept_end_k, global_holiday_ts;
    uint64_t events, late, windows;
    int64_t source_max[STREAM_SOURCES];
    uint8_t source_idle[STREAM_SOURCES];
    uint64_t region_count, driver_count, user_count;
} checkpoint_header;

void stream_engine_save(const stream_engine *e, buf *out)
{
    checkpoint_header h;
    memset(&h, 0, sizeof h);
    h.magic = CHECKPOINT_MAGIC;
    h.region_size = sizeof(region);
    h.driver_size = sizeof(driver);
    h.user_size = sizeof(user);
    h.sources = STREAM_SOURCES;
    h.watermark = e->watermark;
    h.stream_time = e->stream_time;
    h.closed_end_k = e->closed_end_k;
    h.forced_end_k = e->forced_end_k;
    h.swept_end_k = e->swept_end_k;
    h.global_holiday_ts = e->global_holiday_ts;
    h.events = e->events;
    h.late = e->late;
    h.windows = e->windows;
    for (int i = 0; i < STREAM_SOURCES; i++) {
        h.source_max[i] = e->source_max[i];
        h.source_idle[i] = e->source_idle[i];
    }
    h.region_count = e->region_count;
    h.driver_count = e->drivers.live;
    h.user_count = e->users.live;
    buf_append(out, &h, sizeof h);
    for (size_t i = 0; i < e->region_count; i++)
        buf_append(out, e->regions[i], sizeof(region));
    for (size_t i = 0; i < e->drivers.used; i++) {
        const table_node *n = table_at(&e->drivers, (int32_t)i);
        if (n->live) buf_append(out, n, sizeof(driver));
    }
    for (size_t i = 0; i < e->users.used; i++) {
        const table_node *n = table_at(&e->users, (int32_t)i);
        if (n->live) buf_append(out, n, sizeof(user));
    }
}

int stream_engine_load(stream_engine *e, const void *data, size_t len, surge_error *err)
{
    checkpoint_header h;
    if (len < sizeof h) return surge_fail(err, SURGE_EPARSE, "checkpoint", "checkpoint truncated");
    memcpy(&h, data, sizeof h);
    if (h.magic != CHECKPOINT_MAGIC || h.region_size != sizeof(region) ||
        h.driver_size != sizeof(driver) || h.user_size != sizeof(user) ||
        h.sources != STREAM_SOURCES)
        return surge_fail(err, SURGE_EPARSE, "checkpoint",
                          "checkpoint written by another version of surge (layout differs)");
    uint64_t need = sizeof h + h.region_count * sizeof(region) + h.driver_count * sizeof(driver) +
                    h.user_count * sizeof(user);
    if (h.region_count > (1u << 24) || h.driver_count > (1u << 28) || h.user_count > (1u << 28) ||
        need != len)
        return surge_fail(err, SURGE_EPARSE, "checkpoint",
                          "checkpoint size %zu does not match its counts (%llu expected)", len,
                          (unsigned long long)need);
    if (e->region_count || e->drivers.live || e->users.live)
        return surge_fail(err, SURGE_EINVAL, "checkpoint", "load needs a fresh engine");
    const unsigned char *p = (const unsigned char *)data + sizeof h;
    e->watermark = h.watermark;
    e->stream_time = h.stream_time;
    e->closed_end_k = h.closed_end_k;
    e->forced_end_k = h.forced_end_k;
    e->swept_end_k = h.swept_end_k;
    e->global_holiday_ts = h.global_holiday_ts;
    e->events = h.events;
    e->late = h.late;
    e->windows = h.windows;
    for (int i = 0; i < STREAM_SOURCES; i++) {
        e->source_max[i] = h.source_max[i];
        e->source_idle[i] = h.source_idle[i] != 0;
    }
    for (uint64_t i = 0; i < h.region_count; i++, p += sizeof(region)) {
        region tmp;
        memcpy(&tmp, p, sizeof tmp);
        tmp.id[GEOHASH_MAX] = 0;
        int32_t ri = region_get(e, tmp.id);
        if ((uint64_t)ri != i)
            return surge_fail(err, SURGE_EPARSE, "checkpoint", "duplicate region '%s'", tmp.id);
        memcpy(e->regions[ri], &tmp, sizeof tmp);
        for (int n = 0; n < 8; n++)
            e->regions[ri]->neighbour_index[n] = -1;
    }
    for (size_t i = 0; i < e->region_count; i++)
        region_link_neighbours(e, e->regions[i]);
    for (uint64_t i = 0; i < h.driver_count; i++, p += sizeof(driver)) {
        driver tmp;
        memcpy(&tmp, p, sizeof tmp);
        if (tmp.node.key_len > EVENT_ID_MAX || tmp.region >= (int32_t)e->region_count)
            return surge_fail(err, SURGE_EPARSE, "checkpoint", "driver %llu is damaged",
                              (unsigned long long)i);
        bool created;
        int32_t at = table_upsert(&e->drivers, tmp.node.key, tmp.node.key_len, &created);
        driver *d = (driver *)table_at(&e->drivers, at);
        table_node node = d->node;
        *d = tmp;
        d->node = node;
    }
    for (uint64_t i = 0; i < h.user_count; i++, p += sizeof(user)) {
        user tmp;
        memcpy(&tmp, p, sizeof tmp);
        if (tmp.node.key_len > EVENT_ID_MAX || tmp.region >= (int32_t)e->region_count)
            return surge_fail(err, SURGE_EPARSE, "checkpoint", "user %llu is damaged",
                              (unsigned long long)i);
        bool created;
        int32_t at = table_upsert(&e->users, tmp.node.key, tmp.node.key_len, &created);
        user *u = (user *)table_at(&e->users, at);
        table_node node = u->node;
        *u = tmp;
        u->node = node;
    }
    return 0;
}
