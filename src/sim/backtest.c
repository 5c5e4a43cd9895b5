/* backtest.c: the market run offline, with no server: the backtest (the same market under
 * static and dynamic pricing, side by side) and the demand history table for training. */
#include "sim/sim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MINUTES_PER_DAY 1440

int sim_backtest(const sim_config *cfg, int days, sim_backtest_result out[SIM_BACKTEST_POLICIES],
                 surge_error *err)
{
    if (days < 1 || days > 366)
        return surge_fail(err, SURGE_EINVAL, "backtest", "backtest days = %d must be in 1..366",
                          days);
    sim_dynamic *dyn = calloc(1, sizeof *dyn);
    if (!dyn) return surge_fail(err, SURGE_EIO, NULL, "out of memory");
    sim_policy policies[SIM_BACKTEST_POLICIES] = {sim_policy_static(), sim_policy_dynamic(dyn)};
    static const char *const NAMES[SIM_BACKTEST_POLICIES] = {"static", "dynamic"};
    for (int p = 0; p < SIM_BACKTEST_POLICIES; p++) {
        sim *s = sim_new(cfg, err);
        if (!s) {
            free(dyn);
            return err->code;
        }
        for (int m = 0; m < days * MINUTES_PER_DAY; m++)
            sim_step(s, &policies[p], NULL, NULL);
        out[p].policy = NAMES[p];
        sim_get_stats(s, &out[p].stats);
        sim_free(s);
    }
    free(dyn);
    return 0;
}

/* The figures of one policy, as the CSV and the table show them. */
typedef struct figures {
    uint64_t requests, trips, unserved, declined, cancelled;
    double wait, revenue, volatility, mean_multiplier;
} figures;

static void figures_of(const sim_stats *st, figures *f)
{
    f->requests = st->requests;
    f->trips = st->trips[0] + st->trips[1];
    f->unserved = st->unserved;
    f->declined = st->declined;
    f->cancelled = st->cancelled;
    f->wait = f->trips ? st->wait_min_sum / (double)f->trips : 0;
    f->revenue = (double)(st->revenue_cents[0] + st->revenue_cents[1]) / 100.0;
    f->volatility = st->changes ? sqrt(st->change_sq_sum / (double)st->changes) : 0;
    f->mean_multiplier = st->region_minutes ? st->multiplier_sum / (double)st->region_minutes : 1;
}

void sim_backtest_write_csv(FILE *f, const sim_backtest_result r[SIM_BACKTEST_POLICIES])
{
    fputs("policy,requests,completed_trips,unserved_requests,declined,cancelled,"
          "mean_pickup_wait_min,revenue,price_volatility,mean_multiplier\n",
          f);
    for (int p = 0; p < SIM_BACKTEST_POLICIES; p++) {
        figures x;
        figures_of(&r[p].stats, &x);
        fprintf(f, "%s,%llu,%llu,%llu,%llu,%llu,%.3f,%.2f,%.5f,%.4f\n", r[p].policy,
                (unsigned long long)x.requests, (unsigned long long)x.trips,
                (unsigned long long)x.unserved, (unsigned long long)x.declined,
                (unsigned long long)x.cancelled, x.wait, x.revenue, x.volatility,
                x.mean_multiplier);
    }
}

static void ratio(FILE *f, double a, double b)
{
    if (b != 0)
        fprintf(f, " %.3f |", a / b);
    else
        fputs(" - |", f);
}

