/* pricing: the surge formula (DESIGN §7), guardrails, the L1 price cache, the audit trail and
 * the engine that ties them to the stores. All multipliers and contributions are computed in
 * integer units of 1e-4 ("e4") so that the reported factors sum to surge - 1 exactly, and prices
 * in integer cents so that rounding to 0.25 has no floating-point ties. */
#ifndef SURGE_PRICING_H
#define SURGE_PRICING_H

#include "../core/core.h"
#include "../bus/bus.h"
#include "../store/store.h"

/* ---------------------------------------------------------------- inputs */

enum pricing_factor {
    PRICING_DEMAND,
    PRICING_SUPPLY,
    PRICING_TIME,
    PRICING_EVENT,
    PRICING_WEATHER,
    PRICING_NFACTORS
};
/* JSON names of the factors, in enum order: demand, supply, time_of_day, events, weather. */
extern const char *const PRICING_FACTOR_NAMES[PRICING_NFACTORS];

/* Bits of pricing_inputs.fallback: which inputs were missing and replaced by neutral values. */
enum pricing_fallback {
    PRICING_FALLBACK_FORECAST = 1 << 0, /* no model: demand_score 0.5, confidence 0 */
    PRICING_FALLBACK_SUPPLY = 1 << 1,   /* no supply or demand feature: supply factor 0 */
    PRICING_FALLBACK_WEATHER = 1 << 2,  /* no weather feature: severity 0 */
    PRICING_FALLBACK_EVENTS = 1 << 3,   /* no venue-event feature: score 0 */
};
#define PRICING_NFALLBACKS 4
/* JSON names of the fallback bits, bit i -> name i: forecast, supply, weather, events. */
extern const char *const PRICING_FALLBACK_NAMES[PRICING_NFALLBACKS];

/* What the formula needs to know about (region, product, now). */
typedef struct pricing_inputs {
    double demand_score;     /* 0..1; 0.5 means "as usual" (DESIGN §6) */
    double expected_demand;  /* forecast requests (the supply factor's demand) */
    double available_supply; /* available drivers */
    double weather_severity; /* 0..1 */
    double event_score;      /* nearby venue events, 0..1 */
    double confidence;       /* model confidence 0..1 */
    char model_version[40];  /* "none" when no model served */
    uint32_t fallback;       /* PRICING_FALLBACK_* bits */
    int64_t features_ts_ms;  /* event time of the features used; 0 when none */
} pricing_inputs;

/* Fills every field with its neutral value and sets every fallback bit. */
void pricing_inputs_neutral(pricing_inputs *in);

/* Where the engine gets inputs. fetch never fails: what it cannot find it leaves neutral and
 * flags in fallback. The Stream and Forecasting modules provide real sources. */
typedef struct pricing_source {
    void (*fetch)(void *ctx, const char *region_id, const char *product_type,
                  const char *user_id, int64_t now_ms, pricing_inputs *out);
    /* The model version that would serve (region, user) now, without fetching any input: it
     * is part of the cache key. NULL means "none". */
    const char *(*model_version)(void *ctx, const char *region_id, const char *user_id);
    void *ctx;
} pricing_source;

/* The source used until live features and a model exist: features from the online store
 * (demand_score, expected_demand, available_drivers, weather_severity, nearby_event_score),
 * neutral values for the rest. */
pricing_source pricing_source_features(feature_store *fs);

/* ---------------------------------------------------------------- the formula */

enum pricing_guardrail { PRICING_GUARD_MAX_CHANGE, PRICING_GUARD_CAP, PRICING_GUARD_FREEZE,
                         PRICING_NGUARDS };
/* JSON names: max_change, emergency_cap, freeze. */
extern const char *const PRICING_GUARD_NAMES[PRICING_NGUARDS];

/* The outcome of the formula and guardrails for one rule and input. */
typedef struct pricing_result {
    double factor[PRICING_NFACTORS]; /* the centred factors f_i, before weights */
    int64_t contribution_e4[PRICING_NFACTORS]; /* round(w_i * f_i * 1e4) */
    int64_t surge_raw_e4;   /* 1e4 + sum of contributions */
    int64_t clip_e4;        /* clip(surge_raw) - surge_raw */
    int64_t guard_e4[PRICING_NGUARDS]; /* adjustment each guardrail made (0 when it did not act) */
    uint32_t guard_acted;   /* bit i set when guardrail i acted */
    int64_t surge_e4;       /* the final multiplier: raw + clip + guards */
    int64_t base_price_cents;
    int64_t price_cents;    /* round_to_nearest(base * surge, rounding), ties away from zero */
    int local_hour;         /* the hour used for the time factor */
    /* guardrail inputs, kept so explain can replay the guardrails */
    bool had_previous;
    int64_t previous_surge_e4;
    int64_t previous_age_ms;
    int64_t max_change_per_min_e4; /* the rule's max-change limit (for the response) */
    int64_t cap_e4;         /* 0: none */
    bool frozen;
    int64_t frozen_e4;
} pricing_result;

