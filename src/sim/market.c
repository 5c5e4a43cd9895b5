/* market.c: the simulated city, minute by minute: regions around a centre, the rider arrival
 * process, drivers' shifts, trips and repositioning, weather, venue events and holidays, and
 * the events all of that sends to surge. The laws are written down in docs/simulator.md. */
#include "sim/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const SIM_EVENT_NAMES[SIM_NEVENT_TYPES] = {
    "search",        "view",    "booking", "cancel",      "driver_location",
    "driver_status", "weather", "traffic", "venue_event", "holiday"};
const char *const SIM_PRODUCT_NAMES[SIM_PRODUCTS] = {"standard", "premium"};
static const char *const DRIVER_STATUS_NAMES[] = {"available", "busy", "offline"};

#define MINUTE_MS 60000LL
#define DAY_MS 86400000LL
#define VENUES_MAX 8
#define NO_DRIVER (-1)

/* ---------------------------------------------------------------- the laws */

/* Requests by local hour, relative to an average hour: weekdays have the two commute peaks,
 * weekends a late start and busy nights. */
static const double WEEKDAY_PROFILE[24] = {0.35, 0.22, 0.15, 0.12, 0.15, 0.35, 0.80, 1.60,
                                           2.00, 1.50, 1.00, 0.95, 1.05, 1.00, 0.95, 1.10,
                                           1.40, 1.90, 2.00, 1.60, 1.25, 1.10, 0.90, 0.60};
static const double WEEKEND_PROFILE[24] = {1.10, 0.95, 0.75, 0.45, 0.25, 0.20, 0.30, 0.45,
                                           0.60, 0.80, 1.00, 1.15, 1.20, 1.20, 1.15, 1.15,
                                           1.20, 1.30, 1.40, 1.40, 1.35, 1.40, 1.45, 1.25};
/* ISO day 1 (Monday) .. 7 (Sunday) */
static const double WEEKLY_FACTOR[8] = {0, 0.92, 0.95, 0.97, 1.00, 1.10, 1.05, 0.85};

static double profile_at(int day_of_week, int hour)
{
    double v = day_of_week >= 6 ? WEEKEND_PROFILE[hour] : WEEKDAY_PROFILE[hour];
    if (day_of_week == 5 && hour >= 20) v *= 1.3; /* Friday night out */
    return v;
}

double sim_seasonality(int minute_of_day, int day_of_week)
{
    if (minute_of_day < 0 || minute_of_day >= 1440)
        minute_of_day = ((minute_of_day % 1440) + 1440) % 1440;
    if (day_of_week < 1 || day_of_week > 7) day_of_week = 1;
    int hour = minute_of_day / 60;
    double frac = (minute_of_day % 60) / 60.0;
    /* the hour after 23 is hour 0 of the next day */
    int next_dow = hour == 23 ? day_of_week % 7 + 1 : day_of_week;
    double a = profile_at(day_of_week, hour), b = profile_at(next_dow, (hour + 1) % 24);
    return (a + (b - a) * frac) * WEEKLY_FACTOR[day_of_week];
}

double sim_booking_probability(double conversion, double elasticity, double multiplier)
{
    if (!(multiplier > 0)) multiplier = 1.0;
    double p = conversion * pow(multiplier, -elasticity);
    return p > 1.0 ? 1.0 : p < 0.0 ? 0.0 : p;
}

/* ---------------------------------------------------------------- configuration */

void sim_config_defaults(sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->center_lat = 40.7580;
    c->center_lon = -73.9855;
    c->regions = 64;
    c->precision = 5;
    snprintf(c->timezone, sizeof c->timezone, "America/New_York");
    c->requests_per_region_hour = 24.0;
    c->drivers_per_region = 20.0;
    c->scale = 1.0;
    c->premium_share = 0.2;
    c->conversion = 0.85;
    c->elasticity = 1.2;
    c->base_price_cents[0] = 1200;
    c->base_price_cents[1] = 2000;
}

int sim_config_check(const sim_config *c, surge_error *err)
{
    if (!(c->center_lat >= -85 && c->center_lat <= 85))
        return surge_fail(err, SURGE_EINVAL, "center", "centre latitude %g must be in [-85, 85]",
                          c->center_lat);
    if (!(c->center_lon >= -180 && c->center_lon <= 180))
        return surge_fail(err, SURGE_EINVAL, "center", "centre longitude %g must be in [-180, 180]",
                          c->center_lon);
    if (c->regions < 1 || c->regions > SIM_REGIONS_MAX)
        return surge_fail(err, SURGE_EINVAL, "regions", "regions = %d must be in 1..%d", c->regions,
                          SIM_REGIONS_MAX);
    if (c->precision < 3 || c->precision > 8)
        return surge_fail(err, SURGE_EINVAL, "precision", "precision = %d must be in 3..8",
                          c->precision);
    if (!(c->requests_per_region_hour >= 0 && c->requests_per_region_hour <= 1e6))
        return surge_fail(err, SURGE_EINVAL, "requests_per_region_hour",
                          "requests per region and hour must be in [0, 1e6]");
    if (!(c->drivers_per_region >= 0 && c->drivers_per_region <= 1e4))
        return surge_fail(err, SURGE_EINVAL, "drivers_per_region",
                          "drivers per region must be in [0, 10000]");
    if (!(c->scale > 0 && c->scale <= 1e4))
        return surge_fail(err, SURGE_EINVAL, "scale", "scale = %g must be in (0, 10000]", c->scale);
    if (!(c->premium_share >= 0 && c->premium_share <= 1))
        return surge_fail(err, SURGE_EINVAL, "premium_share", "premium share must be in [0, 1]");
    if (!(c->conversion > 0 && c->conversion <= 1))
        return surge_fail(err, SURGE_EINVAL, "conversion", "conversion = %g must be in (0, 1]",
                          c->conversion);
    if (!(c->elasticity >= 0 && c->elasticity <= 20))
        return surge_fail(err, SURGE_EINVAL, "elasticity", "elasticity = %g must be in [0, 20]",
                          c->elasticity);
    for (int p = 0; p < SIM_PRODUCTS; p++)
        if (c->base_price_cents[p] <= 0)
            return surge_fail(err, SURGE_EINVAL, "base_price", "base price of %s must be > 0",
                              SIM_PRODUCT_NAMES[p]);
    double drivers = c->drivers_per_region * c->scale * c->regions * 2.5; /* weights up to ~2.5 */
    if (drivers > 5e6)
        return surge_fail(err, SURGE_EINVAL, "scale",
                          "scale %g gives about %.0f drivers; at most 5 million", c->scale,
                          drivers);
    return 0;
}

