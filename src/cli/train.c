/* train.c: `surge train`: trains a demand model from a history table (`--input CSV`) or from
 * the event log (replayed through the stream's own code into the same table), prints its
 * held-out metrics, writes its artifacts under <data_dir>/models and registers it as staged. */
#include "cli/cli.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

const char CLI_TRAIN_USAGE[] =
    "Usage: surge train [--input FILE | --from TIME --to TIME] [--horizons 15,30,60]\n"
    "                   [--test-from TIME] [--interval 0.9]\n"
    "                   [--name NAME] [--version X.Y.Z] [--params FILE] [--param KEY=VALUE]...\n"
    "                   [--rounds N] [--seed N] [--threads N] [--timezone ZONE]\n"
    "                   [--predictions-out FILE] [--json] [--data-dir DIR] [--config FILE]\n"
    "\n"
    "Trains one gradient-boosted tree model (XGBoost) per horizon from a history table with\n"
    "columns region_id, ts (RFC 3339 or epoch ms), demand and any numeric exogenous columns,\n"
    "sorted by (region_id, ts). Calendar, lag and rolling features are derived (docs/models.md).\n"
    "Horizons are minutes, each a multiple of the input's step. The test tail starts at\n"
    "--test-from (default: the last 20% of the time range); intervals are split-conformal at\n"
    "--interval coverage. Metrics: MAPE, WAPE, MASE against seasonal-naive (same slot last week)\n"
    "and against the 7-day average. The model is registered as staged (`surge models`).\n"
    "Hyperparameters: rounds, max_depth, eta, subsample, colsample_bytree, min_child_weight,\n"
    "lambda, seed, threads, interval, calibration_fraction (--param, or a JSON --params file;\n"
    "flags win). Same input and parameters give the same model bytes (sha256).\n"
    "--predictions-out writes region_id,ts,horizon_min,actual,predicted,lower,upper per test "
    "row.\n"
    "Without --input the table comes from the data dir's event log (optionally --from/--to,\n"
    "event time): the stream's code replays it into one row per region and 15 minutes with\n"
    "the searches of that quarter as demand and the weather, holiday, venue-event and supply\n"
    "features known just before it as exogenous columns (point-in-time correct; the served\n"
    "model reads the same features live). `surge replay --help` says more.\n";

typedef struct progress_state {
    bool tty;
    int last_decile;
    int64_t last_ns;
} progress_state;

static void show_progress(void *ctx, int done, int total)
{
    progress_state *ps = ctx;
    int64_t now = time_mono_ns();
    if (ps->tty) {
        if (done != total && now - ps->last_ns < 200000000) return;
        ps->last_ns = now;
        fprintf(stderr, "\rtraining: %d/%d boosting rounds (%d%%)", done, total,
                done * 100 / total);
        if (done == total) fputc('\n', stderr);
        return;
    }
    int decile = done * 10 / total;
    if (decile != ps->last_decile) {
        ps->last_decile = decile;
        fprintf(stderr, "training: %d/%d boosting rounds (%d%%)\n", done, total, decile * 10);
    }
}

static int parse_horizons(const char *s, model_csv_options *opt, surge_error *err)
{
    opt->nhorizons = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || v < 1 || v > 1440)
            return surge_fail(err, SURGE_EINVAL, "--horizons",
                              "--horizons '%s': give minutes 1..1440 separated by commas", s);
        if (opt->nhorizons == MODEL_HORIZONS_MAX)
            return surge_fail(err, SURGE_EINVAL, "--horizons", "--horizons: at most %d",
                              MODEL_HORIZONS_MAX);
        opt->horizons_min[opt->nhorizons++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (opt->nhorizons == 0)
        return surge_fail(err, SURGE_EINVAL, "--horizons", "--horizons needs at least one");
    return 0;
}

