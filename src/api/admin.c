/* admin.c: the admin endpoints (bearer token): regions, feature overrides, emergency controls,
 * pricing rules (immutable, versioned by effective_date) and A/B test configs. Every change is
 * validated field by field, written to the relational store, then the pricing engine reloads
 * its catalog (or drops its cache) so the next price reflects it. */
#include "api_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void put_time(buf *o, int64_t ms)
{
    char ts[40];
    time_format_rfc3339(ms, ts, sizeof ts);
    json_put_string(o, ts);
}

/* [a-z0-9_-], 1..max characters: product types and feature names. */
static bool token_ok(const char *s, size_t max, bool upper_ok)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              (upper_ok && c >= 'A' && c <= 'Z')))
            return false;
    }
    return true;
}

/* After a change to regions, rules or controls: the next request sees it. */
static void reload(api_request *r)
{
    surge_error err;
    if (pricing_engine_reload(r->server->engine, &err))
        log_msg(LOG_ERROR, "admin", r->trace_id, "reloading the pricing catalog failed: %s",
                err.message);
}

/* Every admin change is logged with its trace id and published as a config_change event on
 * system-events, so consumers (and the portal's audit page) see who changed what, when. */
static void audit_admin(api_request *r, const char *what)
{
    log_msg(LOG_INFO, "admin", r->trace_id, "%s %s: %s (from %s)", r->method, r->url, what,
            r->client_ip);
    if (!r->server->ingest) return;
    char id[33], key[320], actor[96];
    random_id_time(id, r->now_ms);
    /* the schema allows 256 bytes: a longer URL is cut, and a UTF-8 character the cut split is
     * dropped whole */
    snprintf(key, sizeof key, "%s %.240s", r->method, r->url);
    if (strlen(r->url) > 240) {
        size_t kl = strlen(key);
        while (kl > 0 && ((unsigned char)key[kl - 1] & 0xC0) == 0x80) kl--;
        if (kl > 0 && (unsigned char)key[kl - 1] >= 0xC0) kl--;
        key[kl] = 0;
    }
    /* a portal user by name; the bearer token by the address it came from */
    if (r->actor[0])
        snprintf(actor, sizeof actor, "%s", r->actor);
    else
        snprintf(actor, sizeof actor, "admin@%s", r->client_ip[0] ? r->client_ip : "unknown");
    json_t *ev = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "event_id", id, "type",
                           "config_change", "ts", (json_int_t)r->now_ms, "key", key, "value", what,
                           "actor", actor);
    if (!ev) return;
    surge_error parse_error = {0}, err;
    ingest_result res;
    json_t *events[1] = {ev};
    if (ingest_batch(r->server->ingest, events, &parse_error, 1, "admin", r->now_ms, &res, &err) ||
        res.status != INGEST_ACCEPTED)
        log_msg(LOG_ERROR, "admin", r->trace_id, "publishing the config_change event failed: %s",
                res.status == INGEST_REJECTED ? res.error.message : err.message);
    json_decref(ev);
}

/* ---------------------------------------------------------------- regions */

static void write_region_json(buf *o, const store_region *reg)
{
    buf_puts(o, "{\"region_id\":");
    json_put_string(o, reg->region_id);
    buf_puts(o, ",\"name\":");
    json_put_string(o, reg->name);
    buf_puts(o, ",\"timezone\":");
    json_put_string(o, reg->timezone);
    buf_puts(o, ",\"center\":{\"lat\":");
    json_put_double(o, reg->center_lat);
    buf_puts(o, ",\"lon\":");
    json_put_double(o, reg->center_lon);
    buf_puts(o, "},\"products\":[");
    for (int i = 0; i < reg->product_count; i++) {
        if (i) buf_putc(o, ',');
        json_put_string(o, reg->products[i]);
    }
    buf_puts(o, "],\"neighbours\":[");
    static const int d[8][2] = {{1, 0}, {1, 1}, {0, 1}, {-1, 1}, {-1, 0}, {-1, -1}, {0, -1}, {1, -1}};
    bool first = true;
    for (int i = 0; i < 8; i++) {
        char nb[GEOHASH_MAX + 1];
        if (geohash_neighbour(reg->region_id, d[i][0], d[i][1], nb)) continue;
        if (!first) buf_putc(o, ',');
        first = false;
        json_put_string(o, nb);
    }
    buf_puts(o, "],\"created_at\":");
    put_time(o, reg->created_ms);
    buf_puts(o, ",\"updated_at\":");
    put_time(o, reg->updated_ms);
    buf_putc(o, '}');
}