/* ---------------------------------------------------------------- state */

typedef struct city_region {
    char id[GEOHASH_MAX + 1];
    double lat, lon, half_lat, half_lon;
    double weight; /* relative size of the market here; the average region has 1 */
    int neighbours[8];
    int nneighbours;
    uint32_t minute_requests[15]; /* ring by minute index */
    uint32_t slot_requests;       /* in the current 15-minute slot of the day */
    uint32_t history[96][7];      /* requests per slot of the day, the last 7 days */
    uint8_t history_count[96], history_next[96];
    int avail_head; /* available drivers here: a doubly linked list through the drivers */
    uint32_t avail_count;
    double congestion;
} city_region;

typedef struct driver {
    int home, region, dest;
    int status;
    int shift_start, shift_len; /* minutes of the local day */
    int64_t busy_until_ms;
    int next, prev;
} driver;

typedef struct venue_event {
    int region;
    const char *name;
    int64_t start_ms, end_ms;
    int attendance;
} venue_event;

struct sim {
    sim_config cfg;
    const tz_zone *tz;
    int nregions;
    city_region *regions;
    int ndrivers;
    driver *drivers;
    int64_t *price;   /* [region][product] cents, the current minute's */
    int *top_regions; /* region indexes by weight, largest first */
    int64_t now_ms;
    uint64_t minute_index;
    uint64_t seq;
    uint64_t bookings;
    uint32_t population; /* riders are numbered 0..population-1 */
    sim_rng rng_riders, rng_drivers, rng_weather, rng_venues, rng_reposition;
    /* city-wide weather */
    bool raining;
    double temp_noise, temp_c, precip_mm, severity;
    /* local calendar */
    int64_t local_day;
    const char *holiday;
    double holiday_factor;
    venue_event venues[VENUES_MAX];
    int nvenues;
    sim_stats stats;
};

/* Independent streams, one per purpose, so that what one part of the market draws never
 * shifts another's: riders are the same under every pricing policy. */
enum { STREAM_RIDERS = 1, STREAM_DRIVERS, STREAM_WEATHER, STREAM_VENUES, STREAM_REPOSITION };

static void seed_stream(sim_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    sim_rng_seed(r, sim_splitmix64(&x));
}

/* A uniform in [0, 1) that depends only on (seed, a, b): for draws whose number varies with
 * the policy (the position of a driver's location ping). */
static double hash_uniform(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t x = seed ^ (a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xc2b2ae3d27d4eb4fULL);
    sim_splitmix64(&x);
    return (double)(sim_splitmix64(&x) >> 11) * 0x1.0p-53;
}

const sim_config *sim_get_config(const sim *s)
{
    return &s->cfg;
}
int sim_region_count(const sim *s)
{
    return s->nregions;
}
const char *sim_region_id(const sim *s, int i)
{
    return s->regions[i].id;
}
int64_t sim_now_ms(const sim *s)
{
    return s->now_ms;
}
int64_t sim_region_price(const sim *s, int region, int product)
{
    return s->price[region * SIM_PRODUCTS + product];
}
void sim_get_stats(const sim *s, sim_stats *out)
{
    *out = s->stats;
}

/* ---------------------------------------------------------------- creation */

typedef struct cell {
    int row, col, dist2;
} cell;

static int cell_by_distance(const void *a, const void *b)
{
    const cell *x = a, *y = b;
    if (x->dist2 != y->dist2) return x->dist2 < y->dist2 ? -1 : 1;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return (x->col > y->col) - (x->col < y->col);
}

static int cell_by_position(const void *a, const void *b)
{
    const cell *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return (x->col > y->col) - (x->col < y->col);
}

static int region_by_weight(const void *a, const void *b, void *ctx)
{
    const sim *s = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    double wi = s->regions[i].weight, wj = s->regions[j].weight;
    if (wi != wj) return wi > wj ? -1 : 1;
    return (i > j) - (i < j);
}

/* The regions: the cfg->regions cells nearest the centre's cell, laid out like the sample city
 * (a grid x grid block, row-major), so that 64 regions are exactly the sample city's. */
