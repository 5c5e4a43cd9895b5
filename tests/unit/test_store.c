/* test_store.c: the store module against real backends: SQLite files in a fresh temp dir per
 * test and the in-process feature store. Every test checks exact values, including what is
 * left behind after an error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

/* ---------------------------------------------------------------- fixtures */

typedef struct fixture {
    char dir[64];
    char path[128];
    char url[160];
} fixture;

static int setup_tmpdir(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/surge-test-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/surge.db", f->dir);
    snprintf(f->url, sizeof f->url, "sqlite://%s", f->path); /* absolute: sqlite:///tmp/... */
    *state = f;
    return 0;
}

/* Removes every file in the temp dir (db, -wal, -shm) and the dir itself. */
static int teardown_tmpdir(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", f->dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    int rc = rmdir(f->dir);
    free(f);
    return rc;
}

static store_db *open_db(fixture *f)
{
    surge_error err = {0};
    store_db *db = store_db_open(f->url, &err);
    if (!db) fail_msg("store_db_open(%s): %s", f->url, err.message);
    return db;
}

/* Runs one SQL query returning an integer through a separate raw connection, to check what
 * is really in the file. */
static int64_t raw_query_int(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static store_region make_region(const char *id, const char *name)
{
    store_region r;
    memset(&r, 0, sizeof r);
    snprintf(r.region_id, sizeof r.region_id, "%s", id);
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.timezone, sizeof r.timezone, "America/New_York");
    r.center_lat = 40.73956298828125;
    r.center_lon = -73.98193359375;
    r.product_count = 2;
    snprintf(r.products[0], sizeof r.products[0], "standard");
    snprintf(r.products[1], sizeof r.products[1], "premium");
    return r;
}

static store_rule make_rule(const char *region, const char *product, int64_t cents,
                            int64_t effective_ms)
{
    store_rule r;
    store_rule_defaults(&r);
    snprintf(r.region_id, sizeof r.region_id, "%s", region);
    snprintf(r.product_type, sizeof r.product_type, "%s", product);
    r.base_price_cents = cents;
    r.effective_ms = effective_ms;
    snprintf(r.created_by, sizeof r.created_by, "admin");
    return r;
}

/* ---------------------------------------------------------------- opening and migrations */

static void test_open_unknown_scheme_names_url_and_supported_schemes(void **state)
{
    surge_error err = {0};
    assert_null(store_db_open("mysql://localhost/surge", &err));
    assert_int_equal(err.code, SURGE_EINVAL);
    assert_non_null(strstr(err.message, "\"mysql://localhost/surge\""));
    assert_non_null(strstr(err.message, "sqlite:///abs/path.db"));
    assert_string_equal(err.field, "db");

    memset(&err, 0, sizeof err);
    assert_null(store_db_open("sqlite://", &err)); /* a scheme without a path */
    assert_int_equal(err.code, SURGE_EINVAL);
    assert_null(store_db_open(NULL, &err));
    assert_int_equal(err.code, SURGE_EINVAL);
}

static void test_open_missing_directory_fails_naming_the_path(void **state)
{
    fixture *f = *state;
    char url[256];
    snprintf(url, sizeof url, "sqlite://%s/no-such-dir/x.db", f->dir);
    surge_error err = {0};
    assert_null(store_db_open(url, &err));
    assert_int_equal(err.code, SURGE_EIO);
    assert_non_null(strstr(err.message, "sqlite: open "));
    assert_non_null(strstr(err.message, "no-such-dir/x.db"));
}

static void test_open_relative_url_creates_file_in_working_directory(void **state)
{
    fixture *f = *state;
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    surge_error err = {0};
    store_db *db = store_db_open("sqlite://rel.db", &err);
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(db);
    store_db_close(db);
    char p[256];
    snprintf(p, sizeof p, "%s/rel.db", f->dir);
    assert_int_equal(access(p, F_OK), 0);
}

/* The schema versions shipped: 1 the seed's tables, 2 the model registry, 3 the portal's admin
 * actions. A new migration must bump this. */
#define SCHEMA_VERSION 4 /* 4: audit_logs.experiment_id, variant (A/B experiments) */

static void test_migrations_are_idempotent_on_reopen_and_keep_data(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    assert_int_equal(store_db_schema_version(db), SCHEMA_VERSION);
    assert_int_equal(store_db_ping(db, &err), 0);
    store_region r = make_region("dr5ru", "Midtown");
    assert_int_equal(store_region_put(db, &r, &err), 0);
    store_rule rule = make_rule("dr5ru", "standard", 1275, 1000);
    assert_int_equal(store_rule_insert(db, &rule, &err), 0);
    store_db_close(db);

    db = open_db(f);
    assert_int_equal(store_db_schema_version(db), SCHEMA_VERSION);
    store_region got;
    assert_int_equal(store_region_get(db, "dr5ru", &got, &err), 0);
    assert_string_equal(got.name, "Midtown");
    store_rule got_rule;
    assert_int_equal(store_rule_get(db, rule.rule_id, &got_rule, &err), 0);
    assert_int_equal(got_rule.base_price_cents, 1275);
    store_db_close(db);

    assert_int_equal(raw_query_int(f->path, "SELECT COUNT(*) FROM schema_migrations"), SCHEMA_VERSION);
    assert_int_equal(raw_query_int(f->path, "SELECT MAX(version) FROM schema_migrations"), SCHEMA_VERSION);
    assert_int_equal(raw_query_int(f->path, "SELECT COUNT(*) FROM regions"), 1);
}

static void test_open_sets_wal_mode_in_the_file(void **state)
{
    fixture *f = *state;
    store_db *db = open_db(f);
    store_db_close(db);
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(raw);
}

static void test_open_refuses_a_newer_schema_version(void **state)
{
    fixture *f = *state;
    store_db_close(open_db(f));
    raw_exec(f->path, "INSERT INTO schema_migrations(version, applied_at) VALUES(99, 0)");
    surge_error err = {0};
    assert_null(store_db_open(f->url, &err));
    assert_int_equal(err.code, SURGE_EIO);
    assert_non_null(strstr(err.message, "schema version 99"));
}

static void test_open_of_a_file_that_is_not_a_database_fails_with_sqlite_message(void **state)
{
    fixture *f = *state;
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 512; i++)
        fputs("this is not a database ", fp);
    assert_int_equal(fclose(fp), 0);
    surge_error err = {0};
    assert_null(store_db_open(f->url, &err));
    assert_int_equal(err.code, SURGE_EIO);
    assert_non_null(strstr(err.message, f->path));
    assert_non_null(strstr(err.message, "file is not a database"));
}