/* Reads a region body; path_id (PUT) is the id from the URL, NULL for POST. */
static int parse_region(api_request *r, json_t *root, const char *path_id, store_region *reg,
                        surge_error *err)
{
    static const char *const allowed[] = {"region_id", "name", "timezone", "products", NULL};
    memset(reg, 0, sizeof *reg);
    if (jin_check_keys(root, allowed, "the region", err) ||
        jin_string(root, "region_id", path_id == NULL, reg->region_id, sizeof reg->region_id,
                   err) ||
        jin_string(root, "name", true, reg->name, sizeof reg->name, err) ||
        jin_string(root, "timezone", false, reg->timezone, sizeof reg->timezone, err))
        return err->code;
    if (path_id) {
        if (reg->region_id[0] && strcmp(reg->region_id, path_id))
            return surge_fail(err, SURGE_EINVAL, "region_id",
                              "region_id '%s' in the body differs from '%s' in the path",
                              reg->region_id, path_id);
        snprintf(reg->region_id, sizeof reg->region_id, "%s", path_id);
    }
    int precision = r->server->cfg.region_precision;
    if (!geohash_valid(reg->region_id) || (int)strlen(reg->region_id) != precision)
        return surge_fail(err, SURGE_EINVAL, "region_id",
                          "region_id '%s' must be a geohash of exactly %d characters "
                          "(region.precision)",
                          reg->region_id, precision);
    if (!reg->timezone[0]) snprintf(reg->timezone, sizeof reg->timezone, "UTC");
    if (!tz_load(reg->timezone, err)) return err->code;
    json_t *products = json_object_get(root, "products");
    if (!products)
        return surge_fail(err, SURGE_EINVAL, "products", "field 'products' is required");
    if (!json_is_array(products) || json_array_size(products) < 1 ||
        json_array_size(products) > STORE_PRODUCTS_MAX)
        return surge_fail(err, SURGE_EINVAL, "products",
                          "field 'products' must be an array of 1 to %d product types",
                          STORE_PRODUCTS_MAX);
    size_t i;
    json_t *p;
    json_array_foreach(products, i, p) {
        const char *s = json_is_string(p) ? json_string_value(p) : NULL;
        if (!s || !token_ok(s, STORE_PRODUCT_MAX - 1, false))
            return surge_fail(err, SURGE_EINVAL, "products",
                              "products[%zu] must be a string of 1-%d characters a-z, 0-9, _ "
                              "or -",
                              i, STORE_PRODUCT_MAX - 1);
        for (int k = 0; k < reg->product_count; k++)
            if (strcmp(reg->products[k], s) == 0)
                return surge_fail(err, SURGE_EINVAL, "products",
                                  "products lists '%s' twice", s);
        snprintf(reg->products[reg->product_count++], STORE_PRODUCT_MAX, "%s", s);
    }
    double lat_err, lon_err;
    geohash_decode(reg->region_id, &reg->center_lat, &reg->center_lon, &lat_err, &lon_err);
    return 0;
}

void handle_regions_list(api_request *r)
{
    store_region *regions = NULL;
    size_t n = 0;
    surge_error err;
    if (store_region_list(r->server->db, &regions, &n, &err)) {
        api_error(r, &err);
        return;
    }
    buf_puts(&r->out, "{\"regions\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(&r->out, ',');
        write_region_json(&r->out, &regions[i]);
    }
    buf_puts(&r->out, "],\"count\":");
    json_put_int(&r->out, (int64_t)n);
    buf_putc(&r->out, '}');
    free(regions);
}

static void region_save(api_request *r, const char *path_id)
{
    json_t *root = api_body_json(r);
    if (!root) return;
    store_region reg, existing;
    surge_error err;
    int rc = parse_region(r, root, path_id, &reg, &err);
    json_decref(root);
    if (rc) {
        api_error(r, &err);
        return;
    }
    bool exists = store_region_get(r->server->db, reg.region_id, &existing, &err) == 0;
    if (!path_id && exists) {
        api_fail(r, SURGE_ECONFLICT, "region_id",
                 "region '%s' exists; change it with PUT /api/v1/admin/regions/%s",
                 reg.region_id, reg.region_id);
        return;
    }
    if (store_region_put(r->server->db, &reg, &err) ||
        store_region_get(r->server->db, reg.region_id, &reg, &err)) {
        api_error(r, &err);
        return;
    }
    reload(r);
    audit_admin(r, reg.region_id);
    r->status = exists ? 200 : 201;
    write_region_json(&r->out, &reg);
}

void handle_region_create(api_request *r)
{
    region_save(r, NULL);
}

void handle_region_put(api_request *r)
{
    region_save(r, r->params[0]);
}

void handle_region_get(api_request *r)
{
    store_region reg;
    surge_error err;
    if (store_region_get(r->server->db, r->params[0], &reg, &err)) {
        api_error(r, &err);
        return;
    }
    write_region_json(&r->out, &reg);
}

void handle_region_delete(api_request *r)
{
    surge_error err;
    if (store_region_delete(r->server->db, r->params[0], &err)) {
        api_error(r, &err);
        return;
    }
    feature_store_delete(r->server->fs, r->params[0], NULL);
    reload(r);
    audit_admin(r, r->params[0]);
    r->status = 204;
}

/* ---------------------------------------------------------------- feature overrides */

static bool region_known(api_request *r, const char *region_id)
{
    if (pricing_engine_has_region(r->server->engine, region_id, NULL)) return true;
    api_fail(r, SURGE_ENOTFOUND, "region_id", "region '%.40s' is not configured", region_id);
    return false;
}

/* Features pricing reads, with the range each must be in. */
static const struct {
    const char *name;
    double min, max;
} FEATURE_RANGES[] = {{"demand_score", 0, 1},           {"weather_severity", 0, 1},
                      {"nearby_event_score", 0, 1},     {"confidence", 0, 1},
                      {"expected_demand", 0, 1e12},     {"available_drivers", 0, 1e12}};

