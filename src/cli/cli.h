/* cli: the `surge` command's shared set-up (configuration from file, environment and flags;
 * the data dir; the sample city), used by its subcommands. */
#ifndef SURGE_CLI_H
#define SURGE_CLI_H

#include "../core/core.h"
#include "../bus/bus.h"
#include "../store/store.h"
#include "../stream/stream.h"

/* Options every subcommand that reads configuration accepts. */
typedef struct cli_common {
    const char *config_file; /* --config FILE or SURGE_CONFIG */
    bool no_sample;          /* --no-sample */
} cli_common;

/* Builds the configuration: defaults, then the config file, then SURGE_* variables, then the
 * flags in argv that are configuration (--config, --data-dir, --listen, --set k=v,
 * --no-sample). Flags it does not know are left for the subcommand: their positions in argv
 * are marked by setting them to NULL when consumed. Returns NULL and err on a bad value. */
config *cli_config(int argc, char **argv, char **envp, cli_common *common, surge_error *err);

/* Creates the data dir if needed and returns the db URL to use (config `db`, or the default
 * sqlite file inside data_dir) in out. */
int cli_prepare_data_dir(const config *cfg, char *db_url, size_t size, surge_error *err);

/* The bus URL (config `bus`, or the log inside data_dir) and its settings from the config. */
void cli_bus_settings(const config *cfg, char *url, size_t size, bus_config *bc);

/* The stream processor's settings from the config (stream.*, features.ttl_s); its directory is
 * <data_dir>/stream. */
void cli_stream_settings(const config *cfg, stream_config *sc);

/* The admin token: config `admin.token`, else <data_dir>/admin.token, created with a fresh
 * random token on first use (mode 0600). */
int cli_admin_token(const config *cfg, char *out, size_t size, surge_error *err);

/* Creates the sample city (DESIGN: geohash cells around sample.center_*, products standard and
 * premium, one rule each) when the database holds no regions and no rules. Sets *created. */
int cli_sample_city(store_db *db, const config *cfg, bool *created, surge_error *err);

/* Subcommands in their own files: each takes argv from the subcommand's name on (argv[0] is
 * "log", "replay", ...) and returns the process exit status; each has its usage text, printed
 * by `surge help <command>` and `surge <command> --help`. */

/* `surge log topics|cat|verify` (logcmd.c). */
int cli_log_command(int argc, char **argv);
extern const char CLI_LOG_USAGE[];
/* `surge replay` (replay.c): recompute features and window aggregates from the log. */
int cli_replay_command(int argc, char **argv);
extern const char CLI_REPLAY_USAGE[];
/* The training table of the log (replay.c): one row per region and 15-minute quarter of event
 * time with events from <= ts < to: region_id, ts (epoch ms), demand (searches in the quarter)
 * and exogenous columns read from the features just before the quarter (temperature,
 * precipitation, holiday, weather_severity, nearby_event_score, available_drivers), sorted by
 * (region_id, ts): what `surge train --input` reads, built by the stream's own code.
 * *events (if not NULL) counts the events replayed. */
int cli_replay_history(const config *cfg, int64_t from, int64_t to, bool quiet, buf *csv,
                       uint64_t *events, surge_error *err);
/* `surge simulate` (simulate.c): the market simulator and its backtest. */
int cli_simulate_command(int argc, char **argv);
extern const char CLI_SIMULATE_USAGE[];
/* `surge train` (train.c): train a demand model and register it as staged. */
int cli_train_command(int argc, char **argv);
extern const char CLI_TRAIN_USAGE[];
/* `surge models list|show|promote|shadow|canary|rollback|export` (models.c). */
int cli_models_command(int argc, char **argv);
extern const char CLI_MODELS_USAGE[];
/* Publishes model_update events (one per (version, status)) on the data dir's system-events
 * topic (models.c). ECONFLICT when a running server holds the log: the caller says to use the
 * admin API instead. */
int cli_publish_model_updates(const config *cfg, const char *model, const char *const *versions,
                              const char *const *statuses, size_t n, surge_error *err);

#endif
