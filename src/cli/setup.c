/* setup.c: configuration precedence, the data dir, the admin token and the sample city. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

config *cli_config(int argc, char **argv, char **envp, cli_common *common, surge_error *err)
{
    memset(common, 0, sizeof *common);
    const char *file = getenv("SURGE_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (argv[i] && strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                surge_fail(err, SURGE_EINVAL, "--config", "--config needs a FILE");
                return NULL;
            }
            file = argv[i + 1];
            argv[i] = argv[i + 1] = NULL;
            i++;
        }
    }
    common->config_file = file;
    config *c = config_new();
    if (!c) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (file && config_load_file(c, file, err)) goto fail;
    if (config_load_env(c, envp, err)) goto fail;
    for (int i = 1; i < argc; i++) {
        if (!argv[i]) continue;
        const char *key = NULL;
        if (strcmp(argv[i], "--listen") == 0) key = "listen";
        else if (strcmp(argv[i], "--data-dir") == 0) key = "data_dir";
        if (key) {
            if (i + 1 >= argc || !argv[i + 1]) {
                surge_fail(err, SURGE_EINVAL, argv[i], "%s needs a value", argv[i]);
                goto fail;
            }
            if (config_set(c, key, argv[i + 1], argv[i], err)) goto fail;
            argv[i] = argv[i + 1] = NULL;
            i++;
        } else if (strcmp(argv[i], "--set") == 0) {
            const char *kv = i + 1 < argc ? argv[i + 1] : NULL;
            const char *eq = kv ? strchr(kv, '=') : NULL;
            if (!eq) {
                surge_fail(err, SURGE_EINVAL, "--set", "--set needs KEY=VALUE");
                goto fail;
            }
            char k[128];
            snprintf(k, sizeof k, "%.*s", (int)(eq - kv), kv);
            if (config_set(c, k, eq + 1, "--set", err)) goto fail;
            argv[i] = argv[i + 1] = NULL;
            i++;
        } else if (strcmp(argv[i], "--no-sample") == 0) {
            common->no_sample = true;
            argv[i] = NULL;
        }
    }
    log_level level;
    if (log_parse_level(config_get_string(c, "log.level"), &level) == 0) log_set_level(level);
    return c;
fail:
    config_free(c);
    return NULL;
}

static int mkdir_p(const char *path, surge_error *err)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return surge_fail(err, SURGE_EIO, "data_dir", "cannot create %s: %s", tmp,
                              strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return surge_fail(err, SURGE_EIO, "data_dir", "cannot create %s: %s", tmp,
                          strerror(errno));
    return 0;
}

int cli_prepare_data_dir(const config *cfg, char *db_url, size_t size, surge_error *err)
{
    const char *dir = config_get_string(cfg, "data_dir");
    if (!*dir) return surge_fail(err, SURGE_EINVAL, "data_dir", "data_dir must not be empty");
    if (mkdir_p(dir, err)) return err->code;
    if (access(dir, W_OK))
        return surge_fail(err, SURGE_EIO, "data_dir", "data dir %s is not writable: %s", dir,
                          strerror(errno));
    const char *db = config_get_string(cfg, "db");
    if (*db) snprintf(db_url, size, "%s", db);
    else snprintf(db_url, size, "sqlite://%s/surge.db", dir);
    return 0;
}

void cli_bus_settings(const config *cfg, char *url, size_t size, bus_config *bc)
{
    const char *configured = config_get_string(cfg, "bus");
    if (*configured) snprintf(url, size, "%s", configured);
    else snprintf(url, size, "log://%s/log", config_get_string(cfg, "data_dir"));
    bus_config_defaults(bc);
    bc->fsync_interval_ms = config_get_int(cfg, "bus.fsync_interval_ms");
    bc->retention_ms = config_get_int(cfg, "bus.retention_hours") * 3600000;
    bc->retention_bytes = config_get_int(cfg, "bus.retention_bytes");
    bc->segment_bytes = config_get_int(cfg, "bus.segment_bytes");
    bc->compress = config_get_bool(cfg, "bus.compress");
}

int cli_admin_token(const config *cfg, char *out, size_t size, surge_error *err)
{
    const char *token = config_get_string(cfg, "admin.token");
    if (*token) {
        if (strlen(token) < 8)
            return surge_fail(err, SURGE_EINVAL, "admin.token",
                              "admin.token must be at least 8 characters");
        snprintf(out, size, "%s", token);
        return 0;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/admin.token", config_get_string(cfg, "data_dir"));
    FILE *f = fopen(path, "r");
    if (f) {
        char line[256] = "";
        if (!fgets(line, sizeof line, f)) line[0] = 0;
        fclose(f);
        line[strcspn(line, "\r\n")] = 0;
        if (strlen(line) >= 8) {
            snprintf(out, size, "%s", line);
            return 0;
        }
    }
    char fresh[33];
    random_hex(fresh, 16);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return surge_fail(err, SURGE_EIO, "admin.token", "cannot write %s: %s", path,
                          strerror(errno));
    char line[40];
    int n = snprintf(line, sizeof line, "%s\n", fresh);
    if (write(fd, line, (size_t)n) != n || fsync(fd)) {
        close(fd);
        return surge_fail(err, SURGE_EIO, "admin.token", "cannot write %s: %s", path,
                          strerror(errno));
    }
    close(fd);
    log_info("serve", "created a new admin token in %s", path);
    snprintf(out, size, "%s", fresh);
    return 0;
}

/* 2000-01-01T00:00:00Z */
#define SAMPLE_RULES_EFFECTIVE_MS 946684800000LL