void handle_features_put(api_request *r)
{
    const char *region = r->params[0];
    if (!region_known(r, region)) return;
    json_t *root = api_body_json(r);
    if (!root) return;
    static const char *const allowed[] = {"features", "ttl_s", "event_ts", NULL};
    surge_error err;
    double ttl_s = r->server->cfg.features_ttl_ms / 1000.0;
    int64_t event_ts = r->now_ms;
    feature_set *set = calloc(1, sizeof *set);
    if (!set) {
        json_decref(root);
        api_fail(r, SURGE_EINTERNAL, NULL, "out of memory");
        return;
    }
    json_t *features = json_object_get(root, "features");
    if (jin_check_keys(root, allowed, "the override", &err) ||
        jin_number(root, "ttl_s", false, 1, 31536000, &ttl_s, &err) ||
        jin_time(root, "event_ts", false, &event_ts, &err))
        goto fail;
    if (!features || !json_is_object(features) || json_object_size(features) == 0) {
        surge_fail(&err, SURGE_EINVAL, "features",
                   "field 'features' must be a non-empty object of name: number");
        goto fail;
    }
    if (json_object_size(features) > FEATURES_MAX) {
        surge_fail(&err, SURGE_EINVAL, "features", "at most %d features per region",
                   FEATURES_MAX);
        goto fail;
    }
    const char *name;
    json_t *v;
    json_object_foreach(features, name, v) {
        if (!token_ok(name, FEATURE_NAME_MAX - 1, false)) {
            surge_fail(&err, SURGE_EINVAL, "features",
                       "feature name '%.60s' must be 1-%d characters a-z, 0-9, _ or -", name,
                       FEATURE_NAME_MAX - 1);
            goto fail;
        }
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            surge_fail(&err, SURGE_EINVAL, "features", "feature '%s' must be a number", name);
            goto fail;
        }
        double d = json_number_value(v);
        for (size_t k = 0; k < sizeof FEATURE_RANGES / sizeof FEATURE_RANGES[0]; k++) {
            if (strcmp(FEATURE_RANGES[k].name, name) == 0 &&
                (d < FEATURE_RANGES[k].min || d > FEATURE_RANGES[k].max)) {
                surge_fail(&err, SURGE_EINVAL, "features",
                           "feature '%s' = %g is out of range [%g, %g]", name, d,
                           FEATURE_RANGES[k].min, FEATURE_RANGES[k].max);
                goto fail;
            }
        }
        snprintf(set->values[set->count].name, FEATURE_NAME_MAX, "%s", name);
        set->values[set->count].value = d;
        set->count++;
    }
    str_copy(set->region_id, sizeof set->region_id, region);
    snprintf(set->source, sizeof set->source, "override");
    set->event_ts_ms = event_ts;
    set->written_ms = r->now_ms;
    if (feature_store_put(r->server->fs, set, (int64_t)(ttl_s * 1000), &err) ||
        feature_store_get(r->server->fs, region, r->now_ms, set, &err))
        goto fail;
    json_decref(root);
    pricing_engine_invalidate(r->server->engine);
    audit_admin(r, region);
    write_features_json(&r->out, set, r->now_ms);
    free(set);
    return;
fail:
    json_decref(root);
    free(set);
    api_error(r, &err);
}

void handle_features_delete(api_request *r)
{
    surge_error err;
    if (!region_known(r, r->params[0])) return;
    if (feature_store_delete(r->server->fs, r->params[0], &err) &&
        err.code != SURGE_ENOTFOUND) {
        api_error(r, &err);
        return;
    }
    pricing_engine_invalidate(r->server->engine);
    audit_admin(r, r->params[0]);
    r->status = 204;
}

/* ---------------------------------------------------------------- controls */

static void write_control_json(buf *o, const store_control *c)
{
    buf_puts(o, "{\"region_id\":");
    json_put_string(o, c->region_id);
    buf_puts(o, ",\"emergency_cap\":");
    if (c->emergency_cap > 0) json_put_double(o, c->emergency_cap);
    else buf_puts(o, "null");
    buf_puts(o, ",\"frozen\":");
    json_put_bool(o, c->frozen);
    buf_puts(o, ",\"frozen_multiplier\":");
    if (c->frozen_multiplier > 0) json_put_double(o, c->frozen_multiplier);
    else buf_puts(o, "null");
    buf_puts(o, ",\"reason\":");
    json_put_string(o, c->reason);
    buf_puts(o, ",\"updated_by\":");
    json_put_string(o, c->updated_by);
    buf_puts(o, ",\"updated_at\":");
    if (c->updated_ms) put_time(o, c->updated_ms);
    else buf_puts(o, "null");
    buf_putc(o, '}');
}

void handle_controls_get(api_request *r)
{
    if (!region_known(r, r->params[0])) return;
    store_control c;
    surge_error err;
    if (store_control_get(r->server->db, r->params[0], &c, &err)) {
        if (err.code != SURGE_ENOTFOUND) {
            api_error(r, &err);
            return;
        }
        memset(&c, 0, sizeof c);
        str_copy(c.region_id, sizeof c.region_id, r->params[0]);
    }
    write_control_json(&r->out, &c);
}

