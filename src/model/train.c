/* train.c: `surge train`'s engine. Reads a history table into a model_dataset (calendar, lag
 * and rolling features, per-horizon labels and the two baselines), trains one XGBoost booster
 * per horizon, calibrates split-conformal intervals and measures the held-out tail against
 * seasonal-naive and the 7-day average. docs/models.md is the user-facing description. */
#include "model.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#define MINUTE_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define WEEK_MS (7 * DAY_MS)

void model_dataset_free(model_dataset *d)
{
    if (!d) return;
    free(d->features);
    free(d->labels);
    free(d->naive_week);
    free(d->avg_7d);
    free(d->ts_ms);
    free(d->region);
    free(d->region_ids);
    d->features = d->labels = d->naive_week = d->avg_7d = NULL;
    d->ts_ms = NULL;
    d->region = NULL;
    d->region_ids = NULL;
    d->nrows = d->nregions = 0;
}

/* ---------------------------------------------------------------- CSV reading */

#define CSV_COLUMNS_MAX (MODEL_FEATURES_MAX + 3)
#define CSV_FIELD_MAX 256

/* One line split into fields. Fields may be double-quoted ("" is a quote inside); unquoted
 * fields are trimmed of spaces and tabs. */
typedef struct csv_line {
    int count;
    char fields[CSV_COLUMNS_MAX][CSV_FIELD_MAX];
} csv_line;

static int csv_split(const char *s, size_t len, const char *name, size_t lineno, csv_line *out,
                     surge_error *err)
{
    out->count = 0;
    size_t i = 0;
    for (;;) {
        if (out->count == CSV_COLUMNS_MAX)
            return surge_fail(err, SURGE_EINVAL, "input", "%s:%zu: more than %d columns", name,
                              lineno, CSV_COLUMNS_MAX);
        char *f = out->fields[out->count];
        size_t n = 0;
        int col = out->count + 1;
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i < len && s[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return surge_fail(err, SURGE_EPARSE, "input",
                                      "%s:%zu: column %d: a quoted field is not closed", name,
                                      lineno, col);
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        i++;
                    } else {
                        i++;
                        break;
                    }
                }
                if (n + 1 >= CSV_FIELD_MAX)
                    return surge_fail(err, SURGE_EINVAL, "input",
                                      "%s:%zu: column %d: field longer than %d bytes", name, lineno,
                                      col, CSV_FIELD_MAX - 1);
                f[n++] = s[i++];
            }
            while (i < len && (s[i] == ' ' || s[i] == '\t'))
                i++;
            if (i < len && s[i] != ',')
                return surge_fail(err, SURGE_EPARSE, "input",
                                  "%s:%zu: column %d: text after a closing quote", name, lineno,
                                  col);
        } else {
            while (i < len && s[i] != ',') {
                if (s[i] == '"')
                    return surge_fail(err, SURGE_EPARSE, "input",
                                      "%s:%zu: column %d: a quote inside an unquoted field", name,
                                      lineno, col);
                if (n + 1 >= CSV_FIELD_MAX)
                    return surge_fail(err, SURGE_EINVAL, "input",
                                      "%s:%zu: column %d: field longer than %d bytes", name, lineno,
                                      col, CSV_FIELD_MAX - 1);
                f[n++] = s[i++];
            }
            while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\t'))
                n--;
        }
        f[n] = 0;
        out->count++;
        if (i >= len) return 0;
        i++; /* the comma */
    }
}

