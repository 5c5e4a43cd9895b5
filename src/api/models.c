/* models.c: the model registry's admin endpoints: list and show versions, and the rollout
 * actions (promote, shadow, canary, rollback). Each change is one registry transaction, then
 * a model_update event per changed version on system-events, then cached prices are dropped
 * so the next price comes from the new routing. */
#include "api_internal.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ?name=..., "demand" when absent. NULL after writing a 400 for a bad one. */
static const char *model_name(api_request *r)
{
    const char *name = api_query(r, "name");
    if (!name) return "demand";
    if (!*name || strlen(name) >= STORE_NAME_MAX) {
        api_fail(r, SURGE_EINVAL, "name", "name must be 1-%d characters", STORE_NAME_MAX - 1);
        return NULL;
    }
    return name;
}

static void publish_model_update(api_request *r, const char *name, const char *version,
                                 const char *status)
{
    log_msg(LOG_INFO, "admin", r->trace_id, "%s %s: model %s %s is now %s (from %s)", r->method,
            r->url, name, version, status, r->client_ip);
    if (!r->server->ingest) return;
    char id[33];
    random_id_time(id, r->now_ms);
    json_t *ev =
        json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "event_id", id, "type", "model_update", "ts",
                  (json_int_t)r->now_ms, "model", name, "version", version, "status", status);
    if (!ev) return;
    surge_error parse_error = {0}, err;
    ingest_result res;
    json_t *events[1] = {ev};
    char source[96];
    snprintf(source, sizeof source, "admin@%s", r->client_ip[0] ? r->client_ip : "unknown");
    if (ingest_batch(r->server->ingest, events, &parse_error, 1, source, r->now_ms, &res, &err) ||
        res.status != INGEST_ACCEPTED)
        log_msg(LOG_ERROR, "admin", r->trace_id, "publishing the model_update event failed: %s",
                res.status == INGEST_REJECTED ? res.error.message : err.message);
    json_decref(ev);
}

void handle_models_list(api_request *r)
{
    const char *name = api_query(r, "name");
    if (name && (!*name || strlen(name) >= STORE_NAME_MAX)) {
        api_fail(r, SURGE_EINVAL, "name", "name must be 1-%d characters", STORE_NAME_MAX - 1);
        return;
    }
    store_model *list = NULL;
    size_t n = 0;
    surge_error err;
    if (store_model_list(r->server->db, name, &list, &n, &err)) {
        api_error(r, &err);
        return;
    }
    buf_puts(&r->out, "{\"models\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(&r->out, ',');
        model_registry_row_json(&list[i], &r->out);
        store_model_clear(&list[i]);
    }
    buf_puts(&r->out, "],\"count\":");
    json_put_int(&r->out, (int64_t)n);
    buf_putc(&r->out, '}');
    free(list);
}

void handle_model_get(api_request *r)
{
    const char *name = model_name(r);
    if (!name) return;
    store_model m;
    surge_error err;
    if (store_model_get(r->server->db, name, r->params[0], &m, &err)) {
        api_error(r, &err);
        return;
    }
    model_registry_row_json(&m, &r->out);
    store_model_clear(&m);
}

static void model_change(api_request *r, model_action action, const char *version, int percent)
{
    const char *name = model_name(r);
    if (!name) return;
    char actor[96];
    snprintf(actor, sizeof actor, "admin@%s", r->client_ip[0] ? r->client_ip : "unknown");
    model_version_state changed[2];
    size_t n = 0;
    surge_error err;
    if (model_registry_apply(r->server->db, name, action, version, percent, actor, changed, &n,
                             &err)) {
        api_error(r, &err);
        return;
    }
    for (size_t i = 0; i < n; i++)
        publish_model_update(r, name, changed[i].version, MODEL_STATUS_NAMES[changed[i].status]);
    api_models_changed(r->server);
    buf_puts(&r->out, "{\"name\":");
    json_put_string(&r->out, name);
    buf_puts(&r->out, ",\"changed\":[");
    for (size_t i = 0; i < n; i++) {
        store_model m;
        if (i) buf_putc(&r->out, ',');
        if (store_model_get(r->server->db, name, changed[i].version, &m, &err)) {
            api_error(r, &err);
            return;
        }
        model_registry_row_json(&m, &r->out);
        store_model_clear(&m);
    }
    buf_puts(&r->out, "]}");
}

void handle_model_promote(api_request *r)
{
    model_change(r, MODEL_ACTION_PROMOTE, r->params[0], 0);
}

void handle_model_shadow(api_request *r)
{
    model_change(r, MODEL_ACTION_SHADOW, r->params[0], 0);
}

void handle_model_canary(api_request *r)
{
    json_t *root = api_body_json(r);
    if (!root) return;
    static const char *const allowed[] = {"percent", NULL};
    surge_error err;
    double percent = 0;
    int rc = jin_check_keys(root, allowed, "the canary", &err);
    if (!rc) rc = jin_number(root, "percent", true, 1, 100, &percent, &err);
    if (!rc && percent != floor(percent))
        rc = surge_fail(&err, SURGE_EINVAL, "percent",
                        "field 'percent' must be a whole number of percent (got %g)", percent);
    json_decref(root);
    if (rc) {
        api_error(r, &err);
        return;
    }
    model_change(r, MODEL_ACTION_CANARY, r->params[0], (int)percent);
}

void handle_model_rollback(api_request *r)
{
    model_change(r, MODEL_ACTION_ROLLBACK, NULL, 0);
}
