/* registry.c: the model registry on top of the relational store: immutable content-addressed
 * artifacts under <data_dir>/models, one row per version with its metrics and lineage, and
 * rollout actions applied as one transaction after the state machine (rollout.c) approved
 * them. */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int model_artifact_write(const char *data_dir, const void *bytes, size_t len,
                         char sha256[MODEL_SHA256_HEX], surge_error *err)
{
    model_sha256_hex(bytes, len, sha256);
    char dir[1024], path[1200], tmp[1300];
    snprintf(dir, sizeof dir, "%s/models", data_dir);
    if (mkdir(dir, 0755) && errno != EEXIST)
        return surge_fail(err, SURGE_EIO, "data_dir", "cannot create %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/%s.json", dir, sha256);
    struct stat st;
    /* content-addressed: a file of this name holds these bytes already; never overwrite */
    if (stat(path, &st) == 0 && (size_t)st.st_size == len) return 0;
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
    if (fd < 0)
        return surge_fail(err, SURGE_EIO, "data_dir", "cannot create %s: %s", tmp, strerror(errno));
    if (write_all(fd, bytes, len) || fsync(fd)) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return surge_fail(err, SURGE_EIO, "data_dir", "cannot write %s: %s", tmp, strerror(e));
    }
    if (close(fd) || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return surge_fail(err, SURGE_EIO, "data_dir", "cannot write %s: %s", path, strerror(e));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* the rename is durable; a failure here leaves a valid file */
        close(dfd);
    }
    return 0;
}

int model_registry_next_version(store_db *db, const char *name, char out[MODEL_VERSION_MAX],
                                surge_error *err)
{
    store_model *list = NULL;
    size_t n = 0;
    int rc = store_model_list(db, name, &list, &n, err);
    if (rc) return rc;
    long minor = 0;
    for (size_t i = 0; i < n; i++) {
        long major, mi, patch;
        if (sscanf(list[i].version, "%ld.%ld.%ld", &major, &mi, &patch) == 3 && major == 0 &&
            mi > minor)
            minor = mi;
        store_model_clear(&list[i]);
    }
    free(list);
    snprintf(out, MODEL_VERSION_MAX, "0.%ld.0", minor + 1);
    return 0;
}

static char *take(buf *b)
{
    char *s = b->data ? b->data : strdup("null");
    buf_init(b);
    return s;
}

int model_registry_register(store_db *db, const char *data_dir, const char *name,
                            char version[MODEL_VERSION_MAX], const model_dataset *d,
                            const model_train_params *p, const model_train_result *r,
                            const char *dataset_json, const char *actor, surge_error *err)
{
    if (version[0] && !model_semver_valid(version))
        return surge_fail(err, SURGE_EINVAL, "version",
                          "version '%s' is not semver MAJOR.MINOR.PATCH (e.g. 1.2.0)", version);
    if (!name[0] || strlen(name) >= STORE_NAME_MAX)
        return surge_fail(err, SURGE_EINVAL, "name", "the model name must be 1-%d characters",
                          STORE_NAME_MAX - 1);
    int rc;
    if (!version[0] && (rc = model_registry_next_version(db, name, version, err))) return rc;
    buf manifest, metrics, params, importance;
    buf_init(&manifest);
    buf_init(&metrics);
    buf_init(&params);
    buf_init(&importance);
    buf_puts(&manifest, "{\"features\":[");
    for (int f = 0; f < d->nfeatures; f++) {
        if (f) buf_putc(&manifest, ',');
        json_put_string(&manifest, d->feature_names[f]);
    }
    buf_printf(&manifest, "],\"step_min\":%lld,\"timezone\":", (long long)(d->step_ms / 60000));
    json_put_string(&manifest, d->timezone);
    buf_puts(&manifest, ",\"objective\":\"reg:squarederror\",\"artifacts\":[");
    rc = 0;
    for (int h = 0; h < r->nhorizons && !rc; h++) {
        char sha[MODEL_SHA256_HEX];
        rc = model_artifact_write(data_dir, r->booster_json[h].data, r->booster_json[h].len, sha,
                                  err);
        if (h) buf_putc(&manifest, ',');
        buf_printf(&manifest,
                   "{\"horizon_min\":%d,\"sha256\":\"%s\",\"file\":\"models/%s.json\","
                   "\"interval_half_width\":%.10g}",
                   r->horizons[h].horizon_min, sha, sha, r->horizons[h].interval_half_width);
    }
    buf_puts(&manifest, "]}");
    model_train_metrics_json(d, p, r, &metrics);
    model_train_params_json(p, &params);
    buf_putc(&importance, '[');
    for (int i = 0; i < r->nimportance; i++) {
        if (i) buf_putc(&importance, ',');
        buf_puts(&importance, "{\"feature\":");
        json_put_string(&importance, r->importance[i].name);
        buf_printf(&importance, ",\"gain_share\":%.10g}", r->importance[i].gain_share);
    }
    buf_putc(&importance, ']');
    store_model m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "%s", name);
    snprintf(m.version, sizeof m.version, "%s", version);
    snprintf(m.sha256, sizeof m.sha256, "%s", r->sha256);
    snprintf(m.status, sizeof m.status, "staged");
    snprintf(m.created_by, sizeof m.created_by, "%s", actor ? actor : "");
    m.created_ms = time_now_ms();
    m.manifest_json = take(&manifest);
    m.metrics_json = take(&metrics);
    m.params_json = take(&params);
    m.importance_json = take(&importance);
    m.dataset_json = strdup(dataset_json ? dataset_json : "null");
    if (!rc) rc = store_model_insert(db, &m, err);
    store_model_clear(&m);
    return rc;
}