static void test_calls_on_a_null_handle_fail_cleanly(void **state)
{
    surge_error err = {0};
    int64_t count = 7;
    assert_int_equal(store_audit_count(NULL, &count, &err), SURGE_EUNAVAILABLE);
    assert_string_equal(err.message, "the database is not open");
    assert_int_equal(count, 7);
    assert_int_equal(store_db_schema_version(NULL), 0);
    store_db_close(NULL);
    double v = 0;
    const char *names[] = {"x"};
    assert_int_equal(feature_store_get_values(NULL, "dr5ru", 0, names, 1, &v, NULL),
                     SURGE_ENOTFOUND);
    assert_true(isnan(v));
    feature_store_close(NULL);
}

/* ---------------------------------------------------------------- regions */

static void test_region_upsert_get_list_delete(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    int64_t before = time_now_ms();
    store_region b = make_region("dr5rv", "Brooklyn");
    store_region a = make_region("dr5ru", "Midtown");
    a.product_count = 3;
    snprintf(a.products[2], sizeof a.products[2], "xl");
    assert_int_equal(store_region_put(db, &b, &err), 0);
    assert_int_equal(store_region_put(db, &a, &err), 0);
    int64_t after = time_now_ms();

    store_region got;
    assert_int_equal(store_region_get(db, "dr5ru", &got, &err), 0);
    assert_string_equal(got.region_id, "dr5ru");
    assert_string_equal(got.name, "Midtown");
    assert_string_equal(got.timezone, "America/New_York");
    assert_true(got.center_lat == 40.73956298828125);
    assert_true(got.center_lon == -73.98193359375);
    assert_int_equal(got.product_count, 3);
    assert_string_equal(got.products[0], "standard");
    assert_string_equal(got.products[1], "premium");
    assert_string_equal(got.products[2], "xl");
    assert_true(got.created_ms >= before && got.created_ms <= after);
    assert_int_equal(got.updated_ms, got.created_ms);
    int64_t created = got.created_ms;

    /* upsert: the name changes, created stays, updated moves on */
    usleep(2000);
    snprintf(a.name, sizeof a.name, "Midtown Manhattan");
    a.product_count = 1;
    assert_int_equal(store_region_put(db, &a, &err), 0);
    assert_int_equal(store_region_get(db, "dr5ru", &got, &err), 0);
    assert_string_equal(got.name, "Midtown Manhattan");
    assert_int_equal(got.product_count, 1);
    assert_int_equal(got.created_ms, created);
    assert_true(got.updated_ms > created);

    store_region *list = NULL;
    size_t n = 0;
    assert_int_equal(store_region_list(db, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].region_id, "dr5ru"); /* sorted by region_id */
    assert_string_equal(list[1].region_id, "dr5rv");
    assert_string_equal(list[1].name, "Brooklyn");
    free(list);
    int64_t count = 0;
    assert_int_equal(store_region_count(db, &count, &err), 0);
    assert_int_equal(count, 2);

    assert_int_equal(store_region_delete(db, "dr5ru", &err), 0);
    assert_int_equal(store_region_get(db, "dr5ru", &got, &err), SURGE_ENOTFOUND);
    assert_string_equal(err.message, "region dr5ru not found");
    assert_int_equal(store_region_delete(db, "dr5ru", &err), SURGE_ENOTFOUND);
    assert_int_equal(store_region_count(db, &count, &err), 0);
    assert_int_equal(count, 1);
    store_db_close(db);
}