void handle_controls_put(api_request *r)
{
    if (!region_known(r, r->params[0])) return;
    json_t *root = api_body_json(r);
    if (!root) return;
    static const char *const allowed[] = {"emergency_cap", "frozen", "frozen_multiplier",
                                          "reason", "updated_by", NULL};
    store_control c;
    memset(&c, 0, sizeof c);
    str_copy(c.region_id, sizeof c.region_id, r->params[0]);
    surge_error err;
    if (jin_check_keys(root, allowed, "the controls", &err) ||
        jin_number(root, "emergency_cap", false, 0.1, 100, &c.emergency_cap, &err) ||
        jin_bool(root, "frozen", false, &c.frozen, &err) ||
        jin_number(root, "frozen_multiplier", false, 0.1, 100, &c.frozen_multiplier, &err) ||
        jin_string(root, "reason", false, c.reason, sizeof c.reason, &err) ||
        jin_string(root, "updated_by", false, c.updated_by, sizeof c.updated_by, &err)) {
        json_decref(root);
        api_error(r, &err);
        return;
    }
    json_decref(root);
    if (c.frozen_multiplier > 0 && !c.frozen) {
        api_fail(r, SURGE_EINVAL, "frozen_multiplier",
                 "frozen_multiplier only applies with \"frozen\": true");
        return;
    }
    if (!c.updated_by[0]) snprintf(c.updated_by, sizeof c.updated_by, "admin");
    c.updated_ms = r->now_ms;
    if (store_control_put(r->server->db, &c, &err)) {
        api_error(r, &err);
        return;
    }
    reload(r);
    audit_admin(r, c.frozen ? "frozen" : c.emergency_cap > 0 ? "capped" : "controls cleared");
    write_control_json(&r->out, &c);
}

void handle_controls_delete(api_request *r)
{
    if (!region_known(r, r->params[0])) return;
    store_control c;
    memset(&c, 0, sizeof c);
    str_copy(c.region_id, sizeof c.region_id, r->params[0]);
    snprintf(c.updated_by, sizeof c.updated_by, "admin");
    snprintf(c.reason, sizeof c.reason, "cleared");
    c.updated_ms = r->now_ms;
    surge_error err;
    if (store_control_put(r->server->db, &c, &err)) {
        api_error(r, &err);
        return;
    }
    reload(r);
    audit_admin(r, "controls cleared");
    r->status = 204;
}

/* ---------------------------------------------------------------- rules */

void write_rule_json(buf *o, const store_rule *rule, const char *status)
{
    buf_puts(o, "{\"rule_id\":");
    json_put_int(o, rule->rule_id);
    buf_puts(o, ",\"region_id\":");
    json_put_string(o, rule->region_id);
    buf_puts(o, ",\"product_type\":");
    json_put_string(o, rule->product_type);
    buf_puts(o, ",\"base_price\":");
    json_put_fixed(o, rule->base_price_cents, 2);
    buf_puts(o, ",\"min_multiplier\":");
    json_put_double(o, rule->min_multiplier);
    buf_puts(o, ",\"max_multiplier\":");
    json_put_double(o, rule->max_multiplier);
    buf_puts(o, ",\"effective_date\":");
    put_time(o, rule->effective_ms);
    buf_puts(o, ",\"weights\":{\"demand\":");
    json_put_double(o, rule->weight_demand);
    buf_puts(o, ",\"supply\":");
    json_put_double(o, rule->weight_supply);
    buf_puts(o, ",\"time_of_day\":");
    json_put_double(o, rule->weight_time);
    buf_puts(o, ",\"events\":");
    json_put_double(o, rule->weight_event);
    buf_puts(o, ",\"weather\":");
    json_put_double(o, rule->weight_weather);
    buf_puts(o, "},\"demand_k\":");
    json_put_double(o, rule->demand_k);
    buf_puts(o, ",\"demand_threshold\":");
    json_put_double(o, rule->demand_threshold);
    buf_puts(o, ",\"event_coefficient\":");
    json_put_double(o, rule->event_coefficient);
    buf_puts(o, ",\"time_multipliers\":[");
    for (int h = 0; h < 24; h++) {
        if (h) buf_putc(o, ',');
        json_put_double(o, rule->time_multiplier[h]);
    }
    buf_puts(o, "],\"rounding\":");
    json_put_fixed(o, rule->rounding_cents, 2);
    buf_puts(o, ",\"max_change_per_min\":");
    json_put_double(o, rule->max_change_per_min);
    buf_puts(o, ",\"created_by\":");
    json_put_string(o, rule->created_by);
    buf_puts(o, ",\"created_at\":");
    put_time(o, rule->created_ms);
    if (status) {
        buf_puts(o, ",\"status\":");
        json_put_string(o, status);
    }
    buf_putc(o, '}');
}

static int money_cents(json_t *root, const char *key, bool required, double min, double max,
                       int64_t *cents, surge_error *err)
{
    double v = NAN;
    if (jin_number(root, key, required, min, max, &v, err)) return err->code;
    if (isnan(v)) return 0;
    double c = v * 100;
    if (fabs(c - round(c)) > 1e-6)
        return surge_fail(err, SURGE_EINVAL, key, "field '%s' = %g must be a whole number of "
                          "cents (at most 2 decimals)", key, v);
    *cents = llround(c);
    return 0;
}

