/* simulate.c: `surge simulate`: runs the market simulator (src/sim) against a server, sending
 * its events to POST /api/v1/events in batches and asking POST /api/v1/pricing/compute for a
 * sample of riders' prices; or offline, a pricing backtest or a demand history for training. */
#include "cli/cli.h"
#include "sim/sim.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char CLI_SIMULATE_USAGE[] =
    "Usage: surge simulate [--url URL | --data-dir DIR] [market options] [live options]\n"
    "       surge simulate --backtest DAYS [--out-dir DIR] [market options]\n"
    "       surge simulate --history-out FILE.csv --days N [market options]\n"
    "\n"
    "Simulates a city's ride market: riders with daily and weekly seasonality, weather and\n"
    "venue events, who book with a price elasticity; drivers in shifts who take trips and move\n"
    "toward higher surge. See docs/simulator.md.\n"
    "\n"
    "Live (default): sends the market's events to a running surge (POST /api/v1/events, one\n"
    "batch per --batch-ms of wall time) and prices a sample of riders through\n"
    "POST /api/v1/pricing/compute. A progress line goes to stderr; a JSON summary to stdout.\n"
    "Ctrl-C stops it after sending the last batch.\n"
    "  --url URL            surge's base URL (http://HOST:PORT)\n"
    "  --data-dir DIR       read the address from DIR/listen.addr instead (default ./data)\n"
    "  --speed X            simulated seconds per wall second, > 0 (default 1; 60 = an hour a "
    "minute)\n"
    "  --duration S         stop after S wall seconds (default: run until Ctrl-C)\n"
    "  --rate N             size the market for about N events a wall second at --speed, on\n"
    "                       average over the run (over a day without --duration)\n"
    "  --quote-rate N       price at most N riders a wall second through the API (default 20;\n"
    "                       0: none); other riders see the last price quoted for their region\n"
    "  --batch-ms N         wall milliseconds of events per POST (default 100)\n"
    "  --backfill DAYS      first send the DAYS days (0..28, default 0) of searches and weather\n"
    "                       before the start, in sorted batches of 5000, and wait until the\n"
    "                       stream has read them: its 7-day history and baselines then exist\n"
    "                       from the first live minute (ids sim-SEED-bf-N)\n"
    "\n"
    "Offline:\n"
    "  --backtest DAYS      run DAYS under static and under surge's dynamic pricing; print and\n"
    "                       write backtest.csv and backtest.md\n"
    "  --out-dir DIR        where the backtest writes (default .)\n"
    "  --history-out FILE   write a demand history table (region_id,ts,demand,temperature,\n"
    "                       precipitation,holiday; 15-minute rows) for `surge train`; - is stdout\n"
    "  --days N             days of history (ending at the start of today, UTC)\n"
    "\n"
    "Market:\n"
    "  --seed N             random seed (default 1): the same seed gives the same market and\n"
    "                       the same event ids\n"
    "  --start TIME         simulated start, RFC 3339 or epoch ms (default: now; offline:\n"
    "                       DAYS before the start of today, UTC)\n"
    "  --regions N          regions around the centre, 1..1024 (default 64: the sample city)\n"
    "  --center LAT,LON     the city's centre (default 40.7580,-73.9855)\n"
    "  --timezone TZ        local time of the city (default America/New_York)\n"
    "  --scale X            multiply riders and drivers (default 1)\n"
    "  --elasticity E       price elasticity of booking, 0..20 (default 1.2)\n"
    "  --conversion P       booking probability at the base price, (0, 1] (default 0.85)\n";

/* ---------------------------------------------------------------- flags */

typedef struct options {
    sim_config cfg;
    const char *url, *data_dir, *out_dir, *history_out;
    double speed, duration_s, rate, quote_rate;
    int64_t batch_ms;
    int backtest_days, history_days, backfill_days;
    bool start_given;
} options;