/* A whole-field decimal number (strtod syntax, finite). Empty is *empty = true. */
static int parse_number(const char *s, double *out, bool *empty)
{
    *empty = s[0] == 0;
    if (*empty) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static bool feature_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MODEL_FEATURE_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* The derived features, in column order; exogenous columns follow them. */
static const char *const DERIVED[] = {
    "hour_of_day", "minute_of_day", "day_of_week", "is_weekend", "day_sin",
    "day_cos",     "week_sin",      "week_cos",    "lag_1",      "lag_2",
    "lag_1d",      "lag_1w",        "mean_1h",     "mean_1d",    "mean_7d",
};
#define NDERIVED ((int)(sizeof DERIVED / sizeof DERIVED[0]))

/* The raw table: rows in input order (sorted by region, ts). */
typedef struct raw_table {
    size_t n, cap;
    int64_t *ts;
    uint32_t *region;
    size_t *line;
    double *demand;
    float *exog; /* n x nexog */
    int nexog;
    size_t nregions, region_cap;
    char (*region_ids)[STORE_REGION_ID_MAX];
} raw_table;

static void raw_free(raw_table *t)
{
    free(t->ts);
    free(t->region);
    free(t->line);
    free(t->demand);
    free(t->exog);
    free(t->region_ids);
    memset(t, 0, sizeof *t);
}

static int raw_reserve(raw_table *t, surge_error *err)
{
    if (t->n < t->cap) return 0;
    size_t cap = t->cap ? t->cap * 2 : 4096;
    int64_t *ts = realloc(t->ts, cap * sizeof *ts);
    if (ts) t->ts = ts;
    uint32_t *region = realloc(t->region, cap * sizeof *region);
    if (region) t->region = region;
    size_t *line = realloc(t->line, cap * sizeof *line);
    if (line) t->line = line;
    double *demand = realloc(t->demand, cap * sizeof *demand);
    if (demand) t->demand = demand;
    float *exog = t->nexog ? realloc(t->exog, cap * (size_t)t->nexog * sizeof *exog) : t->exog;
    if (exog) t->exog = exog;
    if (!ts || !region || !line || !demand || (t->nexog && !exog))
        return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory reading the input");
    t->cap = cap;
    return 0;
}

static int raw_add_region(raw_table *t, const char *id, surge_error *err)
{
    if (t->nregions == t->region_cap) {
        size_t cap = t->region_cap ? t->region_cap * 2 : 64;
        void *p = realloc(t->region_ids, cap * sizeof *t->region_ids);
        if (!p) return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory reading the input");
        t->region_ids = p;
        t->region_cap = cap;
    }
    snprintf(t->region_ids[t->nregions++], STORE_REGION_ID_MAX, "%s", id);
    return 0;
}

static void fmt_time(int64_t ms, char *out, size_t size)
{
    time_format_rfc3339(ms, out, size);
}

/* Parses the text into a raw table and the exogenous column names. */
static int read_table(const char *text, size_t len, const char *name, raw_table *t,
                      char exog_names[][MODEL_FEATURE_NAME_MAX], surge_error *err)
{
    csv_line *line = malloc(sizeof *line);
    if (!line) return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    int col_region = -1, col_ts = -1, col_demand = -1;
    int exog_col[MODEL_FEATURES_MAX];
    int ncols = 0;
    bool header_seen = false;
    size_t lineno = 0, pos = 0;
    int rc = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3; /* a UTF-8 BOM */
    while (pos < len && !rc) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - start) : len - pos;
        pos += l + (nl ? 1 : 0);
        lineno++;
        if (l > 0 && start[l - 1] == '\r') l--;
        size_t k = 0;
        while (k < l && (start[k] == ' ' || start[k] == '\t'))
            k++;
        if (k == l) continue; /* blank line */
        if (memchr(start, '\0', l)) {
            rc = surge_fail(err, SURGE_EPARSE, "input", "%s:%zu: a NUL byte in the line", name,
                            lineno);
            break;
        }
        if ((rc = csv_split(start, l, name, lineno, line, err))) break;
        if (!header_seen) {
            header_seen = true;
            ncols = line->count;
            for (int c = 0; c < ncols && !rc; c++) {
                const char *h = line->fields[c];
                for (int d = 0; d < c; d++)
                    if (strcmp(line->fields[d], h) == 0) {
                        rc = surge_fail(err, SURGE_EINVAL, "input",
                                        "%s:%zu: column %d: '%s' appears twice in the header", name,
                                        lineno, c + 1, h);
                        break;
                    }
                if (rc) break;
                if (strcmp(h, "region_id") == 0)
                    col_region = c;
                else if (strcmp(h, "ts") == 0)
                    col_ts = c;
                else if (strcmp(h, "demand") == 0)
                    col_demand = c;
                else {
                    if (!feature_name_ok(h)) {
                        rc = surge_fail(err, SURGE_EINVAL, "input",
                                        "%s:%zu: column %d: '%s' is not a usable column name "
                                        "(1-%d characters A-Z a-z 0-9 _ - .)",
                                        name, lineno, c + 1, h, MODEL_FEATURE_NAME_MAX - 1);
                        break;
                    }
                    for (int d = 0; d < NDERIVED; d++)
                        if (strcmp(DERIVED[d], h) == 0)
                            rc = surge_fail(err, SURGE_EINVAL, "input",
                                            "%s:%zu: column %d: '%s' is the name of a derived "
                                            "feature; rename the column",
                                            name, lineno, c + 1, h);
                    if (rc) break;
                    if (NDERIVED + t->nexog >= MODEL_FEATURES_MAX) {
                        rc = surge_fail(err, SURGE_EINVAL, "input",
                                        "%s:%zu: more than %d exogenous columns", name, lineno,
                                        MODEL_FEATURES_MAX - NDERIVED);
                        break;
                    }
                    exog_col[t->nexog] = c;
                    memcpy(exog_names[t->nexog], h, strlen(h) + 1); /* feature_name_ok: fits */
                    t->nexog++;
                }
            }
            if (rc) break;
            const char *missing = col_region < 0   ? "region_id"
                                  : col_ts < 0     ? "ts"
                                  : col_demand < 0 ? "demand"
                                                   : NULL;
            if (missing) {
                rc = surge_fail(err, SURGE_EINVAL, "input",
                                "%s:%zu: missing column '%s' (the header needs region_id, ts "
                                "and demand)",
                                name, lineno, missing);
                break;
            }
            continue;
        }
        if (line->count != ncols) {
            rc = surge_fail(err, SURGE_EINVAL, "input", "%s:%zu: %d fields, the header has %d",
                            name, lineno, line->count, ncols);
            break;
        }
        const char *region = line->fields[col_region];
        if (!region[0] || strlen(region) >= STORE_REGION_ID_MAX) {
            rc = surge_fail(err, SURGE_EINVAL, "input",
                            "%s:%zu: column %d (region_id): must be 1-%d characters", name, lineno,
                            col_region + 1, STORE_REGION_ID_MAX - 1);
            break;
        }
        int64_t ts;
        if (time_parse(line->fields[col_ts], &ts)) {
            rc = surge_fail(err, SURGE_EINVAL, "input",
                            "%s:%zu: column %d (ts): '%s' is not an RFC 3339 time or epoch "
                            "milliseconds",
                            name, lineno, col_ts + 1, line->fields[col_ts]);
            break;
        }
        double demand;
        bool empty;
        if (parse_number(line->fields[col_demand], &demand, &empty) || empty || demand < 0) {
            rc = surge_fail(err, SURGE_EINVAL, "input",
                            "%s:%zu: column %d (demand): '%s' is not a number >= 0", name, lineno,
                            col_demand + 1, line->fields[col_demand]);
            break;
        }
        /* sorted by (region_id, ts), no duplicates */
        uint32_t r;
        if (t->n > 0) {
            const char *prev_region = t->region_ids[t->region[t->n - 1]];
            int cmp = strcmp(region, prev_region);
            int64_t prev_ts = t->ts[t->n - 1];
            if (cmp < 0 || (cmp == 0 && ts <= prev_ts)) {
                char a[40], b[40];
                fmt_time(ts, a, sizeof a);
                fmt_time(prev_ts, b, sizeof b);
                if (cmp == 0 && ts == prev_ts)
                    rc = surge_fail(err, SURGE_EINVAL, "input",
                                    "%s:%zu: duplicate row for (%s, %s): line %zu has it already",
                                    name, lineno, region, a, t->line[t->n - 1]);
                else
                    rc = surge_fail(err, SURGE_EINVAL, "input",
                                    "%s:%zu: rows must be sorted by (region_id, ts): (%s, %s) "
                                    "comes after (%s, %s) on line %zu",
                                    name, lineno, region, a, prev_region, b, t->line[t->n - 1]);
                break;
            }
            if (cmp == 0)
                r = t->region[t->n - 1];
            else if ((rc = raw_add_region(t, region, err)))
                break;
            else
                r = (uint32_t)(t->nregions - 1);
        } else {
            if ((rc = raw_add_region(t, region, err))) break;
            r = 0;
        }
        if ((rc = raw_reserve(t, err))) break;
        for (int e = 0; e < t->nexog && !rc; e++) {
            const char *f = line->fields[exog_col[e]];
            double v = NAN;
            if (parse_number(f, &v, &empty))
                rc = surge_fail(err, SURGE_EINVAL, "input",
                                "%s:%zu: column %d (%s): '%s' is not a number", name, lineno,
                                exog_col[e] + 1, exog_names[e], f);
            t->exog[t->n * (size_t)t->nexog + (size_t)e] = empty ? NAN : (float)v;
        }
        if (rc) break;
        t->ts[t->n] = ts;
        t->region[t->n] = r;
        t->line[t->n] = lineno;
        t->demand[t->n] = demand;
        t->n++;
    }
    free(line);
    if (!rc && !header_seen)
        rc = surge_fail(err, SURGE_EINVAL, "input", "%s: empty: a header line is required", name);
    if (!rc && t->n == 0)
        rc = surge_fail(err, SURGE_EINVAL, "input", "%s: no data rows after the header", name);
    return rc;
}