static int parse_rule(api_request *r, json_t *root, store_rule *rule, surge_error *err)
{
    static const char *const allowed[] = {
        "region_id",      "product_type",     "base_price",        "min_multiplier",
        "max_multiplier", "effective_date",   "weights",           "demand_k",
        "demand_threshold", "event_coefficient", "time_multipliers", "rounding",
        "max_change_per_min", "created_by",   NULL};
    store_rule_defaults(rule);
    rule->effective_ms = r->now_ms;
    if (jin_check_keys(root, allowed, "the rule", err) ||
        jin_string(root, "region_id", true, rule->region_id, sizeof rule->region_id, err) ||
        jin_string(root, "product_type", true, rule->product_type, sizeof rule->product_type,
                   err) ||
        money_cents(root, "base_price", true, 0.01, 1e6, &rule->base_price_cents, err) ||
        jin_number(root, "min_multiplier", false, 0.1, 100, &rule->min_multiplier, err) ||
        jin_number(root, "max_multiplier", false, 0.1, 100, &rule->max_multiplier, err) ||
        jin_time(root, "effective_date", false, &rule->effective_ms, err) ||
        jin_number(root, "demand_k", false, 0, 100, &rule->demand_k, err) ||
        jin_number(root, "demand_threshold", false, 0, 1, &rule->demand_threshold, err) ||
        jin_number(root, "event_coefficient", false, 0, 10, &rule->event_coefficient, err) ||
        money_cents(root, "rounding", false, 0.01, 1000, &rule->rounding_cents, err) ||
        jin_number(root, "max_change_per_min", false, 0, 100, &rule->max_change_per_min, err) ||
        jin_string(root, "created_by", false, rule->created_by, sizeof rule->created_by, err))
        return err->code;
    if (strcmp(rule->region_id, "*") != 0) {
        store_region reg;
        if (!pricing_engine_has_region(r->server->engine, rule->region_id, &reg))
            return surge_fail(err, SURGE_EINVAL, "region_id",
                              "region '%s' is not configured (use \"*\" for every region)",
                              rule->region_id);
        bool sells = false;
        for (int i = 0; i < reg.product_count; i++)
            sells = sells || strcmp(reg.products[i], rule->product_type) == 0;
        if (!sells)
            return surge_fail(err, SURGE_EINVAL, "product_type",
                              "region '%s' does not sell '%s'; add it to the region's products "
                              "first",
                              rule->region_id, rule->product_type);
    }
    if (!token_ok(rule->product_type, STORE_PRODUCT_MAX - 1, false))
        return surge_fail(err, SURGE_EINVAL, "product_type",
                          "product_type must be 1-%d characters a-z, 0-9, _ or -",
                          STORE_PRODUCT_MAX - 1);
    if (rule->max_multiplier < rule->min_multiplier)
        return surge_fail(err, SURGE_EINVAL, "max_multiplier",
                          "max_multiplier (%g) must be >= min_multiplier (%g)",
                          rule->max_multiplier, rule->min_multiplier);
    if (rule->effective_ms < r->now_ms - 60000)
        return surge_fail(err, SURGE_EINVAL, "effective_date",
                          "effective_date is in the past: rules are never changed "
                          "retroactively; omit it to take effect now");
    json_t *w = json_object_get(root, "weights");
    if (w && !json_is_null(w)) {
        static const char *const wk[] = {"demand", "supply", "time_of_day", "events", "weather",
                                         NULL};
        if (!json_is_object(w))
            return surge_fail(err, SURGE_EINVAL, "weights",
                              "field 'weights' must be an object of factor: weight");
        if (jin_check_keys(w, wk, "weights", err) ||
            jin_number(w, "demand", false, 0, 10, &rule->weight_demand, err) ||
            jin_number(w, "supply", false, 0, 10, &rule->weight_supply, err) ||
            jin_number(w, "time_of_day", false, 0, 10, &rule->weight_time, err) ||
            jin_number(w, "events", false, 0, 10, &rule->weight_event, err) ||
            jin_number(w, "weather", false, 0, 10, &rule->weight_weather, err)) {
            char field[64];
            snprintf(field, sizeof field, "weights.%.50s", err->field);
            snprintf(err->field, sizeof err->field, "%s", field);
            return err->code;
        }
    }
    json_t *tm = json_object_get(root, "time_multipliers");
    if (tm && !json_is_null(tm)) {
        if (!json_is_array(tm) || json_array_size(tm) != 24)
            return surge_fail(err, SURGE_EINVAL, "time_multipliers",
                              "field 'time_multipliers' must be an array of 24 numbers (one per "
                              "local hour)");
        for (int h = 0; h < 24; h++) {
            json_t *v = json_array_get(tm, (size_t)h);
            double d = json_is_number(v) ? json_number_value(v) : NAN;
            if (!(d >= 0.1 && d <= 10))
                return surge_fail(err, SURGE_EINVAL, "time_multipliers",
                                  "time_multipliers[%d] must be a number in [0.1, 10]", h);
            rule->time_multiplier[h] = d;
        }
    }
    if (!rule->created_by[0]) snprintf(rule->created_by, sizeof rule->created_by, "admin");
    return 0;
}