static int bad(const char *flag, const char *value, const char *rule)
{
    fprintf(stderr, "surge simulate: %s '%s': %s\n", flag, value, rule);
    return 2;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Returns 0, or 2 after printing which flag broke which rule. */
static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    sim_config_defaults(&o->cfg);
    o->speed = 1;
    o->quote_rate = 20;
    o->batch_ms = 100;
    o->out_dir = ".";
    o->backtest_days = -1;
    o->history_days = -1;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strncmp(flag, "--", 2) != 0) {
            fprintf(stderr, "surge simulate: unexpected argument '%s'\n\n%s", flag,
                    CLI_SIMULATE_USAGE);
            return 2;
        }
        static const char *const KNOWN[] = {
            "--url",      "--data-dir",    "--seed",       "--speed",      "--rate",
            "--duration", "--regions",     "--center",     "--elasticity", "--start",
            "--timezone", "--scale",       "--quote-rate", "--batch-ms",   "--backtest",
            "--out-dir",  "--history-out", "--days",       "--conversion", "--backfill"};
        bool known = false;
        for (size_t k = 0; k < sizeof KNOWN / sizeof KNOWN[0]; k++)
            known |= strcmp(flag, KNOWN[k]) == 0;
        if (!known) {
            fprintf(stderr, "surge simulate: unknown option '%s'\n\n%s", flag, CLI_SIMULATE_USAGE);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "surge simulate: %s needs a value\n", flag);
            return 2;
        }
        const char *v = argv[++i];
        long long n;
        double d;
        if (strcmp(flag, "--url") == 0) {
            if (strncmp(v, "http://", 7) != 0 || !v[7])
                return bad(flag, v, "must be an http:// URL such as http://127.0.0.1:8080");
            o->url = v;
        } else if (strcmp(flag, "--data-dir") == 0) {
            o->data_dir = v;
        } else if (strcmp(flag, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long seed = strtoull(v, &end, 10);
            if (end == v || *end || errno || v[0] == '-')
                return bad(flag, v, "must be an integer in 0..18446744073709551615");
            o->cfg.seed = seed;
        } else if (strcmp(flag, "--speed") == 0) {
            if (!parse_double(v, &d) || d <= 0 || d > 100000)
                return bad(flag, v, "must be a number in (0, 100000]");
            o->speed = d;
        } else if (strcmp(flag, "--rate") == 0) {
            if (!parse_double(v, &d) || d <= 0 || d > 10000000)
                return bad(flag, v, "must be events per second in (0, 10000000]");
            o->rate = d;
        } else if (strcmp(flag, "--duration") == 0) {
            if (!parse_double(v, &d) || d <= 0 || d > 31536000)
                return bad(flag, v, "must be seconds in (0, 31536000]");
            o->duration_s = d;
        } else if (strcmp(flag, "--regions") == 0) {
            if (!parse_int(v, 1, SIM_REGIONS_MAX, &n))
                return bad(flag, v, "must be an integer in 1..1024");
            o->cfg.regions = (int)n;
        } else if (strcmp(flag, "--center") == 0) {
            char lat[64], lon[64];
            const char *comma = strchr(v, ',');
            double la, lo;
            if (!comma || (size_t)(comma - v) >= sizeof lat || strlen(comma + 1) >= sizeof lon)
                return bad(flag, v, "must be LAT,LON such as 40.7580,-73.9855");
            memcpy(lat, v, (size_t)(comma - v));
            lat[comma - v] = 0;
            snprintf(lon, sizeof lon, "%s", comma + 1);
            if (!parse_double(lat, &la) || la < -85 || la > 85)
                return bad(flag, v, "the latitude must be a number in [-85, 85]");
            if (!parse_double(lon, &lo) || lo < -180 || lo > 180)
                return bad(flag, v, "the longitude must be a number in [-180, 180]");
            o->cfg.center_lat = la;
            o->cfg.center_lon = lo;
        } else if (strcmp(flag, "--elasticity") == 0) {
            if (!parse_double(v, &d) || d < 0 || d > 20)
                return bad(flag, v, "must be a number in [0, 20]");
            o->cfg.elasticity = d;
        } else if (strcmp(flag, "--conversion") == 0) {
            if (!parse_double(v, &d) || d <= 0 || d > 1)
                return bad(flag, v, "must be a probability in (0, 1]");
            o->cfg.conversion = d;
        } else if (strcmp(flag, "--start") == 0) {
            int64_t ms;
            if (time_parse(v, &ms))
                return bad(flag, v, "must be RFC 3339 (2026-01-11T10:32:00Z) or epoch ms");
            o->cfg.start_ms = ms;
            o->start_given = true;
        } else if (strcmp(flag, "--timezone") == 0) {
            surge_error err = {0};
            if (strlen(v) >= sizeof o->cfg.timezone || !tz_load(v, &err))
                return bad(flag, v, "is not a known IANA time zone (such as America/New_York)");
            snprintf(o->cfg.timezone, sizeof o->cfg.timezone, "%s", v);
        } else if (strcmp(flag, "--scale") == 0) {
            if (!parse_double(v, &d) || d <= 0 || d > 10000)
                return bad(flag, v, "must be a number in (0, 10000]");
            o->cfg.scale = d;
        } else if (strcmp(flag, "--quote-rate") == 0) {
            if (!parse_double(v, &d) || d < 0 || d > 1000000)
                return bad(flag, v, "must be quotes per second in [0, 1000000]");
            o->quote_rate = d;
        } else if (strcmp(flag, "--batch-ms") == 0) {
            if (!parse_int(v, 10, 10000, &n))
                return bad(flag, v, "must be an integer in 10..10000");
            o->batch_ms = n;
        } else if (strcmp(flag, "--backtest") == 0) {
            if (!parse_int(v, 1, 366, &n)) return bad(flag, v, "must be days in 1..366");
            o->backtest_days = (int)n;
        } else if (strcmp(flag, "--backfill") == 0) {
            if (!parse_int(v, 0, SIM_BACKFILL_DAYS_MAX, &n))
                return bad(flag, v, "must be whole days in 0..28");
            o->backfill_days = (int)n;
        } else if (strcmp(flag, "--out-dir") == 0) {
            o->out_dir = v;
        } else if (strcmp(flag, "--history-out") == 0) {
            if (!*v) return bad(flag, v, "must name a file (or - for stdout)");
            o->history_out = v;
        } else if (strcmp(flag, "--days") == 0) {
            if (!parse_int(v, 1, 3660, &n)) return bad(flag, v, "must be days in 1..3660");
            o->history_days = (int)n;
        }
    }
    bool live_flags = o->url || o->data_dir || o->duration_s > 0 || o->rate > 0;
    if (o->backtest_days > 0 && o->history_out) {
        fputs("surge simulate: --backtest and --history-out cannot be combined\n", stderr);
        return 2;
    }
    if ((o->backtest_days > 0 || o->history_out) && live_flags) {
        fputs("surge simulate: --url, --data-dir, --duration and --rate are for a live run, not "
              "with --backtest or --history-out\n",
              stderr);
        return 2;
    }
    if ((o->backtest_days > 0 || o->history_out) && o->backfill_days > 0) {
        fputs("surge simulate: --backfill is for a live run, not with --backtest or "
              "--history-out\n",
              stderr);
        return 2;
    }
    if (o->history_out && o->history_days < 0) {
        fputs("surge simulate: --history-out needs --days N\n", stderr);
        return 2;
    }
    if (!o->history_out && o->history_days >= 0) {
        fputs("surge simulate: --days is for --history-out\n", stderr);
        return 2;
    }
    if (o->url && o->data_dir) {
        fputs("surge simulate: give --url or --data-dir, not both\n", stderr);
        return 2;
    }
    surge_error err = {0};
    if (sim_config_check(&o->cfg, &err)) {
        fprintf(stderr, "surge simulate: %s\n", err.message);
        return 2;
    }
    return 0;
}