void sim_backtest_write_markdown(FILE *f, const sim_config *cfg, int days,
                                 const sim_backtest_result r[SIM_BACKTEST_POLICIES])
{
    char start[40];
    time_format_rfc3339(cfg->start_ms, start, sizeof start);
    fprintf(f, "## Backtest: static vs dynamic pricing\n\n");
    fprintf(f,
            "%d day(s) from %s, seed %llu, %d regions around %.4f,%.4f (%s), scale %g, "
            "elasticity %g, conversion %g.\n\n",
            days, start, (unsigned long long)cfg->seed, cfg->regions, cfg->center_lat,
            cfg->center_lon, cfg->timezone, cfg->scale, cfg->elasticity, cfg->conversion);
    fputs("| policy | requests | completed trips | unserved requests | declined (price) | "
          "cancelled | mean pickup wait (min) | revenue | price volatility | mean multiplier |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
          f);
    figures x[SIM_BACKTEST_POLICIES];
    for (int p = 0; p < SIM_BACKTEST_POLICIES; p++) {
        figures_of(&r[p].stats, &x[p]);
        fprintf(f, "| %s | %llu | %llu | %llu | %llu | %llu | %.2f | %.2f | %.4f | %.3f |\n",
                r[p].policy, (unsigned long long)x[p].requests, (unsigned long long)x[p].trips,
                (unsigned long long)x[p].unserved, (unsigned long long)x[p].declined,
                (unsigned long long)x[p].cancelled, x[p].wait, x[p].revenue, x[p].volatility,
                x[p].mean_multiplier);
    }
    fputs("| dynamic / static |", f);
    ratio(f, (double)x[1].requests, (double)x[0].requests);
    ratio(f, (double)x[1].trips, (double)x[0].trips);
    ratio(f, (double)x[1].unserved, (double)x[0].unserved);
    ratio(f, (double)x[1].declined, (double)x[0].declined);
    ratio(f, (double)x[1].cancelled, (double)x[0].cancelled);
    ratio(f, x[1].wait, x[0].wait);
    ratio(f, x[1].revenue, x[0].revenue);
    fputs(" - | ", f);
    fprintf(f, "%.3f |\n", x[0].mean_multiplier ? x[1].mean_multiplier / x[0].mean_multiplier : 0);
    fputs("\nPrice volatility: root mean square of the minute-to-minute change of each region's "
          "standard multiplier. Unserved: booked but no available driver in the region or its "
          "neighbours. Revenue: fares of completed trips. See docs/simulator.md.\n",
          f);
}

/* One cell of the history table. */
typedef struct history_row {
    uint32_t demand;
    float temp_c, precip_mm;
    bool holiday;
} history_row;

#define HISTORY_ROWS_MAX 20000000

int sim_write_history(const sim_config *cfg, int days, FILE *f, surge_error *err)
{
    if (days < 1 || days > 3660)
        return surge_fail(err, SURGE_EINVAL, "days", "days = %d must be in 1..3660", days);
    size_t slots = (size_t)days * 96, rows = slots * (size_t)cfg->regions;
    if (rows > HISTORY_ROWS_MAX)
        return surge_fail(err, SURGE_EINVAL, "days",
                          "%d days x %d regions is %zu rows; at most %d: ask for fewer days or "
                          "regions",
                          days, cfg->regions, rows, HISTORY_ROWS_MAX);
    sim *s = sim_new(cfg, err);
    if (!s) return err->code;
    int n = sim_region_count(s);
    /* the table is sorted by (region_id, ts), as `surge train` reads it: collect, then write */
    history_row *table = calloc(rows, sizeof *table);
    if (!table) {
        sim_free(s);
        return surge_fail(err, SURGE_EIO, NULL, "out of memory for %zu history rows", rows);
    }
    int64_t start = sim_now_ms(s);
    sim_policy policy = sim_policy_static();
    for (size_t slot = 0; slot < slots; slot++) {
        for (int m = 0; m < 15; m++)
            sim_step(s, &policy, NULL, NULL);
        /* at the start of the next minute the trailing 15 minutes are exactly this slot, and
         * the weather and holiday are still the slot's */
        for (int i = 0; i < n; i++) {
            sim_region_state st;
            sim_region_get_state(s, i, &st);
            table[(size_t)i * slots + slot] =
                (history_row){st.requests_15min, (float)st.temp_c, (float)st.precip_mm, st.holiday};
        }
    }
    int *order = malloc((size_t)n * sizeof *order);
    if (!order) {
        free(table);
        sim_free(s);
        return surge_fail(err, SURGE_EIO, NULL, "out of memory");
    }
    /* regions in region_id order (insertion sort: at most 1024) */
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && strcmp(sim_region_id(s, order[j - 1]), sim_region_id(s, i)) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    fputs("region_id,ts,demand,temperature,precipitation,holiday\n", f);
    for (int k = 0; k < n; k++) {
        int i = order[k];
        for (size_t slot = 0; slot < slots; slot++) {
            const history_row *r = &table[(size_t)i * slots + slot];
            char ts[40];
            time_format_rfc3339(start + (int64_t)slot * 900000, ts, sizeof ts);
            fprintf(f, "%s,%s,%u,%.1f,%.1f,%d\n", sim_region_id(s, i), ts, r->demand,
                    (double)r->temp_c, (double)r->precip_mm, r->holiday ? 1 : 0);
        }
    }
    free(order);
    free(table);
    sim_free(s);
    if (fflush(f) || ferror(f))
        return surge_fail(err, SURGE_EIO, "history_out", "writing the history failed: %s",
                          strerror(errno));
    return 0;
}
