/* models.c: `surge models`: the registry from the command line (list, show, export) and the
 * rollout actions (promote, shadow, canary, rollback) on a data dir no server is running on.
 * A running server holds the event log, so rollout changes then go through its admin API. */
#include "cli/cli.h"
#include "event/event.h"
#include "ingest/ingest.h"
#include "model/model.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

const char CLI_MODELS_USAGE[] =
    "Usage: surge models list [--name NAME] [--json]\n"
    "       surge models show VERSION [--name NAME] [--json]\n"
    "       surge models import --xgboost-json FILE | --onnx FILE --features NAME,NAME,...\n"
    "                           [--horizon-min 15] [--step-min 15] [--interval-half-width W]\n"
    "                           [--timezone UTC] [--name NAME] [--version X.Y.Z]\n"
    "       surge models promote VERSION [--name NAME]\n"
    "       surge models shadow VERSION [--name NAME]\n"
    "       surge models canary VERSION --percent P [--name NAME]\n"
    "       surge models rollback [--name NAME]\n"
    "       surge models export VERSION --onnx --out FILE [--horizon MIN] [--name NAME]\n"
    "\n"
    "The model registry of the data dir (--data-dir DIR; model name `demand` by default).\n"
    "import registers a model trained elsewhere (XGBoost Booster.save_model JSON, or an ONNX\n"
    "TreeEnsembleRegressor) as staged: --features names its columns in order, by the names the\n"
    "forecaster fills (hour_of_day, lag_1, ... from the stream's history; any other name from\n"
    "the region's live features; docs/models.md lists them); it forecasts the demand of the\n"
    "next --horizon-min minutes, on a --step-min grid, with an interval of +-W around it.\n"
    "promote makes a version live (the live one retires); shadow runs a candidate beside live\n"
    "without serving it; canary serves it to P% of users (stable by user_id); rollback drops\n"
    "the candidate, or when there is none, restores the version live before the current one.\n"
    "Each change is published as a model_update event on system-events. While a server runs on\n"
    "the data dir, make rollout changes through its admin API (POST /api/v1/admin/models/...).\n";

int cli_publish_model_updates(const config *cfg, const char *model, const char *const *versions,
                              const char *const *statuses, size_t n, surge_error *err)
{
    char url[1200];
    bus_config bc;
    cli_bus_settings(cfg, url, sizeof url, &bc);
    bus *b = bus_open(url, &bc, err);
    if (!b) return err->code;
    event_codec *codec = event_codec_new(err);
    ingest *in = NULL;
    int rc = codec ? 0 : err->code;
    if (!rc) {
        /* a one-shot publisher: a tiny dedup window, so opening does not scan the whole log */
        ingest_config ic = {.dedup_window_ms = 1000,
                            .dedup_max_entries = 1024,
                            .region_precision = (int)config_get_int(cfg, "region.precision")};
        log_level level = log_get_level();
        log_set_level(LOG_WARN); /* the ingester's start-up note is noise for a CLI */
        if (!(in = ingest_new(b, codec, &ic, err))) rc = err->code;
        log_set_level(level);
    }
    int64_t now = time_now_ms();
    for (size_t i = 0; !rc && i < n; i++) {
        char id[33];
        random_id_time(id, now);
        json_t *ev = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "event_id", id, "type",
                               "model_update", "ts", (json_int_t)now, "model", model, "version",
                               versions[i], "status", statuses[i]);
        if (!ev) {
            rc = surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
            break;
        }
        surge_error parse_error = {0};
        ingest_result res;
        json_t *events[1] = {ev};
        if (ingest_batch(in, events, &parse_error, 1, "cli", now, &res, err) == 0 &&
            res.status != INGEST_ACCEPTED)
            rc = surge_fail(err, SURGE_EINTERNAL, NULL, "model_update rejected: %s",
                            res.error.message);
        else if (res.status != INGEST_ACCEPTED)
            rc = err->code;
        json_decref(ev);
    }
    ingest_free(in);
    event_codec_free(codec);
    bus_close(b);
    return rc;
}