/* The start of today (UTC) minus days. */
static int64_t days_before_today(int days)
{
    int64_t now = time_now_ms();
    return now - now % 86400000LL - (int64_t)days * 86400000LL;
}

/* ---------------------------------------------------------------- offline */

static int write_file_atomically(const char *path, const char *text, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    size_t n = fwrite(text, 1, len, f);
    if (fclose(f) || n != len) {
        unlink(tmp);
        return -1;
    }
    return rename(tmp, path);
}

static int run_backtest(options *o)
{
    if (!o->start_given) o->cfg.start_ms = days_before_today(o->backtest_days);
    sim_backtest_result r[SIM_BACKTEST_POLICIES];
    surge_error err = {0};
    if (sim_backtest(&o->cfg, o->backtest_days, r, &err)) {
        fprintf(stderr, "surge simulate: %s\n", err.message);
        return err.code == SURGE_EINVAL ? 2 : 1;
    }
    char *md = NULL, *csv = NULL;
    size_t md_len = 0, csv_len = 0;
    FILE *f = open_memstream(&md, &md_len);
    FILE *g = open_memstream(&csv, &csv_len);
    if (!f || !g) {
        fputs("surge simulate: out of memory\n", stderr);
        return 1;
    }
    sim_backtest_write_markdown(f, &o->cfg, o->backtest_days, r);
    sim_backtest_write_csv(g, r);
    fclose(f);
    fclose(g);
    fwrite(md, 1, md_len, stdout);
    char path_md[4096], path_csv[4096];
    snprintf(path_md, sizeof path_md, "%s/backtest.md", o->out_dir);
    snprintf(path_csv, sizeof path_csv, "%s/backtest.csv", o->out_dir);
    int rc = 0;
    if (write_file_atomically(path_md, md, md_len) ||
        write_file_atomically(path_csv, csv, csv_len)) {
        fprintf(stderr, "surge simulate: cannot write %s and %s: %s\n", path_md, path_csv,
                strerror(errno));
        rc = 1;
    } else {
        fprintf(stderr, "surge simulate: wrote %s and %s\n", path_csv, path_md);
    }
    free(md);
    free(csv);
    return rc;
}

static int run_history(options *o)
{
    if (!o->start_given) o->cfg.start_ms = days_before_today(o->history_days);
    /* 15-minute rows start on 15-minute boundaries */
    o->cfg.start_ms -= ((o->cfg.start_ms % 900000) + 900000) % 900000;
    bool to_stdout = strcmp(o->history_out, "-") == 0;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", o->history_out);
    FILE *f = to_stdout ? stdout : fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "surge simulate: cannot write %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    surge_error err = {0};
    int rc = sim_write_history(&o->cfg, o->history_days, f, &err);
    if (to_stdout) {
        if (rc) fprintf(stderr, "surge simulate: %s\n", err.message);
        return rc ? 1 : 0;
    }
    if (fclose(f) && !rc) rc = surge_fail(&err, SURGE_EIO, "history_out", "%s", strerror(errno));
    if (!rc && rename(tmp, o->history_out))
        rc = surge_fail(&err, SURGE_EIO, "history_out", "rename: %s", strerror(errno));
    if (rc) {
        unlink(tmp);
        fprintf(stderr, "surge simulate: %s: %s\n", o->history_out, err.message);
        return 1;
    }
    fprintf(stderr, "surge simulate: wrote %s (%d days x %d regions, 15-minute rows)\n",
            o->history_out, o->history_days, o->cfg.regions);
    return 0;
}

/* ---------------------------------------------------------------- live: HTTP */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
    buf_append(userdata, data, size * n);
    return size * n;
}

typedef struct http {
    CURL *curl;
    struct curl_slist *headers;
    buf response;
    char error[CURL_ERROR_SIZE];
} http;

static int http_init(http *h, const char *content_type)
{
    memset(h, 0, sizeof *h);
    buf_init(&h->response);
    h->curl = curl_easy_init();
    if (!h->curl) return -1;
    char header[128];
    snprintf(header, sizeof header, "Content-Type: %s", content_type);
    h->headers = curl_slist_append(NULL, header);
    h->headers = curl_slist_append(h->headers, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &h->response);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->error);
    curl_easy_setopt(h->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    return 0;
}