/* The rules an imported model must meet to be served (forecast.c's loader refuses the rest at
 * serving time; here they are refused before anything is written). */
static int import_check(const model_ensemble *m, const model_import_spec *spec, surge_error *err)
{
    uint32_t have = model_ensemble_feature_count(m);
    if (spec->nfeatures != (int)have)
        return surge_fail(err, SURGE_EINVAL, "features",
                          "the model reads %u features but %d feature names were given", have,
                          spec->nfeatures);
    if (spec->nfeatures > MODEL_FEATURES_MAX)
        return surge_fail(err, SURGE_EINVAL, "features", "at most %d features, got %d",
                          MODEL_FEATURES_MAX, spec->nfeatures);
    for (int i = 0; i < spec->nfeatures; i++) {
        const char *f = spec->features[i];
        size_t len = f ? strlen(f) : 0;
        if (len == 0 || len >= MODEL_FEATURE_NAME_MAX)
            return surge_fail(err, SURGE_EINVAL, "features",
                              "feature %d: a name must be 1-%d characters", i + 1,
                              MODEL_FEATURE_NAME_MAX - 1);
        for (int j = 0; j < i; j++)
            if (strcmp(spec->features[j], f) == 0)
                return surge_fail(err, SURGE_EINVAL, "features",
                                  "feature '%s' is named twice (columns %d and %d)", f, j + 1,
                                  i + 1);
    }
    /* live history has 15-minute resolution; the trainer's steps divide a day */
    if (spec->step_min < 15 || spec->step_min > 1440 || spec->step_min % 15 ||
        1440 % spec->step_min)
        return surge_fail(err, SURGE_EINVAL, "step_min",
                          "step %d min cannot be served: it must be a multiple of 15 min that "
                          "divides a day",
                          spec->step_min);
    if (spec->horizon_min < spec->step_min || spec->horizon_min > 1440 ||
        spec->horizon_min % spec->step_min)
        return surge_fail(err, SURGE_EINVAL, "horizon_min",
                          "horizon %d min must be a multiple of the step (%d min) up to 1440",
                          spec->horizon_min, spec->step_min);
    if (!(spec->interval_half_width >= 0) || !isfinite(spec->interval_half_width))
        return surge_fail(err, SURGE_EINVAL, "interval_half_width",
                          "the interval half-width must be a finite number >= 0");
    const char *tz = spec->timezone && *spec->timezone ? spec->timezone : "UTC";
    if (strlen(tz) >= STORE_NAME_MAX)
        return surge_fail(err, SURGE_EINVAL, "timezone", "time zone name too long");
    return tz_load(tz, err) ? 0 : err->code;
}