static int make_regions(sim *s, surge_error *err)
{
    int n = s->cfg.regions;
    int grid = (int)ceil(sqrt((double)n));
    int first = -(grid - 1) / 2;
    char centre[GEOHASH_MAX + 1];
    double clat, clon, hlat, hlon;
    if (geohash_encode(s->cfg.center_lat, s->cfg.center_lon, s->cfg.precision, centre))
        return surge_fail(err, SURGE_EINVAL, "center", "the centre is not on the map");
    geohash_decode(centre, &clat, &clon, &hlat, &hlon);
    cell *cells = calloc((size_t)grid * grid, sizeof *cells);
    s->regions = calloc((size_t)n, sizeof *s->regions);
    if (!cells || !s->regions) {
        free(cells);
        return surge_fail(err, SURGE_EIO, NULL, "out of memory");
    }
    int ncells = 0;
    for (int row = 0; row < grid; row++)
        for (int col = 0; col < grid; col++) {
            /* distance from the grid's middle in half cells, so even grids are symmetric */
            int mr = 2 * row - (grid - 1), mc = 2 * col - (grid - 1);
            cells[ncells++] = (cell){row, col, mr * mr + mc * mc};
        }
    qsort(cells, (size_t)ncells, sizeof *cells, cell_by_distance);
    qsort(cells, (size_t)n, sizeof *cells, cell_by_position);
    double sigma = grid / 3.0 < 1 ? 1 : grid / 3.0, weight_sum = 0;
    for (int i = 0; i < n; i++) {
        city_region *r = &s->regions[i];
        double lat = clat + (first + cells[i].row) * 2 * hlat;
        double lon = clon + (first + cells[i].col) * 2 * hlon;
        if (geohash_encode(lat, lon, s->cfg.precision, r->id)) {
            free(cells);
            return surge_fail(err, SURGE_EINVAL, "center",
                              "region %d of the city falls off the map; move the centre", i);
        }
        geohash_decode(r->id, &r->lat, &r->lon, &r->half_lat, &r->half_lon);
        double d2 = cells[i].dist2 / 4.0; /* in cells squared */
        r->weight = 0.4 + 1.6 * exp(-d2 / (2 * sigma * sigma));
        weight_sum += r->weight;
        r->avail_head = NO_DRIVER;
    }
    free(cells);
    for (int i = 0; i < n; i++)
        s->regions[i].weight *= n / weight_sum;
    /* neighbours inside the city, in geohash_neighbour's direction order */
    static const int DIRS[8][2] = {{1, 0},  {1, 1},   {0, 1},  {-1, 1},
                                   {-1, 0}, {-1, -1}, {0, -1}, {1, -1}};
    for (int i = 0; i < n; i++) {
        city_region *r = &s->regions[i];
        for (int d = 0; d < 8; d++) {
            char nb[GEOHASH_MAX + 1];
            if (geohash_neighbour(r->id, DIRS[d][0], DIRS[d][1], nb)) continue;
            for (int j = 0; j < n; j++)
                if (strcmp(s->regions[j].id, nb) == 0) {
                    r->neighbours[r->nneighbours++] = j;
                    break;
                }
        }
    }
    s->top_regions = malloc((size_t)n * sizeof *s->top_regions);
    if (!s->top_regions) return surge_fail(err, SURGE_EIO, NULL, "out of memory");
    for (int i = 0; i < n; i++)
        s->top_regions[i] = i;
    qsort_r(s->top_regions, (size_t)n, sizeof *s->top_regions, region_by_weight, s);
    return 0;
}

/* Drivers live in proportion to the region's weight and work one shift a day: morning,
 * midday, evening or night, 6 to 10 hours. */
static int make_drivers(sim *s, surge_error *err)
{
    size_t total = 0;
    for (int i = 0; i < s->nregions; i++)
        total += (size_t)lround(s->cfg.drivers_per_region * s->cfg.scale * s->regions[i].weight);
    s->drivers = calloc(total ? total : 1, sizeof *s->drivers);
    if (!s->drivers) return surge_fail(err, SURGE_EIO, NULL, "out of memory");
    size_t k = 0;
    for (int i = 0; i < s->nregions; i++) {
        long n = lround(s->cfg.drivers_per_region * s->cfg.scale * s->regions[i].weight);
        for (long j = 0; j < n; j++, k++) {
            driver *d = &s->drivers[k];
            d->home = d->region = d->dest = i;
            d->status = SIM_OFFLINE;
            d->next = d->prev = NO_DRIVER;
            double u = sim_rng_uniform(&s->rng_drivers);
            int start = u < 0.30   ? 360 + (int)sim_rng_below(&s->rng_drivers, 150)
                        : u < 0.55 ? 600 + (int)sim_rng_below(&s->rng_drivers, 180)
                        : u < 0.85 ? 900 + (int)sim_rng_below(&s->rng_drivers, 150)
                                   : 1200 + (int)sim_rng_below(&s->rng_drivers, 180);
            d->shift_start = start % 1440;
            d->shift_len = 360 + (int)sim_rng_below(&s->rng_drivers, 241);
        }
    }
    s->ndrivers = (int)k;
    return 0;
}