static void http_free(http *h)
{
    if (h->curl) curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    buf_free(&h->response);
}

/* POSTs body; returns the HTTP status, or -1 when no answer came (h->error says why). */
static long http_post(http *h, const char *url, const char *body, size_t len)
{
    buf_reset(&h->response);
    h->error[0] = 0;
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)len);
    CURLcode rc = curl_easy_perform(h->curl);
    if (rc != CURLE_OK) {
        if (!h->error[0]) snprintf(h->error, sizeof h->error, "%s", curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* ---------------------------------------------------------------- live: the run */

/* What became of the events sent: summed over the server's answers. */
typedef struct verdicts {
    uint64_t sent, accepted, duplicates, rejected, rate_limited, errors, batches;
} verdicts;

typedef struct live {
    options *o;
    sim *s;
    char events_url[1200], compute_url[1200];
    http events, quotes;
    /* events waiting for their time, sorted by (ts, seq) from head on */
    sim_event *queue;
    size_t head, len, cap;
    buf body;
    /* quotes */
    double tokens;
    int64_t tokens_ns;
    int64_t *last_quote; /* [region][product] cents; 0 = none yet */
    /* the server's verdicts on the live run's events, and on the backfill's */
    verdicts v, backfill;
    uint64_t backfill_skipped; /* older than what the server's stream had read */
    uint64_t quotes_ok, quote_errors;
    bool reported_rejection;
} live;

static void enqueue(void *ctx, const sim_event *e)
{
    live *l = ctx;
    if (l->len == l->cap) {
        if (l->head > 0) { /* reuse the space already sent */
            memmove(l->queue, l->queue + l->head, (l->len - l->head) * sizeof *l->queue);
            l->len -= l->head;
            l->head = 0;
        }
        if (l->len == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 4096;
            sim_event *q = realloc(l->queue, cap * sizeof *q);
            if (!q) {
                fputs("surge simulate: out of memory\n", stderr);
                abort();
            }
            l->queue = q;
            l->cap = cap;
        }
    }
    l->queue[l->len++] = *e;
}

static int by_time(const void *a, const void *b)
{
    const sim_event *x = a, *y = b;
    if (x->ts_ms != y->ts_ms) return x->ts_ms < y->ts_ms ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static void count_response(live *l, verdicts *v, json_t *root, size_t n)
{
    json_t *a = json_object_get(root, "accepted"), *d = json_object_get(root, "duplicates"),
           *r = json_object_get(root, "rejected"), *q = json_object_get(root, "rate_limited");
    if (!json_is_integer(a) || !json_is_integer(d) || !json_is_integer(r) || !json_is_integer(q)) {
        v->errors += n;
        return;
    }
    v->accepted += (uint64_t)json_integer_value(a);
    v->duplicates += (uint64_t)json_integer_value(d);
    v->rejected += (uint64_t)json_integer_value(r);
    v->rate_limited += (uint64_t)json_integer_value(q);
    if (json_integer_value(r) > 0 && !l->reported_rejection) {
        /* the first rejection says what is wrong with the simulator's events: show it once */
        size_t i;
        json_t *res;
        json_array_foreach(json_object_get(root, "results"), i, res)
        {
            if (!json_is_string(json_object_get(res, "status")) ||
                strcmp(json_string_value(json_object_get(res, "status")), "rejected"))
                continue;
            json_t *msg = json_object_get(json_object_get(res, "error"), "message");
            fprintf(stderr, "\nsurge simulate: the server rejected an event: %s\n",
                    json_is_string(msg) ? json_string_value(msg) : "(no message)");
            break;
        }
        l->reported_rejection = true;
    }
}

/* POSTs the n events in l->body and adds the server's verdicts to v. */
static void post_events(live *l, verdicts *v, size_t n)
{
    long status = -1;
    /* one retry after a failed connection: the same event ids make a resend harmless */
    for (int attempt = 0; attempt < 2 && status < 0; attempt++) {
        status = http_post(&l->events, l->events_url, l->body.data, l->body.len);
        if (status < 0 && attempt == 0) usleep(200000);
    }
    v->sent += n;
    v->batches++;
    json_t *root =
        status > 0 ? json_loadb(l->events.response.data, l->events.response.len, 0, NULL) : NULL;
    if (status == 200 || status == 422 || status == 429) {
        if (root)
            count_response(l, v, root, n);
        else
            v->errors += n;
    } else {
        v->errors += n;
        if (v->errors == n) /* the first failure: say why */
            fprintf(stderr, "\nsurge simulate: POST %s: %s\n", l->events_url,
                    status < 0 ? l->events.error : "unexpected HTTP status");
    }
    json_decref(root);
}

/* Sends every queued event whose time has come (ts <= until), at most 10 000 per request. */
static void send_due(live *l, int64_t until)
{
    while (l->head < l->len && l->queue[l->head].ts_ms <= until) {
        buf_reset(&l->body);
        size_t n = 0;
        while (l->head + n < l->len && n < 10000 && l->queue[l->head + n].ts_ms <= until) {
            sim_event_write_json(l->s, &l->queue[l->head + n], &l->body);
            buf_putc(&l->body, '\n');
            n++;
        }
        post_events(l, &l->v, n);
        l->head += n;
    }
}

/* The price a rider sees: the API's answer while the quote budget lasts, else the last price
 * the API gave for that region and product (the base price before the first). */
static int64_t live_quote(void *ctx, sim *s, int region, int product, uint32_t rider,
                          int64_t now_ms, int64_t minute_price)
{
    (void)now_ms;
    live *l = ctx;
    int64_t *last = &l->last_quote[region * SIM_PRODUCTS + product];
    int64_t mono = time_mono_ns();
    l->tokens += l->o->quote_rate * (double)(mono - l->tokens_ns) / 1e9;
    l->tokens_ns = mono;
    double burst = l->o->quote_rate > 1 ? l->o->quote_rate : 1;
    if (l->tokens > burst) l->tokens = burst;
    if (l->tokens < 1 || l->o->quote_rate <= 0) return *last ? *last : minute_price;
    l->tokens -= 1;
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"region_id\":\"%s\",\"product_type\":\"%s\",\"user_id\":\"rider-%u\"}",
                     sim_region_id(s, region), SIM_PRODUCT_NAMES[product], rider);
    long status = http_post(&l->quotes, l->compute_url, body, (size_t)n);
    json_t *root =
        status == 200 ? json_loadb(l->quotes.response.data, l->quotes.response.len, 0, NULL) : NULL;
    json_t *price = json_object_get(root, "price");
    if (json_is_number(price)) {
        *last = llround(json_number_value(price) * 100.0);
        l->quotes_ok++;
    } else {
        l->quote_errors++;
    }
    json_decref(root);
    return *last ? *last : minute_price;
}

/* The minute's price of a region is the last one the API quoted for it. */
static void live_minute(void *ctx, sim *s, int region, int product, const sim_region_state *st,
                        int64_t now_ms, int64_t *price_cents)
{
    (void)s;
    (void)st;
    (void)now_ms;
    live *l = ctx;
    int64_t last = l->last_quote[region * SIM_PRODUCTS + product];
    if (last) *price_cents = last;
}

static void progress(live *l, double elapsed_s, double rate_events, double rate_quotes, bool final)
{
    sim_stats st;
    sim_get_stats(l->s, &st);
    char when[40];
    time_format_rfc3339(sim_now_ms(l->s), when, sizeof when);
    when[16] = 0; /* to the minute */
    bool tty = isatty(STDERR_FILENO);
    fprintf(stderr,
            "%ssim %sZ %.0fs x%g | events %.0f/s sent %llu accepted %llu dup %llu rejected %llu "
            "limited %llu | quotes %.1f/s | bookings %llu | errors %llu%s",
            tty ? "\r\033[K" : "", when, elapsed_s, l->o->speed, rate_events,
            (unsigned long long)l->v.sent, (unsigned long long)l->v.accepted,
            (unsigned long long)l->v.duplicates, (unsigned long long)l->v.rejected,
            (unsigned long long)l->v.rate_limited, rate_quotes, (unsigned long long)st.bookings,
            (unsigned long long)(l->v.errors + l->quote_errors), tty && !final ? "" : "\n");
}

/* Events a simulated second of this market at scale 1 over the simulated time the run will
 * cover (window_min minutes from the start, at most a day), run offline. The first 5 minutes,
 * when every driver on shift comes online at once, are left out of longer windows. */
static double events_per_sim_second(const sim_config *cfg, int window_min, surge_error *err)
{
    sim_config one = *cfg;
    one.scale = 1;
    sim *s = sim_new(&one, err);
    if (!s) return -1;
    sim_policy policy = sim_policy_static();
    int skip = window_min >= 15 ? 5 : 0;
    sim_stats st;
    uint64_t before = 0;
    for (int m = 0; m < window_min; m++) {
        if (m == skip) {
            sim_get_stats(s, &st);
            before = st.events;
        }
        sim_step(s, &policy, NULL, NULL);
    }
    sim_get_stats(s, &st);
    sim_free(s);
    return (double)(st.events - before) / ((window_min - skip) * 60.0);
}

static int resolve_url(options *o, char *base, size_t size)
{
    if (o->url) {
        snprintf(base, size, "%s", o->url);
    } else {
        const char *dir = o->data_dir ? o->data_dir : "./data";
        char path[4096], addr[256] = {0};
        snprintf(path, sizeof path, "%s/listen.addr", dir);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(addr, sizeof addr, f)) {
            fprintf(stderr,
                    "surge simulate: cannot read %s (%s): start `surge serve --data-dir %s` first "
                    "or give --url\n",
                    path, f ? "empty" : strerror(errno), dir);
            if (f) fclose(f);
            return 1;
        }
        fclose(f);
        addr[strcspn(addr, "\r\n")] = 0;
        snprintf(base, size, "http://%s", addr);
    }
    size_t n = strlen(base);
    while (n > 7 && base[n - 1] == '/')
        base[--n] = 0;
    return 0;
}

/* ---------------------------------------------------------------- live: the backfill */

#define BACKFILL_BATCH 5000
#define BACKFILL_CATCH_UP_S 120

/* GETs url; returns the HTTP status, or -1 when no answer came. */
static long http_get(http *h, const char *url)
{
    buf_reset(&h->response);
    h->error[0] = 0;
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    CURLcode rc = curl_easy_perform(h->curl);
    if (rc != CURLE_OK) {
        if (!h->error[0]) snprintf(h->error, sizeof h->error, "%s", curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* GET /api/v1/stream/status: sets *lag (lag_records) and *event_time_ms (the later of
 * watermark_ms and stream_time_ms, 0 before the stream has read anything). Returns 0, or -1
 * when the answer is missing or not the expected JSON. */
static int stream_status(http *h, const char *url, long long *lag, int64_t *event_time_ms)
{
    long status = http_get(h, url);
    json_t *root = status == 200 ? json_loadb(h->response.data, h->response.len, 0, NULL) : NULL;
    json_t *j = json_object_get(root, "lag_records"), *w = json_object_get(root, "watermark_ms"),
           *t = json_object_get(root, "stream_time_ms");
    int rc = -1;
    if (json_is_integer(j) && json_is_integer(w) && json_is_integer(t)) {
        *lag = (long long)json_integer_value(j);
        int64_t a = (int64_t)json_integer_value(w), b = (int64_t)json_integer_value(t);
        *event_time_ms = a > b ? a : b;
        rc = 0;
    } else if (status >= 0) {
        snprintf(h->error, sizeof h->error, "HTTP status %ld without the stream's status", status);
    }
    json_decref(root);
    return rc;
}

static void backfill_progress(const live *l, const sim_backfill *b, double elapsed_s, bool final)
{
    char when[40];
    time_format_rfc3339(sim_backfill_now_ms(b), when, sizeof when);
    when[16] = 0; /* to the minute */
    double done_days = (double)(sim_backfill_now_ms(b) - sim_backfill_start_ms(b)) / 86400000.0;
    bool tty = isatty(STDERR_FILENO);
    const verdicts *v = &l->backfill;
    fprintf(stderr,
            "%sbackfill %sZ %.1f/%d days %.0fs | events %.0f/s sent %llu accepted %llu dup %llu "
            "rejected %llu limited %llu | errors %llu%s",
            tty ? "\r\033[K" : "", when, done_days, l->o->backfill_days, elapsed_s,
            elapsed_s > 0 ? (double)v->sent / elapsed_s : 0, (unsigned long long)v->sent,
            (unsigned long long)v->accepted, (unsigned long long)v->duplicates,
            (unsigned long long)v->rejected, (unsigned long long)v->rate_limited,
            (unsigned long long)v->errors, tty && !final ? "" : "\n");
}

/* Waits until the server's stream has read everything in its log (lag_records 0 on
 * GET /api/v1/stream/status), so that the live events that follow are not read before the
 * older backfill and counted late. Gives up with a warning after BACKFILL_CATCH_UP_S. */
static void wait_for_stream(const char *base)
{
    http h;
    char url[1200];
    snprintf(url, sizeof url, "%s/api/v1/stream/status", base);
    if (http_init(&h, "application/json")) {
        fputs("surge simulate: out of memory; not waiting for the stream\n", stderr);
        http_free(&h);
        return;
    }
    int64_t t0 = time_mono_ns();
    long long lag = -1;
    /* the stream reads the log every few milliseconds; the first polls may come before the
     * last batch's records reached it, so lag must be 0 twice in a row */
    int zero_in_a_row = 0;
    while (!stop_requested && zero_in_a_row < 2) {
        double waited = (double)(time_mono_ns() - t0) / 1e9;
        if (waited > BACKFILL_CATCH_UP_S) {
            fprintf(stderr,
                    "surge simulate: the stream still has %lld records to read after %d s; "
                    "starting the live run anyway (its first events may be late)\n",
                    lag, BACKFILL_CATCH_UP_S);
            break;
        }
        int64_t event_time;
        if (stream_status(&h, url, &lag, &event_time) == 0) {
            zero_in_a_row = lag == 0 ? zero_in_a_row + 1 : 0;
        } else if (waited > 5) {
            fprintf(stderr, "surge simulate: GET %s: %s; not waiting for the stream\n", url,
                    h.error);
            break;
        }
        if (zero_in_a_row < 2) usleep(100000);
    }
    if (zero_in_a_row >= 2)
        fprintf(stderr, "surge simulate: the stream has read the backfill (%.1f s)\n",
                (double)(time_mono_ns() - t0) / 1e9);
    http_free(&h);
}

/* Sends the --backfill days before the live start in sorted batches, then waits for the
 * stream. Returns 0, 1 when the server does not answer, 2 on a bad config. */
static int run_backfill(live *l, const char *base)
{
    surge_error err = {0};
    sim_backfill *b = sim_backfill_new(&l->o->cfg, l->o->backfill_days, &err);
    if (!b) return fprintf(stderr, "surge simulate: --backfill: %s\n", err.message), 2;
    sim_event *batch = malloc(BACKFILL_BATCH * sizeof *batch);
    if (!batch) {
        sim_backfill_free(b);
        fputs("surge simulate: out of memory\n", stderr);
        return 1;
    }
    char from[40], to[40];
    time_format_rfc3339(sim_backfill_start_ms(b), from, sizeof from);
    time_format_rfc3339(sim_backfill_end_ms(b), to, sizeof to);
    fprintf(stderr, "surge simulate: backfill of %d days, %s to %s (searches and weather)\n",
            l->o->backfill_days, from, to);
    /* A server whose stream has read events up to some time (an earlier run in the same data
     * dir) would count every older event late: send only what is newer. */
    int64_t skip_before = 0;
    {
        http h;
        char url[1200];
        long long lag;
        snprintf(url, sizeof url, "%s/api/v1/stream/status", base);
        if (http_init(&h, "application/json") == 0 &&
            stream_status(&h, url, &lag, &skip_before) == 0 &&
            skip_before > sim_backfill_start_ms(b)) {
            skip_before += (60000 - skip_before % 60000) % 60000; /* its pane may be closed */
            char at[40];
            time_format_rfc3339(skip_before, at, sizeof at);
            fprintf(stderr,
                    "surge simulate: the server's stream has read events up to %s already: the "
                    "backfill sends only what is newer (older events would be late)\n",
                    at);
        } else {
            skip_before = 0;
        }
        http_free(&h);
    }
    int rc = 0;
    int64_t t0 = time_mono_ns(), last_report = t0;
    verdicts *v = &l->backfill;
    while (!stop_requested) {
        size_t n;
        if (sim_backfill_next(b, batch, BACKFILL_BATCH, &n, &err)) {
            fprintf(stderr, "surge simulate: --backfill: %s\n", err.message);
            rc = 1;
            break;
        }
        if (n == 0) break;
        buf_reset(&l->body);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            if (batch[i].ts_ms < skip_before) {
                l->backfill_skipped++;
                continue;
            }
            sim_backfill_write_json(b, &batch[i], &l->body);
            buf_putc(&l->body, '\n');
            kept++;
        }
        if (kept == 0) continue;
        post_events(l, v, kept);
        if (v->errors == v->sent && v->accepted == 0 && v->duplicates == 0 && v->rejected == 0) {
            fprintf(stderr, "surge simulate: surge at %s does not answer; stopping\n", base);
            rc = 1;
            break;
        }
        int64_t now = time_mono_ns();
        if (now - last_report >= 1000000000LL) {
            backfill_progress(l, b, (double)(now - t0) / 1e9, false);
            last_report = now;
        }
    }
    backfill_progress(l, b, (double)(time_mono_ns() - t0) / 1e9, true);
    if (v->rate_limited > 0)
        fprintf(stderr,
                "surge simulate: %llu backfill events were rate limited and are missing from "
                "the history: raise ingest.region_per_min / ingest.user_per_min or lower "
                "--scale\n",
                (unsigned long long)v->rate_limited);
    if (rc == 0 && !stop_requested) wait_for_stream(base);
    free(batch);
    sim_backfill_free(b);
    return rc;
}

static int run_live(options *o)
{
    char base[1024];
    if (resolve_url(o, base, sizeof base)) return 1;
    if (!o->start_given) o->cfg.start_ms = time_now_ms();
    surge_error err = {0};
    if (o->rate > 0) {
        double window = o->duration_s > 0 ? o->duration_s * o->speed / 60.0 : 1440;
        int window_min = window < 1 ? 1 : window > 1440 ? 1440 : (int)ceil(window);
        double per_s = events_per_sim_second(&o->cfg, window_min, &err);
        if (per_s < 0) return fprintf(stderr, "surge simulate: %s\n", err.message), 2;
        double scale = o->rate / (o->speed * (per_s > 0 ? per_s : 1e-9));
        if (scale > 10000) scale = 10000;
        o->cfg.scale = scale;
        fprintf(stderr,
                "surge simulate: --rate %g at x%g: scale %.4g (scale 1 makes %.2f events a "
                "simulated second)\n",
                o->rate, o->speed, scale, per_s);
        if (sim_config_check(&o->cfg, &err))
            return fprintf(stderr, "surge simulate: --rate %g: %s\n", o->rate, err.message), 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("surge simulate: libcurl failed to initialise\n", stderr);
        return 1;
    }
    live l;
    memset(&l, 0, sizeof l);
    l.o = o;
    buf_init(&l.body);
    snprintf(l.events_url, sizeof l.events_url, "%s/api/v1/events", base);
    snprintf(l.compute_url, sizeof l.compute_url, "%s/api/v1/pricing/compute", base);
    int rc = 0;
    l.s = sim_new(&o->cfg, &err);
    if (!l.s) {
        fprintf(stderr, "surge simulate: %s\n", err.message);
        rc = 2;
        goto done;
    }
    l.last_quote = calloc((size_t)sim_region_count(l.s) * SIM_PRODUCTS, sizeof *l.last_quote);
    if (!l.last_quote || http_init(&l.events, "application/x-ndjson") ||
        http_init(&l.quotes, "application/json")) {
        fputs("surge simulate: out of memory\n", stderr);
        rc = 1;
        goto done;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a signal cuts the sleep short */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    sim_policy policy = {live_minute, live_quote, &l};
    char start[40];
    time_format_rfc3339(sim_now_ms(l.s), start, sizeof start);
    fprintf(stderr, "surge simulate: %d regions, seed %llu, from %s at x%g, to %s\n",
            sim_region_count(l.s), (unsigned long long)o->cfg.seed, start, o->speed, base);
    if (o->backfill_days > 0) {
        rc = run_backfill(&l, base);
        if (rc) fputs("surge simulate: no live run after a failed backfill\n", stderr);
    }

    int64_t sim0 = sim_now_ms(l.s), wall0 = time_mono_ns();
    l.tokens_ns = wall0;
    int64_t last_report = wall0, tick_ns = o->batch_ms * 1000000LL;
    uint64_t sent_at_report = 0, quotes_at_report = 0;
    int64_t sim_target = sim0;
    for (int64_t tick = 1; !stop_requested && rc == 0; tick++) {
        int64_t now = time_mono_ns();
        double elapsed = (double)(now - wall0) / 1e9;
        if (o->duration_s > 0 && elapsed >= o->duration_s) break;
        sim_target = sim0 + (int64_t)(elapsed * o->speed * 1000.0);
        /* simulate every minute that has begun, then send what is due */
        while (sim_now_ms(l.s) <= sim_target && !stop_requested) {
            size_t before = l.len;
            sim_step(l.s, &policy, enqueue, &l);
            if (l.len > before) qsort(l.queue + l.head, l.len - l.head, sizeof *l.queue, by_time);
        }
        send_due(&l, sim_target);
        if (l.v.sent > 0 && l.v.errors == l.v.sent && l.v.accepted == 0 && l.v.duplicates == 0 &&
            l.v.rejected == 0) {
            fprintf(stderr, "surge simulate: surge at %s does not answer; stopping\n", base);
            rc = 1;
            break;
        }
        now = time_mono_ns();
        if (now - last_report >= 1000000000LL) {
            double dt = (double)(now - last_report) / 1e9;
            progress(&l, (double)(now - wall0) / 1e9, (double)(l.v.sent - sent_at_report) / dt,
                     (double)(l.quotes_ok - quotes_at_report) / dt, false);
            last_report = now;
            sent_at_report = l.v.sent;
            quotes_at_report = l.quotes_ok;
        }
        int64_t next = wall0 + tick * tick_ns;
        if (o->duration_s > 0) {
            int64_t end = wall0 + (int64_t)(o->duration_s * 1e9);
            if (next > end) next = end;
        }
        now = time_mono_ns();
        if (next > now) {
            struct timespec ts = {(time_t)((next - now) / 1000000000LL),
                                  (long)((next - now) % 1000000000LL)};
            nanosleep(&ts, NULL);
        } else {
            tick = (now - wall0) / tick_ns; /* behind: do not try to catch up tick by tick */
        }
    }
    if (rc == 0) {
        /* the last batch: everything whose time has come */
        double elapsed = (double)(time_mono_ns() - wall0) / 1e9;
        int64_t target = sim0 + (int64_t)(elapsed * o->speed * 1000.0);
        if (target > sim_target) sim_target = target;
        send_due(&l, sim_target);
        double total = elapsed > 0 ? elapsed : 1;
        progress(&l, elapsed, (double)l.v.sent / total, (double)l.quotes_ok / total, true);
    }
    sim_stats st;
    sim_get_stats(l.s, &st);
    printf("{\"sent\":%llu,\"accepted\":%llu,\"duplicates\":%llu,\"rejected\":%llu,"
           "\"rate_limited\":%llu,\"errors\":%llu,\"batches\":%llu,\"quotes\":%llu,"
           "\"quote_errors\":%llu,\"requests\":%llu,\"bookings\":%llu,\"unserved\":%llu,"
           "\"pending\":%zu,\"simulated_until\":%lld",
           (unsigned long long)l.v.sent, (unsigned long long)l.v.accepted,
           (unsigned long long)l.v.duplicates, (unsigned long long)l.v.rejected,
           (unsigned long long)l.v.rate_limited, (unsigned long long)l.v.errors,
           (unsigned long long)l.v.batches, (unsigned long long)l.quotes_ok,
           (unsigned long long)l.quote_errors, (unsigned long long)st.requests,
           (unsigned long long)st.bookings, (unsigned long long)st.unserved, l.len - l.head,
           (long long)sim_target);
    if (o->backfill_days > 0)
        printf(",\"backfill\":{\"days\":%d,\"skipped\":%llu,\"sent\":%llu,\"accepted\":%llu,"
               "\"duplicates\":%llu,"
               "\"rejected\":%llu,\"rate_limited\":%llu,\"errors\":%llu,\"batches\":%llu}",
               o->backfill_days, (unsigned long long)l.backfill_skipped,
               (unsigned long long)l.backfill.sent, (unsigned long long)l.backfill.accepted,
               (unsigned long long)l.backfill.duplicates, (unsigned long long)l.backfill.rejected,
               (unsigned long long)l.backfill.rate_limited, (unsigned long long)l.backfill.errors,
               (unsigned long long)l.backfill.batches);
    printf("}\n");
    fflush(stdout);
    if (rc == 0 && (l.v.errors > 0 || l.backfill.errors > 0)) rc = 1;
done:
    http_free(&l.events);
    http_free(&l.quotes);
    free(l.queue);
    free(l.last_quote);
    buf_free(&l.body);
    sim_free(l.s);
    curl_global_cleanup();
    return rc;
}

int cli_simulate_command(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc) return rc;
    if (o.backtest_days > 0) return run_backtest(&o);
    if (o.history_out) return run_history(&o);
    return run_live(&o);
}