int cli_sample_city(store_db *db, const config *cfg, bool *created, surge_error *err)
{
    *created = false;
    int64_t regions = 0;
    store_rule *rules = NULL;
    size_t nrules = 0;
    if (store_region_count(db, &regions, err)) return err->code;
    if (store_rule_list(db, NULL, NULL, &rules, &nrules, err)) return err->code;
    free(rules);
    if (regions > 0 || nrules > 0) return 0;

    int precision = (int)config_get_int(cfg, "region.precision");
    int grid = (int)config_get_int(cfg, "sample.grid");
    double lat0 = config_get_double(cfg, "sample.center_lat");
    double lon0 = config_get_double(cfg, "sample.center_lon");
    const char *tz = config_get_string(cfg, "sample.timezone");
    if (!tz_load(tz, err)) return err->code;
    char centre[GEOHASH_MAX + 1];
    double clat, clon, hlat, hlon;
    geohash_encode(lat0, lon0, precision, centre);
    geohash_decode(centre, &clat, &clon, &hlat, &hlon);
    static const struct {
        const char *product;
        int64_t base_cents;
    } products[] = {{"standard", 1200}, {"premium", 2000}};
    int first = -(grid - 1) / 2;
    for (int row = 0; row < grid; row++) {
        for (int col = 0; col < grid; col++) {
            double lat = clat + (first + row) * 2 * hlat, lon = clon + (first + col) * 2 * hlon;
            store_region reg;
            memset(&reg, 0, sizeof reg);
            if (geohash_encode(lat, lon, precision, reg.region_id)) continue; /* off the map */
            snprintf(reg.name, sizeof reg.name, "Sample %s (row %d, col %d)", reg.region_id,
                     row + 1, col + 1);
            snprintf(reg.timezone, sizeof reg.timezone, "%s", tz);
            geohash_decode(reg.region_id, &reg.center_lat, &reg.center_lon, NULL, NULL);
            reg.product_count = 2;
            for (int p = 0; p < 2; p++)
                snprintf(reg.products[p], STORE_PRODUCT_MAX, "%s", products[p].product);
            if (store_region_put(db, &reg, err)) return err->code;
            for (int p = 0; p < 2; p++) {
                store_rule rule;
                store_rule_defaults(&rule);
                snprintf(rule.region_id, sizeof rule.region_id, "%s", reg.region_id);
                snprintf(rule.product_type, sizeof rule.product_type, "%s", products[p].product);
                rule.base_price_cents = products[p].base_cents;
                /* effective long ago, so history (replays, backtests) can be priced too */
                rule.effective_ms = SAMPLE_RULES_EFFECTIVE_MS;
                snprintf(rule.created_by, sizeof rule.created_by, "sample");
                if (store_rule_insert(db, &rule, err)) return err->code;
            }
        }
    }
    *created = true;
    log_info("serve", "created the sample city: %dx%d regions of geohash precision %d around "
             "%s (%.4f,%.4f), products standard and premium",
             grid, grid, precision, centre, lat0, lon0);
    return 0;
}

void cli_stream_settings(const config *cfg, stream_config *sc)
{
    memset(sc, 0, sizeof *sc);
    stream_engine_config_defaults(&sc->engine);
    sc->engine.allowed_lateness_ms = config_get_int(cfg, "stream.allowed_lateness_s") * 1000;
    sc->engine.session_gap_ms = config_get_int(cfg, "stream.session_gap_min") * 60000;
    sc->engine.driver_stale_ms = config_get_int(cfg, "stream.driver_stale_s") * 1000;
    sc->idle_timeout_ms = config_get_int(cfg, "stream.idle_timeout_s") * 1000;
    sc->publish_interval_ms = config_get_int(cfg, "stream.publish_interval_ms");
    sc->refresh_interval_ms = config_get_int(cfg, "stream.refresh_interval_s") * 1000;
    sc->checkpoint_interval_ms = config_get_int(cfg, "stream.checkpoint_interval_s") * 1000;
    sc->features_ttl_ms = config_get_int(cfg, "features.ttl_s") * 1000;
    snprintf(sc->dir, sizeof sc->dir, "%s/stream", config_get_string(cfg, "data_dir"));
}