/* Prints a JSON document's value at key (a string or number), or "-". */
static void print_metric(const char *metrics_json, int horizon, const char *key, const char *fmt,
                         double scale)
{
    json_t *root = metrics_json ? json_loads(metrics_json, 0, NULL) : NULL;
    json_t *hs = root ? json_object_get(root, "horizons") : NULL;
    size_t i;
    json_t *h;
    bool printed = false;
    json_array_foreach(hs, i, h)
    {
        if (json_integer_value(json_object_get(h, "horizon_min")) != horizon) continue;
        json_t *v = json_object_get(h, key);
        if (json_is_number(v)) {
            printf(fmt, json_number_value(v) * scale);
            printed = true;
        }
    }
    if (!printed) printf(" %9s", "-");
    json_decref(root);
}

/* The largest horizon a version has (the one `list` shows metrics for). */
static int main_horizon(const store_model *m)
{
    json_t *root = m->manifest_json ? json_loads(m->manifest_json, 0, NULL) : NULL;
    json_t *arts = root ? json_object_get(root, "artifacts") : NULL;
    size_t i;
    json_t *a;
    int best = 0;
    json_array_foreach(arts, i, a)
    {
        int h = (int)json_integer_value(json_object_get(a, "horizon_min"));
        if (h > best) best = h;
    }
    json_decref(root);
    return best;
}

static int cmd_list(store_db *db, const char *name, bool json)
{
    store_model *list = NULL;
    size_t n = 0;
    surge_error err;
    if (store_model_list(db, name, &list, &n, &err)) {
        fprintf(stderr, "surge: %s\n", err.message);
        return 1;
    }
    if (json) {
        buf o;
        buf_init(&o);
        buf_puts(&o, "{\"models\":[");
        for (size_t i = 0; i < n; i++) {
            if (i) buf_putc(&o, ',');
            model_registry_row_json(&list[i], &o);
        }
        buf_printf(&o, "],\"count\":%zu}\n", n);
        fputs(o.data, stdout);
        buf_free(&o);
    } else {
        printf("%-12s %-10s %-8s %7s %-12s %8s %9s %9s  %s\n", "name", "version", "status",
               "canary", "sha256", "horizon", "MASE", "WAPE", "created");
        for (size_t i = 0; i < n; i++) {
            const store_model *m = &list[i];
            char when[40], canary[16] = "-";
            time_format_rfc3339(m->created_ms, when, sizeof when);
            if (strcmp(m->status, "canary") == 0)
                snprintf(canary, sizeof canary, "%d%%", m->canary_percent);
            int h = main_horizon(m);
            printf("%-12s %-10s %-8s %7s %.12s %5d min", m->name, m->version, m->status, canary,
                   m->sha256, h);
            print_metric(m->metrics_json, h, "mase", " %9.4f", 1);
            print_metric(m->metrics_json, h, "wape", " %8.2f%%", 100);
            printf("  %s\n", when);
        }
    }
    for (size_t i = 0; i < n; i++)
        store_model_clear(&list[i]);
    free(list);
    return 0;
}

static int cmd_show(store_db *db, const char *name, const char *version, bool json)
{
    store_model m;
    surge_error err;
    if (store_model_get(db, name, version, &m, &err)) {
        fprintf(stderr, "surge: %s\n", err.message);
        return 1;
    }
    buf o;
    buf_init(&o);
    model_registry_row_json(&m, &o);
    if (json) {
        printf("%s\n", o.data);
    } else {
        /* pretty-printed through jansson for people */
        json_t *root = json_loads(o.data, 0, NULL);
        char *pretty = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        printf("%s\n", pretty ? pretty : o.data);
        free(pretty);
        json_decref(root);
    }
    buf_free(&o);
    store_model_clear(&m);
    return 0;
}