/* The status of rules[i] among a list sorted by (region, product, effective, id). */
static const char *rule_status(const store_rule *rules, size_t n, size_t i, int64_t now_ms)
{
    if (rules[i].effective_ms > now_ms) return "scheduled";
    for (size_t j = i + 1; j < n; j++) {
        if (strcmp(rules[j].region_id, rules[i].region_id) ||
            strcmp(rules[j].product_type, rules[i].product_type))
            break;
        if (rules[j].effective_ms <= now_ms) return "superseded";
    }
    return "active";
}

void handle_rules_list(api_request *r)
{
    const char *region = api_query(r, "region_id"), *product = api_query(r, "product_type");
    store_rule *rules = NULL;
    size_t n = 0;
    surge_error err;
    if (store_rule_list(r->server->db, region, product, &rules, &n, &err)) {
        api_error(r, &err);
        return;
    }
    buf_puts(&r->out, "{\"rules\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(&r->out, ',');
        write_rule_json(&r->out, &rules[i], rule_status(rules, n, i, r->now_ms));
    }
    buf_puts(&r->out, "],\"count\":");
    json_put_int(&r->out, (int64_t)n);
    buf_putc(&r->out, '}');
    free(rules);
}

static int parse_rule_id(api_request *r, int64_t *id)
{
    char *end;
    long long v = strtoll(r->params[0], &end, 10);
    if (*end || v <= 0) {
        api_fail(r, SURGE_EINVAL, "rule_id", "rule_id '%.40s' must be a positive integer",
                 r->params[0]);
        return -1;
    }
    *id = v;
    return 0;
}

static void write_rule_with_status(api_request *r, const store_rule *rule)
{
    store_rule *rules = NULL;
    size_t n = 0;
    const char *status = NULL;
    surge_error err;
    if (store_rule_list(r->server->db, rule->region_id, rule->product_type, &rules, &n, &err) ==
        0) {
        for (size_t i = 0; i < n; i++)
            if (rules[i].rule_id == rule->rule_id) status = rule_status(rules, n, i, r->now_ms);
    }
    write_rule_json(&r->out, rule, status);
    free(rules);
}

void handle_rule_create(api_request *r)
{
    json_t *root = api_body_json(r);
    if (!root) return;
    store_rule rule;
    surge_error err;
    int rc = parse_rule(r, root, &rule, &err);
    json_decref(root);
    if (rc || store_rule_insert(r->server->db, &rule, &err)) {
        api_error(r, &err);
        return;
    }
    reload(r);
    char what[96];
    snprintf(what, sizeof what, "rule %lld for %s/%s", (long long)rule.rule_id, rule.region_id,
             rule.product_type);
    audit_admin(r, what);
    r->status = 201;
    write_rule_with_status(r, &rule);
}

void handle_rule_get(api_request *r)
{
    int64_t id;
    if (parse_rule_id(r, &id)) return;
    store_rule rule;
    surge_error err;
    if (store_rule_get(r->server->db, id, &rule, &err)) {
        api_error(r, &err);
        return;
    }
    write_rule_with_status(r, &rule);
}

void handle_rule_delete(api_request *r)
{
    int64_t id;
    if (parse_rule_id(r, &id)) return;
    surge_error err;
    if (store_rule_delete(r->server->db, id, r->now_ms, &err)) {
        api_error(r, &err);
        return;
    }
    reload(r);
    audit_admin(r, r->params[0]);
    r->status = 204;
}

/* ---------------------------------------------------------------- experiments */

static void write_experiment_json(buf *o, const store_experiment *e)
{
    buf_puts(o, "{\"experiment_id\":");
    json_put_string(o, e->experiment_id);
    buf_puts(o, ",\"name\":");
    json_put_string(o, e->name);
    buf_puts(o, ",\"status\":");
    json_put_string(o, e->status);
    buf_puts(o, ",\"variants\":");
    buf_puts(o, e->variants_json ? e->variants_json : "[]");
    buf_puts(o, ",\"traffic_split\":");
    buf_puts(o, e->traffic_split_json ? e->traffic_split_json : "{}");
    buf_puts(o, ",\"created_at\":");
    put_time(o, e->created_ms);
    buf_puts(o, ",\"updated_at\":");
    put_time(o, e->updated_ms);
    buf_putc(o, '}');
}

