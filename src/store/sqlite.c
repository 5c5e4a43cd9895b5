/* sqlite.c: the SQLite backend of the relational store (embedded mode): one database file in
 * WAL mode, brought up to date by versioned migrations when it is opened. Two connections:
 * `main` answers everything except audit inserts, `audit` does only audit inserts, so the audit
 * writer thread never queues behind admin reads (WAL lets readers run beside one writer). */
#include "store_backend.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 10000
#define MAIN_CACHE_KIB (16 * 1024)      /* admin reads: rules, regions, explain lookups */
#define AUDIT_CACHE_KIB (64 * 1024)     /* the audit table's three b-trees under steady inserts */
#define WAL_CHECKPOINT_PAGES "16384"    /* 64 MiB of 4 KiB pages */
#define WAL_SIZE_LIMIT_BYTES "67108864" /* 64 MiB */

/* ---------------------------------------------------------------- schema */

/* Migrations, oldest first. Migration i (0-based) is schema version i + 1. Each is applied
 * once, in its own transaction, and never edited after it has shipped: a change to the schema
 * is a new entry at the end. Prices are stored in dollars (REAL) because the seed's tables
 * say so; cents are exact through llround(dollars * 100). Times are epoch milliseconds. */
static const char *const migrations[] = {
    /* 1: the seed's tables */
    "CREATE TABLE regions("
    "  region_id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  timezone TEXT NOT NULL,"
    "  center_lat REAL,"
    "  center_lon REAL,"
    "  products TEXT NOT NULL," /* comma-separated product types */
    "  created_at INTEGER,"
    "  updated_at INTEGER);"
    "CREATE TABLE pricing_rules("
    "  rule_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  region_id TEXT NOT NULL,"
    "  product_type TEXT NOT NULL,"
    "  base_price REAL NOT NULL,"
    "  min_multiplier REAL,"
    "  max_multiplier REAL,"
    "  effective_date INTEGER NOT NULL,"
    "  weight_demand REAL,"
    "  weight_supply REAL,"
    "  weight_time REAL,"
    "  weight_event REAL,"
    "  weight_weather REAL,"
    "  demand_k REAL,"
    "  demand_threshold REAL,"
    "  event_coefficient REAL,"
    "  time_multipliers TEXT," /* JSON array of 24 numbers, by local hour */
    "  rounding_cents INTEGER,"
    "  max_change_per_min REAL,"
    "  created_by TEXT,"
    "  created_at INTEGER);"
    "CREATE INDEX pricing_rules_lookup ON pricing_rules(region_id, product_type, effective_date);"
    "CREATE TABLE region_controls("
    "  region_id TEXT PRIMARY KEY,"
    "  emergency_cap REAL,"
    "  frozen INTEGER,"
    "  frozen_multiplier REAL,"
    "  reason TEXT,"
    "  updated_by TEXT,"
    "  updated_at INTEGER);"
    "CREATE TABLE audit_logs("
    "  request_id TEXT PRIMARY KEY,"
    "  trace_id TEXT,"
    "  timestamp INTEGER,"
    "  region_id TEXT,"
    "  product_type TEXT,"
    "  user_id TEXT,"
    "  computed_price REAL,"
    "  base_price REAL,"
    "  surge_multiplier REAL,"
    "  demand_score REAL,"
    "  confidence REAL,"
    "  expected_demand REAL,"
    "  available_supply REAL,"
    "  weather_severity REAL,"
    "  event_score REAL,"
    "  fallback TEXT,"
    "  features_ts INTEGER,"
    "  local_hour INTEGER,"
    "  factors TEXT,"
    "  guardrails TEXT,"
    "  model_version TEXT,"
    "  rule_id INTEGER,"
    "  cached INTEGER,"
    "  latency_us INTEGER);"
    "CREATE INDEX audit_logs_region_time ON audit_logs(region_id, timestamp);"
    "CREATE INDEX audit_logs_trace ON audit_logs(trace_id);"
    "CREATE TABLE ab_test_configs("
    "  experiment_id TEXT PRIMARY KEY,"
    "  name TEXT,"
    "  status TEXT,"
    "  variants TEXT,"
    "  traffic_split TEXT,"
    "  created_at INTEGER,"
    "  updated_at INTEGER);",
    /* the model registry (DESIGN §6): one row per (name, version); JSON columns are written
     * by src/model and read back as they are */
    "CREATE TABLE model_versions("
    "  name TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  canary_percent INTEGER NOT NULL DEFAULT 0,"
    "  previous TEXT,"
    "  manifest TEXT,"
    "  metrics TEXT,"
    "  params TEXT,"
    "  importance TEXT,"
    "  dataset TEXT,"
    "  created_by TEXT,"
    "  created_at INTEGER,"
    "  updated_by TEXT,"
    "  updated_at INTEGER,"
    "  PRIMARY KEY(name, version));",
    /* portal: who did which admin action, and a time index for audit search and reports
     * (append-mostly: timestamps grow, so it costs the audit writer little) */
    "CREATE TABLE admin_actions("
    "  action_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  role TEXT,"
    "  method TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  status INTEGER,"
    "  trace_id TEXT,"
    "  client_ip TEXT,"
    "  detail TEXT);"
    "CREATE INDEX audit_logs_time ON audit_logs(timestamp);",
    /* 4: A/B experiments: the experiment and variant that chose a decision's rule (NULL when
     * none), indexed for the results of one experiment */
    "ALTER TABLE audit_logs ADD COLUMN experiment_id TEXT;"
    "ALTER TABLE audit_logs ADD COLUMN variant TEXT;"
    "CREATE INDEX audit_logs_experiment ON audit_logs(experiment_id, variant);",
};
#define MIGRATION_COUNT ((int)(sizeof migrations / sizeof migrations[0]))

/* ---------------------------------------------------------------- statements */

#define REGION_COLUMNS                                                                             \
    "region_id, name, timezone, center_lat, center_lon, products, created_at, updated_at"
#define RULE_COLUMNS                                                                               \
    "rule_id, region_id, product_type, base_price, min_multiplier, max_multiplier,"                \
    " effective_date, weight_demand, weight_supply, weight_time, weight_event, weight_weather,"    \
    " demand_k, demand_threshold, event_coefficient, time_multipliers, rounding_cents,"            \
    " max_change_per_min, created_by, created_at"
#define CONTROL_COLUMNS                                                                            \
    "region_id, emergency_cap, frozen, frozen_multiplier, reason, updated_by, updated_at"
#define AUDIT_COLUMNS                                                                              \
    "request_id, trace_id, timestamp, region_id, product_type, user_id, computed_price,"           \
    " base_price, surge_multiplier, demand_score, confidence, expected_demand,"                    \
    " available_supply, weather_severity, event_score, fallback, features_ts, local_hour,"        \
    " factors, guardrails, model_version, rule_id, cached, latency_us, experiment_id, variant"
#define EXPERIMENT_COLUMNS                                                                         \
    "experiment_id, name, status, variants, traffic_split, created_at, updated_at"

enum stmt_id {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_PING,
    STMT_REGION_PUT,
    STMT_REGION_GET,
    STMT_REGION_LIST,
    STMT_REGION_DELETE,
    STMT_REGION_COUNT,
    STMT_RULE_INSERT,
    STMT_RULE_GET,
    STMT_RULE_LIST,
    STMT_RULE_DELETE_FUTURE,
    STMT_RULE_EFFECTIVE,
    STMT_CONTROL_PUT,
    STMT_CONTROL_GET,
    STMT_CONTROL_LIST,
    STMT_AUDIT_INSERT,
    STMT_AUDIT_GET,
    STMT_AUDIT_COUNT,
    STMT_AUDIT_EXPIRE,
    STMT_EXPERIMENT_PUT,
    STMT_EXPERIMENT_GET,
    STMT_EXPERIMENT_LIST,
    STMT_EXPERIMENT_DELETE,
    STMT_COUNT
};