static int cmd_export(const config *cfg, store_db *db, const char *name, const char *version,
                      int horizon, const char *out_path)
{
    store_model m;
    surge_error err;
    if (store_model_get(db, name, version, &m, &err)) {
        fprintf(stderr, "surge: %s\n", err.message);
        return 1;
    }
    if (!horizon) horizon = main_horizon(&m);
    json_t *root = m.manifest_json ? json_loads(m.manifest_json, 0, NULL) : NULL;
    json_t *arts = root ? json_object_get(root, "artifacts") : NULL;
    size_t i;
    json_t *a;
    char file[1200] = "";
    json_array_foreach(arts, i, a)
    {
        if (json_integer_value(json_object_get(a, "horizon_min")) == horizon)
            snprintf(file, sizeof file, "%s/%s", config_get_string(cfg, "data_dir"),
                     json_string_value(json_object_get(a, "file")));
    }
    json_decref(root);
    store_model_clear(&m);
    if (!file[0]) {
        fprintf(stderr, "surge: version %s has no %d-minute model\n", version, horizon);
        return 2;
    }
    model_ensemble *e = model_ensemble_load_file(file, &err);
    if (!e) {
        fprintf(stderr, "surge: %s\n", err.message);
        return 1;
    }
    buf o;
    buf_init(&o);
    int rc = model_ensemble_export_onnx(e, &o, &err);
    model_ensemble_free(e);
    if (!rc) {
        FILE *f = fopen(out_path, "wb");
        if (!f || fwrite(o.data, 1, o.len, f) != o.len || fclose(f)) {
            if (f) fclose(f);
            rc = surge_fail(&err, SURGE_EIO, "--out", "cannot write %s", out_path);
        }
    }
    buf_free(&o);
    if (rc) {
        fprintf(stderr, "surge: %s\n", err.message);
        return 1;
    }
    printf("wrote %s (ONNX, the %d-minute model of %s %s)\n", out_path, horizon, name, version);
    return 0;
}

static int cmd_change(const config *cfg, store_db *db, const char *name, model_action action,
                      const char *version, int percent)
{
    surge_error err;
    /* take the log first: when a server holds it, nothing is changed behind its back */
    char url[1200];
    bus_config bc;
    cli_bus_settings(cfg, url, sizeof url, &bc);
    bus *b = bus_open(url, &bc, &err);
    if (!b) {
        if (err.code == SURGE_ECONFLICT)
            fprintf(stderr,
                    "surge: a surge server is running on this data dir (%s); change the rollout "
                    "through its admin API instead (POST /api/v1/admin/models/VERSION/promote, "
                    "/shadow, /canary or /api/v1/admin/models/rollback) or the portal\n",
                    err.message);
        else
            fprintf(stderr, "surge: %s\n", err.message);
        return 1;
    }
    bus_close(b);
    model_version_state changed[2];
    size_t n = 0;
    char actor[96];
    const char *user = getenv("USER");
    snprintf(actor, sizeof actor, "cli:%s", user && *user ? user : "unknown");
    if (model_registry_apply(db, name, action, version, percent, actor, changed, &n, &err)) {
        fprintf(stderr, "surge: %s\n", err.message);
        return err.code == SURGE_EINVAL ? 2 : 1;
    }
    const char *versions[2], *statuses[2];
    for (size_t i = 0; i < n; i++) {
        versions[i] = changed[i].version;
        statuses[i] = MODEL_STATUS_NAMES[changed[i].status];
        if (changed[i].status == MODEL_CANARY)
            printf("%s %s: canary at %d%%\n", name, changed[i].version, changed[i].percent);
        else
            printf("%s %s: %s\n", name, changed[i].version, statuses[i]);
    }
    if (cli_publish_model_updates(cfg, name, versions, statuses, n, &err)) {
        fprintf(stderr, "surge: the registry changed but the model_update event failed: %s\n",
                err.message);
        return 1;
    }
    return 0;
}

/* What `models import` was given. */
typedef struct import_args {
    const char *path;
    bool onnx;           /* --onnx FILE rather than --xgboost-json FILE */
    char *features_list; /* owned copy of --features, split in place */
    const char *features[MODEL_FEATURES_MAX + 1];
    int nfeatures;
    long horizon_min, step_min;
    double half_width;
    const char *timezone;
    const char *version;
} import_args;

/* Reads a whole file into out. The message matches the evaluator's loader. */
static int read_model_file(const char *path, buf *out, surge_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return surge_fail(err, SURGE_EIO, "path", "cannot open model %s: %s", path,
                          strerror(errno));
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(out, chunk, n);
    int failed = ferror(f);
    fclose(f);
    return failed ? surge_fail(err, SURGE_EIO, "path", "cannot read model %s", path) : 0;
}