static int write_predictions(const char *path, const model_dataset *d, const model_train_result *r,
                             surge_error *err)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return surge_fail(err, SURGE_EIO, "--predictions-out", "cannot create %s", tmp);
    fputs("region_id,ts,horizon_min,actual,predicted,lower,upper\n", f);
    for (size_t i = 0; i < r->npredictions; i++) {
        const model_prediction *p = &r->predictions[i];
        char ts[40];
        time_format_rfc3339(p->ts_ms, ts, sizeof ts);
        fprintf(f, "%s,%s,%d,%.9g,%.9g,%.9g,%.9g\n", d->region_ids[p->region], ts, p->horizon_min,
                (double)p->actual, (double)p->predicted, (double)p->lower, (double)p->upper);
    }
    if (fclose(f) || rename(tmp, path)) {
        unlink(tmp);
        return surge_fail(err, SURGE_EIO, "--predictions-out", "cannot write %s", path);
    }
    return 0;
}

static void print_summary(const char *name, const char *version, const model_dataset *d,
                          const model_train_result *r)
{
    char t[40];
    time_format_rfc3339(r->test_from_ms, t, sizeof t);
    printf("model %s %s registered as staged (sha256 %s)\n", name, version, r->sha256);
    printf("input: %zu rows, %zu regions, step %lld min; test tail from %s\n", d->nrows,
           d->nregions, (long long)(d->step_ms / 60000), t);
    printf("%8s %8s %8s %8s %10s %8s %10s %10s %9s\n", "horizon", "test", "MAPE", "WAPE", "MAE",
           "MASE", "MASE(7d)", "+-interval", "coverage");
    for (int h = 0; h < r->nhorizons; h++) {
        const model_horizon_metrics *m = &r->horizons[h];
        printf("%5d min %8zu %7.2f%% %7.2f%% %10.4g %8.4f %10.4f %10.4g %8.1f%%\n", m->horizon_min,
               m->test_rows, m->mape * 100, m->wape * 100, m->mae, m->mase, m->mase_avg_7d,
               m->interval_half_width, m->coverage * 100);
    }
    printf("top features (share of split gain):");
    for (int i = 0; i < r->nimportance && i < 5; i++)
        printf(" %s %.1f%%", r->importance[i].name, r->importance[i].gain_share * 100);
    printf("\n");
}