int model_registry_import(store_db *db, const char *data_dir, const char *name,
                          char version[MODEL_VERSION_MAX], const model_ensemble *m,
                          const void *bytes, size_t len, const model_import_spec *spec,
                          const char *dataset_json, const char *actor, surge_error *err)
{
    if (version[0] && !model_semver_valid(version))
        return surge_fail(err, SURGE_EINVAL, "version",
                          "version '%s' is not semver MAJOR.MINOR.PATCH (e.g. 1.2.0)", version);
    if (!name[0] || strlen(name) >= STORE_NAME_MAX)
        return surge_fail(err, SURGE_EINVAL, "name", "the model name must be 1-%d characters",
                          STORE_NAME_MAX - 1);
    int rc = import_check(m, spec, err);
    if (rc) return rc;
    store_model existing;
    if (version[0] && store_model_get(db, name, version, &existing, err) == 0) {
        store_model_clear(&existing);
        return surge_fail(err, SURGE_ECONFLICT, "version", "model %s version %s exists", name,
                          version);
    }
    if (!version[0] && (rc = model_registry_next_version(db, name, version, err))) return rc;
    char sha[MODEL_SHA256_HEX];
    if ((rc = model_artifact_write(data_dir, bytes, len, sha, err))) return rc;
    buf manifest;
    buf_init(&manifest);
    buf_puts(&manifest, "{\"features\":[");
    for (int f = 0; f < spec->nfeatures; f++) {
        if (f) buf_putc(&manifest, ',');
        json_put_string(&manifest, spec->features[f]);
    }
    buf_printf(&manifest, "],\"step_min\":%d,\"timezone\":", spec->step_min);
    json_put_string(&manifest, spec->timezone && *spec->timezone ? spec->timezone : "UTC");
    buf_puts(&manifest, ",\"objective\":");
    json_put_string(&manifest, model_ensemble_objective(m));
    /* the artifact keeps the bytes as given (ONNX stays ONNX): the loader tells the formats
     * apart by content, and "file" names the file as it is on disk */
    buf_printf(&manifest,
               ",\"artifacts\":[{\"horizon_min\":%d,\"sha256\":\"%s\",\"file\":\"models/%s.json\","
               "\"interval_half_width\":%.10g}]}",
               spec->horizon_min, sha, sha, spec->interval_half_width);
    /* the version's identity, as for a trained one: sha256 of "horizon_min:sha256\n" lines */
    char line[MODEL_SHA256_HEX + 16];
    int n = snprintf(line, sizeof line, "%d:%s\n", spec->horizon_min, sha);
    store_model row;
    memset(&row, 0, sizeof row);
    model_sha256_hex(line, (size_t)n, row.sha256);
    snprintf(row.name, sizeof row.name, "%s", name);
    snprintf(row.version, sizeof row.version, "%s", version);
    snprintf(row.status, sizeof row.status, "staged");
    snprintf(row.created_by, sizeof row.created_by, "%s", actor ? actor : "");
    row.created_ms = time_now_ms();
    row.manifest_json = take(&manifest);
    row.metrics_json = strdup("{\"imported\":true}");
    row.params_json = strdup("null");
    row.importance_json = strdup("[]");
    row.dataset_json = strdup(dataset_json ? dataset_json : "null");
    if (!row.manifest_json || !row.metrics_json || !row.params_json || !row.importance_json ||
        !row.dataset_json)
        rc = surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    if (!rc) rc = store_model_insert(db, &row, err);
    store_model_clear(&row);
    return rc;
}

int model_registry_apply(store_db *db, const char *name, model_action action, const char *version,
                         int percent, const char *actor, model_version_state *changed,
                         size_t *nchanged, surge_error *err)
{
    *nchanged = 0;
    store_model *list = NULL;
    size_t n = 0;
    int rc = store_model_list(db, name, &list, &n, err);
    if (rc) return rc;
    model_version_state *states = calloc(n ? n : 1, sizeof *states);
    if (!states) rc = surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        snprintf(states[i].version, sizeof states[i].version, "%s", list[i].version);
        if (model_status_parse(list[i].status, &states[i].status))
            rc = surge_fail(err, SURGE_EIO, "status", "version %s has an unknown status '%s'",
                            list[i].version, list[i].status);
        states[i].percent = list[i].canary_percent;
        snprintf(states[i].previous, sizeof states[i].previous, "%s", list[i].previous);
    }
    for (size_t i = 0; i < n; i++)
        store_model_clear(&list[i]);
    free(list);
    if (!rc && n == 0)
        rc = surge_fail(err, SURGE_ENOTFOUND, "name", "no model named %s is registered", name);
    model_version_state changes[2];
    size_t nc = 0;
    if (!rc) rc = model_rollout_plan(states, n, action, version, percent, changes, &nc, err);
    free(states);
    if (rc) return rc;
    store_model_change sc[2];
    memset(sc, 0, sizeof sc);
    for (size_t i = 0; i < nc; i++) {
        str_copy(sc[i].version, sizeof sc[i].version, changes[i].version);
        str_copy(sc[i].status, sizeof sc[i].status, MODEL_STATUS_NAMES[changes[i].status]);
        sc[i].canary_percent = changes[i].percent;
        str_copy(sc[i].previous, sizeof sc[i].previous, changes[i].previous);
    }
    if ((rc = store_model_set_status(db, name, sc, nc, actor, err))) return rc;
    memcpy(changed, changes, nc * sizeof *changes);
    *nchanged = nc;
    return 0;
}

static void put_time(buf *o, int64_t ms)
{
    char ts[40];
    time_format_rfc3339(ms, ts, sizeof ts);
    json_put_string(o, ts);
}