/* The step: the smallest gap between consecutive rows of a region. Every gap must be a
 * multiple of it, it must be whole minutes and divide a day. */
static int infer_step(const raw_table *t, const char *name, int64_t *step_out, surge_error *err)
{
    int64_t step = 0;
    for (size_t i = 1; i < t->n; i++)
        if (t->region[i] == t->region[i - 1]) {
            int64_t d = t->ts[i] - t->ts[i - 1];
            if (step == 0 || d < step) step = d;
        }
    if (step == 0)
        return surge_fail(err, SURGE_EINVAL, "input",
                          "%s: cannot infer the time step: every region has a single row", name);
    if (step % MINUTE_MS || DAY_MS % step)
        return surge_fail(err, SURGE_EINVAL, "input",
                          "%s: the time step is %lld ms; it must be whole minutes that divide a "
                          "day (1, 5, 15, 30, 60 min, ...)",
                          name, (long long)step);
    for (size_t i = 1; i < t->n; i++)
        if (t->region[i] == t->region[i - 1] && (t->ts[i] - t->ts[i - 1]) % step) {
            char a[40];
            fmt_time(t->ts[i], a, sizeof a);
            return surge_fail(err, SURGE_EINVAL, "input",
                              "%s:%zu: column ts: %s is not on region %s's %lld-minute grid "
                              "(the previous row is on line %zu)",
                              name, t->line[i], a, t->region_ids[t->region[i]],
                              (long long)(step / MINUTE_MS), t->line[i - 1]);
        }
    *step_out = step;
    return 0;
}

/* Sum of dense[a..b) when every value is known (NAN otherwise, or out of range). */
static double window_sum(const double *dense, int64_t n, int64_t a, int64_t b)
{
    if (a < 0 || b > n || a >= b) return NAN;
    double s = 0;
    for (int64_t i = a; i < b; i++) {
        if (isnan(dense[i])) return NAN;
        s += dense[i];
    }
    return s;
}

/* Mean of the known values of dense[a..b) from prefix sums (NAN when none is known). */
static double window_mean(const double *psum, const int64_t *pcount, int64_t a, int64_t b)
{
    if (a < 0) a = 0;
    if (b <= a) return NAN;
    int64_t c = pcount[b] - pcount[a];
    return c ? (psum[b] - psum[a]) / (double)c : NAN;
}

