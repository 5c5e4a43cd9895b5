/* test_model_train.c: the history-table reader (exact features, labels and baselines; every
 * input error with its exact message), hyperparameters, SHA-256, and training itself:
 * reproducible bytes, metrics that add up, and a model that beats seasonal-naive. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

static const model_csv_options HOURLY = {.nhorizons = 2, .horizons_min = {60, 120}};

/* ---------------------------------------------------------------- sha256 */

static void test_sha256_matches_fips_vectors(void **state)
{
    (void)state;
    char out[MODEL_SHA256_HEX];
    model_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    model_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    model_sha256_hex(two_blocks, strlen(two_blocks), out);
    assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *million = malloc(1000000);
    assert_non_null(million);
    memset(million, 'a', 1000000);
    model_sha256_hex(million, 1000000, out);
    free(million);
    assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* ---------------------------------------------------------------- CSV errors */

static void expect_csv_error(const char *csv, const model_csv_options *opt, surge_code code,
                             const char *message)
{
    model_dataset d;
    surge_error err;
    memset(&err, 0, sizeof err);
    int rc = model_dataset_from_csv_text(csv, strlen(csv), "h.csv", opt, &d, &err);
    if (rc != (int)code || strcmp(err.message, message) != 0)
        fail_msg("csv:\n%s\nwant %d '%s'\ngot  %d '%s'", csv, code, message, rc, err.message);
    assert_null(d.features);
}

static void test_csv_errors_name_line_column_and_rule(void **state)
{
    (void)state;
    expect_csv_error("", &HOURLY, SURGE_EINVAL, "h.csv: empty: a header line is required");
    expect_csv_error("region_id,ts,temp\na,2026-01-05T00:00:00Z,1\n", &HOURLY, SURGE_EINVAL,
                     "h.csv:1: missing column 'demand' (the header needs region_id, ts and "
                     "demand)");
    expect_csv_error("region_id,ts,demand,ts\n", &HOURLY, SURGE_EINVAL,
                     "h.csv:1: column 4: 'ts' appears twice in the header");
    expect_csv_error("region_id,ts,demand,lag_1\n", &HOURLY, SURGE_EINVAL,
                     "h.csv:1: column 4: 'lag_1' is the name of a derived feature; rename the "
                     "column");
    expect_csv_error("region_id,ts,demand\n", &HOURLY, SURGE_EINVAL,
                     "h.csv: no data rows after the header");
    expect_csv_error("region_id,ts,demand\na,2026-01-05T00:00:00Z,1\n"
                     "a,2026-01-05T01:00:00Z,abc\n",
                     &HOURLY, SURGE_EINVAL,
                     "h.csv:3: column 3 (demand): 'abc' is not a number >= 0");
    expect_csv_error("region_id,ts,demand\na,2026-01-05T00:00:00Z,-1\n", &HOURLY, SURGE_EINVAL,
                     "h.csv:2: column 3 (demand): '-1' is not a number >= 0");
    expect_csv_error("region_id,ts,demand,temp\na,2026-01-05T00:00:00Z,1,x\n", &HOURLY,
                     SURGE_EINVAL, "h.csv:2: column 4 (temp): 'x' is not a number");
    expect_csv_error("region_id,ts,demand\na,yesterday,1\n", &HOURLY, SURGE_EINVAL,
                     "h.csv:2: column 2 (ts): 'yesterday' is not an RFC 3339 time or epoch "
                     "milliseconds");
    expect_csv_error("region_id,ts,demand\na,2026-01-05T00:00:00Z,1,2\n", &HOURLY, SURGE_EINVAL,
                     "h.csv:2: 4 fields, the header has 3");
    expect_csv_error("region_id,ts,demand\na,2026-01-05T00:00:00Z,1\n\n"
                     "a,2026-01-05T00:00:00Z,2\n",
                     &HOURLY, SURGE_EINVAL,
                     "h.csv:4: duplicate row for (a, 2026-01-05T00:00:00.000Z): line 2 has it "
                     "already");
    expect_csv_error("region_id,ts,demand\na,2026-01-05T01:00:00Z,1\na,2026-01-05T00:00:00Z,2\n",
                     &HOURLY, SURGE_EINVAL,
                     "h.csv:3: rows must be sorted by (region_id, ts): (a, "
                     "2026-01-05T00:00:00.000Z) comes after (a, 2026-01-05T01:00:00.000Z) on "
                     "line 2");
    expect_csv_error("region_id,ts,demand\nb,2026-01-05T00:00:00Z,1\na,2026-01-05T01:00:00Z,2\n",
                     &HOURLY, SURGE_EINVAL,
                     "h.csv:3: rows must be sorted by (region_id, ts): (a, "
                     "2026-01-05T01:00:00.000Z) comes after (b, 2026-01-05T00:00:00.000Z) on "
                     "line 2");
    expect_csv_error("region_id,ts,demand\na,2026-01-05T00:00:00Z,1\nb,2026-01-05T00:00:00Z,1\n",
                     &HOURLY, SURGE_EINVAL,
                     "h.csv: cannot infer the time step: every region has a single row");
    expect_csv_error("region_id,ts,demand\na,2026-01-05T00:00:00Z,1\na,2026-01-05T01:00:00Z,1\n"
                     "a,2026-01-05T02:30:00Z,1\n",
                     &HOURLY, SURGE_EINVAL,
                     "h.csv:4: column ts: 2026-01-05T02:30:00.000Z is not on region a's "
                     "60-minute grid (the previous row is on line 3)");
    expect_csv_error("region_id,ts,demand\na,2026-01-05T00:00:00Z,1\na,2026-01-05T00:00:30Z,1\n",
                     &HOURLY, SURGE_EINVAL,
                     "h.csv: the time step is 30000 ms; it must be whole minutes that divide a "
                     "day (1, 5, 15, 30, 60 min, ...)");
    model_csv_options quarter = {.nhorizons = 1, .horizons_min = {15}};
    expect_csv_error("region_id,ts,demand\na,2026-01-05T00:00:00Z,1\na,2026-01-05T01:00:00Z,1\n",
                     &quarter, SURGE_EINVAL,
                     "horizon 15 min is not a multiple of the input's step (60 min)");
    model_csv_options twice = {.nhorizons = 2, .horizons_min = {60, 60}};
    expect_csv_error("region_id,ts,demand\n", &twice, SURGE_EINVAL,
                     "horizon 60 min is given twice");
    expect_csv_error("region_id,ts,demand\na,\"2026-01-05T00:00:00Z,1\n", &HOURLY, SURGE_EPARSE,
                     "h.csv:2: column 2: a quoted field is not closed");
}

/* ---------------------------------------------------------------- features */

/* One region, hourly, demand = the row index i, 10 days from Monday 2026-01-05. */
static char *ramp_csv(int hours)
{
    buf b;
    buf_init(&b);
    buf_puts(&b, "region_id, ts, demand, temp\r\n");
    int64_t t0 = 1767571200000LL; /* 2026-01-05T00:00:00Z, a Monday */
    for (int i = 0; i < hours; i++) {
        if (i % 2)
            buf_printf(&b, "\"dr5ru\",%lld,%d,%s\r\n", (long long)(t0 + i * 3600000LL), i,
                       i == 7 ? "" : "1.5");
        else {
            char ts[40];
            time_format_rfc3339(t0 + i * 3600000LL, ts, sizeof ts);
            buf_printf(&b, "dr5ru, %s ,%d,%g\r\n", ts, i, 0.5 * i);
        }
    }
    return b.data;
}

static int feature(const model_dataset *d, const char *name)
{
    for (int f = 0; f < d->nfeatures; f++)
        if (strcmp(d->feature_names[f], name) == 0) return f;
    fail_msg("no feature %s", name);
    return -1;
}

static float at(const model_dataset *d, size_t row, const char *name)
{
    return d->features[row * (size_t)d->nfeatures + (size_t)feature(d, name)];
}

static void test_features_labels_and_baselines_are_exact(void **state)
{
    (void)state;
    char *csv = ramp_csv(240);
    model_dataset d;
    surge_error err;
    assert_int_equal(model_dataset_from_csv_text(csv, strlen(csv), "h.csv", &HOURLY, &d, &err), 0);
    free(csv);
    assert_int_equal(d.nrows, 240);
    assert_int_equal(d.nregions, 1);
    assert_string_equal(d.region_ids[0], "dr5ru");
    assert_int_equal(d.step_ms, 3600000);
    assert_int_equal(d.nfeatures, 16);
    assert_string_equal(d.feature_names[15], "temp");
    /* row 200: 2026-01-13T08:00Z, a Tuesday */
    size_t i = 200;
    assert_true(at(&d, i, "hour_of_day") == 8);
    assert_true(at(&d, i, "minute_of_day") == 480);
    assert_true(at(&d, i, "day_of_week") == 2);
    assert_true(at(&d, i, "is_weekend") == 0);
    assert_float_equal(at(&d, i, "day_sin"), sin(2 * M_PI * 480 / 1440), 1e-6);
    assert_float_equal(at(&d, i, "week_cos"), cos(2 * M_PI * (1440 + 480) / 10080.0), 1e-6);
    assert_true(at(&d, i, "lag_1") == 199);
    assert_true(at(&d, i, "lag_2") == 198);
    assert_true(at(&d, i, "lag_1d") == 176);
    assert_true(at(&d, i, "lag_1w") == 32);
    assert_true(at(&d, i, "mean_1h") == 199);
    assert_true(at(&d, i, "mean_1d") == 187.5f); /* mean of 176..199 */
    assert_true(at(&d, i, "mean_7d") == 115.5f); /* mean of 32..199 */
    assert_true(at(&d, i, "temp") == 100);       /* 0.5 * 200 */
    assert_true(isnan(at(&d, 7, "temp")));       /* empty: missing */
    assert_true(at(&d, 6, "is_weekend") == 0);
    assert_true(at(&d, 5 * 24 + 3, "is_weekend") == 1); /* Saturday */
    /* labels: demand over [t, t + h); baselines over the same window a week / 1..7 days ago */
    assert_true(d.labels[i * 2 + 0] == 200);
    assert_true(d.labels[i * 2 + 1] == 401);
    assert_true(d.naive_week[i * 2 + 0] == 32);
    assert_true(d.naive_week[i * 2 + 1] == 65);
    assert_true(d.avg_7d[i * 2 + 0] == 104); /* 200 - 24 * 4 */
    assert_true(d.avg_7d[i * 2 + 1] == 209);
    /* unknown at the edges */
    assert_true(isnan(at(&d, 0, "lag_1")));
    assert_true(isnan(at(&d, 0, "mean_7d")));
    assert_true(isnan(d.naive_week[100 * 2]));
    assert_true(isnan(d.labels[239 * 2 + 1]));
    assert_true(d.labels[239 * 2 + 0] == 239);
    model_dataset_free(&d);
}

static void test_gaps_make_windows_unknown_and_timezone_moves_the_calendar(void **state)
{
    (void)state;
    /* 15-minute rows with 00:30 missing */
    const char *csv = "region_id,ts,demand\n"
                      "a,2026-07-01T00:00:00Z,4\n"
                      "a,2026-07-01T00:15:00Z,5\n"
                      "a,2026-07-01T00:45:00Z,7\n"
                      "a,2026-07-01T01:00:00Z,8\n";
    model_csv_options opt = {
        .nhorizons = 2, .horizons_min = {15, 30}, .timezone = "America/New_York"};
    model_dataset d;
    surge_error err;
    assert_int_equal(model_dataset_from_csv_text(csv, strlen(csv), "g.csv", &opt, &d, &err), 0);
    assert_int_equal(d.step_ms, 900000);
    assert_true(d.labels[0 * 2 + 1] == 9);   /* 4 + 5 */
    assert_true(isnan(d.labels[1 * 2 + 1])); /* 5 + (missing) */
    assert_true(isnan(at(&d, 2, "lag_1")));  /* 00:30 is missing */
    assert_true(at(&d, 2, "lag_2") == 5);
    assert_true(at(&d, 3, "mean_1h") == (4 + 5 + 7) / 3.0f);
    /* 00:00Z is 20:00 the day before in New York (EDT, UTC-4), a Tuesday */
    assert_true(at(&d, 0, "hour_of_day") == 20);
    assert_true(at(&d, 0, "day_of_week") == 2);
    assert_string_equal(d.timezone, "America/New_York");
    model_dataset_free(&d);
}

static void test_csv_quoting_bom_and_crlf(void **state)
{
    (void)state;
    const char *csv = "\xEF\xBB\xBFregion_id,\"ts\",demand\r\n"
                      "\"a\"\"b\",2026-01-05T00:00:00+01:00,1\r\n"
                      "\"a\"\"b\" , 2026-01-05T00:00:00Z ,\"2.5\"\r\n"
                      "\r\n";
    model_csv_options opt = {.nhorizons = 1, .horizons_min = {60}};
    model_dataset d;
    surge_error err;
    assert_int_equal(model_dataset_from_csv_text(csv, strlen(csv), "q.csv", &opt, &d, &err), 0);
    assert_int_equal(d.nregions, 1);
    assert_string_equal(d.region_ids[0], "a\"b");
    assert_int_equal(d.nrows, 2);
    assert_int_equal(d.ts_ms[1] - d.ts_ms[0], 3600000); /* +01:00 is an hour earlier */
    assert_true(d.labels[0] == 1 && d.labels[1] == 2.5f);
    model_dataset_free(&d);
}

/* ---------------------------------------------------------------- parameters */

static void test_hyperparameters_are_range_checked(void **state)
{
    (void)state;
    model_train_params p;
    model_train_params_defaults(&p);
    surge_error err;
    assert_int_equal(model_train_param_set(&p, "eta", "0.05", &err), 0);
    assert_true(p.eta == 0.05);
    assert_int_equal(model_train_param_set(&p, "eta", "0", &err), SURGE_EINVAL);
    assert_string_equal(err.message, "eta = '0': must be a number in (0, 1]");
    assert_int_equal(model_train_param_set(&p, "rounds", "10.5", &err), SURGE_EINVAL);
    assert_string_equal(err.message, "rounds = '10.5': must be an integer in [1, 10000]");
    assert_int_equal(model_train_param_set(&p, "depth", "3", &err), SURGE_EINVAL);
    assert_string_equal(err.field, "depth");
    assert_int_equal(strncmp(err.message, "unknown hyperparameter 'depth'", 30), 0);
    buf b;
    buf_init(&b);
    model_train_params_json(&p, &b);
    assert_string_equal(b.data,
                        "{\"rounds\":200,\"max_depth\":6,\"eta\":0.05,\"subsample\":1,"
                        "\"colsample_bytree\":1,\"min_child_weight\":1,\"lambda\":1,\"seed\":0,"
                        "\"threads\":1,\"interval\":0.9,\"calibration_fraction\":0.2,"
                        "\"objective\":\"reg:squarederror\",\"tree_method\":\"hist\"}");
    buf_free(&b);
}

/* ---------------------------------------------------------------- training */

/* Two regions, 15-minute steps, 5 weeks: daily and weekly seasonality and noise from a fixed
 * LCG, so the data is the same on every run. */
static char *seasonal_csv(void)
{
    buf b;
    buf_init(&b);
    buf_puts(&b, "region_id,ts,demand,temperature\n");
    uint64_t rng = 42;
    int64_t t0 = 1767571200000LL;
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 35 * 96; i++) {
            int64_t ts = t0 + i * 900000LL;
            double hour = (i % 96) / 4.0;
            int dow = (i / 96) % 7;
            double daily = 0.3 + 1.2 * exp(-(hour - 8.5) * (hour - 8.5) / 2) +
                           exp(-(hour - 18) * (hour - 18) / 3);
            double weekly = dow >= 5 ? 0.6 : 1.0 + 0.05 * dow;
            double lam = (r ? 30 : 18) * daily * weekly;
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = (double)(rng >> 11) / 9007199254740992.0;
            double noise = (u - 0.5) * 2 * sqrt(lam) * 1.7;
            double demand = floor(fmax(0, lam + noise) + 0.5);
            char tsbuf[40];
            time_format_rfc3339(ts, tsbuf, sizeof tsbuf);
            buf_printf(&b, "r%d,%s,%.0f,%.1f\n", r, tsbuf, demand, 5 + 3 * sin(i / 40.0));
        }
    return b.data;
}