/* `models import`: loads the file with the serving evaluator, checks it against the flags and
 * registers it as staged. Exit 2 for a file or flags that cannot be served, 1 for I/O. */
static int cmd_import(const config *cfg, store_db *db, const char *name, import_args *a)
{
    surge_error err;
    buf bytes;
    buf_init(&bytes);
    model_ensemble *m = NULL;
    int rc = 1;
    if (read_model_file(a->path, &bytes, &err)) {
        fprintf(stderr, "surge: %s\n", err.message);
        goto out;
    }
    /* the loader picks the format by content; the flag must say the same, so the registry's
     * record of what was imported is true */
    size_t i = 0;
    while (i < bytes.len && strchr(" \t\r\n", bytes.data[i]))
        i++;
    bool is_json = i < bytes.len && bytes.data[i] == '{';
    rc = 2;
    if (is_json && a->onnx) {
        fprintf(stderr, "surge: %s holds JSON, not ONNX: import XGBoost JSON with --xgboost-json\n",
                a->path);
        goto out;
    }
    if (!is_json && !a->onnx) {
        fprintf(stderr,
                "surge: %s is not XGBoost JSON (it does not start with '{'): import ONNX with "
                "--onnx\n",
                a->path);
        goto out;
    }
    if (!(m = model_ensemble_load_file(a->path, &err))) {
        if (err.code == SURGE_EIO) {
            fprintf(stderr, "surge: %s\n", err.message);
            rc = 1;
        } else {
            fprintf(stderr, "surge: %s: %s\n", a->path, err.message);
        }
        goto out;
    }
    uint32_t have = model_ensemble_feature_count(m);
    if ((uint32_t)a->nfeatures != have) {
        fprintf(stderr, "surge: %s: the model reads %u feature%s but --features names %d\n",
                a->path, have, have == 1 ? "" : "s", a->nfeatures);
        goto out;
    }
    model_import_spec spec = {.nfeatures = a->nfeatures,
                              .features = a->features,
                              .horizon_min = (int)a->horizon_min,
                              .step_min = (int)a->step_min,
                              .interval_half_width = a->half_width,
                              .timezone = a->timezone};
    char sha[MODEL_SHA256_HEX];
    model_sha256_hex(bytes.data ? bytes.data : "", bytes.len, sha);
    buf dataset;
    buf_init(&dataset);
    buf_puts(&dataset, "{\"kind\":\"import\",\"path\":");
    json_put_string(&dataset, a->path);
    buf_puts(&dataset, ",\"sha256\":");
    json_put_string(&dataset, sha);
    buf_printf(&dataset, ",\"format\":\"%s\"}", a->onnx ? "onnx" : "xgboost-json");
    char version[MODEL_VERSION_MAX], actor[96];
    snprintf(version, sizeof version, "%s", a->version ? a->version : "");
    const char *user = getenv("USER");
    snprintf(actor, sizeof actor, "cli:%s", user && *user ? user : "unknown");
    int reg = model_registry_import(db, config_get_string(cfg, "data_dir"), name, version, m,
                                    bytes.data ? bytes.data : "", bytes.len, &spec, dataset.data,
                                    actor, &err);
    buf_free(&dataset);
    if (reg) {
        fprintf(stderr, "surge: %s\n", err.message);
        rc = err.code == SURGE_EINVAL ? 2 : 1;
        goto out;
    }
    printf("%s %s: staged (imported %s: %s, %u trees, %d features, horizon %ld min, artifact "
           "%.12s)\n",
           name, version, a->path, a->onnx ? "ONNX" : "XGBoost JSON", model_ensemble_tree_count(m),
           a->nfeatures, a->horizon_min, sha);
    /* names stored in the file (XGBoost feature_names, surge's ONNX metadata) are only a hint:
     * --features is what the forecaster fills, so a difference is worth a note, not a refusal */
    for (int f = 0; f < a->nfeatures; f++) {
        const char *own = model_ensemble_feature_name(m, (uint32_t)f);
        if (own && *own && strcmp(own, a->features[f]))
            fprintf(stderr,
                    "surge: note: column %d is '%s' in the model and '%s' in --features; the "
                    "forecaster fills it as '%s'\n",
                    f + 1, own, a->features[f], a->features[f]);
    }
    const char *versions[1] = {version}, *statuses[1] = {"staged"};
    surge_error perr;
    if (cli_publish_model_updates(cfg, name, versions, statuses, 1, &perr))
        fprintf(stderr, "surge: note: model_update not published on system-events: %s\n",
                perr.message);
    rc = 0;
out:
    model_ensemble_free(m);
    buf_free(&bytes);
    return rc;
}