static int build_features(const raw_table *t, int64_t step, const model_csv_options *opt,
                          const tz_zone *zone, model_dataset *d, surge_error *err)
{
    size_t n = t->n;
    int nf = d->nfeatures, nh = d->nhorizons;
    d->nrows = n;
    d->features = malloc(n * (size_t)nf * sizeof(float));
    d->labels = malloc(n * (size_t)nh * sizeof(float));
    d->naive_week = malloc(n * (size_t)nh * sizeof(float));
    d->avg_7d = malloc(n * (size_t)nh * sizeof(float));
    d->ts_ms = malloc(n * sizeof(int64_t));
    d->region = malloc(n * sizeof(uint32_t));
    if (!d->features || !d->labels || !d->naive_week || !d->avg_7d || !d->ts_ms || !d->region)
        return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory building features");
    int64_t per_hour = HOUR_MS / step > 0 ? HOUR_MS / step : 1;
    int64_t per_day = DAY_MS / step, per_week = WEEK_MS / step;
    size_t begin = 0;
    double *dense = NULL, *psum = NULL;
    int64_t *pcount = NULL;
    int rc = 0;
    while (begin < n && !rc) {
        size_t end = begin;
        while (end < n && t->region[end] == t->region[begin])
            end++;
        int64_t first = t->ts[begin];
        int64_t slots = (t->ts[end - 1] - first) / step + 1;
        double *dn = realloc(dense, (size_t)slots * sizeof *dn);
        double *ps = dn ? realloc(psum, ((size_t)slots + 1) * sizeof *ps) : NULL;
        int64_t *pc = ps ? realloc(pcount, ((size_t)slots + 1) * sizeof *pc) : NULL;
        if (dn) dense = dn;
        if (ps) psum = ps;
        if (pc) pcount = pc;
        if (!dn || !ps || !pc) {
            rc = surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory building features");
            break;
        }
        for (int64_t s = 0; s < slots; s++)
            dense[s] = NAN;
        for (size_t i = begin; i < end; i++)
            dense[(t->ts[i] - first) / step] = t->demand[i];
        psum[0] = 0;
        pcount[0] = 0;
        for (int64_t s = 0; s < slots; s++) {
            bool known = !isnan(dense[s]);
            psum[s + 1] = psum[s] + (known ? dense[s] : 0);
            pcount[s + 1] = pcount[s] + (known ? 1 : 0);
        }
        for (size_t i = begin; i < end; i++) {
            int64_t ts = t->ts[i];
            int64_t s = (ts - first) / step;
            float *f = d->features + i * (size_t)nf;
            int hour, dow;
            tz_local_hour(zone, ts, &hour, &dow);
            int64_t local_ms = ts + (int64_t)tz_offset_s(zone, ts) * 1000;
            int64_t minute = ((local_ms % DAY_MS + DAY_MS) % DAY_MS) / MINUTE_MS;
            double day_angle = 2 * M_PI * (double)minute / 1440.0;
            double week_angle = 2 * M_PI * (double)((dow - 1) * 1440 + minute) / 10080.0;
            double lag1 = s >= 1 ? dense[s - 1] : NAN;
            double lag2 = s >= 2 ? dense[s - 2] : NAN;
            double lagd = s >= per_day ? dense[s - per_day] : NAN;
            double lagw = s >= per_week ? dense[s - per_week] : NAN;
            float vals[NDERIVED] = {
                (float)hour,
                (float)minute,
                (float)dow,
                dow >= 6 ? 1.0f : 0.0f,
                (float)sin(day_angle),
                (float)cos(day_angle),
                (float)sin(week_angle),
                (float)cos(week_angle),
                (float)lag1,
                (float)lag2,
                (float)lagd,
                (float)lagw,
                (float)window_mean(psum, pcount, s - per_hour, s),
                (float)window_mean(psum, pcount, s - per_day, s),
                (float)window_mean(psum, pcount, s - per_week, s),
            };
            memcpy(f, vals, sizeof vals);
            for (int e = 0; e < t->nexog; e++)
                f[NDERIVED + e] = t->exog[i * (size_t)t->nexog + (size_t)e];
            for (int h = 0; h < nh; h++) {
                int64_t k = (int64_t)opt->horizons_min[h] * MINUTE_MS / step;
                size_t at = i * (size_t)nh + (size_t)h;
                d->labels[at] = (float)window_sum(dense, slots, s, s + k);
                d->naive_week[at] = (float)window_sum(dense, slots, s - per_week, s - per_week + k);
                double avg = 0;
                for (int j = 1; j <= 7 && !isnan(avg); j++)
                    avg += window_sum(dense, slots, s - j * per_day, s - j * per_day + k);
                d->avg_7d[at] = (float)(avg / 7.0);
            }
            d->ts_ms[i] = ts;
            d->region[i] = t->region[i];
        }
        begin = end;
    }
    free(dense);
    free(psum);
    free(pcount);
    return rc;
}

int model_dataset_from_csv_text(const char *text, size_t len, const char *name,
                                const model_csv_options *opt, model_dataset *out, surge_error *err)
{
    memset(out, 0, sizeof *out);
    if (!opt || opt->nhorizons < 1 || opt->nhorizons > MODEL_HORIZONS_MAX)
        return surge_fail(err, SURGE_EINVAL, "horizons", "give 1 to %d horizons",
                          MODEL_HORIZONS_MAX);
    for (int h = 0; h < opt->nhorizons; h++) {
        if (opt->horizons_min[h] < 1 || opt->horizons_min[h] > 1440)
            return surge_fail(err, SURGE_EINVAL, "horizons",
                              "horizon %d min is out of range: 1..1440 minutes",
                              opt->horizons_min[h]);
        for (int k = 0; k < h; k++)
            if (opt->horizons_min[k] == opt->horizons_min[h])
                return surge_fail(err, SURGE_EINVAL, "horizons", "horizon %d min is given twice",
                                  opt->horizons_min[h]);
    }
    const char *tzname = opt->timezone && *opt->timezone ? opt->timezone : "UTC";
    const tz_zone *zone = tz_load(tzname, err);
    if (!zone) return err->code;
    raw_table t;
    memset(&t, 0, sizeof t);
    char exog_names[MODEL_FEATURES_MAX][MODEL_FEATURE_NAME_MAX];
    int64_t step = 0;
    int rc = read_table(text, len, name, &t, exog_names, err);
    if (!rc) rc = infer_step(&t, name, &step, err);
    model_csv_options fitted = *opt;
    if (!rc && opt->drop_off_step_horizons) {
        fitted.nhorizons = 0;
        for (int h = 0; h < opt->nhorizons; h++)
            if (((int64_t)opt->horizons_min[h] * MINUTE_MS) % step == 0)
                fitted.horizons_min[fitted.nhorizons++] = opt->horizons_min[h];
        if (fitted.nhorizons == 0)
            fitted.horizons_min[fitted.nhorizons++] = (int)(step / MINUTE_MS);
    }
    opt = &fitted;
    for (int h = 0; !rc && h < opt->nhorizons; h++)
        if (((int64_t)opt->horizons_min[h] * MINUTE_MS) % step)
            rc = surge_fail(err, SURGE_EINVAL, "horizons",
                            "horizon %d min is not a multiple of the input's step (%lld min)",
                            opt->horizons_min[h], (long long)(step / MINUTE_MS));
    if (!rc) {
        out->step_ms = step;
        out->nhorizons = opt->nhorizons;
        memcpy(out->horizons_min, opt->horizons_min, sizeof out->horizons_min);
        out->nfeatures = NDERIVED + t.nexog;
        for (int f = 0; f < NDERIVED; f++)
            str_copy(out->feature_names[f], MODEL_FEATURE_NAME_MAX, DERIVED[f]);
        for (int e = 0; e < t.nexog; e++)
            str_copy(out->feature_names[NDERIVED + e], MODEL_FEATURE_NAME_MAX, exog_names[e]);
        snprintf(out->timezone, sizeof out->timezone, "%s", tzname);
        out->source_rows = t.n;
        rc = build_features(&t, step, opt, zone, out, err);
    }
    if (!rc) {
        out->nregions = t.nregions;
        out->region_ids = t.region_ids; /* handed over */
        t.region_ids = NULL;
    }
    raw_free(&t);
    if (rc) model_dataset_free(out);
    return rc;
}