/* Every statement with the words its errors start with ("sqlite: <what>: <sqlite message>"). */
static const struct {
    const char *what;
    const char *sql;
} statements[STMT_COUNT] = {
    /* IMMEDIATE takes the write lock at BEGIN, waiting in the busy handler; a deferred
     * transaction that later upgrades can fail at once with SQLITE_BUSY instead. */
    [STMT_BEGIN] = {"begin transaction", "BEGIN IMMEDIATE"},
    [STMT_COMMIT] = {"commit", "COMMIT"},
    [STMT_ROLLBACK] = {"rollback", "ROLLBACK"},
    [STMT_PING] = {"ping", "SELECT 1"},
    [STMT_REGION_PUT] = {"upsert into regions",
                         "INSERT INTO regions(" REGION_COLUMNS ")"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
                         " ON CONFLICT(region_id) DO UPDATE SET name = excluded.name,"
                         " timezone = excluded.timezone, center_lat = excluded.center_lat,"
                         " center_lon = excluded.center_lon, products = excluded.products,"
                         " updated_at = excluded.updated_at"},
    [STMT_REGION_GET] = {"select from regions",
                         "SELECT " REGION_COLUMNS " FROM regions WHERE region_id = ?1"},
    [STMT_REGION_LIST] = {"select from regions",
                          "SELECT " REGION_COLUMNS " FROM regions ORDER BY region_id"},
    [STMT_REGION_DELETE] = {"delete from regions", "DELETE FROM regions WHERE region_id = ?1"},
    [STMT_REGION_COUNT] = {"count regions", "SELECT COUNT(*) FROM regions"},
    [STMT_RULE_INSERT] = {"insert into pricing_rules",
                          "INSERT INTO pricing_rules(region_id, product_type, base_price,"
                          " min_multiplier, max_multiplier, effective_date, weight_demand,"
                          " weight_supply, weight_time, weight_event, weight_weather, demand_k,"
                          " demand_threshold, event_coefficient, time_multipliers,"
                          " rounding_cents, max_change_per_min, created_by, created_at)"
                          " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                          " ?15, ?16, ?17, ?18, ?19)"},
    [STMT_RULE_GET] = {"select from pricing_rules",
                       "SELECT " RULE_COLUMNS " FROM pricing_rules WHERE rule_id = ?1"},
    [STMT_RULE_LIST] = {"select from pricing_rules",
                        "SELECT " RULE_COLUMNS " FROM pricing_rules"
                        " WHERE (?1 IS NULL OR region_id = ?1)"
                        " AND (?2 IS NULL OR product_type = ?2)"
                        " ORDER BY region_id, product_type, effective_date, rule_id"},
    [STMT_RULE_DELETE_FUTURE] = {"delete from pricing_rules",
                                 "DELETE FROM pricing_rules"
                                 " WHERE rule_id = ?1 AND effective_date > ?2"},
    [STMT_RULE_EFFECTIVE] = {"select from pricing_rules",
                             "SELECT effective_date FROM pricing_rules WHERE rule_id = ?1"},
    [STMT_CONTROL_PUT] = {"upsert into region_controls",
                          "INSERT OR REPLACE INTO region_controls(" CONTROL_COLUMNS ")"
                          " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    [STMT_CONTROL_GET] = {"select from region_controls",
                          "SELECT " CONTROL_COLUMNS " FROM region_controls WHERE region_id = ?1"},
    [STMT_CONTROL_LIST] = {"select from region_controls",
                           "SELECT " CONTROL_COLUMNS " FROM region_controls ORDER BY region_id"},
    [STMT_AUDIT_INSERT] = {"insert into audit_logs",
                           "INSERT INTO audit_logs(" AUDIT_COLUMNS ")"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                           " ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)"},
    [STMT_AUDIT_GET] = {"select from audit_logs",
                        "SELECT " AUDIT_COLUMNS " FROM audit_logs WHERE request_id = ?1"},
    [STMT_AUDIT_COUNT] = {"count audit_logs", "SELECT COUNT(*) FROM audit_logs"},
    /* rowids grow with insertion time: the oldest rows come first, no timestamp index needed */
    [STMT_AUDIT_EXPIRE] = {"delete from audit_logs",
                           "DELETE FROM audit_logs WHERE rowid IN (SELECT rowid FROM audit_logs"
                           " ORDER BY rowid LIMIT ?2) AND timestamp < ?1"},
    [STMT_EXPERIMENT_PUT] = {"upsert into ab_test_configs",
                             "INSERT INTO ab_test_configs(" EXPERIMENT_COLUMNS ")"
                             " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)"
                             " ON CONFLICT(experiment_id) DO UPDATE SET name = excluded.name,"
                             " status = excluded.status, variants = excluded.variants,"
                             " traffic_split = excluded.traffic_split,"
                             " updated_at = excluded.updated_at"},
    [STMT_EXPERIMENT_GET] = {"select from ab_test_configs",
                             "SELECT " EXPERIMENT_COLUMNS
                             " FROM ab_test_configs WHERE experiment_id = ?1"},
    [STMT_EXPERIMENT_LIST] = {"select from ab_test_configs",
                              "SELECT " EXPERIMENT_COLUMNS
                              " FROM ab_test_configs ORDER BY experiment_id"},
    [STMT_EXPERIMENT_DELETE] = {"delete from ab_test_configs",
                                "DELETE FROM ab_test_configs WHERE experiment_id = ?1"},
};

/* ---------------------------------------------------------------- connections */

/* One SQLite connection. Opened with SQLITE_OPEN_NOMUTEX (multi-thread mode), so a connection
 * must be used by one thread at a time: that is what lock is for. */
typedef struct sqlite_conn {
    pthread_mutex_t lock; /* guards db and every statement in stmts */
    bool lock_ready;
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_COUNT]; /* prepared on first use, finalized at close */
} sqlite_conn;

typedef struct sqlite_store {
    char *path;
    int schema_version; /* set once at open, read-only afterwards */
    sqlite_conn main;   /* everything except audit inserts */
    sqlite_conn audit;  /* store_audit_insert only */
} sqlite_store;

/* Fills err for a failed SQLite call: "sqlite: <what>: <SQLite's message>". Constraint
 * violations are conflicts (409), a database locked beyond the busy timeout is
 * "unavailable" (503), anything else is an I/O error. */
static int sql_fail(sqlite3 *db, int rc, const char *what, surge_error *err)
{
    surge_code code = SURGE_EIO;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        code = SURGE_ECONFLICT;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = SURGE_EUNAVAILABLE;
        break;
    case SQLITE_NOMEM:
        code = SURGE_EINTERNAL;
        break;
    default:
        break;
    }
    /* errmsg describes the most recent call on db, which is the failed one; rc is more
     * precise when the message is the generic one or there is no handle. */
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return surge_fail(err, code, NULL, "sqlite: %s: %s", what, msg);
}

static int out_of_memory(const char *what, surge_error *err)
{
    return surge_fail(err, SURGE_EINTERNAL, NULL, "sqlite: %s: out of memory", what);
}

/* The connection's cached statement id, prepared on first use. Caller holds c->lock. */
static int stmt_get(sqlite_conn *c, enum stmt_id id, sqlite3_stmt **out, surge_error *err)
{
    if (!c->stmts[id]) {
        int rc = sqlite3_prepare_v3(c->db, statements[id].sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            *out = NULL;
            return sql_fail(c->db, rc, statements[id].what, err);
        }
    }
    *out = c->stmts[id];
    return 0;
}

/* Makes a cached statement ready for its next use. sqlite3_reset returns the error of the
 * last step again, which the caller has already turned into its own error, so it is not
 * reported twice. Clearing the bindings drops pointers into the caller's memory. */
static void stmt_release(sqlite3_stmt *s)
{
    if (!s) return;
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
}

/* Runs a cached statement that takes no parameters and returns no rows (BEGIN, COMMIT...). */
static int stmt_run(sqlite_conn *c, enum stmt_id id, surge_error *err)
{
    sqlite3_stmt *s;
    int rc = stmt_get(c, id, &s, err);
    if (rc) return rc;
    int step = sqlite3_step(s);
    if (step != SQLITE_DONE) rc = sql_fail(c->db, step, statements[id].what, err);
    stmt_release(s);
    return rc;
}

/* Ends a failed transaction. SQLite has already rolled back by itself after some errors
 * (SQLITE_FULL, SQLITE_IOERR...), hence the autocommit check. The caller reports the first
 * error, so a failed rollback can only be logged. */
static void tx_rollback(sqlite_conn *c)
{
    if (sqlite3_get_autocommit(c->db)) return;
    surge_error rollback_err;
    if (stmt_run(c, STMT_ROLLBACK, &rollback_err)) log_error("store", "%s", rollback_err.message);
}

/* Binding: each helper does nothing once *rc is an error, so a run of binds is checked once. */
static void bind_text(sqlite3_stmt *s, int i, const char *v, int *rc)
{
    if (*rc != SQLITE_OK) return;
    *rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static void bind_int64(sqlite3_stmt *s, int i, int64_t v, int *rc)
{
    if (*rc == SQLITE_OK) *rc = sqlite3_bind_int64(s, i, v);
}

static void bind_double(sqlite3_stmt *s, int i, double v, int *rc)
{
    if (*rc == SQLITE_OK) *rc = sqlite3_bind_double(s, i, v);
}

static double cents_to_dollars(int64_t cents)
{
    return (double)cents / 100.0;
}

static int64_t dollars_to_cents(double dollars)
{
    return (int64_t)llround(dollars * 100.0);
}

/* Copies a text column into a fixed array (truncating what an outside writer made too long). */
static void column_text(sqlite3_stmt *s, int col, char *dst, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, size, "%s", t ? (const char *)t : "");
}

/* A malloc'd copy of a text column; NULL stays NULL. Returns -1 only when out of memory. */
static int column_dup(sqlite3_stmt *s, int col, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(s, col) == SQLITE_NULL) return 0;
    const unsigned char *t = sqlite3_column_text(s, col);
    if (!t) return -1; /* non-NULL column without text: SQLite ran out of memory */
    *out = strdup((const char *)t);
    return *out ? 0 : -1;
}

static double column_double_or(sqlite3_stmt *s, int col, double otherwise)
{
    return sqlite3_column_type(s, col) == SQLITE_NULL ? otherwise : sqlite3_column_double(s, col);
}