static void test_region_put_rejects_bad_products(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    store_region r = make_region("dr5ru", "Midtown");
    snprintf(r.products[1], sizeof r.products[1], "a,b");
    assert_int_equal(store_region_put(db, &r, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "products");
    r = make_region("dr5ru", "Midtown");
    r.product_count = STORE_PRODUCTS_MAX + 1;
    assert_int_equal(store_region_put(db, &r, &err), SURGE_EINVAL);
    r = make_region("", "Nowhere");
    assert_int_equal(store_region_put(db, &r, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "region_id");
    assert_string_equal(err.message, "region_id is required");
    int64_t count = -1;
    assert_int_equal(store_region_count(db, &count, &err), 0);
    assert_int_equal(count, 0);
    store_db_close(db);
}

/* ---------------------------------------------------------------- rules */

static void test_rule_defaults_match_design(void **state)
{
    store_rule r;
    memset(&r, 0x5a, sizeof r);
    store_rule_defaults(&r);
    assert_true(r.weight_demand == 0.4 && r.weight_supply == 0.3 && r.weight_time == 0.2);
    assert_true(r.weight_event == 0.1 && r.weight_weather == 0.1);
    assert_true(r.demand_k == 6.0 && r.demand_threshold == 0.5 && r.event_coefficient == 0.5);
    assert_true(r.min_multiplier == 1.0 && r.max_multiplier == 3.0);
    assert_int_equal(r.rounding_cents, 25);
    assert_true(r.max_change_per_min == 0.5);
    for (int h = 0; h < 24; h++) {
        double want = (h == 7 || h == 8 || h == 17 || h == 18) ? 1.2 : 1.0;
        assert_true(r.time_multiplier[h] == want);
    }
    assert_int_equal(r.rule_id, 0);
    assert_string_equal(r.region_id, "");
    assert_string_equal(r.product_type, "");
    assert_int_equal(r.base_price_cents, 0);
    assert_int_equal(r.effective_ms, 0);
}

static void test_rule_insert_assigns_increasing_ids_and_round_trips_every_field(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    store_rule r = make_rule("dr5ru", "premium", 1275, 1767225600000);
    r.min_multiplier = 0.75;
    r.max_multiplier = 2.5;
    r.weight_demand = 0.45;
    r.weight_supply = 0.25;
    r.weight_time = 0.15;
    r.weight_event = 0.05;
    r.weight_weather = 0.1;
    r.demand_k = 7.5;
    r.demand_threshold = 0.55;
    r.event_coefficient = 0.35;
    for (int h = 0; h < 24; h++)
        r.time_multiplier[h] = 1.0 + h / 30.0; /* not short decimals */
    r.time_multiplier[8] = 1.2;
    r.rounding_cents = 50;
    r.max_change_per_min = 0.3;
    snprintf(r.created_by, sizeof r.created_by, "ops@example.com");
    int64_t before = time_now_ms();
    assert_int_equal(store_rule_insert(db, &r, &err), 0);
    int64_t after = time_now_ms();
    assert_int_equal(r.rule_id, 1);
    assert_true(r.created_ms >= before && r.created_ms <= after);

    store_rule second = make_rule("dr5ru", "standard", 999, 0);
    assert_int_equal(store_rule_insert(db, &second, &err), 0);
    assert_int_equal(second.rule_id, 2);

    store_rule got;
    assert_int_equal(store_rule_get(db, 1, &got, &err), 0);
    assert_int_equal(got.rule_id, 1);
    assert_string_equal(got.region_id, "dr5ru");
    assert_string_equal(got.product_type, "premium");
    assert_int_equal(got.base_price_cents, 1275);
    assert_true(got.min_multiplier == 0.75);
    assert_true(got.max_multiplier == 2.5);
    assert_int_equal(got.effective_ms, 1767225600000);
    assert_true(got.weight_demand == 0.45);
    assert_true(got.weight_supply == 0.25);
    assert_true(got.weight_time == 0.15);
    assert_true(got.weight_event == 0.05);
    assert_true(got.weight_weather == 0.1);
    assert_true(got.demand_k == 7.5);
    assert_true(got.demand_threshold == 0.55);
    assert_true(got.event_coefficient == 0.35);
    for (int h = 0; h < 24; h++)
        assert_true(got.time_multiplier[h] == r.time_multiplier[h]);
    assert_int_equal(got.rounding_cents, 50);
    assert_true(got.max_change_per_min == 0.3);
    assert_string_equal(got.created_by, "ops@example.com");
    assert_int_equal(got.created_ms, r.created_ms);

    /* the stored forms are the seed's: dollars, and short decimals where they are exact */
    char sql[128];
    snprintf(sql, sizeof sql,
             "SELECT base_price = 12.75 AND time_multipliers LIKE '[1,%%,1.2,%%' FROM"
             " pricing_rules WHERE rule_id = 1");
    assert_int_equal(raw_query_int(f->path, sql), 1);

    /* every cent amount survives the dollars column */
    for (int64_t cents = 1; cents <= 100000; cents += 97) {
        store_rule c = make_rule("dr5rv", "standard", cents, 0);
        assert_int_equal(store_rule_insert(db, &c, &err), 0);
        assert_int_equal(store_rule_get(db, c.rule_id, &got, &err), 0);
        assert_int_equal(got.base_price_cents, cents);
    }

    assert_int_equal(store_rule_get(db, 424242, &got, &err), SURGE_ENOTFOUND);
    assert_string_equal(err.message, "rule 424242 not found");
    store_db_close(db);
}

static void test_rule_insert_rejects_invalid_values(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    store_rule r = make_rule("dr5ru", "standard", 0, 0);
    assert_int_equal(store_rule_insert(db, &r, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "base_price_cents");
    r = make_rule("dr5ru", "standard", 500, 0);
    r.max_multiplier = 0.9; /* below min 1.0 */
    assert_int_equal(store_rule_insert(db, &r, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "max_multiplier");
    r = make_rule("dr5ru", "standard", 500, 0);
    r.time_multiplier[5] = NAN;
    assert_int_equal(store_rule_insert(db, &r, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "time_multipliers");
    r = make_rule("dr5ru", "", 500, 0);
    assert_int_equal(store_rule_insert(db, &r, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "product_type");
    assert_int_equal(r.rule_id, 0);
    assert_int_equal(raw_query_int(f->path, "SELECT COUNT(*) FROM pricing_rules"), 0);
    store_db_close(db);
}

static void test_rule_list_filters_and_orders(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    /* inserted out of order; ids 1..6 */
    store_rule rules[] = {
        make_rule("dr5rv", "standard", 100, 3000), make_rule("dr5ru", "standard", 200, 2000),
        make_rule("*", "standard", 300, 0),        make_rule("dr5ru", "premium", 400, 1000),
        make_rule("dr5ru", "standard", 500, 1000), make_rule("dr5ru", "standard", 600, 2000),
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        assert_int_equal(store_rule_insert(db, &rules[i], &err), 0);

    store_rule *list = NULL;
    size_t n = 0;
    assert_int_equal(store_rule_list(db, NULL, NULL, &list, &n, &err), 0);
    assert_int_equal(n, 6);
    /* (region_id, product_type, effective_ms, rule_id): "*" sorts before letters */
    const int64_t all_ids[] = {3, 4, 5, 2, 6, 1};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].rule_id, all_ids[i]);
    free(list);

    assert_int_equal(store_rule_list(db, "dr5ru", "standard", &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].rule_id, 5);
    assert_int_equal(list[1].rule_id, 2);
    assert_int_equal(list[2].rule_id, 6);
    assert_int_equal(list[2].base_price_cents, 600);
    free(list);

    assert_int_equal(store_rule_list(db, "dr5ru", NULL, &list, &n, &err), 0);
    assert_int_equal(n, 4);
    free(list);
    assert_int_equal(store_rule_list(db, NULL, "standard", &list, &n, &err), 0);
    assert_int_equal(n, 5);
    free(list);
    assert_int_equal(store_rule_list(db, "9q8yy", NULL, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(list);
    store_db_close(db);
}

static void test_rule_delete_future_works_and_effective_conflicts(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    const int64_t now = 1767225600000;
    store_rule past = make_rule("dr5ru", "standard", 1000, now - 1);
    store_rule exact = make_rule("dr5ru", "standard", 1100, now);
    store_rule future = make_rule("dr5ru", "standard", 1200, now + 1);
    assert_int_equal(store_rule_insert(db, &past, &err), 0);
    assert_int_equal(store_rule_insert(db, &exact, &err), 0);
    assert_int_equal(store_rule_insert(db, &future, &err), 0);

    assert_int_equal(store_rule_delete(db, future.rule_id, now, &err), 0);
    store_rule got;
    assert_int_equal(store_rule_get(db, future.rule_id, &got, &err), SURGE_ENOTFOUND);

    memset(&err, 0, sizeof err);
    assert_int_equal(store_rule_delete(db, past.rule_id, now, &err), SURGE_ECONFLICT);
    assert_int_equal(err.code, SURGE_ECONFLICT);
    assert_string_equal(err.field, "rule_id");
    assert_non_null(strstr(err.message, "took effect at 2025-12-31T23:59:59.999Z"));
    /* a rule whose effective date is exactly now is in effect */
    assert_int_equal(store_rule_delete(db, exact.rule_id, now, &err), SURGE_ECONFLICT);
    assert_int_equal(store_rule_get(db, past.rule_id, &got, &err), 0);
    assert_int_equal(store_rule_get(db, exact.rule_id, &got, &err), 0);

    assert_int_equal(store_rule_delete(db, 999, now, &err), SURGE_ENOTFOUND);
    assert_string_equal(err.message, "rule 999 not found");
    store_db_close(db);
}

/* ---------------------------------------------------------------- controls */

static void test_control_put_get_list_and_missing_is_notfound(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    store_control got;
    assert_int_equal(store_control_get(db, "dr5ru", &got, &err), SURGE_ENOTFOUND);
    assert_int_equal(err.code, SURGE_ENOTFOUND);
    assert_string_equal(err.message, "region dr5ru has no controls");

    store_control c = {0};
    snprintf(c.region_id, sizeof c.region_id, "dr5rv");
    c.emergency_cap = 1.5;
    c.frozen = true;
    c.frozen_multiplier = 1.25;
    snprintf(c.reason, sizeof c.reason, "storm warning");
    snprintf(c.updated_by, sizeof c.updated_by, "ops");
    int64_t before = time_now_ms();
    assert_int_equal(store_control_put(db, &c, &err), 0);
    int64_t after = time_now_ms();
    store_control d = {0};
    snprintf(d.region_id, sizeof d.region_id, "dr5ru");
    d.emergency_cap = 2.0;
    assert_int_equal(store_control_put(db, &d, &err), 0);

    assert_int_equal(store_control_get(db, "dr5rv", &got, &err), 0);
    assert_string_equal(got.region_id, "dr5rv");
    assert_true(got.emergency_cap == 1.5);
    assert_true(got.frozen);
    assert_true(got.frozen_multiplier == 1.25);
    assert_string_equal(got.reason, "storm warning");
    assert_string_equal(got.updated_by, "ops");
    assert_true(got.updated_ms >= before && got.updated_ms <= after);

    /* put replaces the whole row */
    c.frozen = false;
    c.emergency_cap = 0;
    c.reason[0] = '\0';
    assert_int_equal(store_control_put(db, &c, &err), 0);
    assert_int_equal(store_control_get(db, "dr5rv", &got, &err), 0);
    assert_false(got.frozen);
    assert_true(got.emergency_cap == 0.0);
    assert_string_equal(got.reason, "");

    store_control *list = NULL;
    size_t n = 0;
    assert_int_equal(store_control_list(db, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].region_id, "dr5ru");
    assert_true(list[0].emergency_cap == 2.0);
    assert_string_equal(list[1].region_id, "dr5rv");
    free(list);

    c.emergency_cap = -1;
    assert_int_equal(store_control_put(db, &c, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "emergency_cap");
    store_db_close(db);
}

/* ---------------------------------------------------------------- audit */

static void make_audit_row(store_audit_row *r, int thread, int i)
{
    memset(r, 0, sizeof *r);
    snprintf(r->request_id, sizeof r->request_id, "req-%d-%06d", thread, i);
    snprintf(r->trace_id, sizeof r->trace_id, "trace-%d-%d", thread, i % 7);
    r->ts_ms = 1767225600000 + i;
    snprintf(r->region_id, sizeof r->region_id, "dr5r%c", 'a' + (i % 20));
    snprintf(r->product_type, sizeof r->product_type, i % 2 ? "premium" : "standard");
    snprintf(r->user_id, sizeof r->user_id, "user-%d", i % 1000);
    r->price_cents = 1275 + 25 * (i % 40);
    r->base_price_cents = 1250 + i % 3;
    r->surge_multiplier = 1.0 + (i % 200) / 100.0;
    r->demand_score = (i % 1000) / 999.0;
    r->confidence = 0.8125;
    r->expected_demand = 40.0 + i;
    r->available_supply = i * 3;
    r->weather_severity = 0.1 * (i % 10);
    r->event_score = 1.0 / 3.0; /* not a short decimal: must come back bit for bit */
    snprintf(r->fallback, sizeof r->fallback, i % 4 ? "forecast,weather" : "");
    r->features_ts_ms = i % 5 ? 1767225599000 + i : 0;
    r->local_hour = i % 24;
    snprintf(r->model_version, sizeof r->model_version, "v1.%d.0", i % 3);
    r->rule_id = 1 + i % 5;
    r->cached = i % 3 == 0;
    r->latency_us = 100 + i;
}

static void test_audit_batch_insert_then_get_returns_every_field(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    enum { N = 50 };
    store_audit_row rows[N];
    char factors[N][64];
    for (int i = 0; i < N; i++) {
        make_audit_row(&rows[i], 0, i);
        snprintf(factors[i], sizeof factors[i], "{\"demand\":0.%02d,\"supply\":-0.12}", i);
        rows[i].factors_json = factors[i];
        rows[i].guardrails_json = i % 2 ? "{\"emergency_cap\":-0.5}" : NULL;
    }
    assert_int_equal(store_audit_insert(db, rows, N, &err), 0);
    assert_int_equal(store_audit_insert(db, rows, 0, &err), 0); /* empty batch: nothing to do */
    int64_t count = 0;
    assert_int_equal(store_audit_count(db, &count, &err), 0);
    assert_int_equal(count, N);

    for (int i = 0; i < N; i++) {
        store_audit_row got;
        assert_int_equal(store_audit_get(db, rows[i].request_id, &got, &err), 0);
        assert_string_equal(got.request_id, rows[i].request_id);
        assert_string_equal(got.trace_id, rows[i].trace_id);
        assert_int_equal(got.ts_ms, rows[i].ts_ms);
        assert_string_equal(got.region_id, rows[i].region_id);
        assert_string_equal(got.product_type, rows[i].product_type);
        assert_string_equal(got.user_id, rows[i].user_id);
        assert_int_equal(got.price_cents, rows[i].price_cents);
        assert_int_equal(got.base_price_cents, rows[i].base_price_cents);
        assert_true(got.surge_multiplier == rows[i].surge_multiplier);
        assert_true(got.demand_score == rows[i].demand_score);
        assert_true(got.confidence == 0.8125);
        assert_true(got.expected_demand == rows[i].expected_demand);
        assert_true(got.available_supply == rows[i].available_supply);
        assert_true(got.weather_severity == rows[i].weather_severity);
        assert_true(got.event_score == 1.0 / 3.0);
        assert_string_equal(got.fallback, i % 4 ? "forecast,weather" : "");
        assert_int_equal(got.features_ts_ms, rows[i].features_ts_ms);
        assert_int_equal(got.local_hour, i % 24);
        assert_string_equal(got.model_version, rows[i].model_version);
        assert_int_equal(got.rule_id, rows[i].rule_id);
        assert_int_equal(got.cached, rows[i].cached);
        assert_int_equal(got.latency_us, rows[i].latency_us);
        assert_string_equal(got.factors_json, factors[i]);
        if (i % 2)
            assert_string_equal(got.guardrails_json, "{\"emergency_cap\":-0.5}");
        else
            assert_null(got.guardrails_json);
        store_audit_row_clear(&got);
        assert_null(got.factors_json);
    }
    store_audit_row got;
    assert_int_equal(store_audit_get(db, "req-unknown", &got, &err), SURGE_ENOTFOUND);
    assert_string_equal(err.message, "no audit record for request req-unknown");
    store_db_close(db);
}

static void test_audit_expire_deletes_the_oldest_rows_in_chunks(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    store_audit_row rows[10];
    for (int i = 0; i < 10; i++) {
        make_audit_row(&rows[i], 3, i);
        rows[i].ts_ms = 1000 + i; /* written in time order, as the audit writer does */
    }
    assert_int_equal(store_audit_insert(db, rows, 10, &err), 0);
    int64_t deleted = -1, count = 0;
    /* rows at 1000..1004 are older than 1005: the first chunk of 3 takes 1000..1002 */
    assert_int_equal(store_audit_expire(db, 1005, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 3);
    store_audit_row got;
    assert_int_equal(store_audit_get(db, rows[2].request_id, &got, &err), SURGE_ENOTFOUND);
    assert_int_equal(store_audit_get(db, rows[3].request_id, &got, &err), 0);
    store_audit_row_clear(&got);
    /* the next chunk finds only two more, then nothing */
    assert_int_equal(store_audit_expire(db, 1005, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(store_audit_expire(db, 1005, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(store_audit_count(db, &count, &err), 0);
    assert_int_equal(count, 5);
    assert_int_equal(store_audit_expire(db, 1005, 0, &deleted, &err), SURGE_EINVAL);
    store_db_close(db);
}

static void test_audit_duplicate_request_id_in_batch_writes_nothing(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    store_audit_row first[3];
    for (int i = 0; i < 3; i++)
        make_audit_row(&first[i], 1, i);
    assert_int_equal(store_audit_insert(db, first, 3, &err), 0);

    /* a batch whose last row repeats its first */
    store_audit_row batch[4];
    for (int i = 0; i < 4; i++)
        make_audit_row(&batch[i], 2, i);
    snprintf(batch[3].request_id, sizeof batch[3].request_id, "%s", batch[0].request_id);
    memset(&err, 0, sizeof err);
    assert_int_equal(store_audit_insert(db, batch, 4, &err), SURGE_ECONFLICT);
    assert_int_equal(err.code, SURGE_ECONFLICT);
    assert_non_null(strstr(err.message, "sqlite: insert into audit_logs (row 3, request_id "
                                        "req-2-000000): UNIQUE constraint failed"));
    store_audit_row got;
    assert_int_equal(store_audit_get(db, batch[0].request_id, &got, &err), SURGE_ENOTFOUND);
    assert_int_equal(store_audit_get(db, batch[1].request_id, &got, &err), SURGE_ENOTFOUND);

    /* a batch that repeats a row written earlier is refused whole as well */
    batch[3] = first[2];
    assert_int_equal(store_audit_insert(db, batch, 4, &err), SURGE_ECONFLICT);
    int64_t count = 0;
    assert_int_equal(store_audit_count(db, &count, &err), 0);
    assert_int_equal(count, 3);

    /* the writer is usable after a failed batch */
    make_audit_row(&batch[3], 2, 3);
    assert_int_equal(store_audit_insert(db, batch, 4, &err), 0);
    assert_int_equal(store_audit_count(db, &count, &err), 0);
    assert_int_equal(count, 7);

    store_audit_row empty_id;
    make_audit_row(&empty_id, 3, 0);
    empty_id.request_id[0] = '\0';
    assert_int_equal(store_audit_insert(db, &empty_id, 1, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "request_id");
    store_db_close(db);
}

/* ---------------------------------------------------------------- experiments */

/* Rows of experiment "exp": variant A gets the even i of 0..9 (surges 1.0, 1.2, .., 1.8; prices
 * $10.00 + i), B the odd ones with user-1 twice; then one row of another experiment and one of
 * none. Expected aggregates worked out by hand below. */
static void test_experiment_results_aggregate_the_audit_by_variant(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    enum { N = 12 };
    store_audit_row rows[N];
    for (int i = 0; i < N; i++) {
        make_audit_row(&rows[i], 5, i);
        rows[i].factors_json = "{}";
        rows[i].surge_multiplier = 1.0 + 0.1 * i;
        rows[i].price_cents = 1000 + 100 * i;
        rows[i].ts_ms = 1767225600000 + 1000 * i;
        snprintf(rows[i].user_id, sizeof rows[i].user_id, "user-%d", i % 2 ? i % 4 : i);
        if (i < 10) {
            snprintf(rows[i].experiment_id, sizeof rows[i].experiment_id, "exp");
            snprintf(rows[i].variant, sizeof rows[i].variant, i % 2 ? "B" : "A");
        } else if (i == 10) {
            snprintf(rows[i].experiment_id, sizeof rows[i].experiment_id, "other");
            snprintf(rows[i].variant, sizeof rows[i].variant, "A");
        }
    }
    assert_int_equal(store_audit_insert(db, rows, N, &err), 0);

    store_audit_row got;
    assert_int_equal(store_audit_get(db, rows[3].request_id, &got, &err), 0);
    assert_string_equal(got.experiment_id, "exp");
    assert_string_equal(got.variant, "B");
    store_audit_row_clear(&got);
    assert_int_equal(store_audit_get(db, rows[11].request_id, &got, &err), 0);
    assert_string_equal(got.experiment_id, "");
    assert_string_equal(got.variant, "");
    store_audit_row_clear(&got);

    store_variant_stats *stats = NULL;
    size_t n = 0;
    assert_int_equal(store_experiment_results(db, "exp", &stats, &n, &err), 0);
    assert_int_equal(n, 2);
    /* A: i = 0 2 4 6 8, users user-0 user-2 .. user-8, surges 1.0 1.2 1.4 1.6 1.8 */
    assert_string_equal(stats[0].variant, "A");
    assert_int_equal(stats[0].decisions, 5);
    assert_int_equal(stats[0].users, 5);
    assert_true(fabs(stats[0].mean_surge - 1.4) < 1e-9);
    assert_true(fabs(stats[0].p50_surge - 1.4) < 1e-9);
    assert_int_equal(stats[0].mean_price_cents, 1400);
    assert_int_equal(stats[0].first_ms, 1767225600000);
    assert_int_equal(stats[0].last_ms, 1767225608000);
    /* B: i = 1 3 5 7 9, users user-1 user-3 user-1 user-3 user-1: 2 distinct; lower median of
     * 1.1 1.3 1.5 1.7 1.9 is 1.5 */
    assert_string_equal(stats[1].variant, "B");
    assert_int_equal(stats[1].decisions, 5);
    assert_int_equal(stats[1].users, 2);
    assert_true(fabs(stats[1].mean_surge - 1.5) < 1e-9);
    assert_true(fabs(stats[1].p50_surge - 1.5) < 1e-9);
    assert_int_equal(stats[1].mean_price_cents, 1500);
    assert_int_equal(stats[1].first_ms, 1767225601000);
    assert_int_equal(stats[1].last_ms, 1767225609000);
    free(stats);

    assert_int_equal(store_experiment_results(db, "none-such", &stats, &n, &err), 0);
    assert_int_equal(n, 0);
    free(stats);
    assert_int_equal(store_experiment_results(db, "", &stats, &n, &err), SURGE_EINVAL);
    store_db_close(db);
}

static void test_experiments_crud(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    store_experiment e = {0};
    snprintf(e.experiment_id, sizeof e.experiment_id, "exp-b");
    snprintf(e.name, sizeof e.name, "softer surge");
    snprintf(e.status, sizeof e.status, "draft");
    e.variants_json = "[{\"name\":\"control\",\"rule_id\":1},{\"name\":\"soft\",\"rule_id\":2}]";
    e.traffic_split_json = "{\"control\":50,\"soft\":50}";
    assert_int_equal(store_experiment_put(db, &e, &err), 0);
    store_experiment a = {0};
    snprintf(a.experiment_id, sizeof a.experiment_id, "exp-a");
    snprintf(a.status, sizeof a.status, "stopped");
    assert_int_equal(store_experiment_put(db, &a, &err), 0);

    store_experiment got;
    assert_int_equal(store_experiment_get(db, "exp-b", &got, &err), 0);
    assert_string_equal(got.experiment_id, "exp-b");
    assert_string_equal(got.name, "softer surge");
    assert_string_equal(got.status, "draft");
    assert_string_equal(got.variants_json, e.variants_json);
    assert_string_equal(got.traffic_split_json, e.traffic_split_json);
    assert_int_equal(got.updated_ms, got.created_ms);
    int64_t created = got.created_ms;
    store_experiment_clear(&got);

    usleep(2000);
    snprintf(e.status, sizeof e.status, "running");
    e.traffic_split_json = "{\"control\":90,\"soft\":10}";
    assert_int_equal(store_experiment_put(db, &e, &err), 0);
    assert_int_equal(store_experiment_get(db, "exp-b", &got, &err), 0);
    assert_string_equal(got.status, "running");
    assert_string_equal(got.traffic_split_json, "{\"control\":90,\"soft\":10}");
    assert_int_equal(got.created_ms, created);
    assert_true(got.updated_ms > created);
    store_experiment_clear(&got);

    store_experiment *list = NULL;
    size_t n = 0;
    assert_int_equal(store_experiment_list(db, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].experiment_id, "exp-a");
    assert_null(list[0].variants_json);
    assert_string_equal(list[1].experiment_id, "exp-b");
    for (size_t i = 0; i < n; i++)
        store_experiment_clear(&list[i]);
    free(list);

    snprintf(e.status, sizeof e.status, "paused");
    assert_int_equal(store_experiment_put(db, &e, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "status");

    assert_int_equal(store_experiment_delete(db, "exp-b", &err), 0);
    assert_int_equal(store_experiment_get(db, "exp-b", &got, &err), SURGE_ENOTFOUND);
    assert_int_equal(store_experiment_delete(db, "exp-b", &err), SURGE_ENOTFOUND);
    assert_string_equal(err.message, "experiment exp-b not found");
    store_db_close(db);
}

/* ---------------------------------------------------------------- feature store */

static void set_feature(feature_set *s, const char *name, double v)
{
    snprintf(s->values[s->count].name, sizeof s->values[0].name, "%s", name);
    s->values[s->count].value = v;
    s->count++;
}

static feature_set *make_features(const char *region, int64_t written_ms)
{
    feature_set *s = calloc(1, sizeof *s);
    assert_non_null(s);
    snprintf(s->region_id, sizeof s->region_id, "%s", region);
    s->event_ts_ms = written_ms - 500;
    s->written_ms = written_ms;
    snprintf(s->source, sizeof s->source, "stream");
    set_feature(s, "utilization_ratio", 0.875);
    set_feature(s, "available_drivers", 42);
    set_feature(s, "demand_score", 0.7);
    set_feature(s, "weather_severity", 0.25);
    return s;
}

static void test_feature_store_unknown_scheme_and_bad_mem_url_fail(void **state)
{
    surge_error err = {0};
    assert_null(feature_store_open("memcached://x", &err));
    assert_int_equal(err.code, SURGE_EINVAL);
    assert_non_null(strstr(err.message, "\"memcached://x\""));
    assert_non_null(strstr(err.message, "supported: mem:"));
    assert_null(feature_store_open("mem:/tmp/x", &err));
    assert_int_equal(err.code, SURGE_EINVAL);
    feature_store *fs = feature_store_open("mem:", &err);
    assert_non_null(fs);
    feature_store_close(fs);
}

static void test_feature_put_get_returns_values_sorted_by_name(void **state)
{
    surge_error err = {0};
    feature_store *fs = feature_store_open("mem:", &err);
    feature_set *s = make_features("dr5ru", 1000000);
    assert_int_equal(feature_store_put(fs, s, 120000, &err), 0);
    feature_set *got = calloc(1, sizeof *got);
    assert_int_equal(feature_store_get(fs, "dr5ru", 1000001, got, &err), 0);
    assert_string_equal(got->region_id, "dr5ru");
    assert_int_equal(got->event_ts_ms, 999500);
    assert_int_equal(got->written_ms, 1000000);
    assert_int_equal(got->expires_ms, 1120000);
    assert_string_equal(got->source, "stream");
    assert_int_equal(got->count, 4);
    assert_string_equal(got->values[0].name, "available_drivers");
    assert_true(got->values[0].value == 42);
    assert_string_equal(got->values[1].name, "demand_score");
    assert_true(got->values[1].value == 0.7);
    assert_string_equal(got->values[2].name, "utilization_ratio");
    assert_string_equal(got->values[3].name, "weather_severity");

    /* put replaces the whole set */
    s->count = 0;
    set_feature(s, "demand_score", 0.2);
    s->written_ms = 1000100;
    assert_int_equal(feature_store_put(fs, s, 120000, &err), 0);
    assert_int_equal(feature_store_get(fs, "dr5ru", 1000200, got, &err), 0);
    assert_int_equal(got->count, 1);
    assert_true(got->values[0].value == 0.2);

    assert_int_equal(feature_store_get(fs, "dr5rv", 1000200, got, &err), SURGE_ENOTFOUND);
    assert_string_equal(err.message, "no features for region dr5rv");
    assert_int_equal(feature_store_delete(fs, "dr5ru", &err), 0);
    assert_int_equal(feature_store_get(fs, "dr5ru", 1000200, got, &err), SURGE_ENOTFOUND);
    assert_int_equal(feature_store_delete(fs, "dr5ru", &err), SURGE_ENOTFOUND);
    free(got);
    free(s);
    feature_store_close(fs);
}

static void test_feature_get_values_gives_nan_for_absent_names(void **state)
{
    surge_error err = {0};
    feature_store *fs = feature_store_open("mem:", &err);
    feature_set *s = make_features("dr5ru", 5000);
    assert_int_equal(feature_store_put(fs, s, 120000, &err), 0);
    const char *names[] = {"weather_severity", "no_such_feature", "available_drivers", NULL,
                           "demand_score"};
    double v[5];
    feature_set meta;
    memset(&meta, 0, sizeof meta);
    assert_int_equal(feature_store_get_values(fs, "dr5ru", 6000, names, 5, v, &meta), 0);
    assert_true(v[0] == 0.25);
    assert_true(isnan(v[1]));
    assert_true(v[2] == 42);
    assert_true(isnan(v[3]));
    assert_true(v[4] == 0.7);
    assert_string_equal(meta.region_id, "dr5ru");
    assert_int_equal(meta.event_ts_ms, 4500);
    assert_int_equal(meta.written_ms, 5000);
    assert_int_equal(meta.expires_ms, 125000);
    assert_string_equal(meta.source, "stream");
    assert_int_equal(meta.count, 4);

    /* unknown region: every value NAN */
    v[0] = v[2] = 1;
    assert_int_equal(feature_store_get_values(fs, "9q8yy", 6000, names, 5, v, NULL),
                     SURGE_ENOTFOUND);
    for (int i = 0; i < 5; i++)
        assert_true(isnan(v[i]));
    free(s);
    feature_store_close(fs);
}

static void test_feature_expired_set_is_notfound(void **state)
{
    surge_error err = {0};
    feature_store *fs = feature_store_open("mem:", &err);
    feature_set *s = make_features("dr5ru", 1000);
    assert_int_equal(feature_store_put(fs, s, 120000, &err), 0);
    feature_set *got = calloc(1, sizeof *got);
    const char *names[] = {"demand_score"};
    double v;
    /* valid up to written + ttl, exclusive */
    assert_int_equal(feature_store_get(fs, "dr5ru", 120999, got, &err), 0);
    assert_int_equal(feature_store_get_values(fs, "dr5ru", 120999, names, 1, &v, NULL), 0);
    assert_true(v == 0.7);
    assert_int_equal(feature_store_get(fs, "dr5ru", 121000, got, &err), SURGE_ENOTFOUND);
    assert_string_equal(err.message,
                        "the features of region dr5ru expired at 1970-01-01T00:02:01.000Z");
    assert_int_equal(feature_store_get_values(fs, "dr5ru", 121000, names, 1, &v, NULL),
                     SURGE_ENOTFOUND);
    assert_true(isnan(v));
    free(got);
    free(s);
    feature_store_close(fs);
}

static void test_feature_put_rejects_duplicate_names_and_too_many(void **state)
{
    surge_error err = {0};
    feature_store *fs = feature_store_open("mem:", &err);
    feature_set *s = make_features("dr5ru", 1000);
    set_feature(s, "demand_score", 0.1);
    assert_int_equal(feature_store_put(fs, s, 120000, &err), SURGE_EINVAL);
    assert_string_equal(err.message,
                        "region dr5ru: feature \"demand_score\" appears more than once");
    feature_set *got = calloc(1, sizeof *got);
    assert_int_equal(feature_store_get(fs, "dr5ru", 1000, got, &err), SURGE_ENOTFOUND);

    s->count = FEATURES_MAX + 1;
    assert_int_equal(feature_store_put(fs, s, 120000, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "features");
    s->count = 1;
    s->values[0].name[0] = '\0';
    assert_int_equal(feature_store_put(fs, s, 120000, &err), SURGE_EINVAL);
    s->count = 0; /* an empty set is a valid set */
    assert_int_equal(feature_store_put(fs, s, 0, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "ttl");

    /* exactly FEATURES_MAX distinct names fit */
    s->count = 0;
    for (int i = 0; i < FEATURES_MAX; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%03d", FEATURES_MAX - i);
        set_feature(s, name, i);
    }
    assert_int_equal(feature_store_put(fs, s, 120000, &err), 0);
    const char *names[] = {"f001", "f128", "f064"};
    double v[3];
    assert_int_equal(feature_store_get_values(fs, "dr5ru", 1000, names, 3, v, NULL), 0);
    assert_true(v[0] == FEATURES_MAX - 1);
    assert_true(v[1] == 0);
    assert_true(v[2] == FEATURES_MAX - 64);
    free(got);
    free(s);
    feature_store_close(fs);
}

static void test_feature_store_holds_many_regions(void **state)
{
    surge_error err = {0};
    feature_store *fs = feature_store_open("mem:", &err);
    feature_set *s = calloc(1, sizeof *s);
    enum { REGIONS = 20000 };
    for (int i = 0; i < REGIONS; i++) {
        memset(s, 0, sizeof *s);
        snprintf(s->region_id, sizeof s->region_id, "r%05d", i);
        s->written_ms = 1000;
        set_feature(s, "id", i);
        assert_int_equal(feature_store_put(fs, s, 60000, &err), 0);
    }
    const char *names[] = {"id"};
    for (int i = 0; i < REGIONS; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%05d", i);
        double v;
        assert_int_equal(feature_store_get_values(fs, id, 2000, names, 1, &v, NULL), 0);
        assert_true(v == i);
    }
    free(s);
    feature_store_close(fs);
}

/* ---------------------------------------------------------------- concurrency */

enum { THREADS = 4, BATCHES = 40, BATCH_ROWS = 250 };

typedef struct worker {
    store_db *db;
    feature_store *fs;
    int index;
    int failures;
    char first_error[256];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    store_audit_row *rows = calloc(BATCH_ROWS, sizeof *rows);
    const char *names[] = {"demand_score", "available_drivers"};
    surge_error err = {0};
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < BATCH_ROWS; i++) {
            make_audit_row(&rows[i], w->index, b * BATCH_ROWS + i);
            rows[i].factors_json = "{\"demand\":0.1}";
        }
        if (store_audit_insert(w->db, rows, BATCH_ROWS, &err)) {
            if (!w->failures++) snprintf(w->first_error, sizeof w->first_error, "%s", err.message);
        }
        /* reads on the main connection and the feature store while others write */
        for (int k = 0; k < 200; k++) {
            double v[2];
            char region[16];
            snprintf(region, sizeof region, "dr5r%c", 'a' + k % 8);
            if (feature_store_get_values(w->fs, region, 2000, names, 2, v, NULL) != 0 ||
                v[0] != 0.7 || v[1] != 42)
                w->failures++;
        }
        /* a writer of features too, re-putting the same values */
        feature_set *s = make_features("dr5ra", 1000 + w->index);
        if (feature_store_put(w->fs, s, 120000, &err)) w->failures++;
        free(s);
        store_region r;
        if (store_region_get(w->db, "dr5ru", &r, &err)) w->failures++;
    }
    free(rows);
    return NULL;
}

static void test_concurrent_audit_writes_and_feature_reads_lose_nothing(void **state)
{
    fixture *f = *state;
    surge_error err = {0};
    store_db *db = open_db(f);
    feature_store *fs = feature_store_open("mem:", &err);
    for (int k = 0; k < 8; k++) {
        char region[16];
        snprintf(region, sizeof region, "dr5r%c", 'a' + k);
        feature_set *s = make_features(region, 1000);
        assert_int_equal(feature_store_put(fs, s, 120000, &err), 0);
        free(s);
    }
    store_region r = make_region("dr5ru", "Midtown");
    assert_int_equal(store_region_put(db, &r, &err), 0);

    pthread_t threads[THREADS];
    worker workers[THREADS];
    for (int t = 0; t < THREADS; t++) {
        workers[t] = (worker){.db = db, .fs = fs, .index = t};
        assert_int_equal(pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
        if (workers[t].failures)
            fail_msg("worker %d: %d failures, first: %s", t, workers[t].failures,
                     workers[t].first_error);
    }
    int64_t count = 0;
    assert_int_equal(store_audit_count(db, &count, &err), 0);
    assert_int_equal(count, THREADS * BATCHES * BATCH_ROWS);
    store_audit_row got;
    assert_int_equal(store_audit_get(db, "req-3-009999", &got, &err), 0);
    assert_string_equal(got.factors_json, "{\"demand\":0.1}");
    store_audit_row_clear(&got);
    feature_store_close(fs);
    store_db_close(db);
    assert_int_equal(raw_query_int(f->path, "SELECT COUNT(DISTINCT request_id) FROM audit_logs"),
                     THREADS * BATCHES * BATCH_ROWS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_unknown_scheme_names_url_and_supported_schemes),
        cmocka_unit_test_setup_teardown(test_open_missing_directory_fails_naming_the_path,
                                        setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_open_relative_url_creates_file_in_working_directory,
                                        setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_migrations_are_idempotent_on_reopen_and_keep_data,
                                        setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_open_sets_wal_mode_in_the_file, setup_tmpdir,
                                        teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_open_refuses_a_newer_schema_version, setup_tmpdir,
                                        teardown_tmpdir),
        cmocka_unit_test_setup_teardown(
            test_open_of_a_file_that_is_not_a_database_fails_with_sqlite_message, setup_tmpdir,
            teardown_tmpdir),
        cmocka_unit_test(test_calls_on_a_null_handle_fail_cleanly),
        cmocka_unit_test_setup_teardown(test_region_upsert_get_list_delete, setup_tmpdir,
                                        teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_region_put_rejects_bad_products, setup_tmpdir,
                                        teardown_tmpdir),
        cmocka_unit_test(test_rule_defaults_match_design),
        cmocka_unit_test_setup_teardown(
            test_rule_insert_assigns_increasing_ids_and_round_trips_every_field, setup_tmpdir,
            teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_rule_insert_rejects_invalid_values, setup_tmpdir,
                                        teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_rule_list_filters_and_orders, setup_tmpdir,
                                        teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_rule_delete_future_works_and_effective_conflicts,
                                        setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_control_put_get_list_and_missing_is_notfound,
                                        setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_audit_batch_insert_then_get_returns_every_field,
                                        setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_audit_expire_deletes_the_oldest_rows_in_chunks,
                                        setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_audit_duplicate_request_id_in_batch_writes_nothing,
                                        setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_experiments_crud, setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_experiment_results_aggregate_the_audit_by_variant,
                                        setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test(test_feature_store_unknown_scheme_and_bad_mem_url_fail),
        cmocka_unit_test(test_feature_put_get_returns_values_sorted_by_name),
        cmocka_unit_test(test_feature_get_values_gives_nan_for_absent_names),
        cmocka_unit_test(test_feature_expired_set_is_notfound),
        cmocka_unit_test(test_feature_put_rejects_duplicate_names_and_too_many),
        cmocka_unit_test(test_feature_store_holds_many_regions),
        cmocka_unit_test_setup_teardown(test_concurrent_audit_writes_and_feature_reads_lose_nothing,
                                        setup_tmpdir, teardown_tmpdir),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