int model_dataset_from_csv(const char *path, const model_csv_options *opt, model_dataset *out,
                           surge_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return surge_fail(err, SURGE_EIO, "input", "cannot open %s: %s", path, strerror(errno));
    buf b;
    buf_init(&b);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, got);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        buf_free(&b);
        return surge_fail(err, SURGE_EIO, "input", "cannot read %s", path);
    }
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int rc = model_dataset_from_csv_text(b.data ? b.data : "", b.len, name, opt, out, err);
    if (!rc) model_sha256_hex(b.data ? b.data : "", b.len, out->source_sha256);
    buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- parameters */

void model_train_params_defaults(model_train_params *p)
{
    memset(p, 0, sizeof *p);
    p->rounds = 200;
    p->max_depth = 6;
    p->eta = 0.1;
    p->subsample = 1;
    p->colsample_bytree = 1;
    p->min_child_weight = 1;
    p->lambda = 1;
    p->seed = 0;
    p->threads = 1;
    p->interval = 0.9;
    p->calibration_fraction = 0.2;
}

static const struct {
    const char *name;
    double min, max;
    bool integer, open_min;
} PARAMS[] = {
    {"rounds", 1, 10000, true, false},
    {"max_depth", 1, 20, true, false},
    {"eta", 0, 1, false, true},
    {"subsample", 0, 1, false, true},
    {"colsample_bytree", 0, 1, false, true},
    {"min_child_weight", 0, 1e6, false, false},
    {"lambda", 0, 1e6, false, false},
    {"seed", 0, 2147483647, true, false},
    {"threads", 1, 256, true, false},
    {"interval", 0.5, 0.999, false, false},
    {"calibration_fraction", 0.05, 0.5, false, false},
};
#define NPARAMS (sizeof PARAMS / sizeof PARAMS[0])

int model_train_param_set(model_train_params *p, const char *name, const char *value,
                          surge_error *err)
{
    size_t i = 0;
    while (i < NPARAMS && strcmp(PARAMS[i].name, name))
        i++;
    if (i == NPARAMS)
        return surge_fail(err, SURGE_EINVAL, name,
                          "unknown hyperparameter '%s' (known: rounds, max_depth, eta, "
                          "subsample, colsample_bytree, min_child_weight, lambda, seed, threads, "
                          "interval, calibration_fraction)",
                          name);
    double v;
    bool empty;
    if (parse_number(value, &v, &empty) || empty || v < PARAMS[i].min || v > PARAMS[i].max ||
        (PARAMS[i].open_min && v <= PARAMS[i].min) || (PARAMS[i].integer && v != floor(v)))
        return surge_fail(err, SURGE_EINVAL, name, "%s = '%s': must be %s in %s%g, %g]", name,
                          value, PARAMS[i].integer ? "an integer" : "a number",
                          PARAMS[i].open_min ? "(" : "[", PARAMS[i].min, PARAMS[i].max);
    switch (i) {
    case 0:
        p->rounds = (int)v;
        break;
    case 1:
        p->max_depth = (int)v;
        break;
    case 2:
        p->eta = v;
        break;
    case 3:
        p->subsample = v;
        break;
    case 4:
        p->colsample_bytree = v;
        break;
    case 5:
        p->min_child_weight = v;
        break;
    case 6:
        p->lambda = v;
        break;
    case 7:
        p->seed = (uint64_t)v;
        break;
    case 8:
        p->threads = (int)v;
        break;
    case 9:
        p->interval = v;
        break;
    default:
        p->calibration_fraction = v;
        break;
    }
    return 0;
}

int model_train_params_load(model_train_params *p, const char *path, surge_error *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return surge_fail(err, SURGE_EPARSE, "params", "%s:%d:%d: %s", path, je.line, je.column,
                          je.text);
    int rc = 0;
    if (!json_is_object(root))
        rc = surge_fail(err, SURGE_EINVAL, "params", "%s: must be a JSON object", path);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (rc) break;
        if (!json_is_number(v)) {
            rc = surge_fail(err, SURGE_EINVAL, key, "%s: %s must be a number", path, key);
            break;
        }
        char text[64];
        snprintf(text, sizeof text, "%.17g", json_number_value(v));
        rc = model_train_param_set(p, key, text, err);
    }
    json_decref(root);
    return rc;
}

static void put_num(buf *o, double v)
{
    if (!isfinite(v))
        buf_puts(o, "null");
    else
        buf_printf(o, "%.10g", v);
}

void model_train_params_json(const model_train_params *p, buf *o)
{
    buf_printf(o,
               "{\"rounds\":%d,\"max_depth\":%d,\"eta\":%.10g,\"subsample\":%.10g,"
               "\"colsample_bytree\":%.10g,\"min_child_weight\":%.10g,\"lambda\":%.10g,"
               "\"seed\":%llu,\"threads\":%d,\"interval\":%.10g,\"calibration_fraction\":%.10g,"
               "\"objective\":\"reg:squarederror\",\"tree_method\":\"hist\"}",
               p->rounds, p->max_depth, p->eta, p->subsample, p->colsample_bytree,
               p->min_child_weight, p->lambda, (unsigned long long)p->seed, p->threads, p->interval,
               p->calibration_fraction);
}

/* ---------------------------------------------------------------- training */

void model_train_result_free(model_train_result *r)
{
    if (!r) return;
    for (int h = 0; h < MODEL_HORIZONS_MAX; h++)
        buf_free(&r->booster_json[h]);
    free(r->predictions);
    r->predictions = NULL;
    r->npredictions = 0;
}