/* Grows a malloc'd array so that it holds at least n + 1 elements. */
static int array_reserve(void **array, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return 0;
    size_t new_cap = *cap ? *cap * 2 : 16;
    void *p = realloc(*array, new_cap * elem);
    if (!p) return -1;
    *array = p;
    *cap = new_cap;
    return 0;
}

/* Runs a PRAGMA; when expect is not NULL, its (first) result must equal it. */
static int run_pragma(sqlite3 *db, const char *path, const char *sql, const char *expect,
                      surge_error *err)
{
    char what[160];
    snprintf(what, sizeof what, "%s on %s", sql, path);
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) return sql_fail(db, rc, what, err);
    int step = sqlite3_step(s);
    int result = 0;
    if (step == SQLITE_ROW) {
        const unsigned char *got = sqlite3_column_text(s, 0);
        if (expect && (!got || sqlite3_stricmp((const char *)got, expect) != 0))
            result = surge_fail(err, SURGE_EIO, NULL, "sqlite: %s: got \"%s\", need \"%s\"", what,
                                got ? (const char *)got : "", expect);
    } else if (step != SQLITE_DONE) {
        result = sql_fail(db, step, what, err);
    }
    sqlite3_finalize(s); /* repeats the step's error, already handled above */
    return result;
}

/* Opens and configures one connection:
 * - WAL: readers never block the writer or each other;
 * - synchronous=NORMAL: a commit is durable once it is in the WAL file, so it survives a
 *   crash or kill -9 of the process. A power loss or OS crash can lose the commits made since
 *   the WAL was last synced, i.e. since the last checkpoint (at most 64 MiB of WAL, below), but
 *   never corrupts the database. FULL would fsync every commit and cap the audit writer at
 *   the disk's fsync rate;
 * - busy_timeout: another connection holding the write lock makes us wait up to 10 s rather
 *   than fail at once;
 * - foreign_keys on, so any future REFERENCES clause is enforced;
 * - cache_kib of page cache, and a checkpoint every 64 MiB of WAL rather than SQLite's 4 MiB:
 *   the audit indexes take inserts at scattered keys (trace ids are random), so each batch
 *   dirties many index pages; a bigger cache saves re-reading them and rarer checkpoints
 *   write each page to the database file once for many commits (measured: about 2x the audit
 *   rows/s of SQLite's defaults with random trace ids);
 * - journal_size_limit: the WAL file shrinks back to 64 MiB after a checkpoint. */
static int conn_open(sqlite_conn *c, const char *path, int cache_kib, surge_error *err)
{
    int rc = sqlite3_open_v2(
        path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        surge_fail(err, SURGE_EIO, "db", "sqlite: open %s: %s", path,
                   c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        return SURGE_EIO;
    }
    char what[160];
    snprintf(what, sizeof what, "configure %s", path);
    if ((rc = sqlite3_extended_result_codes(c->db, 1)) != SQLITE_OK)
        return sql_fail(c->db, rc, what, err);
    if ((rc = sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS)) != SQLITE_OK)
        return sql_fail(c->db, rc, what, err);
    char cache[64];
    snprintf(cache, sizeof cache, "PRAGMA cache_size=-%d", cache_kib);
    const struct {
        const char *sql, *expect;
    } pragmas[] = {
        {"PRAGMA journal_mode=WAL", "wal"},
        {"PRAGMA synchronous=NORMAL", NULL},
        {"PRAGMA foreign_keys=ON", NULL},
        {cache, NULL},
        {"PRAGMA wal_autocheckpoint=" WAL_CHECKPOINT_PAGES, WAL_CHECKPOINT_PAGES},
        {"PRAGMA journal_size_limit=" WAL_SIZE_LIMIT_BYTES, WAL_SIZE_LIMIT_BYTES},
    };
    for (size_t i = 0; i < sizeof pragmas / sizeof pragmas[0]; i++)
        if ((rc = run_pragma(c->db, path, pragmas[i].sql, pragmas[i].expect, err))) return rc;
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        return surge_fail(err, SURGE_EINTERNAL, "db", "sqlite: %s: cannot create a mutex", what);
    c->lock_ready = true;
    return 0;
}

static void conn_close(sqlite_conn *c, const char *path)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        /* finalize repeats the statement's last error, which was reported when it happened */
        if (c->stmts[i]) (void)sqlite3_finalize(c->stmts[i]);
        c->stmts[i] = NULL;
    }
    if (c->db) {
        int rc = sqlite3_close(c->db);
        if (rc != SQLITE_OK)
            log_error("store", "sqlite: close %s: %s", path ? path : "", sqlite3_errstr(rc));
        c->db = NULL;
    }
    if (c->lock_ready) pthread_mutex_destroy(&c->lock);
    c->lock_ready = false;
}

/* Runs SQL text that may hold several statements (migrations, DDL). */
static int exec_sql(sqlite3 *db, const char *sql, const char *what, surge_error *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sql_fail(db, rc, what, err);
}

static int query_int(sqlite3 *db, const char *sql, const char *what, int64_t *out, surge_error *err)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) return sql_fail(db, rc, what, err);
    int step = sqlite3_step(s);
    int result = 0;
    if (step == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else
        result = sql_fail(db, step == SQLITE_DONE ? SQLITE_ERROR : step, what, err);
    sqlite3_finalize(s); /* repeats the step's error, already handled */
    return result;
}

/* Applies every migration the database does not have yet, each in its own transaction.
 * The version is re-read inside the transaction, so two processes opening the same file at
 * once apply each migration exactly once. */
static int migrate(sqlite_store *st, surge_error *err)
{
    sqlite3 *db = st->main.db;
    int rc = exec_sql(db,
                      "CREATE TABLE IF NOT EXISTS schema_migrations("
                      "version INTEGER PRIMARY KEY, applied_at INTEGER)",
                      "create schema_migrations", err);
    if (rc) return rc;
    int64_t version = 0;
    const char *max_sql = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
    if ((rc = query_int(db, max_sql, "read schema version", &version, err))) return rc;
    if (version > MIGRATION_COUNT)
        return surge_fail(err, SURGE_EIO, "db",
                          "sqlite: %s has schema version %lld, newer than this surge knows (%d);"
                          " run a newer surge",
                          st->path, (long long)version, MIGRATION_COUNT);
    for (int v = (int)version + 1; v <= MIGRATION_COUNT; v++) {
        char what[64];
        snprintf(what, sizeof what, "migration %d", v);
        if ((rc = exec_sql(db, "BEGIN IMMEDIATE", what, err))) return rc;
        int64_t now_version = 0;
        rc = query_int(db, max_sql, what, &now_version, err);
        if (!rc && now_version < v) {
            rc = exec_sql(db, migrations[v - 1], what, err);
            if (!rc) {
                char sql[128];
                snprintf(sql, sizeof sql,
                         "INSERT INTO schema_migrations(version, applied_at) VALUES(%d, %lld)", v,
                         (long long)time_now_ms());
                rc = exec_sql(db, sql, what, err);
            }
        }
        if (!rc) rc = exec_sql(db, "COMMIT", what, err);
        if (rc) {
            if (!sqlite3_get_autocommit(db)) {
                surge_error rollback_err;
                if (exec_sql(db, "ROLLBACK", what, &rollback_err))
                    log_error("store", "%s", rollback_err.message);
            }
            return rc;
        }
    }
    int64_t final_version = 0;
    if ((rc = query_int(db, max_sql, "read schema version", &final_version, err))) return rc;
    st->schema_version = (int)final_version;
    return 0;
}

static void sqlite_close(void *impl)
{
    sqlite_store *st = impl;
    if (!st) return;
    if (st->main.db) {
        /* SQLite's advice: let the planner refresh its statistics before closing */
        surge_error e;
        if (exec_sql(st->main.db, "PRAGMA optimize", "optimize", &e))
            log_warn("store", "%s", e.message);
    }
    conn_close(&st->audit, st->path);
    conn_close(&st->main, st->path);
    free(st->path);
    free(st);
}

/* "sqlite:///abs/path.db" -> "/abs/path.db"; "sqlite://relative/path.db" -> "relative/...". */
static void *sqlite_open(const char *url, surge_error *err)
{
    const char *prefix = "sqlite://";
    if (strncmp(url, prefix, strlen(prefix)) != 0 || url[strlen(prefix)] == '\0') {
        surge_fail(err, SURGE_EINVAL, "db",
                   "db URL \"%s\" is not sqlite:///abs/path.db or sqlite://relative/path.db", url);
        return NULL;
    }
    if (!sqlite3_threadsafe()) {
        surge_fail(err, SURGE_EINTERNAL, "db",
                   "sqlite: this libsqlite3 was built without thread support");
        return NULL;
    }
    sqlite_store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(url + strlen(prefix)))) {
        free(st);
        surge_fail(err, SURGE_EINTERNAL, "db", "sqlite: open %s: out of memory", url);
        return NULL;
    }
    if (conn_open(&st->main, st->path, MAIN_CACHE_KIB, err) || migrate(st, err) ||
        conn_open(&st->audit, st->path, AUDIT_CACHE_KIB, err)) {
        conn_close(&st->audit, st->path);
        conn_close(&st->main, st->path);
        free(st->path);
        free(st);
        return NULL;
    }
    return st;
}

static int sqlite_schema_version(void *impl)
{
    return ((sqlite_store *)impl)->schema_version;
}