sim *sim_new(const sim_config *cfg, surge_error *err)
{
    if (sim_config_check(cfg, err)) return NULL;
    const tz_zone *tz = tz_load(cfg->timezone, err);
    if (!tz) return NULL;
    sim *s = calloc(1, sizeof *s);
    if (!s) {
        surge_fail(err, SURGE_EIO, NULL, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->tz = tz;
    s->nregions = cfg->regions;
    int64_t start = cfg->start_ms;
    s->now_ms = start - (((start % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
    s->cfg.start_ms = s->now_ms;
    s->local_day = INT64_MIN;
    seed_stream(&s->rng_riders, cfg->seed, STREAM_RIDERS);
    seed_stream(&s->rng_drivers, cfg->seed, STREAM_DRIVERS);
    seed_stream(&s->rng_weather, cfg->seed, STREAM_WEATHER);
    seed_stream(&s->rng_venues, cfg->seed, STREAM_VENUES);
    seed_stream(&s->rng_reposition, cfg->seed, STREAM_REPOSITION);
    double pop = 2000.0 * cfg->regions * cfg->scale;
    s->population = pop > 4e9 ? 4000000000u : pop < 1 ? 1 : (uint32_t)pop;
    if (make_regions(s, err) || make_drivers(s, err)) {
        sim_free(s);
        return NULL;
    }
    s->price = malloc((size_t)s->nregions * SIM_PRODUCTS * sizeof *s->price);
    if (!s->price) {
        surge_fail(err, SURGE_EIO, NULL, "out of memory");
        sim_free(s);
        return NULL;
    }
    for (int i = 0; i < s->nregions; i++)
        for (int p = 0; p < SIM_PRODUCTS; p++)
            s->price[i * SIM_PRODUCTS + p] = cfg->base_price_cents[p];
    return s;
}

void sim_free(sim *s)
{
    if (!s) return;
    free(s->regions);
    free(s->drivers);
    free(s->price);
    free(s->top_regions);
    free(s);
}

/* ---------------------------------------------------------------- local time */

typedef struct local_time {
    int64_t day; /* days since 1970-01-01, local */
    int minute;  /* of the day */
    int dow;     /* ISO 1..7 */
    int year, month, mday, yday;
} local_time;

static void local_time_at(const sim *s, int64_t utc_ms, local_time *lt)
{
    int64_t local = utc_ms + (int64_t)tz_offset_s(s->tz, utc_ms) * 1000;
    int64_t day = local >= 0 ? local / DAY_MS : -((-local + DAY_MS - 1) / DAY_MS);
    lt->day = day;
    lt->minute = (int)((local - day * DAY_MS) / MINUTE_MS);
    lt->dow = (int)(((day % 7) + 7 + 3) % 7) + 1; /* 1970-01-01 was a Thursday */
    /* days -> civil date (Howard Hinnant's algorithm) */
    int64_t z = day + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    lt->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    lt->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    lt->year = (int)(yoe + era * 400 + (lt->month <= 2));
    static const int CUM[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    lt->yday = CUM[lt->month - 1] + lt->mday - 1;
}

/* US holidays the market notices, with their effect on demand. */
static const char *holiday_of(const local_time *lt, double *factor)
{
    *factor = 1.0;
    if (lt->month == 1 && lt->mday == 1) return *factor = 0.8, "New Year's Day";
    if (lt->month == 7 && lt->mday == 4) return *factor = 0.8, "Independence Day";
    if (lt->month == 11 && lt->dow == 4 && lt->mday >= 22 && lt->mday <= 28)
        return *factor = 0.75, "Thanksgiving Day";
    if (lt->month == 12 && lt->mday == 25) return *factor = 0.7, "Christmas Day";
    if (lt->month == 12 && lt->mday == 31) return *factor = 1.25, "New Year's Eve";
    return NULL;
}

/* ---------------------------------------------------------------- events */

static sim_event *new_event(sim *s, sim_event *e, sim_event_type type, int64_t ts, int region)
{
    memset(e, 0, sizeof *e);
    e->seq = s->seq++;
    e->type = type;
    e->ts_ms = ts;
    e->region = region;
    return e;
}

static void emit_event(sim *s, sim_emit_fn emit, void *ctx, const sim_event *e)
{
    s->stats.events++;
    if (emit) emit(ctx, e);
}

void sim_event_write_json(const sim *s, const sim_event *e, buf *out)
{
    sim_event_write_json_tagged(s, e, s->cfg.seed, "", out);
}

void sim_event_write_json_tagged(const sim *s, const sim_event *e, uint64_t id_seed,
                                 const char *tag, buf *out)
{
    buf_printf(out, "{\"event_id\":\"sim-%llu-%s%llu\",\"type\":\"%s\",\"ts\":%lld",
               (unsigned long long)id_seed, tag, (unsigned long long)e->seq,
               SIM_EVENT_NAMES[e->type], (long long)e->ts_ms);
    if (e->region >= 0) buf_printf(out, ",\"region_id\":\"%s\"", s->regions[e->region].id);
    switch (e->type) {
    case SIM_SEARCH:
    case SIM_VIEW:
    case SIM_BOOKING:
    case SIM_CANCEL:
        buf_printf(out, ",\"user_id\":\"rider-%u\",\"product_type\":\"%s\"", e->subject,
                   SIM_PRODUCT_NAMES[e->product]);
        if (e->type == SIM_BOOKING || e->type == SIM_CANCEL)
            buf_printf(out, ",\"booking_id\":\"b-%llu-%llu\"", (unsigned long long)id_seed,
                       (unsigned long long)e->booking);
        break;
    case SIM_DRIVER_LOCATION:
        buf_printf(out, ",\"lat\":%.6f,\"lon\":%.6f,\"driver_id\":\"driver-%u\"", e->lat, e->lon,
                   e->subject);
        break;
    case SIM_DRIVER_STATUS:
        buf_printf(out, ",\"driver_id\":\"driver-%u\",\"status\":\"%s\"", e->subject,
                   DRIVER_STATUS_NAMES[e->status]);
        break;
    case SIM_WEATHER:
        buf_printf(out, ",\"temp_c\":%.1f,\"precip_mm\":%.1f,\"severity\":%.2f", e->value[0],
                   e->value[1], e->value[2]);
        break;
    case SIM_TRAFFIC:
        buf_printf(out, ",\"congestion\":%.2f", e->value[0]);
        break;
    case SIM_VENUE_EVENT:
        buf_puts(out, ",\"venue\":");
        json_put_string(out, e->name);
        buf_printf(out, ",\"start\":%lld,\"end\":%lld,\"expected_attendance\":%d",
                   (long long)e->start_ms, (long long)e->end_ms, (int)e->value[0]);
        break;
    case SIM_HOLIDAY:
        buf_puts(out, ",\"name\":");
        json_put_string(out, e->name);
        break;
    default:
        break;
    }
    buf_putc(out, '}');
}

/* ---------------------------------------------------------------- the calendar and weather */

static const char *const VENUES[] = {"Madison Square Garden",
                                     "Radio City Music Hall",
                                     "Barclays Center",
                                     "Beacon Theatre",
                                     "Terminal 5",
                                     "Yankee Stadium"};

/* At each local midnight (and at the start): the day's holiday, and maybe a venue event in
 * one of the busiest quarter of the regions, in the evening, announced now. */
static void new_day(sim *s, const local_time *lt, sim_emit_fn emit, void *ctx)
{
    sim_event e;
    s->local_day = lt->day;
    s->holiday = holiday_of(lt, &s->holiday_factor);
    int64_t midnight = s->now_ms - (int64_t)lt->minute * MINUTE_MS;
    if (s->holiday) {
        new_event(s, &e, SIM_HOLIDAY, s->now_ms, -1);
        e.name = s->holiday;
        emit_event(s, emit, ctx, &e);
    }
    /* forget events that are over */
    int kept = 0;
    for (int i = 0; i < s->nvenues; i++)
        if (s->venues[i].end_ms + 60 * MINUTE_MS > s->now_ms) s->venues[kept++] = s->venues[i];
    s->nvenues = kept;
    double u = sim_rng_uniform(&s->rng_venues);
    uint64_t quarter = (uint64_t)(s->nregions + 3) / 4;
    int region = s->top_regions[sim_rng_below(&s->rng_venues, quarter)];
    const char *name = VENUES[sim_rng_below(&s->rng_venues, sizeof VENUES / sizeof VENUES[0])];
    int64_t start = midnight + (1140 + 30 * (int64_t)sim_rng_below(&s->rng_venues, 3)) * MINUTE_MS;
    int64_t end = start + (150 + 15 * (int64_t)sim_rng_below(&s->rng_venues, 3)) * MINUTE_MS;
    int attendance = 5000 + 1000 * (int)sim_rng_below(&s->rng_venues, 16);
    if (u < 0.6 && s->nvenues < VENUES_MAX) {
        venue_event *v = &s->venues[s->nvenues++];
        *v = (venue_event){region, name, start, end, attendance};
        new_event(s, &e, SIM_VENUE_EVENT, s->now_ms, region);
        e.name = name;
        e.start_ms = start;
        e.end_ms = end;
        e.value[0] = attendance;
        emit_event(s, emit, ctx, &e);
    }
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Every 15 minutes: the city's weather moves on (a seasonal and daily temperature with noise;
 * rain that starts and stops as a Markov chain) and every region reports it and its traffic. */
static void weather_update(sim *s, const local_time *lt, sim_emit_fn emit, void *ctx)
{
    sim_rng *r = &s->rng_weather;
    double normal = (sim_rng_uniform(r) + sim_rng_uniform(r) + sim_rng_uniform(r) - 1.5) * 2.0;
    s->temp_noise = 0.9 * s->temp_noise + 0.8 * normal;
    double hour = lt->minute / 60.0;
    s->temp_c = 12.0 - 12.0 * cos(2 * M_PI * (lt->yday - 15) / 365.0) +
                4.0 * sin(2 * M_PI * (hour - 9) / 24.0) + s->temp_noise;
    double u = sim_rng_uniform(r), v = sim_rng_uniform(r);
    if (s->raining) {
        if (u < 0.12)
            s->raining = false, s->precip_mm = 0;
        else
            s->precip_mm = clamp(s->precip_mm * (0.7 + 0.6 * v), 0.2, 25);
    } else if (u < 0.015) {
        s->raining = true;
        s->precip_mm = 0.5 + 9.0 * v * v;
    }
    s->temp_c = round(s->temp_c * 10) / 10;
    s->precip_mm = round(s->precip_mm * 10) / 10;
    s->severity =
        round(clamp(s->precip_mm / 12.0 + fmax(0, -s->temp_c - 5) / 25.0, 0, 1) * 100) / 100;
    double season = sim_seasonality(lt->minute, lt->dow);
    for (int i = 0; i < s->nregions; i++) {
        city_region *g = &s->regions[i];
        sim_event e;
        new_event(s, &e, SIM_WEATHER, s->now_ms, i);
        e.value[0] = s->temp_c;
        e.value[1] = s->precip_mm;
        e.value[2] = s->severity;
        emit_event(s, emit, ctx, &e);
        g->congestion =
            round(clamp(0.15 + 0.3 * (season - 0.3) * sqrt(g->weight) + 0.25 * s->severity, 0, 1) *
                  100) /
            100;
        new_event(s, &e, SIM_TRAFFIC, s->now_ms, i);
        e.value[0] = g->congestion;
        emit_event(s, emit, ctx, &e);
    }
}

/* How much a venue event touches region i: 1 in its own region, 0.25 next door, else 0. */
static double venue_reach(const sim *s, const venue_event *v, int i)
{
    if (v->region == i) return 1.0;
    const city_region *g = &s->regions[v->region];
    for (int k = 0; k < g->nneighbours; k++)
        if (g->neighbours[k] == i) return 0.25;
    return 0.0;
}

static double event_score(const sim *s, int i, int64_t t)
{
    double best = 0;
    for (int k = 0; k < s->nvenues; k++) {
        const venue_event *v = &s->venues[k];
        if (t < v->start_ms - 90 * MINUTE_MS || t >= v->end_ms + 60 * MINUTE_MS) continue;
        double reach = venue_reach(s, v, i) * 2; /* neighbours get half */
        if (reach > 1) reach = 1;
        double score = fmin(1.0, v->attendance / 20000.0) * reach;
        if (score > best) best = score;
    }
    return best;
}

/* Requests a minute in region i without weather, events or holidays. */
static double base_rate(const sim *s, int i, const local_time *lt)
{
    return s->cfg.requests_per_region_hour / 60.0 * s->regions[i].weight * s->cfg.scale *
           sim_seasonality(lt->minute, lt->dow);
}

/* Requests a minute in region i now: seasonality, holiday, weather (+80 % at severity 1), and
 * venue crowds (1 % of the audience in the 90 minutes before, 2 % in the hour after the end). */
static double arrival_rate(const sim *s, int i, const local_time *lt)
{
    double rate = base_rate(s, i, lt) * s->holiday_factor * (1.0 + 0.8 * s->severity);
    int64_t t = s->now_ms;
    for (int k = 0; k < s->nvenues; k++) {
        const venue_event *v = &s->venues[k];
        double reach = venue_reach(s, v, i);
        if (reach == 0) continue;
        if (t >= v->start_ms - 90 * MINUTE_MS && t < v->start_ms)
            rate += reach * s->cfg.scale * v->attendance * 0.01 / 90.0;
        if (t >= v->end_ms - 10 * MINUTE_MS && t < v->end_ms + 50 * MINUTE_MS)
            rate += reach * s->cfg.scale * v->attendance * 0.02 / 60.0;
    }
    return rate;
}

/* ---------------------------------------------------------------- drivers */

static void avail_push(sim *s, int d)
{
    driver *dr = &s->drivers[d];
    city_region *g = &s->regions[dr->region];
    dr->prev = NO_DRIVER;
    dr->next = g->avail_head;
    if (g->avail_head != NO_DRIVER) s->drivers[g->avail_head].prev = d;
    g->avail_head = d;
    g->avail_count++;
}

static void avail_remove(sim *s, int d)
{
    driver *dr = &s->drivers[d];
    city_region *g = &s->regions[dr->region];
    if (dr->prev != NO_DRIVER)
        s->drivers[dr->prev].next = dr->next;
    else
        g->avail_head = dr->next;
    if (dr->next != NO_DRIVER) s->drivers[dr->next].prev = dr->prev;
    dr->next = dr->prev = NO_DRIVER;
    g->avail_count--;
}

static void emit_status(sim *s, int d, int status, int64_t ts, sim_emit_fn emit, void *ctx)
{
    sim_event e;
    new_event(s, &e, SIM_DRIVER_STATUS, ts, s->drivers[d].region);
    e.subject = (uint32_t)d;
    e.status = status;
    emit_event(s, emit, ctx, &e);
}

/* A position inside the driver's cell (never on its edge, so the cell stays the region). */
static void emit_location(sim *s, int d, int64_t ts, sim_emit_fn emit, void *ctx)
{
    const city_region *g = &s->regions[s->drivers[d].region];
    sim_event e;
    new_event(s, &e, SIM_DRIVER_LOCATION, ts, s->drivers[d].region);
    e.subject = (uint32_t)d;
    e.lat = g->lat +
            (hash_uniform(s->cfg.seed, (uint64_t)d, s->minute_index * 2) * 1.8 - 0.9) * g->half_lat;
    e.lon = g->lon + (hash_uniform(s->cfg.seed, (uint64_t)d, s->minute_index * 2 + 1) * 1.8 - 0.9) *
                         g->half_lon;
    emit_event(s, emit, ctx, &e);
}

/* Shifts start and end, trips end (the driver is free where the trip went), and available
 * drivers report their position every 5 minutes. */
static void drivers_update(sim *s, const local_time *lt, sim_emit_fn emit, void *ctx)
{
    for (int d = 0; d < s->ndrivers; d++) {
        driver *dr = &s->drivers[d];
        /* spread over the minute, so a shift change is not one burst at its first second */
        int64_t t = s->now_ms + (int64_t)((uint64_t)d * 7919 % 50) * 1000;
        int into = ((lt->minute - dr->shift_start) % 1440 + 1440) % 1440;
        bool on_shift = into < dr->shift_len;
        if (dr->status == SIM_BUSY && dr->busy_until_ms <= t) {
            dr->region = dr->dest;
            if (on_shift) {
                dr->status = SIM_AVAILABLE;
                avail_push(s, d);
                emit_status(s, d, SIM_AVAILABLE, t, emit, ctx);
                emit_location(s, d, t, emit, ctx);
            } else {
                dr->status = SIM_OFFLINE;
                dr->region = dr->home;
                emit_status(s, d, SIM_OFFLINE, t, emit, ctx);
            }
        } else if (dr->status == SIM_OFFLINE && on_shift) {
            dr->region = dr->home;
            dr->status = SIM_AVAILABLE;
            avail_push(s, d);
            emit_status(s, d, SIM_AVAILABLE, t, emit, ctx);
            emit_location(s, d, t, emit, ctx);
        } else if (dr->status == SIM_AVAILABLE && !on_shift) {
            avail_remove(s, d);
            dr->status = SIM_OFFLINE;
            emit_status(s, d, SIM_OFFLINE, t, emit, ctx);
            dr->region = dr->home;
        } else if (dr->status == SIM_AVAILABLE && (s->minute_index + (uint64_t)d) % 5 == 0) {
            emit_location(s, d, t + 5000, emit, ctx);
        }
    }
}

/* Available drivers move to the neighbour with the highest surge when it beats their own by
 * 0.15 or more: each with probability min(0.25, diff / 2) a minute. */
static void reposition(sim *s, sim_emit_fn emit, void *ctx)
{
    int64_t t = s->now_ms + 45000;
    for (int i = 0; i < s->nregions; i++) {
        city_region *g = &s->regions[i];
        if (!g->avail_count || !g->nneighbours) continue;
        double here = (double)s->price[i * SIM_PRODUCTS] / s->cfg.base_price_cents[0];
        int best = -1;
        double best_m = here;
        for (int k = 0; k < g->nneighbours; k++) {
            int j = g->neighbours[k];
            double m = (double)s->price[j * SIM_PRODUCTS] / s->cfg.base_price_cents[0];
            if (m > best_m) best_m = m, best = j;
        }
        double diff = best_m - here;
        if (best < 0 || diff < 0.15) continue;
        double p = fmin(0.25, diff / 2);
        int d = g->avail_head;
        while (d != NO_DRIVER) {
            int next = s->drivers[d].next;
            if (sim_rng_uniform(&s->rng_reposition) < p) {
                avail_remove(s, d);
                s->drivers[d].region = best;
                /* pushed after the walk would revisit it; push now at the head of the other
                 * region, whose list this loop is not walking */
                avail_push(s, d);
                emit_location(s, d, t, emit, ctx);
            }
            d = next;
        }
    }
}

/* ---------------------------------------------------------------- the market state */

static int slot_of(int minute)
{
    return minute / 15;
}

void sim_region_get_state(const sim *s, int i, sim_region_state *out)
{
    const city_region *g = &s->regions[i];
    local_time lt;
    local_time_at(s, s->now_ms, &lt);
    memset(out, 0, sizeof *out);
    for (int k = 0; k < 15; k++)
        out->requests_15min += g->minute_requests[k];
    /* the trailing window's middle falls in this slot of the day */
    local_time mid;
    local_time_at(s, s->now_ms - 450000, &mid);
    int slot = slot_of(mid.minute);
    if (g->history_count[slot]) {
        double sum = 0;
        for (int k = 0; k < g->history_count[slot]; k++)
            sum += g->history[slot][k];
        out->baseline_15min = sum / g->history_count[slot];
    } else {
        out->baseline_15min = base_rate(s, i, &mid) * 15.0;
    }
    out->available_drivers = g->avail_count;
    out->temp_c = s->temp_c;
    out->precip_mm = s->precip_mm;
    out->weather_severity = s->severity;
    out->event_score = event_score(s, i, s->now_ms);
    out->holiday = s->holiday != NULL;
    out->local_hour = lt.minute / 60;
}

/* ---------------------------------------------------------------- riders */

/* One rider: searches, sees a price, maybe books; a booking gets the nearest available driver
 * (own region first, then neighbours) or goes unserved; a rider may cancel while waiting.
 * Every draw is made whatever the outcome, so the riders are the same under every policy. */
static void rider(sim *s, const sim_policy *policy, int i, sim_emit_fn emit, void *ctx)
{
    sim_rng *r = &s->rng_riders;
    uint32_t who = (uint32_t)sim_rng_below(r, s->population);
    int product = sim_rng_uniform(r) < s->cfg.premium_share ? 1 : 0;
    int64_t ts = s->now_ms + (int64_t)sim_rng_below(r, 40000);
    double u_book = sim_rng_uniform(r), u_cancel = sim_rng_uniform(r);
    double u_wait = sim_rng_uniform(r), u_trip = sim_rng_uniform(r);
    double u_dest = sim_rng_uniform(r);
    city_region *g = &s->regions[i];
    sim_event e;

    s->stats.requests++;
    g->minute_requests[s->minute_index % 15]++;
    g->slot_requests++;
    new_event(s, &e, SIM_SEARCH, ts, i);
    e.subject = who;
    e.product = product;
    emit_event(s, emit, ctx, &e);

    int64_t minute_price = s->price[i * SIM_PRODUCTS + product];
    int64_t price = policy && policy->quote
                        ? policy->quote(policy->ctx, s, i, product, who, ts, minute_price)
                        : minute_price;
    if (price <= 0) price = minute_price;
    new_event(s, &e, SIM_VIEW, ts + 3000, i);
    e.subject = who;
    e.product = product;
    emit_event(s, emit, ctx, &e);

    double m = (double)price / s->cfg.base_price_cents[product];
    if (u_book >= sim_booking_probability(s->cfg.conversion, s->cfg.elasticity, m)) {
        s->stats.declined++;
        return;
    }
    s->stats.bookings++;
    uint64_t booking = ++s->bookings;
    new_event(s, &e, SIM_BOOKING, ts + 12000, i);
    e.subject = who;
    e.product = product;
    e.booking = booking;
    emit_event(s, emit, ctx, &e);

    int d = g->avail_head;
    double wait = 2.0 + 4.0 * u_wait;
    for (int k = 0; d == NO_DRIVER && k < g->nneighbours; k++) {
        d = s->regions[g->neighbours[k]].avail_head;
        wait = 5.0 + 5.0 * u_wait;
    }
    if (d == NO_DRIVER) {
        s->stats.unserved++;
        new_event(s, &e, SIM_CANCEL, ts + 72000, i);
        e.subject = who;
        e.product = product;
        e.booking = booking;
        emit_event(s, emit, ctx, &e);
        return;
    }
    driver *dr = &s->drivers[d];
    avail_remove(s, d);
    dr->status = SIM_BUSY;
    emit_status(s, d, SIM_BUSY, ts + 13000, emit, ctx);
    double p_cancel = 0.02 + 0.04 * fmax(0.0, wait - 4.0);
    if (u_cancel < p_cancel) {
        s->stats.cancelled++;
        dr->dest = dr->region;
        dr->busy_until_ms = ts + (int64_t)(fmin(wait, 3.0) * MINUTE_MS);
        new_event(s, &e, SIM_CANCEL, ts + 60000, i);
        e.subject = who;
        e.product = product;
        e.booking = booking;
        emit_event(s, emit, ctx, &e);
        return;
    }
    double trip = 8.0 + 12.0 * u_trip;
    dr->busy_until_ms = ts + (int64_t)((wait + trip) * MINUTE_MS);
    int dest = i;
    if (u_dest >= 0.3 && g->nneighbours)
        dest = g->neighbours[(int)((u_dest - 0.3) / 0.7 * g->nneighbours) % g->nneighbours];
    dr->dest = dest;
    s->stats.trips[product]++;
    s->stats.revenue_cents[product] += price;
    s->stats.wait_min_sum += wait;
}

/* ---------------------------------------------------------------- one minute */

void sim_step(sim *s, const sim_policy *policy, sim_emit_fn emit, void *ctx)
{
    local_time lt;
    local_time_at(s, s->now_ms, &lt);
    if (lt.day != s->local_day) new_day(s, &lt, emit, ctx);
    if (s->minute_index == 0 || lt.minute % 15 == 0) weather_update(s, &lt, emit, ctx);
    drivers_update(s, &lt, emit, ctx);

    /* prices for this minute, from the state at its start */
    for (int i = 0; i < s->nregions; i++) {
        double before = (double)s->price[i * SIM_PRODUCTS] / s->cfg.base_price_cents[0];
        if (policy && policy->minute) {
            sim_region_state state;
            sim_region_get_state(s, i, &state);
            for (int p = 0; p < SIM_PRODUCTS; p++)
                policy->minute(policy->ctx, s, i, p, &state, s->now_ms,
                               &s->price[i * SIM_PRODUCTS + p]);
        }
        double after = (double)s->price[i * SIM_PRODUCTS] / s->cfg.base_price_cents[0];
        if (s->minute_index > 0) {
            s->stats.change_sq_sum += (after - before) * (after - before);
            s->stats.changes++;
        }
        s->stats.multiplier_sum += after;
        s->stats.region_minutes++;
    }

    for (int i = 0; i < s->nregions; i++) {
        s->regions[i].minute_requests[s->minute_index % 15] = 0;
        uint64_t n = sim_rng_poisson(&s->rng_riders, arrival_rate(s, i, &lt));
        for (uint64_t k = 0; k < n; k++)
            rider(s, policy, i, emit, ctx);
    }
    reposition(s, emit, ctx);

    /* the end of a 15-minute slot: remember its requests for the 7-day baseline */
    if (lt.minute % 15 == 14) {
        int slot = slot_of(lt.minute);
        for (int i = 0; i < s->nregions; i++) {
            city_region *g = &s->regions[i];
            g->history[slot][g->history_next[slot]] = g->slot_requests;
            g->history_next[slot] = (uint8_t)((g->history_next[slot] + 1) % 7);
            if (g->history_count[slot] < 7) g->history_count[slot]++;
            g->slot_requests = 0;
        }
    }
    s->now_ms += MINUTE_MS;
    s->minute_index++;
}

/* ---------------------------------------------------------------- policies */

static void dynamic_minute(void *ctx, sim *s, int region, int product, const sim_region_state *st,
                           int64_t now_ms, int64_t *price_cents)
{
    sim_dynamic *dyn = ctx;
    if (!dyn->ready) {
        for (int p = 0; p < SIM_PRODUCTS; p++) {
            store_rule_defaults(&dyn->rule[p]);
            snprintf(dyn->rule[p].product_type, sizeof dyn->rule[p].product_type, "%s",
                     SIM_PRODUCT_NAMES[p]);
            dyn->rule[p].base_price_cents = s->cfg.base_price_cents[p];
        }
        dyn->ready = true;
    }
    pricing_inputs in;
    pricing_inputs_neutral(&in);
    double d = st->requests_15min, b = st->baseline_15min;
    in.demand_score = d + b > 0 ? d / (d + b) : 0.5;
    in.expected_demand = d;
    in.available_supply = st->available_drivers;
    in.weather_severity = st->weather_severity;
    in.event_score = st->event_score;
    in.confidence = 1.0;
    in.fallback = 0;
    pricing_result res;
    pricing_formula(&dyn->rule[product], &in, st->local_hour, &res);
    pricing_previous *prev = &dyn->previous[region][product];
    pricing_apply_guardrails(&dyn->rule[product], NULL, prev, now_ms, &res);
    prev->valid = true;
    prev->surge_e4 = res.surge_e4;
    prev->at_ms = now_ms;
    *price_cents = res.price_cents;
}

sim_policy sim_policy_static(void)
{
    return (sim_policy){NULL, NULL, NULL};
}

sim_policy sim_policy_dynamic(sim_dynamic *state)
{
    return (sim_policy){dynamic_minute, NULL, state};
}