int cli_train_command(int argc, char **argv)
{
    surge_error err;
    cli_common common;
    config *cfg = cli_config(argc, argv, environ, &common, &err);
    if (!cfg) {
        fprintf(stderr, "surge: %s\n", err.message);
        return 2;
    }
    const char *input = NULL, *test_from = NULL, *from_s = NULL, *to_s = NULL, *name = "demand", *version_flag = "",
               *params_file = NULL, *predictions_out = NULL, *timezone = "UTC";
    bool json = false;
    model_csv_options opt = {
        .nhorizons = 3, .horizons_min = {15, 30, 60}, .drop_off_step_horizons = true};
    model_train_params params;
    model_train_params_defaults(&params);
    /* flags that set parameters are applied after the --params file, so they win */
    char param_keys[64][64];
    const char *param_values[64];
    int nparam_flags = 0;
    int rc = 2;
    model_dataset d;
    model_train_result r;
    memset(&d, 0, sizeof d);
    memset(&r, 0, sizeof r);
    store_db *db = NULL;
    for (int i = 1; i < argc; i++) {
        if (!argv[i]) continue;
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(CLI_TRAIN_USAGE, stdout);
            rc = 0;
            goto out;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        static const char *const with_value[] = {
            "--input",   "--horizons", "--test-from",       "--interval", "--name",
            "--version", "--params",   "--param",           "--rounds",   "--seed",
            "--threads", "--timezone", "--predictions-out", "--from", "--to", NULL};
        bool known = false;
        for (int k = 0; with_value[k]; k++)
            known |= strcmp(a, with_value[k]) == 0;
        if (!known) {
            fprintf(stderr, "surge: unknown option '%s'\n\n%s", a, CLI_TRAIN_USAGE);
            goto out;
        }
        if (!v) {
            fprintf(stderr, "surge: %s needs a value\n", a);
            goto out;
        }
        i++;
        if (strcmp(a, "--input") == 0)
            input = v;
        else if (strcmp(a, "--from") == 0)
            from_s = v;
        else if (strcmp(a, "--to") == 0)
            to_s = v;
        else if (strcmp(a, "--horizons") == 0) {
            if (parse_horizons(v, &opt, &err)) {
                fprintf(stderr, "surge: %s\n", err.message);
                goto out;
            }
            opt.drop_off_step_horizons = false;
        } else if (strcmp(a, "--test-from") == 0)
            test_from = v;
        else if (strcmp(a, "--name") == 0)
            name = v;
        else if (strcmp(a, "--version") == 0)
            version_flag = v;
        else if (strcmp(a, "--params") == 0)
            params_file = v;
        else if (strcmp(a, "--timezone") == 0)
            timezone = v;
        else if (strcmp(a, "--predictions-out") == 0)
            predictions_out = v;
        else if (nparam_flags < 64) {
            char *key = param_keys[nparam_flags];
            const char *value = v;
            snprintf(key, sizeof param_keys[0], "%s", a + 2);
            if (strcmp(a, "--param") == 0) {
                const char *eq = strchr(v, '=');
                if (!eq || eq == v || (size_t)(eq - v) >= sizeof param_keys[0]) {
                    fprintf(stderr, "surge: --param needs KEY=VALUE, got '%s'\n", v);
                    goto out;
                }
                snprintf(key, sizeof param_keys[0], "%.*s", (int)(eq - v), v);
                value = eq + 1;
            }
            param_values[nparam_flags++] = value;
        }
    }
    int64_t from = INT64_MIN, to = INT64_MAX;
    if (input && (from_s || to_s)) {
        fprintf(stderr, "surge: --from/--to select events of the log; with --input the whole "
                        "table is used\n");
        goto out;
    }
    if (from_s && time_parse(from_s, &from)) {
        fprintf(stderr, "surge: --from '%s' is not an RFC 3339 time or epoch milliseconds\n",
                from_s);
        goto out;
    }
    if (to_s && time_parse(to_s, &to)) {
        fprintf(stderr, "surge: --to '%s' is not an RFC 3339 time or epoch milliseconds\n", to_s);
        goto out;
    }
    if (params_file && model_train_params_load(&params, params_file, &err)) {
        fprintf(stderr, "surge: %s\n", err.message);
        goto out;
    }
    for (int k = 0; k < nparam_flags; k++)
        if (model_train_param_set(&params, param_keys[k], param_values[k], &err)) {
            fprintf(stderr, "surge: %s\n", err.message);
            goto out;
        }
    if (test_from && time_parse(test_from, &params.test_from_ms)) {
        fprintf(stderr, "surge: --test-from '%s' is not an RFC 3339 time or epoch milliseconds\n",
                test_from);
        goto out;
    }
    if (version_flag[0] && !model_semver_valid(version_flag)) {
        fprintf(stderr, "surge: --version '%s' is not semver MAJOR.MINOR.PATCH (e.g. 1.2.0)\n",
                version_flag);
        goto out;
    }
    if (!name[0] || strlen(name) >= STORE_NAME_MAX) {
        fprintf(stderr, "surge: --name must be 1-%d characters\n", STORE_NAME_MAX - 1);
        goto out;
    }
    char db_url[1200];
    if (cli_prepare_data_dir(cfg, db_url, sizeof db_url, &err) ||
        !(db = store_db_open(db_url, &err))) {
        fprintf(stderr, "surge: %s\n", err.message);
        rc = 1;
        goto out;
    }
    store_model existing;
    if (version_flag[0] && store_model_get(db, name, version_flag, &existing, &err) == 0) {
        store_model_clear(&existing);
        fprintf(stderr, "surge: model %s version %s exists\n", name, version_flag);
        rc = 1;
        goto out;
    }
    opt.timezone = timezone;
    uint64_t replayed = 0;
    if (input ? model_dataset_from_csv(input, &opt, &d, &err) : 0) {
        fprintf(stderr, "surge: %s\n", err.message);
        rc = err.code == SURGE_EIO ? 1 : 2;
        goto out;
    }
    if (!input) {
        buf table;
        buf_init(&table);
        if (!json) fprintf(stderr, "train: replaying the event log into a training table\n");
        int trc = cli_replay_history(cfg, from, to, json, &table, &replayed, &err);
        if (!trc) trc = model_dataset_from_csv_text(table.data, table.len, "the log's table",
                                                    &opt, &d, &err);
        if (!trc) model_sha256_hex(table.data, table.len, d.source_sha256);
        buf_free(&table);
        if (trc) {
            fprintf(stderr, "surge: %s\n", err.message);
            rc = err.code == SURGE_EIO ? 1 : 2;
            goto out;
        }
    }
    progress_state ps = {.tty = isatty(2) == 1, .last_decile = 0};
    if (model_train(&d, &params, show_progress, &ps, &r, &err)) {
        fprintf(stderr, "surge: %s\n", err.message);
        rc = err.code == SURGE_EINVAL ? 2 : 1;
        goto out;
    }
    rc = 1;
    char version[MODEL_VERSION_MAX];
    snprintf(version, sizeof version, "%s", version_flag);
    buf dataset;
    buf_init(&dataset);
    if (input) {
        buf_puts(&dataset, "{\"kind\":\"csv\",\"path\":");
        json_put_string(&dataset, input);
    } else {
        buf_puts(&dataset, "{\"kind\":\"log\",\"from\":");
        json_put_int(&dataset, from == INT64_MIN ? 0 : from);
        buf_puts(&dataset, ",\"to\":");
        json_put_int(&dataset, to == INT64_MAX ? 0 : to);
        buf_printf(&dataset, ",\"events\":%llu", (unsigned long long)replayed);
    }
    buf_puts(&dataset, ",\"sha256\":");
    json_put_string(&dataset, d.source_sha256);
    buf_printf(&dataset, ",\"rows\":%zu}", d.source_rows);
    char actor[96];
    const char *user = getenv("USER");
    snprintf(actor, sizeof actor, "cli:%s", user && *user ? user : "unknown");
    int reg = model_registry_register(db, config_get_string(cfg, "data_dir"), name, version, &d,
                                      &params, &r, dataset.data, actor, &err);
    if (reg) {
        buf_free(&dataset);
        fprintf(stderr, "surge: %s\n", err.message);
        goto out;
    }
    if (predictions_out && write_predictions(predictions_out, &d, &r, &err)) {
        buf_free(&dataset);
        fprintf(stderr, "surge: %s\n", err.message);
        goto out;
    }
    const char *versions[1] = {version}, *statuses[1] = {"staged"};
    surge_error perr;
    if (cli_publish_model_updates(cfg, name, versions, statuses, 1, &perr))
        fprintf(stderr, "surge: note: model_update not published on system-events: %s\n",
                perr.message);
    if (json) {
        buf o;
        buf_init(&o);
        buf_puts(&o, "{\"name\":");
        json_put_string(&o, name);
        buf_puts(&o, ",\"version\":");
        json_put_string(&o, version);
        buf_puts(&o, ",\"status\":\"staged\",\"sha256\":");
        json_put_string(&o, r.sha256);
        buf_puts(&o, ",\"metrics\":");
        model_train_metrics_json(&d, &params, &r, &o);
        buf_puts(&o, ",\"feature_importance\":[");
        for (int i = 0; i < r.nimportance; i++) {
            if (i) buf_putc(&o, ',');
            buf_puts(&o, "{\"feature\":");
            json_put_string(&o, r.importance[i].name);
            buf_printf(&o, ",\"gain_share\":%.10g}", r.importance[i].gain_share);
        }
        buf_puts(&o, "],\"params\":");
        model_train_params_json(&params, &o);
        buf_puts(&o, ",\"dataset\":");
        buf_puts(&o, dataset.data);
        buf_puts(&o, "}\n");
        fputs(o.data, stdout);
        buf_free(&o);
    } else {
        print_summary(name, version, &d, &r);
    }
    buf_free(&dataset);
    rc = 0;
out:
    store_db_close(db);
    model_train_result_free(&r);
    model_dataset_free(&d);
    config_free(cfg);
    return rc;
}