static int parse_experiment(api_request *r, json_t *root, const char *path_id,
                            store_experiment *e, surge_error *err)
{
    static const char *const allowed[] = {"experiment_id", "name", "status", "variants",
                                          "traffic_split", NULL};
    memset(e, 0, sizeof *e);
    if (jin_check_keys(root, allowed, "the experiment", err) ||
        jin_string(root, "experiment_id", path_id == NULL, e->experiment_id,
                   sizeof e->experiment_id, err) ||
        jin_string(root, "name", true, e->name, sizeof e->name, err) ||
        jin_string(root, "status", false, e->status, sizeof e->status, err))
        return err->code;
    if (path_id) {
        if (e->experiment_id[0] && strcmp(e->experiment_id, path_id))
            return surge_fail(err, SURGE_EINVAL, "experiment_id",
                              "experiment_id in the body differs from the path");
        snprintf(e->experiment_id, sizeof e->experiment_id, "%s", path_id);
    }
    if (!token_ok(e->experiment_id, STORE_NAME_MAX - 1, true))
        return surge_fail(err, SURGE_EINVAL, "experiment_id",
                          "experiment_id must be 1-%d characters A-Z, a-z, 0-9, _ or -",
                          STORE_NAME_MAX - 1);
    if (!e->status[0]) snprintf(e->status, sizeof e->status, "draft");
    if (strcmp(e->status, "draft") && strcmp(e->status, "running") && strcmp(e->status, "stopped"))
        return surge_fail(err, SURGE_EINVAL, "status",
                          "status must be one of draft, running, stopped");
    json_t *variants = json_object_get(root, "variants");
    if (!variants || !json_is_array(variants) || json_array_size(variants) < 2 ||
        json_array_size(variants) > 16)
        return surge_fail(err, SURGE_EINVAL, "variants",
                          "field 'variants' must be an array of 2 to 16 variants");
    size_t i;
    json_t *v;
    json_array_foreach(variants, i, v) {
        static const char *const vk[] = {"name", "rule_id", "description", NULL};
        char name[32], desc[256];
        if (!json_is_object(v))
            return surge_fail(err, SURGE_EINVAL, "variants", "variants[%zu] must be an object",
                              i);
        if (jin_check_keys(v, vk, "a variant", err) ||
            jin_string(v, "name", true, name, sizeof name, err) ||
            jin_string(v, "description", false, desc, sizeof desc, err)) {
            snprintf(err->field, sizeof err->field, "variants[%zu]", i);
            return err->code;
        }
        if (!token_ok(name, 31, true))
            return surge_fail(err, SURGE_EINVAL, "variants",
                              "variants[%zu].name must be 1-31 characters A-Z, a-z, 0-9, _ or -",
                              i);
        json_t *rid = json_object_get(v, "rule_id");
        if (rid && !json_is_null(rid)) {
            store_rule rule;
            if (!json_is_integer(rid) ||
                store_rule_get(r->server->db, json_integer_value(rid), &rule, err))
                return surge_fail(err, SURGE_EINVAL, "variants",
                                  "variants[%zu].rule_id must name an existing rule", i);
        }
        for (size_t k = 0; k < i; k++) {
            json_t *other = json_object_get(json_array_get(variants, k), "name");
            if (strcmp(json_string_value(other), name) == 0)
                return surge_fail(err, SURGE_EINVAL, "variants",
                                  "variant name '%s' appears twice", name);
        }
    }
    json_t *split = json_object_get(root, "traffic_split");
    if (!split || !json_is_object(split) || json_object_size(split) != json_array_size(variants))
        return surge_fail(err, SURGE_EINVAL, "traffic_split",
                          "field 'traffic_split' must be an object giving every variant's "
                          "percentage");
    double total = 0;
    json_array_foreach(variants, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        json_t *p = json_object_get(split, name);
        if (!p || !json_is_number(p) || json_number_value(p) < 0 || json_number_value(p) > 100)
            return surge_fail(err, SURGE_EINVAL, "traffic_split",
                              "traffic_split.%s must be a percentage in [0, 100]", name);
        total += json_number_value(p);
    }
    if (fabs(total - 100) > 1e-9)
        return surge_fail(err, SURGE_EINVAL, "traffic_split",
                          "traffic_split percentages add up to %g, not 100", total);
    e->variants_json = json_dumps(variants, JSON_COMPACT | JSON_PRESERVE_ORDER);
    e->traffic_split_json = json_dumps(split, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!e->variants_json || !e->traffic_split_json)
        return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    return 0;
}

void handle_experiments_list(api_request *r)
{
    store_experiment *list = NULL;
    size_t n = 0;
    surge_error err;
    if (store_experiment_list(r->server->db, &list, &n, &err)) {
        api_error(r, &err);
        return;
    }
    buf_puts(&r->out, "{\"experiments\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(&r->out, ',');
        write_experiment_json(&r->out, &list[i]);
        store_experiment_clear(&list[i]);
    }
    buf_puts(&r->out, "],\"count\":");
    json_put_int(&r->out, (int64_t)n);
    buf_putc(&r->out, '}');
    free(list);
}