/* Splits --features NAME,NAME,... in place (spaces around names are dropped). */
static int split_features(import_args *a, const char *list)
{
    free(a->features_list);
    a->features_list = strdup(list);
    a->nfeatures = 0;
    if (!a->features_list) return -1;
    char *p = a->features_list;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        while (*p == ' ')
            p++;
        char *end = p + strlen(p);
        while (end > p && end[-1] == ' ')
            *--end = 0;
        if (a->nfeatures > MODEL_FEATURES_MAX) return -1;
        a->features[a->nfeatures++] = p;
        if (!comma) return 0;
        p = comma + 1;
    }
}

int cli_models_command(int argc, char **argv)
{
    static const char *const verbs[] = {"list",   "show",     "import", "promote", "shadow",
                                        "canary", "rollback", "export", NULL};
    const char *verb = argc > 1 ? argv[1] : NULL;
    bool known = false;
    for (int i = 0; verb && verbs[i]; i++)
        known |= strcmp(verb, verbs[i]) == 0;
    if (verb && (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)) {
        fputs(CLI_MODELS_USAGE, stdout);
        return 0;
    }
    if (!known) {
        if (verb) fprintf(stderr, "surge: unknown models command '%s'\n\n", verb);
        fputs(CLI_MODELS_USAGE, stderr);
        return 2;
    }
    argv[1] = NULL;
    bool needs_version = strcmp(verb, "list") && strcmp(verb, "rollback") && strcmp(verb, "import");
    bool import = !strcmp(verb, "import");
    const char *version = NULL;
    if (needs_version) {
        if (argc < 3 || !argv[2] || argv[2][0] == '-') {
            fprintf(stderr, "surge: models %s needs a VERSION\n\n%s", verb, CLI_MODELS_USAGE);
            return 2;
        }
        version = argv[2];
        argv[2] = NULL;
    }
    surge_error err;
    cli_common common;
    config *cfg = cli_config(argc, argv, environ, &common, &err);
    if (!cfg) {
        fprintf(stderr, "surge: %s\n", err.message);
        return 2;
    }
    const char *name = "demand", *out_path = NULL;
    bool json = false, onnx = false;
    int percent = -1, horizon = 0, rc = 2;
    store_db *db = NULL;
    import_args imp = {.horizon_min = 15, .step_min = 15};
    for (int i = 1; i < argc; i++) {
        if (!argv[i]) continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(a, "--json") == 0 && (!strcmp(verb, "list") || !strcmp(verb, "show"))) {
            json = true;
            continue;
        }
        if (strcmp(a, "--onnx") == 0 && !strcmp(verb, "export")) {
            onnx = true;
            continue;
        }
        if (import && (!strcmp(a, "--xgboost-json") || !strcmp(a, "--onnx")) && v) {
            if (imp.path) {
                fprintf(stderr, "surge: models import takes one model file (--xgboost-json FILE "
                                "or --onnx FILE)\n");
                goto out;
            }
            imp.path = v;
            imp.onnx = !strcmp(a, "--onnx");
        } else if (import && !strcmp(a, "--features") && v) {
            if (split_features(&imp, v)) {
                fprintf(stderr, "surge: --features names at most %d features\n",
                        MODEL_FEATURES_MAX);
                goto out;
            }
        } else if (import && !strcmp(a, "--horizon-min") && v) {
            imp.horizon_min = strtol(v, &end, 10);
            if (*end || end == v || imp.horizon_min < 1 || imp.horizon_min > 1440) {
                fprintf(stderr, "surge: --horizon-min must be minutes 1..1440, got '%s'\n", v);
                goto out;
            }
        } else if (import && !strcmp(a, "--step-min") && v) {
            imp.step_min = strtol(v, &end, 10);
            if (*end || end == v || imp.step_min < 1 || imp.step_min > 1440) {
                fprintf(stderr, "surge: --step-min must be minutes 1..1440, got '%s'\n", v);
                goto out;
            }
        } else if (import && !strcmp(a, "--interval-half-width") && v) {
            imp.half_width = strtod(v, &end);
            if (*end || end == v || !(imp.half_width >= 0) || !isfinite(imp.half_width)) {
                fprintf(stderr, "surge: --interval-half-width must be a number >= 0, got '%s'\n",
                        v);
                goto out;
            }
        } else if (import && !strcmp(a, "--timezone") && v) {
            imp.timezone = v;
        } else if (import && !strcmp(a, "--version") && v) {
            if (!model_semver_valid(v)) {
                fprintf(stderr,
                        "surge: --version '%s' is not semver MAJOR.MINOR.PATCH (e.g. "
                        "1.2.0)\n",
                        v);
                goto out;
            }
            imp.version = v;
        } else if (strcmp(a, "--name") == 0 && v) {
            name = v;
        } else if (strcmp(a, "--percent") == 0 && v && !strcmp(verb, "canary")) {
            long p = strtol(v, &end, 10);
            if (*end || end == v || p < 1 || p > 100) {
                fprintf(stderr, "surge: --percent must be an integer in 1..100, got '%s'\n", v);
                goto out;
            }
            percent = (int)p;
        } else if (strcmp(a, "--out") == 0 && v && !strcmp(verb, "export")) {
            out_path = v;
        } else if (strcmp(a, "--horizon") == 0 && v && !strcmp(verb, "export")) {
            long h = strtol(v, &end, 10);
            if (*end || end == v || h < 1 || h > 1440) {
                fprintf(stderr, "surge: --horizon must be minutes 1..1440, got '%s'\n", v);
                goto out;
            }
            horizon = (int)h;
        } else {
            fprintf(stderr, "surge: unknown option '%s'\n\n%s", a, CLI_MODELS_USAGE);
            goto out;
        }
        i++;
    }
    if (!strcmp(verb, "canary") && percent < 0) {
        fprintf(stderr, "surge: models canary needs --percent P (1..100)\n");
        goto out;
    }
    if (!strcmp(verb, "export") && (!onnx || !out_path)) {
        fprintf(stderr, "surge: models export needs --onnx and --out FILE\n");
        goto out;
    }
    if (import && !imp.path) {
        fprintf(stderr,
                "surge: models import needs the model: --xgboost-json FILE or --onnx FILE\n");
        goto out;
    }
    if (import && !imp.nfeatures) {
        fprintf(stderr, "surge: models import needs --features NAME,NAME,... (the model's columns "
                        "in order)\n");
        goto out;
    }
    if (import && imp.horizon_min % imp.step_min) {
        fprintf(stderr, "surge: --horizon-min %ld is not a multiple of --step-min %ld\n",
                imp.horizon_min, imp.step_min);
        goto out;
    }
    rc = 1;
    char db_url[1200];
    if (cli_prepare_data_dir(cfg, db_url, sizeof db_url, &err) ||
        !(db = store_db_open(db_url, &err))) {
        fprintf(stderr, "surge: %s\n", err.message);
        goto out;
    }
    if (!strcmp(verb, "list"))
        rc = cmd_list(db, name, json);
    else if (!strcmp(verb, "show"))
        rc = cmd_show(db, name, version, json);
    else if (!strcmp(verb, "export"))
        rc = cmd_export(cfg, db, name, version, horizon, out_path);
    else if (import)
        rc = cmd_import(cfg, db, name, &imp);
    else if (!strcmp(verb, "promote"))
        rc = cmd_change(cfg, db, name, MODEL_ACTION_PROMOTE, version, 0);
    else if (!strcmp(verb, "shadow"))
        rc = cmd_change(cfg, db, name, MODEL_ACTION_SHADOW, version, 0);
    else if (!strcmp(verb, "canary"))
        rc = cmd_change(cfg, db, name, MODEL_ACTION_CANARY, version, percent);
    else
        rc = cmd_change(cfg, db, name, MODEL_ACTION_ROLLBACK, NULL, 0);
out:
    free(imp.features_list);
    store_db_close(db);
    config_free(cfg);
    return rc;
}