static int sqlite_ping(void *impl, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s;
    int rc = stmt_get(c, STMT_PING, &s, err);
    if (!rc) {
        int step = sqlite3_step(s);
        if (step != SQLITE_ROW) rc = sql_fail(c->db, step, statements[STMT_PING].what, err);
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* Runs a cached statement that takes one text key and changes rows (DELETE ... WHERE id = ?1);
 * ENOTFOUND when no row changed. Caller holds c->lock. */
static int delete_by_key(sqlite_conn *c, enum stmt_id id, const char *key, const char *field,
                         const char *thing, surge_error *err)
{
    sqlite3_stmt *s;
    int rc = stmt_get(c, id, &s, err);
    if (rc) return rc;
    int brc = SQLITE_OK;
    bind_text(s, 1, key, &brc);
    int step = brc ? brc : sqlite3_step(s);
    if (step != SQLITE_DONE)
        rc = sql_fail(c->db, step, statements[id].what, err);
    else if (sqlite3_changes(c->db) == 0)
        rc = surge_fail(err, SURGE_ENOTFOUND, field, "%s %s not found", thing, key);
    stmt_release(s);
    return rc;
}

/* Runs a cached SELECT COUNT(*). Caller holds c->lock. */
static int count_rows(sqlite_conn *c, enum stmt_id id, int64_t *count, surge_error *err)
{
    sqlite3_stmt *s;
    int rc = stmt_get(c, id, &s, err);
    if (rc) return rc;
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        *count = sqlite3_column_int64(s, 0);
    else
        rc = sql_fail(c->db, step == SQLITE_DONE ? SQLITE_ERROR : step, statements[id].what, err);
    stmt_release(s);
    return rc;
}

/* ---------------------------------------------------------------- regions */

/* A single-row lookup by key on the main connection: a text key, or int_key when key is NULL.
 * The row goes through read into out; no row is ENOTFOUND with the message missing. */
typedef int (*row_reader)(sqlite3_stmt *s, void *out, surge_error *err);

static int get_one(void *impl, enum stmt_id id, const char *key, int64_t int_key,
                   row_reader read, void *out, const char *field, const char *missing,
                   surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s;
    int rc = stmt_get(c, id, &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        if (key) bind_text(s, 1, key, &brc);
        else bind_int64(s, 1, int_key, &brc);
        int step = brc ? brc : sqlite3_step(s);
        if (step == SQLITE_ROW)
            rc = read(s, out, err);
        else if (step == SQLITE_DONE)
            rc = surge_fail(err, SURGE_ENOTFOUND, field, "%s", missing);
        else
            rc = sql_fail(c->db, step, statements[id].what, err);
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int read_region(sqlite3_stmt *s, store_region *r, surge_error *err)
{
    memset(r, 0, sizeof *r);
    column_text(s, 0, r->region_id, sizeof r->region_id);
    column_text(s, 1, r->name, sizeof r->name);
    column_text(s, 2, r->timezone, sizeof r->timezone);
    r->center_lat = sqlite3_column_double(s, 3);
    r->center_lon = sqlite3_column_double(s, 4);
    const char *p = (const char *)sqlite3_column_text(s, 5);
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len > 0) {
            if (r->product_count == STORE_PRODUCTS_MAX || len >= STORE_PRODUCT_MAX)
                return surge_fail(err, SURGE_EIO, "products",
                                  "sqlite: regions row %s: products \"%s\" holds more than %d"
                                  " product types or one longer than %d characters",
                                  r->region_id, (const char *)sqlite3_column_text(s, 5),
                                  STORE_PRODUCTS_MAX, STORE_PRODUCT_MAX - 1);
            memcpy(r->products[r->product_count], p, len);
            r->products[r->product_count][len] = '\0';
            r->product_count++;
        }
        p = comma ? comma + 1 : p + len;
    }
    r->created_ms = sqlite3_column_int64(s, 6);
    r->updated_ms = sqlite3_column_int64(s, 7);
    return 0;
}

static int sqlite_region_put(void *impl, const store_region *region, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    char products[STORE_PRODUCTS_MAX * STORE_PRODUCT_MAX] = "";
    size_t len = 0;
    for (int i = 0; i < region->product_count; i++)
        len += (size_t)snprintf(products + len, sizeof products - len, "%s%s", i ? "," : "",
                                region->products[i]);
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s;
    int rc = stmt_get(c, STMT_REGION_PUT, &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        bind_text(s, 1, region->region_id, &brc);
        bind_text(s, 2, region->name, &brc);
        bind_text(s, 3, region->timezone, &brc);
        bind_double(s, 4, region->center_lat, &brc);
        bind_double(s, 5, region->center_lon, &brc);
        bind_text(s, 6, products, &brc);
        bind_int64(s, 7, time_now_ms(), &brc);
        int step = brc ? brc : sqlite3_step(s);
        if (step != SQLITE_DONE) rc = sql_fail(c->db, step, statements[STMT_REGION_PUT].what, err);
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int region_row(sqlite3_stmt *s, void *out, surge_error *err)
{
    return read_region(s, out, err);
}

static int sqlite_region_get(void *impl, const char *region_id, store_region *out, surge_error *err)
{
    char missing[96];
    snprintf(missing, sizeof missing, "region %s not found", region_id);
    return get_one(impl, STMT_REGION_GET, region_id, 0, region_row, out, "region_id", missing,
                   err);
}

static int sqlite_region_list(void *impl, store_region **out, size_t *count, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    store_region *list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s;
    int rc = stmt_get(c, STMT_REGION_LIST, &s, err);
    while (!rc) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = sql_fail(c->db, step, statements[STMT_REGION_LIST].what, err);
        } else if (array_reserve((void **)&list, &cap, n, sizeof *list)) {
            rc = out_of_memory(statements[STMT_REGION_LIST].what, err);
        } else if (!(rc = read_region(s, &list[n], err))) {
            n++;
        }
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return 0;
}

static int sqlite_region_delete(void *impl, const char *region_id, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    pthread_mutex_lock(&c->lock);
    int rc = delete_by_key(c, STMT_REGION_DELETE, region_id, "region_id", "region", err);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int sqlite_region_count(void *impl, int64_t *count, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    pthread_mutex_lock(&c->lock);
    int rc = count_rows(c, STMT_REGION_COUNT, count, err);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ---------------------------------------------------------------- pricing rules */

/* The 24 multipliers as a JSON array, each number in the fewest digits that read back to the
 * same double (so a person reading the table sees 1.2, not 1.1999999999999999). Written with
 * "%g", which assumes the C locale's decimal point: surge never calls setlocale. */
static void format_time_multipliers(const double m[24], buf *b)
{
    buf_putc(b, '[');
    for (int h = 0; h < 24; h++) {
        char num[32];
        snprintf(num, sizeof num, "%.15g", m[h]);
        if (strtod(num, NULL) != m[h]) snprintf(num, sizeof num, "%.17g", m[h]);
        if (h) buf_putc(b, ',');
        buf_puts(b, num);
    }
    buf_putc(b, ']');
}

static int parse_time_multipliers(const char *text, double m[24])
{
    json_error_t jerr;
    json_t *a = json_loads(text, JSON_DECODE_ANY, &jerr);
    int rc = json_is_array(a) && json_array_size(a) == 24 ? 0 : -1;
    for (size_t h = 0; !rc && h < 24; h++) {
        json_t *v = json_array_get(a, h);
        if (json_is_number(v))
            m[h] = json_number_value(v);
        else
            rc = -1;
    }
    json_decref(a);
    return rc;
}

/* Columns that are NULL (rows written by hand or by an older tool) read as the defaults. */
static int read_rule(sqlite3_stmt *s, store_rule *r, surge_error *err)
{
    store_rule_defaults(r);
    r->rule_id = sqlite3_column_int64(s, 0);
    column_text(s, 1, r->region_id, sizeof r->region_id);
    column_text(s, 2, r->product_type, sizeof r->product_type);
    r->base_price_cents = dollars_to_cents(sqlite3_column_double(s, 3));
    r->min_multiplier = column_double_or(s, 4, r->min_multiplier);
    r->max_multiplier = column_double_or(s, 5, r->max_multiplier);
    r->effective_ms = sqlite3_column_int64(s, 6);
    r->weight_demand = column_double_or(s, 7, r->weight_demand);
    r->weight_supply = column_double_or(s, 8, r->weight_supply);
    r->weight_time = column_double_or(s, 9, r->weight_time);
    r->weight_event = column_double_or(s, 10, r->weight_event);
    r->weight_weather = column_double_or(s, 11, r->weight_weather);
    r->demand_k = column_double_or(s, 12, r->demand_k);
    r->demand_threshold = column_double_or(s, 13, r->demand_threshold);
    r->event_coefficient = column_double_or(s, 14, r->event_coefficient);
    const char *tm = (const char *)sqlite3_column_text(s, 15);
    if (tm && parse_time_multipliers(tm, r->time_multiplier))
        return surge_fail(err, SURGE_EIO, "time_multipliers",
                          "sqlite: pricing_rules row %lld: time_multipliers is not a JSON array"
                          " of 24 numbers",
                          (long long)r->rule_id);
    if (sqlite3_column_type(s, 16) != SQLITE_NULL) r->rounding_cents = sqlite3_column_int64(s, 16);
    r->max_change_per_min = column_double_or(s, 17, r->max_change_per_min);
    column_text(s, 18, r->created_by, sizeof r->created_by);
    r->created_ms = sqlite3_column_int64(s, 19);
    return 0;
}

static int sqlite_rule_insert(void *impl, store_rule *rule, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    buf multipliers;
    buf_init(&multipliers);
    format_time_multipliers(rule->time_multiplier, &multipliers);
    int64_t now = time_now_ms();
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s;
    int rc = stmt_get(c, STMT_RULE_INSERT, &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        bind_text(s, 1, rule->region_id, &brc);
        bind_text(s, 2, rule->product_type, &brc);
        bind_double(s, 3, cents_to_dollars(rule->base_price_cents), &brc);
        bind_double(s, 4, rule->min_multiplier, &brc);
        bind_double(s, 5, rule->max_multiplier, &brc);
        bind_int64(s, 6, rule->effective_ms, &brc);
        bind_double(s, 7, rule->weight_demand, &brc);
        bind_double(s, 8, rule->weight_supply, &brc);
        bind_double(s, 9, rule->weight_time, &brc);
        bind_double(s, 10, rule->weight_event, &brc);
        bind_double(s, 11, rule->weight_weather, &brc);
        bind_double(s, 12, rule->demand_k, &brc);
        bind_double(s, 13, rule->demand_threshold, &brc);
        bind_double(s, 14, rule->event_coefficient, &brc);
        bind_text(s, 15, multipliers.data, &brc);
        bind_int64(s, 16, rule->rounding_cents, &brc);
        bind_double(s, 17, rule->max_change_per_min, &brc);
        bind_text(s, 18, rule->created_by, &brc);
        bind_int64(s, 19, now, &brc);
        int step = brc ? brc : sqlite3_step(s);
        if (step == SQLITE_DONE) {
            /* read under the lock: last_insert_rowid belongs to the connection */
            rule->rule_id = sqlite3_last_insert_rowid(c->db);
            rule->created_ms = now;
        } else {
            rc = sql_fail(c->db, step, statements[STMT_RULE_INSERT].what, err);
        }
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    buf_free(&multipliers);
    return rc;
}

static int rule_row(sqlite3_stmt *s, void *out, surge_error *err)
{
    return read_rule(s, out, err);
}

static int sqlite_rule_get(void *impl, int64_t rule_id, store_rule *out, surge_error *err)
{
    char missing[64];
    snprintf(missing, sizeof missing, "rule %lld not found", (long long)rule_id);
    return get_one(impl, STMT_RULE_GET, NULL, rule_id, rule_row, out, "rule_id", missing, err);
}

static int sqlite_rule_list(void *impl, const char *region_id, const char *product_type,
                            store_rule **out, size_t *count, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    store_rule *list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s;
    int rc = stmt_get(c, STMT_RULE_LIST, &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        bind_text(s, 1, region_id, &brc); /* NULL binds NULL: no filter */
        bind_text(s, 2, product_type, &brc);
        if (brc) rc = sql_fail(c->db, brc, statements[STMT_RULE_LIST].what, err);
    }
    while (!rc) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = sql_fail(c->db, step, statements[STMT_RULE_LIST].what, err);
        } else if (array_reserve((void **)&list, &cap, n, sizeof *list)) {
            rc = out_of_memory(statements[STMT_RULE_LIST].what, err);
        } else if (!(rc = read_rule(s, &list[n], err))) {
            n++;
        }
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return 0;
}

/* One conditional DELETE removes the rule only if it is still in the future; when nothing was
 * deleted, a second look says whether it was missing or already in effect. */
static int sqlite_rule_delete(void *impl, int64_t rule_id, int64_t now_ms, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL, *q = NULL;
    bool deleted = false;
    int rc = stmt_get(c, STMT_RULE_DELETE_FUTURE, &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        bind_int64(s, 1, rule_id, &brc);
        bind_int64(s, 2, now_ms, &brc);
        int step = brc ? brc : sqlite3_step(s);
        if (step != SQLITE_DONE)
            rc = sql_fail(c->db, step, statements[STMT_RULE_DELETE_FUTURE].what, err);
        else
            deleted = sqlite3_changes(c->db) == 1;
    }
    if (!rc && !deleted) rc = stmt_get(c, STMT_RULE_EFFECTIVE, &q, err);
    if (!rc && !deleted) {
        int brc = SQLITE_OK;
        bind_int64(q, 1, rule_id, &brc);
        int step = brc ? brc : sqlite3_step(q);
        if (step == SQLITE_DONE) {
            rc = surge_fail(err, SURGE_ENOTFOUND, "rule_id", "rule %lld not found",
                            (long long)rule_id);
        } else if (step == SQLITE_ROW) {
            char when[32];
            time_format_rfc3339(sqlite3_column_int64(q, 0), when, sizeof when);
            rc = surge_fail(err, SURGE_ECONFLICT, "rule_id",
                            "rule %lld took effect at %s and may have priced requests; rules in"
                            " effect are kept for explain: add a newer rule instead",
                            (long long)rule_id, when);
        } else {
            rc = sql_fail(c->db, step, statements[STMT_RULE_EFFECTIVE].what, err);
        }
    }
    stmt_release(s);
    stmt_release(q);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ---------------------------------------------------------------- region controls */

static void read_control(sqlite3_stmt *s, store_control *c)
{
    memset(c, 0, sizeof *c);
    column_text(s, 0, c->region_id, sizeof c->region_id);
    c->emergency_cap = sqlite3_column_double(s, 1);
    c->frozen = sqlite3_column_int64(s, 2) != 0;
    c->frozen_multiplier = sqlite3_column_double(s, 3);
    column_text(s, 4, c->reason, sizeof c->reason);
    column_text(s, 5, c->updated_by, sizeof c->updated_by);
    c->updated_ms = sqlite3_column_int64(s, 6);
}

static int sqlite_control_put(void *impl, const store_control *control, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s;
    int rc = stmt_get(c, STMT_CONTROL_PUT, &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        bind_text(s, 1, control->region_id, &brc);
        bind_double(s, 2, control->emergency_cap, &brc);
        bind_int64(s, 3, control->frozen ? 1 : 0, &brc);
        bind_double(s, 4, control->frozen_multiplier, &brc);
        bind_text(s, 5, control->reason, &brc);
        bind_text(s, 6, control->updated_by, &brc);
        bind_int64(s, 7, time_now_ms(), &brc);
        int step = brc ? brc : sqlite3_step(s);
        if (step != SQLITE_DONE) rc = sql_fail(c->db, step, statements[STMT_CONTROL_PUT].what, err);
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int control_row(sqlite3_stmt *s, void *out, surge_error *err)
{
    read_control(s, out);
    return 0;
}

static int sqlite_control_get(void *impl, const char *region_id, store_control *out,
                              surge_error *err)
{
    char missing[96];
    snprintf(missing, sizeof missing, "region %s has no controls", region_id);
    return get_one(impl, STMT_CONTROL_GET, region_id, 0, control_row, out, "region_id", missing,
                   err);
}

static int sqlite_control_list(void *impl, store_control **out, size_t *count, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    store_control *list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s;
    int rc = stmt_get(c, STMT_CONTROL_LIST, &s, err);
    while (!rc) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW)
            rc = sql_fail(c->db, step, statements[STMT_CONTROL_LIST].what, err);
        else if (array_reserve((void **)&list, &cap, n, sizeof *list))
            rc = out_of_memory(statements[STMT_CONTROL_LIST].what, err);
        else
            read_control(s, &list[n++]);
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return 0;
}

/* ---------------------------------------------------------------- audit */

/* The hot write path: one IMMEDIATE transaction, one cached statement stepped per row, on the
 * audit connection so admin reads on main never wait for it. */
static int sqlite_audit_insert(void *impl, const store_audit_row *rows, size_t count,
                               surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->audit;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL;
    int rc = stmt_run(c, STMT_BEGIN, err);
    if (!rc) rc = stmt_get(c, STMT_AUDIT_INSERT, &s, err);
    for (size_t i = 0; !rc && i < count; i++) {
        const store_audit_row *r = &rows[i];
        int brc = SQLITE_OK;
        bind_text(s, 1, r->request_id, &brc);
        bind_text(s, 2, r->trace_id, &brc);
        bind_int64(s, 3, r->ts_ms, &brc);
        bind_text(s, 4, r->region_id, &brc);
        bind_text(s, 5, r->product_type, &brc);
        bind_text(s, 6, r->user_id, &brc);
        bind_double(s, 7, cents_to_dollars(r->price_cents), &brc);
        bind_double(s, 8, cents_to_dollars(r->base_price_cents), &brc);
        bind_double(s, 9, r->surge_multiplier, &brc);
        bind_double(s, 10, r->demand_score, &brc);
        bind_double(s, 11, r->confidence, &brc);
        bind_double(s, 12, r->expected_demand, &brc);
        bind_double(s, 13, r->available_supply, &brc);
        bind_double(s, 14, r->weather_severity, &brc);
        bind_double(s, 15, r->event_score, &brc);
        bind_text(s, 16, r->fallback, &brc);
        bind_int64(s, 17, r->features_ts_ms, &brc);
        bind_int64(s, 18, r->local_hour, &brc);
        bind_text(s, 19, r->factors_json, &brc);
        bind_text(s, 20, r->guardrails_json, &brc);
        bind_text(s, 21, r->model_version, &brc);
        bind_int64(s, 22, r->rule_id, &brc);
        bind_int64(s, 23, r->cached ? 1 : 0, &brc);
        bind_int64(s, 24, r->latency_us, &brc);
        bind_text(s, 25, r->experiment_id[0] ? r->experiment_id : NULL, &brc);
        bind_text(s, 26, r->variant[0] ? r->variant : NULL, &brc);
        int step = brc ? brc : sqlite3_step(s);
        if (step != SQLITE_DONE) {
            char what[128];
            snprintf(what, sizeof what, "insert into audit_logs (row %zu, request_id %s)", i,
                     r->request_id);
            rc = sql_fail(c->db, step, what, err);
        }
        /* the step was DONE or its error is already in err: reset has nothing new to say */
        (void)sqlite3_reset(s);
    }
    if (!rc) rc = stmt_run(c, STMT_COMMIT, err);
    if (rc) tx_rollback(c);
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int read_audit_row(sqlite3_stmt *s, store_audit_row *r, surge_error *err)
{
    memset(r, 0, sizeof *r);
    column_text(s, 0, r->request_id, sizeof r->request_id);
    column_text(s, 1, r->trace_id, sizeof r->trace_id);
    r->ts_ms = sqlite3_column_int64(s, 2);
    column_text(s, 3, r->region_id, sizeof r->region_id);
    column_text(s, 4, r->product_type, sizeof r->product_type);
    column_text(s, 5, r->user_id, sizeof r->user_id);
    r->price_cents = dollars_to_cents(sqlite3_column_double(s, 6));
    r->base_price_cents = dollars_to_cents(sqlite3_column_double(s, 7));
    r->surge_multiplier = sqlite3_column_double(s, 8);
    r->demand_score = sqlite3_column_double(s, 9);
    r->confidence = sqlite3_column_double(s, 10);
    r->expected_demand = sqlite3_column_double(s, 11);
    r->available_supply = sqlite3_column_double(s, 12);
    r->weather_severity = sqlite3_column_double(s, 13);
    r->event_score = sqlite3_column_double(s, 14);
    column_text(s, 15, r->fallback, sizeof r->fallback);
    r->features_ts_ms = sqlite3_column_int64(s, 16);
    r->local_hour = (int32_t)sqlite3_column_int64(s, 17);
    if (column_dup(s, 18, &r->factors_json) || column_dup(s, 19, &r->guardrails_json)) {
        store_audit_row_clear(r);
        return out_of_memory(statements[STMT_AUDIT_GET].what, err);
    }
    column_text(s, 20, r->model_version, sizeof r->model_version);
    r->rule_id = sqlite3_column_int64(s, 21);
    r->cached = sqlite3_column_int64(s, 22) != 0;
    r->latency_us = sqlite3_column_int64(s, 23);
    column_text(s, 24, r->experiment_id, sizeof r->experiment_id);
    column_text(s, 25, r->variant, sizeof r->variant);
    return 0;
}

static int audit_row(sqlite3_stmt *s, void *out, surge_error *err)
{
    return read_audit_row(s, out, err);
}

static int sqlite_audit_get(void *impl, const char *request_id, store_audit_row *out,
                            surge_error *err)
{
    char missing[96];
    snprintf(missing, sizeof missing, "no audit record for request %s", request_id);
    return get_one(impl, STMT_AUDIT_GET, request_id, 0, audit_row, out, "request_id", missing,
                   err);
}

static int sqlite_audit_count(void *impl, int64_t *count, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    pthread_mutex_lock(&c->lock);
    int rc = count_rows(c, STMT_AUDIT_COUNT, count, err);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* Deletes up to limit of the oldest rows written before before_ms, on the audit connection
 * (it runs in the audit writer's thread, between batches). */
static int sqlite_audit_expire(void *impl, int64_t before_ms, int64_t limit, int64_t *deleted,
                               surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->audit;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(c, STMT_AUDIT_EXPIRE, &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        bind_int64(s, 1, before_ms, &brc);
        bind_int64(s, 2, limit, &brc);
        int step = brc ? brc : sqlite3_step(s);
        if (step == SQLITE_DONE)
            *deleted = sqlite3_changes64(c->db);
        else
            rc = sql_fail(c->db, step, statements[STMT_AUDIT_EXPIRE].what, err);
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ---------------------------------------------------------------- experiments */

static int read_experiment(sqlite3_stmt *s, store_experiment *e, surge_error *err)
{
    memset(e, 0, sizeof *e);
    column_text(s, 0, e->experiment_id, sizeof e->experiment_id);
    column_text(s, 1, e->name, sizeof e->name);
    column_text(s, 2, e->status, sizeof e->status);
    if (column_dup(s, 3, &e->variants_json) || column_dup(s, 4, &e->traffic_split_json)) {
        store_experiment_clear(e);
        return out_of_memory(statements[STMT_EXPERIMENT_GET].what, err);
    }
    e->created_ms = sqlite3_column_int64(s, 5);
    e->updated_ms = sqlite3_column_int64(s, 6);
    return 0;
}

static int sqlite_experiment_put(void *impl, const store_experiment *e, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s;
    int rc = stmt_get(c, STMT_EXPERIMENT_PUT, &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        bind_text(s, 1, e->experiment_id, &brc);
        bind_text(s, 2, e->name, &brc);
        bind_text(s, 3, e->status, &brc);
        bind_text(s, 4, e->variants_json, &brc);
        bind_text(s, 5, e->traffic_split_json, &brc);
        bind_int64(s, 6, time_now_ms(), &brc);
        int step = brc ? brc : sqlite3_step(s);
        if (step != SQLITE_DONE)
            rc = sql_fail(c->db, step, statements[STMT_EXPERIMENT_PUT].what, err);
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int experiment_row(sqlite3_stmt *s, void *out, surge_error *err)
{
    return read_experiment(s, out, err);
}

static int sqlite_experiment_get(void *impl, const char *experiment_id, store_experiment *out,
                                 surge_error *err)
{
    char missing[128];
    snprintf(missing, sizeof missing, "experiment %s not found", experiment_id);
    return get_one(impl, STMT_EXPERIMENT_GET, experiment_id, 0, experiment_row, out,
                   "experiment_id", missing, err);
}

static int sqlite_experiment_list(void *impl, store_experiment **out, size_t *count,
                                  surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    store_experiment *list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s;
    int rc = stmt_get(c, STMT_EXPERIMENT_LIST, &s, err);
    while (!rc) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = sql_fail(c->db, step, statements[STMT_EXPERIMENT_LIST].what, err);
        } else if (array_reserve((void **)&list, &cap, n, sizeof *list)) {
            rc = out_of_memory(statements[STMT_EXPERIMENT_LIST].what, err);
        } else if (!(rc = read_experiment(s, &list[n], err))) {
            n++;
        }
    }
    stmt_release(s);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            store_experiment_clear(&list[i]);
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return 0;
}

static int sqlite_experiment_delete(void *impl, const char *experiment_id, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    pthread_mutex_lock(&c->lock);
    int rc =
        delete_by_key(c, STMT_EXPERIMENT_DELETE, experiment_id, "experiment_id", "experiment", err);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ---------------------------------------------------------------- model registry */

/* Registry calls are rare (a training, a rollout step), so their statements are prepared per
 * call instead of joining the cached table. */
#define MODEL_COLUMNS                                                                              \
    "name, version, sha256, status, canary_percent, previous, manifest, metrics, params,"         \
    " importance, dataset, created_by, created_at, updated_by, updated_at"

static int model_prepare(sqlite_conn *c, const char *sql, const char *what, sqlite3_stmt **s,
                         surge_error *err)
{
    int rc = sqlite3_prepare_v2(c->db, sql, -1, s, NULL);
    return rc == SQLITE_OK ? 0 : sql_fail(c->db, rc, what, err);
}

static int read_model(sqlite3_stmt *s, store_model *m, surge_error *err)
{
    memset(m, 0, sizeof *m);
    column_text(s, 0, m->name, sizeof m->name);
    column_text(s, 1, m->version, sizeof m->version);
    column_text(s, 2, m->sha256, sizeof m->sha256);
    column_text(s, 3, m->status, sizeof m->status);
    m->canary_percent = (int)sqlite3_column_int64(s, 4);
    column_text(s, 5, m->previous, sizeof m->previous);
    if (column_dup(s, 6, &m->manifest_json) || column_dup(s, 7, &m->metrics_json) ||
        column_dup(s, 8, &m->params_json) || column_dup(s, 9, &m->importance_json) ||
        column_dup(s, 10, &m->dataset_json)) {
        store_model_clear(m);
        return out_of_memory("select from model_versions", err);
    }
    column_text(s, 11, m->created_by, sizeof m->created_by);
    m->created_ms = sqlite3_column_int64(s, 12);
    column_text(s, 13, m->updated_by, sizeof m->updated_by);
    m->updated_ms = sqlite3_column_int64(s, 14);
    return 0;
}

static int sqlite_model_insert(void *impl, const store_model *m, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    const char *what = "insert into model_versions";
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL;
    int rc = model_prepare(c,
                           "INSERT INTO model_versions(" MODEL_COLUMNS ")"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?12,"
                           " ?13)",
                           what, &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        bind_text(s, 1, m->name, &brc);
        bind_text(s, 2, m->version, &brc);
        bind_text(s, 3, m->sha256, &brc);
        bind_text(s, 4, m->status, &brc);
        bind_int64(s, 5, m->canary_percent, &brc);
        bind_text(s, 6, m->previous, &brc);
        bind_text(s, 7, m->manifest_json, &brc);
        bind_text(s, 8, m->metrics_json, &brc);
        bind_text(s, 9, m->params_json, &brc);
        bind_text(s, 10, m->importance_json, &brc);
        bind_text(s, 11, m->dataset_json, &brc);
        bind_text(s, 12, m->created_by, &brc);
        bind_int64(s, 13, m->created_ms ? m->created_ms : time_now_ms(), &brc);
        int step = brc ? brc : sqlite3_step(s);
        if ((step & 0xff) == SQLITE_CONSTRAINT)
            rc = surge_fail(err, SURGE_ECONFLICT, "version", "model %s version %s exists",
                            m->name, m->version);
        else if (step != SQLITE_DONE)
            rc = sql_fail(c->db, step, what, err);
    }
    sqlite3_finalize(s); /* repeats the step's error, already reported */
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int sqlite_model_get(void *impl, const char *name, const char *version, store_model *out,
                            surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    const char *what = "select from model_versions";
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL;
    int rc = model_prepare(
        c, "SELECT " MODEL_COLUMNS " FROM model_versions WHERE name = ?1 AND version = ?2", what,
        &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        bind_text(s, 1, name, &brc);
        bind_text(s, 2, version, &brc);
        int step = brc ? brc : sqlite3_step(s);
        if (step == SQLITE_ROW)
            rc = read_model(s, out, err);
        else if (step == SQLITE_DONE)
            rc = surge_fail(err, SURGE_ENOTFOUND, "version", "model %s has no version %s", name,
                            version);
        else
            rc = sql_fail(c->db, step, what, err);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int sqlite_model_list(void *impl, const char *name, store_model **out, size_t *count,
                             surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    const char *what = "select from model_versions";
    store_model *list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL;
    int rc = model_prepare(c,
                           "SELECT " MODEL_COLUMNS " FROM model_versions"
                           " WHERE (?1 IS NULL OR name = ?1) ORDER BY name, created_at, rowid",
                           what, &s, err);
    if (!rc) {
        int brc = SQLITE_OK;
        bind_text(s, 1, name, &brc);
        if (brc) rc = sql_fail(c->db, brc, what, err);
    }
    while (!rc) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW)
            rc = sql_fail(c->db, step, what, err);
        else if (array_reserve((void **)&list, &cap, n, sizeof *list))
            rc = out_of_memory(what, err);
        else if (!(rc = read_model(s, &list[n], err)))
            n++;
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            store_model_clear(&list[i]);
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return 0;
}

static int sqlite_model_set_status(void *impl, const char *name, const store_model_change *changes,
                                   size_t n, const char *actor, surge_error *err)
{
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    const char *what = "update model_versions";
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL;
    int rc = stmt_run(c, STMT_BEGIN, err);
    if (!rc)
        rc = model_prepare(c,
                           "UPDATE model_versions SET status = ?3, canary_percent = ?4,"
                           " previous = ?5, updated_by = ?6, updated_at = ?7"
                           " WHERE name = ?1 AND version = ?2",
                           what, &s, err);
    int64_t now = time_now_ms();
    for (size_t i = 0; !rc && i < n; i++) {
        int brc = SQLITE_OK;
        bind_text(s, 1, name, &brc);
        bind_text(s, 2, changes[i].version, &brc);
        bind_text(s, 3, changes[i].status, &brc);
        bind_int64(s, 4, changes[i].canary_percent, &brc);
        bind_text(s, 5, changes[i].previous, &brc);
        bind_text(s, 6, actor, &brc);
        bind_int64(s, 7, now, &brc);
        int step = brc ? brc : sqlite3_step(s);
        if (step != SQLITE_DONE)
            rc = sql_fail(c->db, step, what, err);
        else if (sqlite3_changes(c->db) != 1)
            rc = surge_fail(err, SURGE_ENOTFOUND, "version", "model %s has no version %s", name,
                            changes[i].version);
        (void)sqlite3_reset(s);
    }
    if (!rc) rc = stmt_run(c, STMT_COMMIT, err);
    if (rc) tx_rollback(c);
    sqlite3_finalize(s);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ---------------------------------------------------------------- portal queries */

/* The portal's queries run seldom (a person clicking), so they are prepared per call on the
 * main connection rather than cached with the hot statements. */
static int portal_prepare(sqlite_conn *c, const char *sql, const char *what, sqlite3_stmt **s,
                          surge_error *err)
{
    int rc = sqlite3_prepare_v2(c->db, sql, -1, s, NULL);
    return rc == SQLITE_OK ? 0 : sql_fail(c->db, rc, what, err);
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static int sqlite_audit_search(void *impl, const store_audit_filter *f, store_audit_row **out,
                               size_t *count, surge_error *err)
{
    static const char *what = "search audit_logs";
    /* request_id and trace_id hit their own indexes; otherwise the (region, time) or the time
     * index bounds the scan, and LIMIT bounds the answer */
    const char *sql =
        nonempty(f->request_id)
            ? "SELECT " AUDIT_COLUMNS " FROM audit_logs WHERE request_id = ?1"
              " AND timestamp >= ?5 AND timestamp < ?6"
              " AND (?2 IS NULL OR trace_id = ?2) AND (?3 IS NULL OR region_id = ?3)"
              " AND (?4 IS NULL OR product_type = ?4) LIMIT ?7"
        : nonempty(f->trace_id)
            ? "SELECT " AUDIT_COLUMNS " FROM audit_logs WHERE trace_id = ?2"
              " AND timestamp >= ?5 AND timestamp < ?6 AND ?1 IS NULL"
              " AND (?3 IS NULL OR region_id = ?3) AND (?4 IS NULL OR product_type = ?4)"
              " ORDER BY timestamp DESC LIMIT ?7"
        : nonempty(f->region_id)
            ? "SELECT " AUDIT_COLUMNS " FROM audit_logs WHERE region_id = ?3"
              " AND timestamp >= ?5 AND timestamp < ?6 AND ?1 IS NULL AND ?2 IS NULL"
              " AND (?4 IS NULL OR product_type = ?4) ORDER BY timestamp DESC LIMIT ?7"
            : "SELECT " AUDIT_COLUMNS " FROM audit_logs INDEXED BY audit_logs_time"
              " WHERE timestamp >= ?5 AND timestamp < ?6 AND ?1 IS NULL AND ?2 IS NULL"
              " AND ?3 IS NULL AND (?4 IS NULL OR product_type = ?4)"
              " ORDER BY timestamp DESC LIMIT ?7";
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    store_audit_row *list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL;
    int rc = portal_prepare(c, sql, what, &s, err);
    if (!rc) {
        int b = SQLITE_OK;
        bind_text(s, 1, nonempty(f->request_id), &b);
        bind_text(s, 2, nonempty(f->trace_id), &b);
        bind_text(s, 3, nonempty(f->region_id), &b);
        bind_text(s, 4, nonempty(f->product_type), &b);
        bind_int64(s, 5, f->from_ms, &b);
        bind_int64(s, 6, f->to_ms, &b);
        bind_int64(s, 7, f->limit, &b);
        if (b != SQLITE_OK) rc = sql_fail(c->db, b, what, err);
    }
    while (!rc) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW)
            rc = sql_fail(c->db, step, what, err);
        else if (array_reserve((void **)&list, &cap, n, sizeof *list))
            rc = out_of_memory(what, err);
        else if (!(rc = read_audit_row(s, &list[n], err)))
            n++;
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        for (size_t i = 0; i < n; i++) store_audit_row_clear(&list[i]);
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return 0;
}

/* COUNT, revenue in cents, surge average and maximum, then the STORE_SURGE_BUCKETS counts. */
#define REPORT_AGGREGATES                                                                          \
    "COUNT(*), SUM(CAST(ROUND(computed_price * 100) AS INTEGER)), AVG(surge_multiplier),"          \
    " MAX(surge_multiplier), SUM(surge_multiplier < 1.25),"                                        \
    " SUM(surge_multiplier >= 1.25 AND surge_multiplier < 1.5),"                                   \
    " SUM(surge_multiplier >= 1.5 AND surge_multiplier < 2),"                                      \
    " SUM(surge_multiplier >= 2 AND surge_multiplier < 2.5),"                                      \
    " SUM(surge_multiplier >= 2.5 AND surge_multiplier < 3), SUM(surge_multiplier >= 3)"

static int sqlite_audit_report(void *impl, store_report_group group, int64_t from_ms,
                               int64_t to_ms, const char *region_id, store_report_row **out,
                               size_t *count, surge_error *err)
{
    static const char *what = "report on audit_logs";
    /* a 31-day range has 744 hours; regions are bounded by the catalog */
    const char *sql =
        group == STORE_REPORT_BY_HOUR
            ? "SELECT (timestamp / 3600000) * 3600000 AS hour, '', " REPORT_AGGREGATES
              " FROM audit_logs WHERE timestamp >= ?1 AND timestamp < ?2"
              " AND (?3 IS NULL OR region_id = ?3) GROUP BY hour ORDER BY hour LIMIT 1000"
            : "SELECT 0, region_id, " REPORT_AGGREGATES
              " FROM audit_logs WHERE timestamp >= ?1 AND timestamp < ?2"
              " AND (?3 IS NULL OR region_id = ?3) GROUP BY region_id ORDER BY region_id"
              " LIMIT 100000";
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    store_report_row *list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL;
    int rc = portal_prepare(c, sql, what, &s, err);
    if (!rc) {
        int b = SQLITE_OK;
        bind_int64(s, 1, from_ms, &b);
        bind_int64(s, 2, to_ms, &b);
        bind_text(s, 3, region_id, &b);
        if (b != SQLITE_OK) rc = sql_fail(c->db, b, what, err);
    }
    while (!rc) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = sql_fail(c->db, step, what, err);
        } else if (array_reserve((void **)&list, &cap, n, sizeof *list)) {
            rc = out_of_memory(what, err);
        } else {
            store_report_row *r = &list[n++];
            memset(r, 0, sizeof *r);
            r->hour_ms = sqlite3_column_int64(s, 0);
            column_text(s, 1, r->region_id, sizeof r->region_id);
            r->decisions = sqlite3_column_int64(s, 2);
            r->revenue_cents = sqlite3_column_int64(s, 3);
            r->avg_surge = sqlite3_column_double(s, 4);
            r->max_surge = sqlite3_column_double(s, 5);
            for (int k = 0; k < STORE_SURGE_BUCKETS; k++)
                r->surge_buckets[k] = sqlite3_column_int64(s, 6 + k);
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return 0;
}

static int sqlite_admin_action_insert(void *impl, store_admin_action *a, surge_error *err)
{
    static const char *what = "insert into admin_actions";
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL;
    int rc = portal_prepare(c,
                            "INSERT INTO admin_actions(ts, actor, role, method, path, status,"
                            " trace_id, client_ip, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                            " ?9)",
                            what, &s, err);
    if (!rc) {
        int b = SQLITE_OK;
        bind_int64(s, 1, a->ts_ms, &b);
        bind_text(s, 2, a->actor, &b);
        bind_text(s, 3, a->role, &b);
        bind_text(s, 4, a->method, &b);
        bind_text(s, 5, a->path, &b);
        bind_int64(s, 6, a->status, &b);
        bind_text(s, 7, a->trace_id, &b);
        bind_text(s, 8, a->client_ip, &b);
        bind_text(s, 9, a->detail, &b);
        int step = b == SQLITE_OK ? sqlite3_step(s) : b;
        if (step != SQLITE_DONE)
            rc = sql_fail(c->db, step, what, err);
        else
            a->action_id = sqlite3_last_insert_rowid(c->db);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int sqlite_admin_action_list(void *impl, int64_t before_id, int limit,
                                    store_admin_action **out, size_t *count, surge_error *err)
{
    static const char *what = "select from admin_actions";
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    store_admin_action *list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL;
    int rc = portal_prepare(c,
                            "SELECT action_id, ts, actor, role, method, path, status, trace_id,"
                            " client_ip, detail FROM admin_actions"
                            " WHERE (?1 = 0 OR action_id < ?1) ORDER BY action_id DESC LIMIT ?2",
                            what, &s, err);
    if (!rc) {
        int b = SQLITE_OK;
        bind_int64(s, 1, before_id, &b);
        bind_int64(s, 2, limit, &b);
        if (b != SQLITE_OK) rc = sql_fail(c->db, b, what, err);
    }
    while (!rc) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = sql_fail(c->db, step, what, err);
        } else if (array_reserve((void **)&list, &cap, n, sizeof *list)) {
            rc = out_of_memory(what, err);
        } else {
            store_admin_action *a = &list[n++];
            memset(a, 0, sizeof *a);
            a->action_id = sqlite3_column_int64(s, 0);
            a->ts_ms = sqlite3_column_int64(s, 1);
            column_text(s, 2, a->actor, sizeof a->actor);
            column_text(s, 3, a->role, sizeof a->role);
            column_text(s, 4, a->method, sizeof a->method);
            column_text(s, 5, a->path, sizeof a->path);
            a->status = (int)sqlite3_column_int64(s, 6);
            column_text(s, 7, a->trace_id, sizeof a->trace_id);
            column_text(s, 8, a->client_ip, sizeof a->client_ip);
            column_text(s, 9, a->detail, sizeof a->detail);
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return 0;
}

/* Per variant: the aggregates in one indexed pass, then the lower median of each variant's
 * surge with a second, also indexed, query. */
static int sqlite_experiment_results(void *impl, const char *experiment_id,
                                     store_variant_stats **out, size_t *count, surge_error *err)
{
    static const char *what = "experiment results from audit_logs";
    sqlite_conn *c = &((sqlite_store *)impl)->main;
    store_variant_stats *list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    sqlite3_stmt *s = NULL, *m = NULL;
    int rc = portal_prepare(c,
                            "SELECT variant, COUNT(*), COUNT(DISTINCT NULLIF(user_id, '')),"
                            " AVG(surge_multiplier), AVG(computed_price), MIN(timestamp),"
                            " MAX(timestamp) FROM audit_logs WHERE experiment_id = ?1"
                            " GROUP BY variant ORDER BY variant LIMIT 64",
                            what, &s, err);
    if (!rc)
        rc = portal_prepare(c,
                            "SELECT surge_multiplier FROM audit_logs WHERE experiment_id = ?1"
                            " AND variant IS ?2 ORDER BY surge_multiplier LIMIT 1 OFFSET ?3",
                            what, &m, err);
    if (!rc) {
        int b = SQLITE_OK;
        bind_text(s, 1, experiment_id, &b);
        if (b != SQLITE_OK) rc = sql_fail(c->db, b, what, err);
    }
    while (!rc) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = sql_fail(c->db, step, what, err);
        } else if (array_reserve((void **)&list, &cap, n, sizeof *list)) {
            rc = out_of_memory(what, err);
        } else {
            store_variant_stats *v = &list[n++];
            memset(v, 0, sizeof *v);
            column_text(s, 0, v->variant, sizeof v->variant);
            v->decisions = sqlite3_column_int64(s, 1);
            v->users = sqlite3_column_int64(s, 2);
            v->mean_surge = sqlite3_column_double(s, 3);
            v->mean_price_cents = dollars_to_cents(sqlite3_column_double(s, 4));
            v->first_ms = sqlite3_column_int64(s, 5);
            v->last_ms = sqlite3_column_int64(s, 6);
        }
    }
    for (size_t i = 0; !rc && i < n; i++) {
        int b = SQLITE_OK;
        sqlite3_reset(m);
        bind_text(m, 1, experiment_id, &b);
        bind_text(m, 2, list[i].variant, &b);
        bind_int64(m, 3, (list[i].decisions - 1) / 2, &b);
        int step = b == SQLITE_OK ? sqlite3_step(m) : b;
        if (step == SQLITE_ROW)
            list[i].p50_surge = sqlite3_column_double(m, 0);
        else if (step != SQLITE_DONE)
            rc = sql_fail(c->db, step, what, err);
    }
    sqlite3_finalize(s);
    sqlite3_finalize(m);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return 0;
}

const store_db_ops store_sqlite_ops = {
    .scheme = "sqlite",
    .url_forms = "sqlite:///abs/path.db, sqlite://relative/path.db",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .ping = sqlite_ping,
    .region_put = sqlite_region_put,
    .region_get = sqlite_region_get,
    .region_list = sqlite_region_list,
    .region_delete = sqlite_region_delete,
    .region_count = sqlite_region_count,
    .rule_insert = sqlite_rule_insert,
    .rule_get = sqlite_rule_get,
    .rule_list = sqlite_rule_list,
    .rule_delete = sqlite_rule_delete,
    .control_put = sqlite_control_put,
    .control_get = sqlite_control_get,
    .control_list = sqlite_control_list,
    .audit_insert = sqlite_audit_insert,
    .audit_get = sqlite_audit_get,
    .audit_count = sqlite_audit_count,
    .audit_expire = sqlite_audit_expire,
    .experiment_put = sqlite_experiment_put,
    .experiment_get = sqlite_experiment_get,
    .experiment_list = sqlite_experiment_list,
    .experiment_delete = sqlite_experiment_delete,
    .experiment_results = sqlite_experiment_results,
    .audit_search = sqlite_audit_search,
    .audit_report = sqlite_audit_report,
    .admin_action_insert = sqlite_admin_action_insert,
    .admin_action_list = sqlite_admin_action_list,
    .model_insert = sqlite_model_insert,
    .model_get = sqlite_model_get,
    .model_list = sqlite_model_list,
    .model_set_status = sqlite_model_set_status,
};
