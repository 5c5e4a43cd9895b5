/* sim: a market simulator for surge (DESIGN §3): a city of geohash regions, riders who arrive
 * with daily and weekly seasonality, weather and venue-event effects and book with a price
 * elasticity, drivers who work shifts, take trips and reposition toward higher surge.
 * Deterministic: everything random comes from seeded xoshiro256** streams, one per purpose. */
#ifndef SURGE_SIM_H
#define SURGE_SIM_H

#include "../core/core.h"
#include "../pricing/pricing.h"

/* ---------------------------------------------------------------- random numbers */

/* xoshiro256** (Blackman and Vigna), seeded through splitmix64. Plain data: copy it to fork. */
typedef struct sim_rng {
    uint64_t s[4];
} sim_rng;

/* One splitmix64 step: advances *state and returns the next output. */
uint64_t sim_splitmix64(uint64_t *state);
/* Seeds the four state words with four splitmix64 outputs from seed. */
void sim_rng_seed(sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(sim_rng *r);
/* Uniform in [0, 1): the top 53 bits of one output. */
double sim_rng_uniform(sim_rng *r);
/* Uniform integer in [0, n) (n > 0), by multiply-shift of one output. */
uint64_t sim_rng_below(sim_rng *r, uint64_t n);
/* A Poisson(lambda) count. Knuth's product-of-uniforms method on chunks of lambda <= 16 (sums
 * of independent Poissons are Poisson), so the draws it consumes are easy to reproduce.
 * lambda <= 0 gives 0 without consuming anything. */
uint64_t sim_rng_poisson(sim_rng *r, double lambda);

/* ---------------------------------------------------------------- the market's laws */

/* Relative rider demand at local time (minute of day 0..1439, ISO day of week 1..7): an hourly
 * profile (weekday or weekend, Friday night boosted) interpolated linearly within the hour,
 * times a day-of-week factor. The average over a week is about 1. */
double sim_seasonality(int minute_of_day, int day_of_week);

/* Probability that a rider who sees price multiplier m (price / base price) books:
 * min(1, conversion * m^-elasticity). m <= 0 is treated as 1. */
double sim_booking_probability(double conversion, double elasticity, double multiplier);

/* ---------------------------------------------------------------- configuration */

#define SIM_REGIONS_MAX 1024
#define SIM_PRODUCTS 2 /* standard, premium (the sample city's products) */

typedef struct sim_config {
    uint64_t seed;
    double center_lat, center_lon;   /* the city's centre (default: the sample city's) */
    int regions;                     /* cells around the centre, 1..SIM_REGIONS_MAX (64) */
    int precision;                   /* geohash precision of a region, 3..8 (5) */
    char timezone[64];               /* IANA zone of local time (America/New_York) */
    int64_t start_ms;                /* simulated time of the first minute (rounded down) */
    double requests_per_region_hour; /* rider requests of an average region at seasonality 1 */
    double drivers_per_region;       /* drivers of an average region (they work in shifts) */
    double scale;                    /* multiplies riders and drivers (1) */
    double premium_share;            /* share of riders who want premium (0.2) */
    double conversion;               /* booking probability at the base price (0.85) */
    double elasticity;               /* price elasticity of booking (1.2) */
    int64_t base_price_cents[SIM_PRODUCTS]; /* 1200, 2000 (the sample city's) */
} sim_config;

/* The defaults above; start_ms is 0 (the caller sets it). */
void sim_config_defaults(sim_config *c);
/* Checks every field's range; the error names the field. */
int sim_config_check(const sim_config *c, surge_error *err);

/* ---------------------------------------------------------------- events */

typedef enum sim_event_type {
    SIM_SEARCH,
    SIM_VIEW,
    SIM_BOOKING,
    SIM_CANCEL,
    SIM_DRIVER_LOCATION,
    SIM_DRIVER_STATUS,
    SIM_WEATHER,
    SIM_TRAFFIC,
    SIM_VENUE_EVENT,
    SIM_HOLIDAY,
    SIM_NEVENT_TYPES
} sim_event_type;

/* The event type names of POST /api/v1/events, in enum order. */
extern const char *const SIM_EVENT_NAMES[SIM_NEVENT_TYPES];
/* Product names in product order: standard, premium. */
extern const char *const SIM_PRODUCT_NAMES[SIM_PRODUCTS];

enum sim_driver_status { SIM_AVAILABLE, SIM_BUSY, SIM_OFFLINE };

/* One event the market produced. Which fields mean something depends on type. */
typedef struct sim_event {
    uint64_t seq; /* 0, 1, 2, ... in emission order: the event_id is seed + seq */
    sim_event_type type;
    int64_t ts_ms;            /* event time; within the minute being simulated or shortly after */
    int region;               /* region index; -1 for a city-wide holiday */
    uint32_t subject;         /* rider or driver number, venue index */
    int product;              /* user events */
    int status;               /* driver_status: enum sim_driver_status */
    uint64_t booking;         /* booking and cancel: the booking's number */
    double lat, lon;          /* driver_location */
    double value[3];          /* weather: temp_c, precip_mm, severity; traffic: congestion;
                                 venue_event: expected_attendance */
    int64_t start_ms, end_ms; /* venue_event */
    const char *name;         /* venue_event: venue; holiday: its name (static strings) */
} sim_event;

/* ---------------------------------------------------------------- the market */

typedef struct sim sim;

/* Per region, what the simulator knows at the start of the current minute: the inputs it
 * gives the dynamic pricing policy and the history table. */
typedef struct sim_region_state {
    uint32_t requests_15min; /* rider requests in the trailing 15 minutes */
    double baseline_15min;   /* their 7-day same-slot average (or the expected value) */
    uint32_t available_drivers;
    double temp_c, precip_mm, weather_severity;
    double event_score; /* nearby venue events, 0..1 */
    bool holiday;
    int local_hour;
} sim_region_state;

/* How riders are priced. minute (may be NULL) is called at the start of every simulated
 * minute for each region and product with the market's state and sets *price_cents (it
 * starts at the previous minute's price, the base price in the first minute). quote (may be
 * NULL) is called for each rider and returns the price that rider sees; without it the
 * rider sees the minute's price. */
typedef struct sim_policy {
    void (*minute)(void *ctx, sim *s, int region, int product, const sim_region_state *state,
                   int64_t now_ms, int64_t *price_cents);
    int64_t (*quote)(void *ctx, sim *s, int region, int product, uint32_t rider, int64_t now_ms,
                     int64_t minute_price_cents);
    void *ctx;
} sim_policy;

/* Creates the city (regions, drivers, weather) at cfg->start_ms rounded down to the minute.
 * NULL and err on a bad config or an unknown time zone. */
sim *sim_new(const sim_config *cfg, surge_error *err);
void sim_free(sim *s);
const sim_config *sim_get_config(const sim *s);
int sim_region_count(const sim *s);
/* The geohash of region i. */
const char *sim_region_id(const sim *s, int i);
/* The start of the next minute sim_step will simulate. */
int64_t sim_now_ms(const sim *s);
void sim_region_get_state(const sim *s, int region, sim_region_state *out);
/* The price riders of (region, product) saw last (the minute price after the last step). */
int64_t sim_region_price(const sim *s, int region, int product);

typedef void (*sim_emit_fn)(void *ctx, const sim_event *e);

/* Simulates one minute: external events, drivers' shifts and trips, pricing, riders, and
 * repositioning. Every event goes to emit (may be NULL), in order of creation, not time. */
void sim_step(sim *s, const sim_policy *policy, sim_emit_fn emit, void *ctx);

/* What happened so far. Revenue counts trips that were not cancelled, at booking. */
typedef struct sim_stats {
    uint64_t events;
    uint64_t requests; /* searches */
    uint64_t declined; /* saw the price and did not book */
    uint64_t bookings;
    uint64_t unserved;            /* booked, but no driver in the region or its neighbours */
    uint64_t cancelled;           /* booked, got a driver, cancelled while waiting */
    uint64_t trips[SIM_PRODUCTS]; /* completed */
    int64_t revenue_cents[SIM_PRODUCTS];
    double wait_min_sum; /* pickup waits of the completed trips */
    /* minute-to-minute changes of every region's standard multiplier */
    double change_sq_sum;
    uint64_t changes;
    double multiplier_sum; /* standard multiplier of every region-minute */
    uint64_t region_minutes;
} sim_stats;

void sim_get_stats(const sim *s, sim_stats *out);

/* Writes e as one JSON object for POST /api/v1/events (no newline). event_id is
 * "sim-<seed>-<seq>". */
void sim_event_write_json(const sim *s, const sim_event *e, buf *out);
/* The same with event_id "sim-<id_seed>-<tag><seq>" and booking ids "b-<id_seed>-N": for a
 * market whose ids must differ from a live run's of the same seed (the backfill). */
void sim_event_write_json_tagged(const sim *s, const sim_event *e, uint64_t id_seed,
                                 const char *tag, buf *out);

/* ---------------------------------------------------------------- policies */

/* Everyone pays the base price. */
sim_policy sim_policy_static(void);

/* surge's formula (pricing_formula and the max-change guardrail, with the sample city's rule:
 * store_rule_defaults and the config's base prices) on inputs derived from the market state
 * each minute (docs/simulator.md): demand_score = d / (d + baseline), expected_demand = d,
 * available_supply, weather_severity, event_score, where d is the trailing 15 minutes'
 * requests. ctx must point to a sim_dynamic, zeroed, that outlives the run. */
typedef struct sim_dynamic {
    store_rule rule[SIM_PRODUCTS];
    pricing_previous previous[SIM_REGIONS_MAX][SIM_PRODUCTS];
    bool ready;
} sim_dynamic;
sim_policy sim_policy_dynamic(sim_dynamic *state);

/* ---------------------------------------------------------------- backtest and history */

#define SIM_BACKTEST_POLICIES 2

typedef struct sim_backtest_result {
    const char *policy; /* "static", "dynamic" */
    sim_stats stats;
} sim_backtest_result;

/* Runs the market days*1440 minutes under the static and then the dynamic policy, each from
 * the same seed and start. */
int sim_backtest(const sim_config *cfg, int days, sim_backtest_result out[SIM_BACKTEST_POLICIES],
                 surge_error *err);
/* CSV (a header and one row per policy) and a markdown table with a ratio row. */
void sim_backtest_write_csv(FILE *f, const sim_backtest_result r[SIM_BACKTEST_POLICIES]);
void sim_backtest_write_markdown(FILE *f, const sim_config *cfg, int days,
                                 const sim_backtest_result r[SIM_BACKTEST_POLICIES]);

/* Runs the market (static policy) days*1440 minutes from cfg->start_ms and writes the demand
 * history table `region_id,ts,demand,temperature,precipitation,holiday`: one row per region
 * per 15 minutes, ts the slot's start (RFC 3339), demand its requests, sorted by (region_id,
 * ts). At most 20 million rows (EINVAL beyond); EIO on a write error. */
int sim_write_history(const sim_config *cfg, int days, FILE *f, surge_error *err);

/* ---------------------------------------------------------------- backfill */

#define SIM_BACKFILL_DAYS_MAX 28

/* The history a live run sends before it starts (`surge simulate --backfill DAYS`): the same
 * city and laws (seasonality, holidays, weather, venue crowds; static prices) over the `days`
 * days that end where the live run begins (cfg->start_ms rounded down to the minute), reduced
 * to what the stream keeps as history: `search` events (with their user_id and product) and
 * the city's `weather` events. Its random streams come from a seed derived from cfg->seed, so
 * it is not a time-shifted copy of the live run; its event ids are "sim-<seed>-bf-<n>", n
 * counting the backfill's events from 0, never one of the live run's "sim-<seed>-<seq>".
 * Deterministic in cfg. Memory: the market's state plus at most one batch and one simulated
 * minute of events, whatever days is. */
typedef struct sim_backfill sim_backfill;

/* NULL and err on a bad config, a days outside 1..SIM_BACKFILL_DAYS_MAX (field "backfill"),
 * or out of memory. The caller frees it with sim_backfill_free. */
sim_backfill *sim_backfill_new(const sim_config *cfg, int days, surge_error *err);
void sim_backfill_free(sim_backfill *b);
/* Copies the next up to max events into out, in order of (ts, n) across calls, and sets
 * *count to how many (0 once the backfill is over). 0, or SURGE_EIO when out of memory. */
int sim_backfill_next(sim_backfill *b, sim_event *out, size_t max, size_t *count, surge_error *err);
/* The first and end (exclusive) simulated times of the backfill, and how far it has got (the
 * simulated time every event returned so far is before). */
int64_t sim_backfill_start_ms(const sim_backfill *b);
int64_t sim_backfill_end_ms(const sim_backfill *b);
int64_t sim_backfill_now_ms(const sim_backfill *b);
/* Writes one of the backfill's events as JSON for POST /api/v1/events (no newline). */
void sim_backfill_write_json(const sim_backfill *b, const sim_event *e, buf *out);

#endif