/* The pure formula of DESIGN §7 (no guardrails): fills factor, contribution_e4, surge_raw_e4,
 * clip_e4, surge_e4 and price. local_hour indexes rule->time_multiplier. */
void pricing_formula(const store_rule *rule, const pricing_inputs *in, int local_hour,
                     pricing_result *out);

/* The last surge quoted for a (region, product), for the max-change guardrail. */
typedef struct pricing_previous {
    bool valid;
    int64_t surge_e4;
    int64_t at_ms;
} pricing_previous;

/* Applies, in order, max change per minute (relative to prev, if valid), the freeze and the
 * emergency cap (control may be NULL), then recomputes the price. The cap comes last so that
 * no other guardrail (not even a freeze) can push the surge above it. Each guardrail that
 * changes the surge records its adjustment in guard_e4 and its bit in guard_acted, so that
 * sum(contribution_e4) + clip_e4 + sum(guard_e4) == surge_e4 - 1e4 always holds. */
void pricing_apply_guardrails(const store_rule *rule, const store_control *control,
                              const pricing_previous *prev, int64_t now_ms,
                              pricing_result *out);

/* Recomputes price_cents from base_price_cents, surge_e4 and the rule's rounding. */
int64_t pricing_round_price(int64_t base_price_cents, int64_t surge_e4, int64_t rounding_cents);

/* ---------------------------------------------------------------- decisions */

/* Everything about one answered price request: what the API returns, what the audit stores,
 * what explain rebuilds. Plain data, copied by value. */
typedef struct pricing_decision {
    char request_id[40];
    char trace_id[40];
    int64_t ts_ms;
    int64_t valid_until_ms;
    char region_id[STORE_REGION_ID_MAX];
    char product_type[STORE_PRODUCT_MAX];
    char user_id[72];
    int64_t rule_id;
    int64_t rounding_cents;
    pricing_inputs inputs;
    pricing_result result;
    bool cached;
    int64_t latency_us;
    /* the running A/B experiment whose variant chose rule_id; both "" when none */
    char experiment_id[STORE_NAME_MAX];
    char variant[32];
} pricing_decision;

/* Writes the API's JSON object for a decision (DESIGN §8 / the seed's response format). */
void pricing_decision_write_json(const pricing_decision *d, buf *out);
/* Converts a decision to an audit row (allocates the row's JSON strings). */
void pricing_decision_to_audit(const pricing_decision *d, store_audit_row *row);
/* Rebuilds a decision from an audit row alone. EPARSE when its JSON columns are damaged.
 * What belongs to the (immutable) rule is not in the row: result.factor[],
 * result.max_change_per_min_e4 and rounding_cents are left 0 for the caller to replay. */
int pricing_decision_from_audit(const store_audit_row *row, pricing_decision *d,
                                surge_error *err);

/* ---------------------------------------------------------------- A/B experiments */

#define PRICING_VARIANTS_MAX 16

/* The user's bucket in an experiment, 0..99: FNV-1a 64 of "<experiment_id>\n<user_id>" mod
 * 100. Stable across restarts and machines. */
int pricing_experiment_bucket(const char *experiment_id, const char *user_id);
/* The variant a bucket falls in: the first i whose cumulative percent[0] + .. + percent[i]
 * exceeds bucket (the last variant with a non-zero share when rounding leaves a gap); -1 when
 * n is 0 or every share is 0. */
int pricing_experiment_variant(const double *percent, int n, int bucket);

/* ---------------------------------------------------------------- L1 cache */

/* An LRU of computed results, sharded by key hash with a lock per shard. Entries expire
 * ttl_ms after they were stored, and every entry stored before the last
 * pricing_cache_invalidate is stale. */
typedef struct pricing_cache pricing_cache;

typedef struct pricing_cache_key {
    char region_id[STORE_REGION_ID_MAX];
    char product_type[STORE_PRODUCT_MAX];
    int64_t rule_id;
    char model_version[40];
} pricing_cache_key;