static void experiment_save(api_request *r, const char *path_id)
{
    json_t *root = api_body_json(r);
    if (!root) return;
    store_experiment e, existing;
    surge_error err;
    int rc = parse_experiment(r, root, path_id, &e, &err);
    json_decref(root);
    if (rc) {
        store_experiment_clear(&e);
        api_error(r, &err);
        return;
    }
    memset(&existing, 0, sizeof existing);
    bool exists = store_experiment_get(r->server->db, e.experiment_id, &existing, &err) == 0;
    e.created_ms = exists ? existing.created_ms : r->now_ms;
    e.updated_ms = r->now_ms;
    store_experiment_clear(&existing);
    if (!path_id && exists) {
        store_experiment_clear(&e);
        api_fail(r, SURGE_ECONFLICT, "experiment_id",
                 "experiment '%s' exists; change it with PUT", e.experiment_id);
        return;
    }
    if (path_id && !exists) {
        store_experiment_clear(&e);
        api_fail(r, SURGE_ENOTFOUND, "experiment_id", "no experiment '%.64s'", path_id);
        return;
    }
    char id[STORE_NAME_MAX];
    snprintf(id, sizeof id, "%s", e.experiment_id);
    rc = store_experiment_put(r->server->db, &e, &err);
    store_experiment_clear(&e);
    if (rc || store_experiment_get(r->server->db, id, &e, &err)) {
        api_error(r, &err);
        return;
    }
    reload(r); /* pricing applies running experiments */
    audit_admin(r, id);
    r->status = exists ? 200 : 201;
    write_experiment_json(&r->out, &e);
    store_experiment_clear(&e);
}

void handle_experiment_create(api_request *r)
{
    experiment_save(r, NULL);
}

void handle_experiment_put(api_request *r)
{
    experiment_save(r, r->params[0]);
}

void handle_experiment_get(api_request *r)
{
    store_experiment e;
    memset(&e, 0, sizeof e);
    surge_error err;
    if (store_experiment_get(r->server->db, r->params[0], &e, &err)) {
        api_error(r, &err);
        return;
    }
    write_experiment_json(&r->out, &e);
    store_experiment_clear(&e);
}

void handle_experiment_delete(api_request *r)
{
    surge_error err;
    if (store_experiment_delete(r->server->db, r->params[0], &err)) {
        api_error(r, &err);
        return;
    }
    reload(r);
    audit_admin(r, r->params[0]);
    r->status = 204;
}

/* The audited decisions of an experiment so far, by variant in the experiment's order (a
 * variant with no decision yet shows zeros). Queued decisions are flushed first, so the
 * answer includes every price returned before the request. */
void handle_experiment_results(api_request *r)
{
    store_experiment e;
    memset(&e, 0, sizeof e);
    surge_error err;
    if (store_experiment_get(r->server->db, r->params[0], &e, &err)) {
        api_error(r, &err);
        return;
    }
    pricing_engine_flush(r->server->engine, NULL);
    store_variant_stats *stats = NULL;
    size_t n = 0;
    if (store_experiment_results(r->server->db, e.experiment_id, &stats, &n, &err)) {
        store_experiment_clear(&e);
        api_error(r, &err);
        return;
    }
    json_t *variants = e.variants_json ? json_loads(e.variants_json, 0, NULL) : NULL;
    json_t *split = e.traffic_split_json ? json_loads(e.traffic_split_json, 0, NULL) : NULL;
    buf *o = &r->out;
    buf_puts(o, "{\"experiment_id\":");
    json_put_string(o, e.experiment_id);
    buf_puts(o, ",\"name\":");
    json_put_string(o, e.name);
    buf_puts(o, ",\"status\":");
    json_put_string(o, e.status);
    buf_puts(o, ",\"variants\":[");
    size_t i;
    json_t *v;
    int64_t total = 0; /* also of variants the experiment no longer lists */
    for (size_t k = 0; k < n; k++)
        total += stats[k].decisions;
    json_array_foreach(variants, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (!name) name = "";
        const store_variant_stats *st = NULL;
        for (size_t k = 0; k < n && !st; k++)
            if (strcmp(stats[k].variant, name) == 0) st = &stats[k];
        if (i) buf_putc(o, ',');
        buf_puts(o, "{\"name\":");
        json_put_string(o, name);
        buf_puts(o, ",\"rule_id\":");
        json_t *rid = json_object_get(v, "rule_id");
        if (json_is_integer(rid))
            json_put_int(o, json_integer_value(rid));
        else
            buf_puts(o, "null");
        buf_puts(o, ",\"traffic_percent\":");
        json_put_double(o, json_number_value(json_object_get(split, name)));
        buf_puts(o, ",\"decisions\":");
        json_put_int(o, st ? st->decisions : 0);
        buf_puts(o, ",\"users\":");
        json_put_int(o, st ? st->users : 0);
        if (!st) {
            buf_puts(o, ",\"mean_surge\":null,\"mean_price\":null,\"p50_surge\":null,"
                        "\"first\":null,\"last\":null}");
            continue;
        }
        /* multipliers are exact to 1e-4 (docs/pricing.md): so is what is said about them */
        buf_puts(o, ",\"mean_surge\":");
        json_put_fixed(o, llround(st->mean_surge * 1e4), 4);
        buf_puts(o, ",\"mean_price\":");
        json_put_fixed(o, st->mean_price_cents, 2);
        buf_puts(o, ",\"p50_surge\":");
        json_put_fixed(o, llround(st->p50_surge * 1e4), 4);
        buf_puts(o, ",\"first\":");
        put_time(o, st->first_ms);
        buf_puts(o, ",\"last\":");
        put_time(o, st->last_ms);
        buf_putc(o, '}');
    }
    buf_puts(o, "],\"decisions\":");
    json_put_int(o, total);
    buf_putc(o, '}');
    json_decref(variants);
    json_decref(split);
    free(stats);
    store_experiment_clear(&e);
}