static void test_training_is_reproducible_and_beats_seasonal_naive(void **state)
{
    (void)state;
    char *csv = seasonal_csv();
    model_csv_options opt = {.nhorizons = 2, .horizons_min = {15, 60}};
    model_dataset d;
    surge_error err;
    assert_int_equal(model_dataset_from_csv_text(csv, strlen(csv), "s.csv", &opt, &d, &err), 0);
    free(csv);
    model_train_params p;
    model_train_params_defaults(&p);
    p.rounds = 60;
    p.seed = 3;
    model_train_result a, b;
    int calls = 0;
    assert_int_equal(model_train(&d, &p, NULL, NULL, &a, &err), 0);
    assert_int_equal(model_train(&d, &p, NULL, &calls, &b, &err), 0);
    assert_string_equal(a.sha256, b.sha256);
    for (int h = 0; h < 2; h++) {
        assert_int_equal(a.booster_json[h].len, b.booster_json[h].len);
        assert_memory_equal(a.booster_json[h].data, b.booster_json[h].data, a.booster_json[h].len);
        char sha[MODEL_SHA256_HEX];
        model_sha256_hex(a.booster_json[h].data, a.booster_json[h].len, sha);
        assert_string_equal(sha, a.horizons[h].sha256);
    }
    const model_horizon_metrics *m60 = &a.horizons[1];
    assert_int_equal(m60->horizon_min, 60);
    assert_true(m60->mase < 1.0);
    assert_true(m60->mase_avg_7d < 1.0);
    /* the metrics agree with the held-out predictions they came from */
    double abs_sum = 0, actual_sum = 0;
    size_t n = 0, covered = 0;
    for (size_t i = 0; i < a.npredictions; i++) {
        const model_prediction *pr = &a.predictions[i];
        if (pr->horizon_min != 60) continue;
        n++;
        abs_sum += fabs((double)pr->actual - (double)pr->predicted);
        actual_sum += pr->actual;
        covered += pr->actual >= pr->lower && pr->actual <= pr->upper;
        assert_float_equal(pr->upper - pr->predicted, m60->interval_half_width, 1e-3);
    }
    assert_int_equal(n, m60->test_rows);
    assert_float_equal(abs_sum / (double)n, m60->mae, 1e-9);
    assert_float_equal(abs_sum / actual_sum, m60->wape, 1e-9);
    assert_float_equal((double)covered / (double)n, m60->coverage, 1e-12);
    assert_true(m60->coverage > 0.8 && m60->coverage < 0.97);
    /* surge's own evaluator loads the saved booster and predicts exactly what XGBoost did */
    model_ensemble *e =
        model_ensemble_load_xgboost_json(a.booster_json[1].data, a.booster_json[1].len, &err);
    assert_non_null(e);
    assert_int_equal(model_ensemble_feature_count(e), d.nfeatures);
    assert_string_equal(model_ensemble_feature_name(e, 11), "lag_1w");
    size_t checked = 0;
    const model_prediction *pr = a.predictions;
    while (pr->horizon_min != 60)
        pr++;
    for (size_t i = 0; i < d.nrows; i++) {
        if (d.ts_ms[i] < a.test_from_ms || isnan(d.labels[i * 2 + 1]) ||
            isnan(d.naive_week[i * 2 + 1]) || isnan(d.avg_7d[i * 2 + 1]))
            continue;
        float y;
        model_ensemble_predict(e, d.features + i * (size_t)d.nfeatures, &y);
        assert_int_equal(pr->ts_ms, d.ts_ms[i]);
        assert_true(y == pr->predicted);
        pr++;
        checked++;
    }
    assert_int_equal(checked, m60->test_rows);
    model_ensemble_free(e);
    /* the default split: the last 20% of the time range, on the grid */
    char t[40];
    time_format_rfc3339(a.test_from_ms, t, sizeof t);
    assert_string_equal(t, "2026-02-01T23:45:00.000Z");
    assert_true(a.importance[0].gain_share >= a.importance[1].gain_share);
    double share = 0;
    for (int f = 0; f < a.nimportance; f++)
        share += a.importance[f].gain_share;
    assert_float_equal(share, 1.0, 1e-9);
    model_train_result_free(&b);

    /* a different seed with row subsampling gives a different model */
    p.subsample = 0.8;
    assert_int_equal(model_train(&d, &p, NULL, NULL, &b, &err), 0);
    assert_string_not_equal(a.sha256, b.sha256);
    model_train_result_free(&b);
    p.test_from_ms = 1767571200000LL; /* the very first row: nothing to train on */
    assert_int_equal(model_train(&d, &p, NULL, NULL, &b, &err), SURGE_EINVAL);
    assert_string_equal(err.message, "test_from 2026-01-05T00:00:00.000Z must fall inside the "
                                     "data (2026-01-05T00:00:00.000Z .. "
                                     "2026-02-08T23:45:00.000Z)");
    model_train_result_free(&a);
    model_dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_matches_fips_vectors),
        cmocka_unit_test(test_csv_errors_name_line_column_and_rule),
        cmocka_unit_test(test_features_labels_and_baselines_are_exact),
        cmocka_unit_test(test_gaps_make_windows_unknown_and_timezone_moves_the_calendar),
        cmocka_unit_test(test_csv_quoting_bom_and_crlf),
        cmocka_unit_test(test_hyperparameters_are_range_checked),
        cmocka_unit_test(test_training_is_reproducible_and_beats_seasonal_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