typedef struct pricing_cache_value {
    pricing_inputs inputs;
    pricing_result result;
    int64_t computed_ms;
    /* pricing_cache_generation() read before the inputs were fetched; put drops the value when
     * an invalidation happened since. 0 means "the current generation". */
    uint64_t generation;
} pricing_cache_value;

/* capacity 0 gives a cache that never hits. */
pricing_cache *pricing_cache_new(size_t capacity, int64_t ttl_ms);
void pricing_cache_free(pricing_cache *c);
bool pricing_cache_get(pricing_cache *c, const pricing_cache_key *key, int64_t now_ms,
                       pricing_cache_value *out);
void pricing_cache_put(pricing_cache *c, const pricing_cache_key *key,
                       const pricing_cache_value *value);
void pricing_cache_invalidate(pricing_cache *c);
uint64_t pricing_cache_generation(pricing_cache *c);
size_t pricing_cache_size(pricing_cache *c);

/* ---------------------------------------------------------------- the engine */

typedef struct pricing_engine pricing_engine;

typedef struct pricing_engine_config {
    size_t cache_entries;
    int64_t cache_ttl_ms;
    int64_t valid_for_ms;
    int64_t audit_flush_ms;
    size_t audit_queue_capacity;
    bool audit_disabled; /* `surge price` computes offline without writing the audit */
    int64_t audit_retention_ms; /* delete audit rows older than this; 0 keeps them forever */
} pricing_engine_config;

typedef struct pricing_request {
    char region_id[STORE_REGION_ID_MAX]; /* a known region */
    char product_type[STORE_PRODUCT_MAX];
    char user_id[72];                    /* may be empty */
    char trace_id[40];                   /* 32 hex; the engine generates one when empty */
} pricing_request;

typedef struct pricing_stats {
    uint64_t computed, cache_hits, cache_misses;
    uint64_t audit_written, audit_failed, audit_expired;
    size_t audit_queue_depth;
    size_t cache_size;
} pricing_stats;

/* Loads the catalog (regions, rules, controls) from db and starts the audit writer thread.
 * db and fs are borrowed and must outlive the engine. */
pricing_engine *pricing_engine_new(store_db *db, feature_store *fs,
                                   const pricing_engine_config *cfg, surge_error *err);
/* Stops the audit writer after it flushed everything queued. */
void pricing_engine_free(pricing_engine *e);
/* Also publishes every audited decision on the bus's pricing-decisions topic (keyed by region).
 * Call before the first compute; b is borrowed. */
void pricing_engine_set_bus(pricing_engine *e, bus *b);
/* Replaces the input source (the default is pricing_source_features). */
void pricing_engine_set_source(pricing_engine *e, pricing_source source);
/* Re-reads regions, rules and controls after an admin change and invalidates the cache. */
int pricing_engine_reload(pricing_engine *e, surge_error *err);
/* Invalidates cached prices (features were overridden, a model changed). */
void pricing_engine_invalidate(pricing_engine *e);
/* Prices one request at now_ms. ENOTFOUND for an unknown region, EINVAL for a product the
 * region does not sell or with no rule in force. The decision is queued for audit before this
 * returns. */
int pricing_engine_compute(pricing_engine *e, const pricing_request *req, int64_t now_ms,
                           pricing_decision *out, surge_error *err);
/* What compute would answer now, for dashboards: it bypasses the cache, leaves the max-change
 * guardrail's memory alone and is not audited or counted (request_id and trace_id are filled
 * but name nothing). */
int pricing_engine_quote(pricing_engine *e, const pricing_request *req, int64_t now_ms,
                         pricing_decision *out, surge_error *err);
/* Finds an audited decision (waiting for the audit writer if it is still queued) and
 * rebuilds it; *reproduced tells whether replaying the formula on its stored inputs gives the
 * stored surge and price. */
int pricing_engine_explain(pricing_engine *e, const char *request_id, pricing_decision *out,
                           store_rule *rule_out, bool *reproduced, surge_error *err);
/* Blocks until every decision queued before the call is written (tests, shutdown). */
int pricing_engine_flush(pricing_engine *e, surge_error *err);
void pricing_engine_stats(pricing_engine *e, pricing_stats *out);
/* True when region_id is in the catalog; fills products when not NULL. */
bool pricing_engine_has_region(pricing_engine *e, const char *region_id, store_region *out);

#endif