static int xgb_fail(surge_error *err, const char *what)
{
    return surge_fail(err, SURGE_EINTERNAL, NULL, "xgboost: %s: %s", what, XGBGetLastError());
}

/* Floors ms onto the dataset's grid, counted from origin. */
static int64_t on_grid(int64_t ms, int64_t origin, int64_t step)
{
    int64_t k = (ms - origin) / step;
    if ((ms - origin) % step < 0) k--;
    return origin + k * step;
}

/* Predicts rows (n x nf) with the booster: XGBoost's in-place dense prediction. The result
 * buffer belongs to the booster (overwritten by its next call), so it is copied to out. */
static int predict_dense(BoosterHandle b, const float *rows, size_t n, int nf, float *out,
                         surge_error *err)
{
    if (n == 0) return 0;
    char array[256];
    snprintf(array, sizeof array,
             "{\"data\": [%llu, true], \"shape\": [%zu, %d], \"typestr\": \"<f4\", "
             "\"version\": 3}",
             (unsigned long long)(uintptr_t)rows, n, nf);
    const char *predict_config = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                                 "\"iteration_end\": 0, \"strict_shape\": false, \"cache_id\": 0, "
                                 "\"missing\": NaN}";
    const bst_ulong *shape;
    bst_ulong dim;
    const float *result;
    if (XGBoosterPredictFromDense(b, array, predict_config, NULL, &shape, &dim, &result))
        return xgb_fail(err, "predict");
    memcpy(out, result, n * sizeof *out);
    return 0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Row sets of one horizon: indices into the dataset. */
typedef struct row_sets {
    size_t *train, *calib, *test;
    size_t ntrain, ncalib, ntest;
} row_sets;

static void gather(const model_dataset *d, const size_t *idx, size_t n, float *x)
{
    for (size_t i = 0; i < n; i++)
        memcpy(x + i * (size_t)d->nfeatures, d->features + idx[i] * (size_t)d->nfeatures,
               (size_t)d->nfeatures * sizeof(float));
}

typedef struct score_acc {
    double share[MODEL_FEATURES_MAX];
} score_acc;

static int train_horizon(const model_dataset *d, const model_train_params *p, int h,
                         const row_sets *rs, model_progress_fn progress, void *ctx, int *done,
                         int total, model_train_result *out, score_acc *scores, surge_error *err)
{
    int nf = d->nfeatures, nh = d->nhorizons;
    model_horizon_metrics *m = &out->horizons[h];
    m->horizon_min = d->horizons_min[h];
    m->train_rows = rs->ntrain;
    m->calibration_rows = rs->ncalib;
    m->test_rows = rs->ntest;
    size_t biggest = rs->ntrain > rs->ncalib ? rs->ntrain : rs->ncalib;
    if (rs->ntest > biggest) biggest = rs->ntest;
    float *x = malloc(biggest * (size_t)nf * sizeof(float));
    float *y = malloc(biggest * sizeof(float));
    float *pred = malloc(biggest * sizeof(float));
    double *resid = malloc((rs->ncalib ? rs->ncalib : 1) * sizeof(double));
    DMatrixHandle dtrain = NULL;
    BoosterHandle booster = NULL;
    int rc = 0;
    if (!x || !y || !pred || !resid) {
        rc = surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory training");
        goto out;
    }
    gather(d, rs->train, rs->ntrain, x);
    for (size_t i = 0; i < rs->ntrain; i++)
        y[i] = d->labels[rs->train[i] * (size_t)nh + (size_t)h];
    if (XGDMatrixCreateFromMat(x, rs->ntrain, (bst_ulong)nf, NAN, &dtrain)) {
        rc = xgb_fail(err, "create the training matrix");
        goto out;
    }
    if (XGDMatrixSetFloatInfo(dtrain, "label", y, rs->ntrain)) {
        rc = xgb_fail(err, "set labels");
        goto out;
    }
    const char *names[MODEL_FEATURES_MAX];
    for (int f = 0; f < nf; f++)
        names[f] = d->feature_names[f];
    if (XGDMatrixSetStrFeatureInfo(dtrain, "feature_name", names, (bst_ulong)nf)) {
        rc = xgb_fail(err, "set feature names");
        goto out;
    }
    if (XGBoosterCreate(&dtrain, 1, &booster)) {
        rc = xgb_fail(err, "create the booster");
        goto out;
    }
    /* the booster does not take the matrix's names by itself (1.7): without them the saved
     * model and the importance scores only know f0, f1, ... */
    if (XGBoosterSetStrFeatureInfo(booster, "feature_name", names, (bst_ulong)nf)) {
        rc = xgb_fail(err, "set the booster's feature names");
        goto out;
    }
    struct {
        const char *k;
        char v[64];
    } params[12];
    int np = 0;
#define PARAM(key, ...)                                                                            \
    do {                                                                                           \
        params[np].k = key;                                                                        \
        snprintf(params[np].v, sizeof params[np].v, __VA_ARGS__);                                  \
        np++;                                                                                      \
    } while (0)
    PARAM("objective", "reg:squarederror");
    PARAM("tree_method", "hist");
    PARAM("max_depth", "%d", p->max_depth);
    PARAM("eta", "%.17g", p->eta);
    PARAM("subsample", "%.17g", p->subsample);
    PARAM("colsample_bytree", "%.17g", p->colsample_bytree);
    PARAM("min_child_weight", "%.17g", p->min_child_weight);
    PARAM("lambda", "%.17g", p->lambda);
    PARAM("seed", "%llu", (unsigned long long)p->seed);
    PARAM("nthread", "%d", p->threads);
    PARAM("verbosity", "0");
#undef PARAM
    for (int i = 0; i < np; i++)
        if (XGBoosterSetParam(booster, params[i].k, params[i].v)) {
            rc = xgb_fail(err, "set a parameter");
            goto out;
        }
    for (int it = 0; it < p->rounds; it++) {
        if (XGBoosterUpdateOneIter(booster, it, dtrain)) {
            rc = xgb_fail(err, "boosting round");
            goto out;
        }
        (*done)++;
        if (progress) progress(ctx, *done, total);
    }
    bst_ulong json_len;
    const char *json;
    if (XGBoosterSaveModelToBuffer(booster, "{\"format\": \"json\"}", &json_len, &json)) {
        rc = xgb_fail(err, "save the model");
        goto out;
    }
    buf_reset(&out->booster_json[h]);
    buf_append(&out->booster_json[h], json, json_len);
    model_sha256_hex(json, json_len, m->sha256);

    /* importance: each feature's share of this booster's total gain */
    bst_ulong nfeat, dim;
    const char **fnames;
    const bst_ulong *shape;
    const float *fscores;
    if (XGBoosterFeatureScore(booster, "{\"importance_type\": \"total_gain\"}", &nfeat, &fnames,
                              &dim, &shape, &fscores)) {
        rc = xgb_fail(err, "feature importance");
        goto out;
    }
    double total_gain = 0;
    for (bst_ulong i = 0; i < nfeat; i++)
        total_gain += fscores[i];
    for (bst_ulong i = 0; i < nfeat && total_gain > 0; i++)
        for (int f = 0; f < nf; f++)
            if (strcmp(fnames[i], d->feature_names[f]) == 0)
                scores->share[f] += fscores[i] / total_gain / d->nhorizons;

    /* calibration: split-conformal quantile of |residual| */
    gather(d, rs->calib, rs->ncalib, x);
    if ((rc = predict_dense(booster, x, rs->ncalib, nf, pred, err))) goto out;
    for (size_t i = 0; i < rs->ncalib; i++)
        resid[i] = fabs((double)d->labels[rs->calib[i] * (size_t)nh + (size_t)h] - pred[i]);
    qsort(resid, rs->ncalib, sizeof *resid, compare_double);
    size_t k = (size_t)ceil((double)(rs->ncalib + 1) * p->interval);
    if (k < 1) k = 1;
    if (k > rs->ncalib) k = rs->ncalib; /* a small calibration set: the largest residual */
    double q = resid[k - 1];
    m->interval_half_width = q;

    /* the test tail */
    gather(d, rs->test, rs->ntest, x);
    if ((rc = predict_dense(booster, x, rs->ntest, nf, pred, err))) goto out;
    double abs_sum = 0, actual_sum = 0, ape_sum = 0, naive_sum = 0, avg_sum = 0;
    size_t ape_n = 0, covered = 0;
    for (size_t i = 0; i < rs->ntest; i++) {
        size_t at = rs->test[i] * (size_t)nh + (size_t)h;
        double actual = d->labels[at], yhat = pred[i];
        double e = fabs(actual - yhat);
        abs_sum += e;
        actual_sum += fabs(actual);
        if (actual != 0) {
            ape_sum += e / fabs(actual);
            ape_n++;
        }
        naive_sum += fabs(actual - (double)d->naive_week[at]);
        avg_sum += fabs(actual - (double)d->avg_7d[at]);
        float lower = (float)fmax(0.0, yhat - q), upper = (float)(yhat + q);
        if (actual >= lower && actual <= upper) covered++;
        model_prediction *pr = &out->predictions[out->npredictions++];
        pr->region = d->region[rs->test[i]];
        pr->ts_ms = d->ts_ms[rs->test[i]];
        pr->horizon_min = d->horizons_min[h];
        pr->actual = (float)actual;
        pr->predicted = pred[i];
        pr->lower = lower;
        pr->upper = upper;
    }
    double nt = (double)rs->ntest;
    m->mape_rows = ape_n;
    m->mape = ape_n ? ape_sum / (double)ape_n : NAN;
    m->wape = actual_sum > 0 ? abs_sum / actual_sum : NAN;
    m->mae = abs_sum / nt;
    m->mae_seasonal_naive = naive_sum / nt;
    m->mase = naive_sum > 0 ? abs_sum / naive_sum : NAN;
    m->mae_avg_7d = avg_sum / nt;
    m->mase_avg_7d = avg_sum > 0 ? abs_sum / avg_sum : NAN;
    m->coverage = (double)covered / nt;
out:
    if (booster) XGBoosterFree(booster);
    if (dtrain) XGDMatrixFree(dtrain);
    free(x);
    free(y);
    free(pred);
    free(resid);
    return rc;
}

static int compare_score(const void *a, const void *b)
{
    const model_feature_score *x = a, *y = b;
    if (x->gain_share != y->gain_share) return x->gain_share > y->gain_share ? -1 : 1;
    return strcmp(x->name, y->name);
}

int model_train(const model_dataset *d, const model_train_params *p, model_progress_fn progress,
                void *progress_ctx, model_train_result *out, surge_error *err)
{
    memset(out, 0, sizeof *out);
    for (int h = 0; h < MODEL_HORIZONS_MAX; h++)
        buf_init(&out->booster_json[h]);
    if (!d || d->nrows == 0 || d->nhorizons < 1)
        return surge_fail(err, SURGE_EINVAL, "input", "the dataset is empty");
    int64_t tmin = d->ts_ms[0], tmax = d->ts_ms[0];
    for (size_t i = 1; i < d->nrows; i++) {
        if (d->ts_ms[i] < tmin) tmin = d->ts_ms[i];
        if (d->ts_ms[i] > tmax) tmax = d->ts_ms[i];
    }
    int64_t test_from = p->test_from_ms;
    if (test_from == 0)
        test_from = on_grid(tmin + (int64_t)((double)(tmax - tmin) * 0.8), tmin, d->step_ms);
    char a[40], b[40], c[40];
    fmt_time(test_from, a, sizeof a);
    fmt_time(tmin, b, sizeof b);
    fmt_time(tmax, c, sizeof c);
    if (test_from <= tmin || test_from > tmax)
        return surge_fail(err, SURGE_EINVAL, "test_from",
                          "test_from %s must fall inside the data (%s .. %s)", a, b, c);
    int64_t calib_from =
        on_grid(test_from - (int64_t)((double)(test_from - tmin) * p->calibration_fraction), tmin,
                d->step_ms);
    out->test_from_ms = test_from;
    out->calibration_from_ms = calib_from;
    out->nhorizons = d->nhorizons;
    out->predictions = malloc(d->nrows * (size_t)d->nhorizons * sizeof *out->predictions);
    row_sets rs = {
        .train = malloc(d->nrows * sizeof(size_t)),
        .calib = malloc(d->nrows * sizeof(size_t)),
        .test = malloc(d->nrows * sizeof(size_t)),
    };
    score_acc *scores = calloc(1, sizeof *scores);
    int rc = 0;
    if (!out->predictions || !rs.train || !rs.calib || !rs.test || !scores) {
        rc = surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory training");
        goto out;
    }
    int done = 0, total = p->rounds * d->nhorizons;
    for (int h = 0; h < d->nhorizons && !rc; h++) {
        int64_t hms = (int64_t)d->horizons_min[h] * MINUTE_MS;
        rs.ntrain = rs.ncalib = rs.ntest = 0;
        for (size_t i = 0; i < d->nrows; i++) {
            size_t at = i * (size_t)d->nhorizons + (size_t)h;
            if (isnan(d->labels[at])) continue;
            int64_t ts = d->ts_ms[i];
            /* a label window never crosses into the next set: no leakage */
            if (ts + hms <= calib_from)
                rs.train[rs.ntrain++] = i;
            else if (ts >= calib_from && ts + hms <= test_from)
                rs.calib[rs.ncalib++] = i;
            else if (ts >= test_from && !isnan(d->naive_week[at]) && !isnan(d->avg_7d[at]))
                rs.test[rs.ntest++] = i;
        }
        fmt_time(calib_from, b, sizeof b);
        if (rs.ntrain == 0)
            rc = surge_fail(err, SURGE_EINVAL, "input",
                            "horizon %d min: no training rows before the calibration split (%s)",
                            d->horizons_min[h], b);
        else if (rs.ncalib == 0)
            rc = surge_fail(err, SURGE_EINVAL, "input",
                            "horizon %d min: no calibration rows between %s and test_from %s",
                            d->horizons_min[h], b, a);
        else if (rs.ntest == 0)
            rc = surge_fail(err, SURGE_EINVAL, "input",
                            "horizon %d min: no test rows at or after test_from %s with a week "
                            "of history and a complete label; give more history or an earlier "
                            "--test-from",
                            d->horizons_min[h], a);
        else
            rc =
                train_horizon(d, p, h, &rs, progress, progress_ctx, &done, total, out, scores, err);
    }
    if (!rc) {
        /* the version's identity: sha256 of "horizon_min:booster_sha256\n" lines */
        buf ids;
        buf_init(&ids);
        for (int h = 0; h < d->nhorizons; h++)
            buf_printf(&ids, "%d:%s\n", d->horizons_min[h], out->horizons[h].sha256);
        model_sha256_hex(ids.data, ids.len, out->sha256);
        buf_free(&ids);
        out->nimportance = d->nfeatures;
        for (int f = 0; f < d->nfeatures; f++) {
            snprintf(out->importance[f].name, MODEL_FEATURE_NAME_MAX, "%s", d->feature_names[f]);
            out->importance[f].gain_share = scores->share[f];
        }
        qsort(out->importance, (size_t)out->nimportance, sizeof out->importance[0], compare_score);
    }
out:
    free(rs.train);
    free(rs.calib);
    free(rs.test);
    free(scores);
    if (rc) model_train_result_free(out);
    return rc;
}

void model_train_metrics_json(const model_dataset *d, const model_train_params *p,
                              const model_train_result *r, buf *o)
{
    char t1[40], t2[40];
    fmt_time(r->calibration_from_ms, t1, sizeof t1);
    fmt_time(r->test_from_ms, t2, sizeof t2);
    buf_printf(o, "{\"step_min\":%lld,\"rows\":%zu,\"regions\":%zu,\"timezone\":",
               (long long)(d->step_ms / MINUTE_MS), d->nrows, d->nregions);
    json_put_string(o, d->timezone);
    buf_puts(o, ",\"calibration_from\":");
    json_put_string(o, t1);
    buf_puts(o, ",\"test_from\":");
    json_put_string(o, t2);
    buf_puts(o, ",\"interval\":");
    put_num(o, p->interval);
    buf_puts(o, ",\"horizons\":[");
    for (int h = 0; h < r->nhorizons; h++) {
        const model_horizon_metrics *m = &r->horizons[h];
        if (h) buf_putc(o, ',');
        buf_printf(o,
                   "{\"horizon_min\":%d,\"train_rows\":%zu,\"calibration_rows\":%zu,"
                   "\"test_rows\":%zu,\"mape_rows\":%zu,\"mape\":",
                   m->horizon_min, m->train_rows, m->calibration_rows, m->test_rows, m->mape_rows);
        put_num(o, m->mape);
        buf_puts(o, ",\"wape\":");
        put_num(o, m->wape);
        buf_puts(o, ",\"mae\":");
        put_num(o, m->mae);
        buf_puts(o, ",\"mae_seasonal_naive\":");
        put_num(o, m->mae_seasonal_naive);
        buf_puts(o, ",\"mase\":");
        put_num(o, m->mase);
        buf_puts(o, ",\"mae_avg_7d\":");
        put_num(o, m->mae_avg_7d);
        buf_puts(o, ",\"mase_avg_7d\":");
        put_num(o, m->mase_avg_7d);
        buf_puts(o, ",\"interval_half_width\":");
        put_num(o, m->interval_half_width);
        buf_puts(o, ",\"coverage\":");
        put_num(o, m->coverage);
        buf_puts(o, ",\"sha256\":");
        json_put_string(o, m->sha256);
        buf_putc(o, '}');
    }
    buf_puts(o, "]}");
}