static void put_raw(buf *o, const char *json)
{
    buf_puts(o, json && *json ? json : "null");
}

void model_registry_row_json(const store_model *m, buf *o)
{
    buf_puts(o, "{\"name\":");
    json_put_string(o, m->name);
    buf_puts(o, ",\"version\":");
    json_put_string(o, m->version);
    buf_puts(o, ",\"sha256\":");
    json_put_string(o, m->sha256);
    buf_puts(o, ",\"status\":");
    json_put_string(o, m->status);
    buf_puts(o, ",\"canary_percent\":");
    json_put_int(o, m->canary_percent);
    buf_puts(o, ",\"previous\":");
    if (m->previous[0])
        json_put_string(o, m->previous);
    else
        buf_puts(o, "null");
    buf_puts(o, ",\"manifest\":");
    put_raw(o, m->manifest_json);
    buf_puts(o, ",\"metrics\":");
    put_raw(o, m->metrics_json);
    buf_puts(o, ",\"params\":");
    put_raw(o, m->params_json);
    buf_puts(o, ",\"feature_importance\":");
    put_raw(o, m->importance_json);
    buf_puts(o, ",\"dataset\":");
    put_raw(o, m->dataset_json);
    buf_puts(o, ",\"created_by\":");
    json_put_string(o, m->created_by);
    buf_puts(o, ",\"created_at\":");
    put_time(o, m->created_ms);
    buf_puts(o, ",\"updated_by\":");
    json_put_string(o, m->updated_by);
    buf_puts(o, ",\"updated_at\":");
    put_time(o, m->updated_ms);
    buf_putc(o, '}');
}

/* The live version and the candidate of name, from the registry. */
static int rollout_state(store_db *db, const char *name, char live[MODEL_VERSION_MAX],
                         char candidate[MODEL_VERSION_MAX], model_status *status, int *percent,
                         surge_error *err)
{
    store_model *list = NULL;
    size_t n = 0;
    int rc = store_model_list(db, name, &list, &n, err);
    if (rc) return rc;
    live[0] = candidate[0] = 0;
    *status = MODEL_STAGED;
    *percent = 0;
    for (size_t i = 0; i < n; i++) {
        model_status s;
        if (model_status_parse(list[i].status, &s) == 0) {
            if (s == MODEL_LIVE) snprintf(live, MODEL_VERSION_MAX, "%s", list[i].version);
            if (s == MODEL_SHADOW || s == MODEL_CANARY) {
                snprintf(candidate, MODEL_VERSION_MAX, "%s", list[i].version);
                *status = s;
                *percent = list[i].canary_percent;
            }
        }
        store_model_clear(&list[i]);
    }
    free(list);
    return 0;
}

int model_registry_router_sync(store_db *db, const char *name, model_router *router,
                               surge_error *err)
{
    char live[MODEL_VERSION_MAX], candidate[MODEL_VERSION_MAX];
    model_status status;
    int percent;
    int rc = rollout_state(db, name, live, candidate, &status, &percent, err);
    if (!rc) model_router_set(router, live, candidate, status, percent);
    return rc;
}

int model_registry_guard_step(store_db *db, const char *name, model_router *router,
                              uint64_t min_samples, const char *actor,
                              model_guard_decision *decision, model_version_state *changed,
                              size_t *nchanged, surge_error *err)
{
    *decision = MODEL_GUARD_WAIT;
    *nchanged = 0;
    char live[MODEL_VERSION_MAX], candidate[MODEL_VERSION_MAX];
    model_status status;
    int percent;
    int rc = rollout_state(db, name, live, candidate, &status, &percent, err);
    if (rc || status != MODEL_CANARY || !live[0]) return rc;
    model_error_stats live_errors, candidate_errors;
    model_router_stats(router, &live_errors, &candidate_errors);
    int next = percent;
    *decision = model_canary_guard(percent, &live_errors, &candidate_errors, min_samples, &next);
    if (*decision == MODEL_GUARD_ADVANCE)
        rc = model_registry_apply(db, name, next > 100 ? MODEL_ACTION_PROMOTE : MODEL_ACTION_CANARY,
                                  candidate, next, actor, changed, nchanged, err);
    else if (*decision == MODEL_GUARD_ROLLBACK)
        rc = model_registry_apply(db, name, MODEL_ACTION_ROLLBACK, NULL, 0, actor, changed,
                                  nchanged, err);
    if (!rc && *decision != MODEL_GUARD_WAIT) {
        rc = model_registry_router_sync(db, name, router, err);
        model_router_reset_errors(router);
    }
    return rc;
}
