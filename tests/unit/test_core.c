/* test_core.c: unit tests of src/core. Every expected value was derived independently of the
 * code under test (Python's datetime and zoneinfo, a separate geohash and murmur2 written in
 * Python, Kafka's UtilsTest, published FNV-1a vectors), never by running surge itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

/* ---------------------------------------------------------------- helpers */

static void expect_rfc3339(int64_t ms, const char *want)
{
    char out[64];
    int n = time_format_rfc3339(ms, out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void expect_parse(const char *s, int64_t want)
{
    int64_t ms = 42;
    if (time_parse(s, &ms) != 0) fail_msg("time_parse rejected '%s'", s);
    if (ms != want)
        fail_msg("time_parse('%s') = %lld, want %lld", s, (long long)ms, (long long)want);
}

static void expect_parse_fails(const char *s)
{
    int64_t ms = 0;
    if (time_parse(s, &ms) != -1) fail_msg("time_parse accepted '%s' as %lld", s, (long long)ms);
}

/* Writes text to a fresh temporary file and returns its path in path (>= 64 bytes). */
static void write_temp(char *path, const char *text)
{
    strcpy(path, "/tmp/surge_test_core_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* ---------------------------------------------------------------- errors */

static void test_surge_fail_fills_code_field_and_message(void **state)
{
    surge_error err;
    memset(&err, 0, sizeof err);
    int rc = surge_fail(&err, SURGE_ENOTFOUND, "region_id", "region '%s' does not exist", "dr5ru");
    assert_int_equal(rc, SURGE_ENOTFOUND);
    assert_int_equal(err.code, SURGE_ENOTFOUND);
    assert_string_equal(err.field, "region_id");
    assert_string_equal(err.message, "region 'dr5ru' does not exist");
    assert_int_equal(surge_fail(NULL, SURGE_EIO, NULL, "ignored"), SURGE_EIO);
}

static void test_error_codes_map_to_names_and_http_status(void **state)
{
    assert_string_equal(surge_code_name(SURGE_EINVAL), "invalid_argument");
    assert_string_equal(surge_code_name(SURGE_ELIMIT), "rate_limited");
    assert_int_equal(surge_code_http_status(SURGE_OK), 200);
    assert_int_equal(surge_code_http_status(SURGE_EINVAL), 422);
    assert_int_equal(surge_code_http_status(SURGE_EPARSE), 400);
    assert_int_equal(surge_code_http_status(SURGE_ENOTFOUND), 404);
    assert_int_equal(surge_code_http_status(SURGE_ETOOLARGE), 413);
    assert_int_equal(surge_code_http_status(SURGE_ELIMIT), 429);
    assert_int_equal(surge_code_http_status(SURGE_EAUTH), 401);
    assert_int_equal(surge_code_http_status(SURGE_EUNAVAILABLE), 503);
}

/* ---------------------------------------------------------------- time */

static void test_time_format_epoch_zero(void **state)
{
    expect_rfc3339(0, "1970-01-01T00:00:00.000Z");
}

static void test_time_format_known_instants(void **state)
{
    expect_rfc3339(1768127520000, "2026-01-11T10:32:00.000Z");
    expect_rfc3339(1768127520123, "2026-01-11T10:32:00.123Z");
    expect_rfc3339(951782400000, "2000-02-29T00:00:00.000Z");
    expect_rfc3339(253402300799999, "9999-12-31T23:59:59.999Z");
}

static void test_time_format_negative_ms_rounds_toward_the_past(void **state)
{
    expect_rfc3339(-1, "1969-12-31T23:59:59.999Z");
    expect_rfc3339(-1000, "1969-12-31T23:59:59.000Z");
    expect_rfc3339(-86400001, "1969-12-30T23:59:59.999Z");
}

static void test_time_parse_rfc3339_utc(void **state)
{
    expect_parse("2026-01-11T10:32:00Z", 1768127520000);
    expect_parse("2026-01-11t10:32:00z", 1768127520000);
    expect_parse("1970-01-01T00:00:00Z", 0);
    expect_parse("2024-02-29T23:59:59.999Z", 1709251199999);
    expect_parse("2000-02-29T00:00:00Z", 951782400000);
}

static void test_time_parse_fraction_keeps_milliseconds(void **state)
{
    expect_parse("2026-01-11T10:32:00.123Z", 1768127520123);
    expect_parse("2026-01-11T10:32:00.5Z", 1768127520500);
    expect_parse("2026-01-11T10:32:00.123456789Z", 1768127520123);
}

static void test_time_parse_offsets(void **state)
{
    expect_parse("2026-01-11T16:02:00.5+05:30", 1768127520500);
    expect_parse("2026-01-11T05:32:00-05:00", 1768127520000);
    expect_parse("2000-03-01T00:00:00-08:00", 951897600000);
    expect_parse("2026-01-11T10:32:00+00:00", 1768127520000);
}

static void test_time_parse_epoch_milliseconds(void **state)
{
    expect_parse("1768127520000", 1768127520000);
    expect_parse("0", 0);
    expect_parse("-1000", -1000);
}

static void test_time_parse_rejects_invalid(void **state)
{
    expect_parse_fails("");
    expect_parse_fails("-");
    expect_parse_fails("2026-13-01T00:00:00Z");      /* month 13 */
    expect_parse_fails("2026-00-01T00:00:00Z");      /* month 0 */
    expect_parse_fails("2026-02-30T00:00:00Z");      /* Feb 30 */
    expect_parse_fails("2025-02-29T00:00:00Z");      /* not a leap year */
    expect_parse_fails("1900-02-29T00:00:00Z");      /* century, not a leap year */
    expect_parse_fails("2026-01-1110:32:00Z");       /* missing T */
    expect_parse_fails("2026-01-11T10:32:00Zjunk");  /* trailing junk */
    expect_parse_fails("2026-01-11T10:32:00");       /* no zone */
    expect_parse_fails("2026-01-11T24:00:00Z");      /* hour 24 */
    expect_parse_fails("2026-01-11T10:60:00Z");      /* minute 60 */
    expect_parse_fails("2026-01-11T10:32:00.Z");     /* empty fraction */
    expect_parse_fails("2026-01-11T10:32:00+05:60"); /* bad offset minutes */
    expect_parse_fails("2026-01-11T10:32:00+0530");  /* offset without colon */
    expect_parse_fails("2026-1-11T10:32:00Z");       /* one-digit month */
    expect_parse_fails("2026-01-11");                /* date only */
    expect_parse_fails("12345678901234567");         /* too many digits for epoch ms */
    expect_parse_fails("17681275200001x");
    expect_parse_fails("yesterday");
}

static void test_time_format_and_parse_round_trip(void **state)
{
    const int64_t instants[] = {0, 1, 999, 1768127520123, -1, -86400001, 4102444800000};
    for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
        char out[64];
        int64_t back = 0;
        time_format_rfc3339(instants[i], out, sizeof out);
        assert_int_equal(time_parse(out, &back), 0);
        assert_int_equal(back, instants[i]);
    }
}

/* ---------------------------------------------------------------- hashing and ids */

static void expect_murmur2(const char *s, int32_t want)
{
    uint32_t got = hash_murmur2(s, strlen(s));
    if ((int32_t)got != want) fail_msg("murmur2('%s') = %d, want %d", s, (int32_t)got, want);
}

/* Kafka's UtilsTest.testMurmur2 values: the same key must land on the same partition. */
static void test_murmur2_matches_kafka(void **state)
{
    expect_murmur2("21", -973932308);
    expect_murmur2("foobar", -790332482);
    expect_murmur2("a-little-bit-long-string", -985981536);
    expect_murmur2("a-little-bit-longer-string", -1486304829);
    expect_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971);
    expect_murmur2("abc", 479470107);
}

static void test_murmur2_partition_is_positive(void **state)
{
    /* Kafka's partitioner: toPositive(murmur2(key)) % partitions, toPositive = & 0x7fffffff */
    uint32_t h = hash_murmur2("21", 2);
    assert_int_equal((h & 0x7fffffff) % 12, (uint32_t)(-973932308 & 0x7fffffff) % 12);
}

static void test_fnv1a64_published_vectors(void **state)
{
    assert_int_equal(hash_fnv1a64("", 0), 0xcbf29ce484222325ULL);
    assert_int_equal(hash_fnv1a64("a", 1), 0xaf63dc4c8601ec8cULL);
    assert_int_equal(hash_fnv1a64("foobar", 6), 0x85944171f73967e8ULL);
}

static void test_random_id_time_starts_with_the_milliseconds_in_hex(void **state)
{
    (void)state;
    char a[33], b[33];
    /* 1768127520000 ms = 0x19bac9cdd00 -> 12 hex digits "019bac9cdd00" */
    random_id_time(a, 1768127520000LL);
    assert_int_equal(strlen(a), 32);
    assert_memory_equal(a, "019bac9cdd00", 12);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    /* a later millisecond sorts after, whatever the random part */
    random_id_time(b, 1768127520001LL);
    assert_true(strcmp(a, b) < 0);
}

static void test_random_hex_length_and_charset(void **state)
{
    char out[40];
    memset(out, 'X', sizeof out);
    random_hex(out, 16);
    assert_int_equal(strlen(out), 32);
    assert_int_equal(strspn(out, "0123456789abcdef"), 32);
    assert_int_equal(out[33], 'X'); /* nothing written past the NUL */

    memset(out, 'X', sizeof out);
    random_hex(out, 3);
    assert_int_equal(strlen(out), 6);
    assert_int_equal(strspn(out, "0123456789abcdef"), 6);

    random_hex(out, 0);
    assert_string_equal(out, "");
}

static void test_random_hex_two_calls_differ(void **state)
{
    char a[33], b[33];
    random_hex(a, 16);
    random_hex(b, 16);
    assert_string_not_equal(a, b);
    assert_true(random_u64() != random_u64());
}

/* ---------------------------------------------------------------- buffers and JSON */

static void expect_fixed(int64_t v, int decimals, const char *want)
{
    buf b;
    buf_init(&b);
    json_put_fixed(&b, v, decimals);
    if (strcmp(b.data, want) != 0)
        fail_msg("json_put_fixed(%lld, %d) = '%s', want '%s'", (long long)v, decimals, b.data,
                 want);
    assert_int_equal(b.len, strlen(want));
    buf_free(&b);
}

static void test_json_put_fixed(void **state)
{
    expect_fixed(13100, 4, "1.31");
    expect_fixed(-1200, 4, "-0.12");
    expect_fixed(20000, 4, "2");
    expect_fixed(5, 4, "0.0005");
    expect_fixed(-5, 4, "-0.0005");
    expect_fixed(0, 4, "0");
    expect_fixed(100000001, 8, "1.00000001");
    expect_fixed(1234, 0, "1234");
    expect_fixed(INT64_MIN, 4, "-922337203685477.5808");
    expect_fixed(INT64_MAX, 2, "92233720368547758.07");
}

static void test_json_put_string_escapes(void **state)
{
    buf b;
    buf_init(&b);
    json_put_string(&b, "a\"b\\c\nd\x01"
                        "e\tf\rg\x1f");
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\nd\\u0001e\\tf\\rg\\u001f\"");
    buf_reset(&b);
    json_put_string(&b, "caf\xc3\xa9"); /* UTF-8 passes through */
    assert_string_equal(b.data, "\"caf\xc3\xa9\"");
    buf_reset(&b);
    json_put_string_n(&b, "a\0b", 3);
    assert_string_equal(b.data, "\"a\\u0000b\"");
    buf_reset(&b);
    json_put_string(&b, "");
    assert_string_equal(b.data, "\"\"");
    buf_free(&b);
}

static void test_json_put_double(void **state)
{
    buf b;
    buf_init(&b);
    json_put_double(&b, NAN);
    buf_putc(&b, ',');
    json_put_double(&b, INFINITY);
    buf_putc(&b, ',');
    json_put_double(&b, 1.5);
    buf_putc(&b, ',');
    json_put_double(&b, -2.0);
    buf_putc(&b, ',');
    json_put_double(&b, 0.1234567);
    buf_putc(&b, ',');
    json_put_double(&b, 0.0);
    buf_putc(&b, ',');
    json_put_double(&b, 1795644699102.0); /* epoch ms: exact, as an integer */
    buf_putc(&b, ',');
    json_put_double(&b, 8999999999.25); /* still six exact decimals */
    buf_putc(&b, ',');
    json_put_double(&b, 12345678901.5); /* past 2^53 / 1e6: shortest exact form */
    assert_string_equal(b.data, "null,null,1.5,-2,0.123457,0,1795644699102,8999999999.25,"
                                "12345678901.5");
    buf_free(&b);
}

static void test_json_put_int_bool_key(void **state)
{
    buf b;
    buf_init(&b);
    buf_putc(&b, '{');
    json_put_key(&b, "n", false);
    json_put_int(&b, INT64_MIN);
    json_put_key(&b, "ok", true);
    json_put_bool(&b, true);
    buf_putc(&b, '}');
    assert_string_equal(b.data, "{\"n\":-9223372036854775808,\"ok\":true}");
    buf_free(&b);
}

static void test_buf_grows_and_stays_terminated(void **state)
{
    buf b;
    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%03d", i % 1000);
    assert_int_equal(b.len, 3000);
    assert_int_equal(strlen(b.data), 3000);
    assert_memory_equal(b.data + 2997, "999", 3);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
    assert_null(b.data);
}

/* ---------------------------------------------------------------- configuration */

static void test_config_defaults(void **state)
{
    config *c = config_new();
    assert_non_null(c);
    assert_string_equal(config_get_string(c, "listen"), "0.0.0.0:8080");
    assert_string_equal(config_get_string(c, "data_dir"), "./data");
    assert_int_equal(config_get_int(c, "http.threads"), 0);
    assert_int_equal(config_get_int(c, "region.precision"), 5);
    assert_true(config_get_bool(c, "sample.enabled"));
    assert_false(config_get_bool(c, "log.access"));
    assert_true(config_get_double(c, "sample.center_lat") == 40.7580);
    config_free(c);
}

static void test_config_set_valid_int(void **state)
{
    config *c = config_new();
    surge_error err;
    assert_int_equal(config_set(c, "http.threads", "4", "--set", &err), 0);
    assert_int_equal(config_get_int(c, "http.threads"), 4);
    assert_int_equal(config_set(c, "http.threads", "256", "--set", &err), 0);
    assert_int_equal(config_get_int(c, "http.threads"), 256);
    config_free(c);
}

static void test_config_int_out_of_range_names_key_and_range(void **state)
{
    config *c = config_new();
    surge_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(config_set(c, "http.threads", "257", "--set", &err), SURGE_EINVAL);
    assert_int_equal(err.code, SURGE_EINVAL);
    assert_string_equal(err.field, "http.threads");
    assert_string_equal(err.message, "--set: http.threads = 257: must be between 0 and 256");
    assert_int_equal(config_get_int(c, "http.threads"), 0); /* unchanged */

    assert_int_equal(config_set(c, "http.threads", "-1", "--set", &err), SURGE_EINVAL);
    assert_int_equal(config_set(c, "http.threads", "4x", "--set", &err), SURGE_EINVAL);
    assert_non_null(strstr(err.message, "must be an integer"));
    assert_int_equal(config_set(c, "http.threads", "", "--set", &err), SURGE_EINVAL);
    assert_int_equal(config_set(c, "http.threads", "99999999999999999999", "--set", &err),
                     SURGE_EINVAL);
    config_free(c);
}

static void test_config_double_range(void **state)
{
    config *c = config_new();
    surge_error err;
    assert_int_equal(config_set(c, "sample.center_lat", "51.5", "--set", &err), 0);
    assert_true(config_get_double(c, "sample.center_lat") == 51.5);
    assert_int_equal(config_set(c, "sample.center_lat", "91", "--set", &err), SURGE_EINVAL);
    assert_string_equal(err.field, "sample.center_lat");
    assert_non_null(strstr(err.message, "between -90 and 90"));
    assert_int_equal(config_set(c, "sample.center_lat", "nan", "--set", &err), SURGE_EINVAL);
    config_free(c);
}

static void test_config_unknown_key(void **state)
{
    config *c = config_new();
    surge_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(config_set(c, "http.thread", "4", "--set", &err), SURGE_EINVAL);
    assert_string_equal(err.field, "http.thread");
    assert_non_null(strstr(err.message, "unknown configuration key 'http.thread'"));
    config_free(c);
}

static void test_config_bool_parsing(void **state)
{
    config *c = config_new();
    surge_error err;
    const char *truthy[] = {"true", "1", "yes"}, *falsy[] = {"false", "0", "no"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(config_set(c, "log.access", truthy[i], "--set", &err), 0);
        assert_true(config_get_bool(c, "log.access"));
        assert_int_equal(config_set(c, "log.access", falsy[i], "--set", &err), 0);
        assert_false(config_get_bool(c, "log.access"));
    }
    assert_int_equal(config_set(c, "log.access", "maybe", "--set", &err), SURGE_EINVAL);
    assert_string_equal(err.message, "--set: log.access = 'maybe': must be true or false");
    assert_false(config_get_bool(c, "log.access"));
    config_free(c);
}

static void test_config_log_level_is_validated(void **state)
{
    config *c = config_new();
    surge_error err;
    assert_int_equal(config_set(c, "log.level", "debug", "--set", &err), 0);
    assert_string_equal(config_get_string(c, "log.level"), "debug");
    assert_int_equal(config_set(c, "log.level", "verbose", "--set", &err), SURGE_EINVAL);
    assert_string_equal(err.field, "log.level");
    config_free(c);
}

static void test_config_file_comments_blanks_and_quotes(void **state)
{
    char path[64];
    write_temp(path, "# surge test config\n"
                     "\n"
                     "   \n"
                     "http.threads = 8\n"
                     "  # indented comment\n"
                     "listen=127.0.0.1:9090\n"
                     "data_dir = \"/var/lib/surge data\"\n"
                     "log.access = yes\t\n");
    config *c = config_new();
    surge_error err;
    memset(&err, 0, sizeof err);
    int rc = config_load_file(c, path, &err);
    if (rc) fail_msg("config_load_file: %s", err.message);
    assert_int_equal(config_get_int(c, "http.threads"), 8);
    assert_string_equal(config_get_string(c, "listen"), "127.0.0.1:9090");
    assert_string_equal(config_get_string(c, "data_dir"), "/var/lib/surge data");
    assert_true(config_get_bool(c, "log.access"));
    config_free(c);
    unlink(path);
}

static void test_config_file_bad_line_is_parse_error_with_location(void **state)
{
    char path[64];
    write_temp(path, "# comment\nhttp.threads = 2\nthis line has no equals sign\n");
    config *c = config_new();
    surge_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(config_load_file(c, path, &err), SURGE_EPARSE);
    assert_int_equal(err.code, SURGE_EPARSE);
    char want[128];
    snprintf(want, sizeof want, "%s:3: expected `key = value`, got 'this line has no equals sign'",
             path);
    assert_string_equal(err.message, want);
    config_free(c);
    unlink(path);
}

static void test_config_file_bad_value_names_file_and_line(void **state)
{
    char path[64];
    write_temp(path, "\n\nhttp.threads = 1000\n");
    config *c = config_new();
    surge_error err;
    assert_int_equal(config_load_file(c, path, &err), SURGE_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "%s:3: http.threads = 1000: must be between 0 and 256", path);
    assert_string_equal(err.message, want);
    config_free(c);
    unlink(path);
}

static void test_config_file_missing_is_io_error(void **state)
{
    config *c = config_new();
    surge_error err;
    assert_int_equal(config_load_file(c, "/nonexistent/surge.conf", &err), SURGE_EIO);
    assert_non_null(strstr(err.message, "/nonexistent/surge.conf"));
    config_free(c);
}

static void test_config_env_overrides(void **state)
{
    char *envp[] = {
        "PATH=/usr/bin",         "SURGE_HTTP_THREADS=4",     "SURGE_CONFIG=/nonexistent.conf",
        "SURGE_LOG_ACCESS=true", "SURGE_ADMIN_TOKEN=s3cret", NULL};
    config *c = config_new();
    surge_error err;
    memset(&err, 0, sizeof err);
    int rc = config_load_env(c, envp, &err);
    if (rc) fail_msg("config_load_env: %s", err.message);
    assert_int_equal(config_get_int(c, "http.threads"), 4);
    assert_true(config_get_bool(c, "log.access"));
    assert_string_equal(config_get_string(c, "admin.token"), "s3cret");
    config_free(c);
}

static void test_config_env_unknown_variable_rejected(void **state)
{
    char *envp[] = {"SURGE_NOPE=1", NULL};
    config *c = config_new();
    surge_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(config_load_env(c, envp, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "SURGE_NOPE");
    assert_non_null(strstr(err.message, "SURGE_NOPE"));
    config_free(c);
}

static void test_config_env_bad_value_names_variable(void **state)
{
    char *envp[] = {"SURGE_HTTP_THREADS=999", NULL};
    config *c = config_new();
    surge_error err;
    assert_int_equal(config_load_env(c, envp, &err), SURGE_EINVAL);
    assert_string_equal(err.message,
                        "SURGE_HTTP_THREADS: http.threads = 999: must be between 0 and 256");
    config_free(c);
}

static void test_config_env_wins_over_file(void **state)
{
    char path[64];
    write_temp(path, "http.threads = 8\nlisten = 127.0.0.1:1\n");
    char *envp[] = {"SURGE_HTTP_THREADS=2", NULL};
    config *c = config_new();
    surge_error err;
    assert_int_equal(config_load_file(c, path, &err), 0);
    assert_int_equal(config_load_env(c, envp, &err), 0);
    assert_int_equal(config_get_int(c, "http.threads"), 2);
    assert_string_equal(config_get_string(c, "listen"), "127.0.0.1:1");
    config_free(c);
    unlink(path);
}

static void test_config_dump_masks_secrets(void **state)
{
    config *c = config_new();
    surge_error err;
    assert_int_equal(config_set(c, "admin.token", "hunter2", "--set", &err), 0);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    config_dump(c, f);
    fclose(f);
    assert_non_null(strstr(text, "admin.token = ********\n"));
    assert_null(strstr(text, "hunter2"));
    assert_non_null(strstr(text, "http.threads = 0\n"));
    free(text);
    config_free(c);
}

static void test_config_docs_list_every_key_with_range(void **state)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    config_write_docs(f);
    fclose(f);
    assert_non_null(strstr(text, "| `http.threads` | integer | `0` | 0 .. 256 |"));
    assert_non_null(strstr(text, "| `admin.token` | string | `\"\"` |  |"));
    free(text);
}

/* ---------------------------------------------------------------- geohash */

static void expect_geohash(double lat, double lon, int precision, const char *want)
{
    char out[GEOHASH_MAX + 1];
    assert_int_equal(geohash_encode(lat, lon, precision, out), 0);
    assert_string_equal(out, want);
}

static void test_geohash_encode_known_vectors(void **state)
{
    expect_geohash(57.64911, 10.40744, 11, "u4pruydqqvj");
    expect_geohash(40.7580, -73.9855, 5, "dr5ru");
    expect_geohash(-33.8688, 151.2093, 7, "r3gx2f7");
    expect_geohash(0, 0, 1, "s");
    expect_geohash(90, 180, 3, "zzz");
    expect_geohash(-90, -180, 3, "000");
}

static void test_geohash_encode_rejects_out_of_range(void **state)
{
    char out[GEOHASH_MAX + 1];
    assert_int_equal(geohash_encode(91, 0, 5, out), -1);
    assert_int_equal(geohash_encode(-90.0001, 0, 5, out), -1);
    assert_int_equal(geohash_encode(0, 180.5, 5, out), -1);
    assert_int_equal(geohash_encode(NAN, 0, 5, out), -1);
    assert_int_equal(geohash_encode(0, 0, 0, out), -1);
    assert_int_equal(geohash_encode(0, 0, 13, out), -1);
}

static void test_geohash_decode_cell_centre(void **state)
{
    double lat, lon, lat_err, lon_err;
    assert_int_equal(geohash_decode("dr5ru", &lat, &lon, &lat_err, &lon_err), 0);
    /* dyadic fractions: exact in binary floating point */
    assert_true(lat == 40.75927734375);
    assert_true(lon == -73.98193359375);
    assert_true(lat_err == 0.02197265625);
    assert_true(lon_err == 0.02197265625);
}

static void test_geohash_round_trip(void **state)
{
    double lat, lon, lat_err, lon_err;
    assert_int_equal(geohash_decode("u4pruydqqvj", &lat, &lon, &lat_err, &lon_err), 0);
    assert_true(fabs(lat - 57.64911) <= lat_err);
    assert_true(fabs(lon - 10.40744) <= lon_err);
    char again[GEOHASH_MAX + 1];
    assert_int_equal(geohash_encode(lat, lon, 11, again), 0);
    assert_string_equal(again, "u4pruydqqvj");
    assert_int_equal(geohash_decode("s", &lat, &lon, NULL, NULL), 0);
    assert_true(lat == 22.5 && lon == 22.5);
}

static void test_geohash_rejects_invalid(void **state)
{
    double lat, lon;
    const char *bad[] = {"dr5ra", "dr5ri", "dr5rl",           "dr5ro",
                         "",      "dr5r-", "dr5ru0123456789", "0123456789bcd"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (geohash_valid(bad[i])) fail_msg("geohash_valid accepted '%s'", bad[i]);
        if (geohash_decode(bad[i], &lat, &lon, NULL, NULL) != -1)
            fail_msg("geohash_decode accepted '%s'", bad[i]);
    }
    assert_true(geohash_valid("dr5ru"));
    assert_true(geohash_valid("0123456789bc"));
}

static void expect_neighbour(const char *hash, int dlat, int dlon, const char *want)
{
    char out[GEOHASH_MAX + 1];
    if (geohash_neighbour(hash, dlat, dlon, out) != 0)
        fail_msg("no neighbour of %s in (%d, %d)", hash, dlat, dlon);
    if (strcmp(out, want) != 0)
        fail_msg("neighbour of %s in (%d, %d) = %s, want %s", hash, dlat, dlon, out, want);
}

static void test_geohash_neighbours(void **state)
{
    expect_neighbour("dr5ru", 1, 0, "dr72h");
    expect_neighbour("dr5ru", -1, 0, "dr5rs");
    expect_neighbour("dr5ru", 0, 1, "dr5rv");
    expect_neighbour("dr5ru", 0, -1, "dr5rg");
    expect_neighbour("dr5ru", 1, 1, "dr72j");
    expect_neighbour("dr5ru", -1, -1, "dr5re");
    expect_neighbour("dr5ru", 0, 0, "dr5ru");
}

static void test_geohash_neighbour_wraps_antimeridian_and_stops_at_pole(void **state)
{
    char out[GEOHASH_MAX + 1];
    expect_neighbour("xcz", 0, 1, "81b");
    expect_neighbour("81b", 0, -1, "xcz");
    assert_int_equal(geohash_neighbour("upb", 1, 0, out), -1);
    assert_int_equal(geohash_neighbour("dr5ra", 1, 0, out), -1);
}

/* ---------------------------------------------------------------- time zones */

static void test_tz_new_york_offsets_winter_and_summer(void **state)
{
    surge_error err;
    const tz_zone *ny = tz_load("America/New_York", &err);
    assert_non_null(ny);
    assert_int_equal(tz_offset_s(ny, 1768127520000), -18000); /* 2026-01-11T10:32Z */
    assert_int_equal(tz_offset_s(ny, 1782907200000), -14400); /* 2026-07-01T12:00Z */
}

static void test_tz_new_york_dst_transitions(void **state)
{
    surge_error err;
    const tz_zone *ny = tz_load("America/New_York", &err);
    assert_non_null(ny);
    /* 2026-03-08T07:00Z: clocks go from 02:00 EST to 03:00 EDT */
    assert_int_equal(tz_offset_s(ny, 1772953199999), -18000);
    assert_int_equal(tz_offset_s(ny, 1772953200000), -14400);
    /* 2026-11-01T06:00Z: back from 02:00 EDT to 01:00 EST */
    assert_int_equal(tz_offset_s(ny, 1793512799999), -14400);
    assert_int_equal(tz_offset_s(ny, 1793512800000), -18000);
    int hour, dow;
    tz_local_hour(ny, 1772953200000, &hour, &dow);
    assert_int_equal(hour, 3);
    assert_int_equal(dow, 7);
}

static void test_tz_local_hour_and_iso_day_of_week(void **state)
{
    surge_error err;
    const tz_zone *ny = tz_load("America/New_York", &err);
    assert_non_null(ny);
    int hour = -1, dow = -1;
    tz_local_hour(ny, 1768127520000, &hour, &dow); /* Sunday 2026-01-11 05:32 EST */
    assert_int_equal(hour, 5);
    assert_int_equal(dow, 7);
    tz_local_hour(ny, 1782907200000, &hour, &dow); /* Wednesday 2026-07-01 08:00 EDT */
    assert_int_equal(hour, 8);
    assert_int_equal(dow, 3);
    tz_local_hour(ny, -3600000, &hour, &dow); /* Wednesday 1969-12-31 18:00 EST */
    assert_int_equal(hour, 18);
    assert_int_equal(dow, 3);
    assert_int_equal(tz_offset_s(ny, -5364662400000), -17762); /* 1800: local mean time */

    const tz_zone *kolkata = tz_load("Asia/Kolkata", &err);
    assert_non_null(kolkata);
    assert_int_equal(tz_offset_s(kolkata, 1768127520000), 19800);
    tz_local_hour(kolkata, 1768127520000, &hour, &dow); /* 16:02 */
    assert_int_equal(hour, 16);
    assert_int_equal(dow, 7);
}

static void test_tz_utc(void **state)
{
    surge_error err;
    const tz_zone *utc = tz_load("UTC", &err);
    assert_non_null(utc);
    assert_int_equal(tz_offset_s(utc, 1768127520000), 0);
    assert_int_equal(tz_offset_s(utc, 0), 0);
    int hour, dow;
    tz_local_hour(utc, 1768127520000, &hour, &dow);
    assert_int_equal(hour, 10);
    assert_int_equal(dow, 7);
    tz_local_hour(utc, 0, &hour, &dow); /* 1970-01-01 was a Thursday */
    assert_int_equal(hour, 0);
    assert_int_equal(dow, 4);
}

static void test_tz_zones_are_cached(void **state)
{
    surge_error err;
    const tz_zone *a = tz_load("Europe/Paris", &err), *b = tz_load("Europe/Paris", &err);
    assert_non_null(a);
    assert_ptr_equal(a, b);
}

static void test_tz_unknown_zone_rejected(void **state)
{
    surge_error err;
    memset(&err, 0, sizeof err);
    assert_null(tz_load("Mars/Olympus_Mons", &err));
    assert_int_equal(err.code, SURGE_EINVAL);
    assert_string_equal(err.field, "timezone");
    assert_non_null(strstr(err.message, "'Mars/Olympus_Mons' is unknown"));
}

static void test_tz_path_traversal_rejected(void **state)
{
    const char *bad[] = {"../../etc/passwd", "America/../UTC", "/etc/localtime", "",
                         "America/New York", "UTC;rm"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        surge_error err;
        memset(&err, 0, sizeof err);
        if (tz_load(bad[i], &err) != NULL) fail_msg("tz_load accepted '%s'", bad[i]);
        assert_int_equal(err.code, SURGE_EINVAL);
        assert_non_null(strstr(err.message, "is not an IANA zone name"));
    }
}

/* ---------------------------------------------------------------- logging */

static void test_log_parse_level(void **state)
{
    log_level l;
    assert_int_equal(log_parse_level("warn", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_parse_level("DEBUG", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_parse_level("verbose", &l), -1);
}

static void test_json_string_replaces_invalid_utf8_and_keeps_valid(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    /* valid: e-acute (2 bytes), euro sign (3), an emoji (4) pass through unchanged */
    json_put_string(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x95");
    assert_string_equal(b.data, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x95\"");
    buf_reset(&b);
    /* a euro sign cut after 2 of its 3 bytes, a lone continuation byte, an overlong '/',
     * a UTF-16 surrogate: each bad byte becomes one U+FFFD */
    json_put_string(&b, "a\xe2\x82");
    assert_string_equal(b.data, "\"a\\ufffd\\ufffd\"");
    buf_reset(&b);
    json_put_string(&b, "\x80x\xc0\xaf\xed\xa0\x80");
    assert_string_equal(b.data, "\"\\ufffdx\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_surge_fail_fills_code_field_and_message),
        cmocka_unit_test(test_error_codes_map_to_names_and_http_status),
        cmocka_unit_test(test_time_format_epoch_zero),
        cmocka_unit_test(test_time_format_known_instants),
        cmocka_unit_test(test_time_format_negative_ms_rounds_toward_the_past),
        cmocka_unit_test(test_time_parse_rfc3339_utc),
        cmocka_unit_test(test_time_parse_fraction_keeps_milliseconds),
        cmocka_unit_test(test_time_parse_offsets),
        cmocka_unit_test(test_time_parse_epoch_milliseconds),
        cmocka_unit_test(test_time_parse_rejects_invalid),
        cmocka_unit_test(test_time_format_and_parse_round_trip),
        cmocka_unit_test(test_murmur2_matches_kafka),
        cmocka_unit_test(test_murmur2_partition_is_positive),
        cmocka_unit_test(test_fnv1a64_published_vectors),
        cmocka_unit_test(test_json_string_replaces_invalid_utf8_and_keeps_valid),
        cmocka_unit_test(test_random_id_time_starts_with_the_milliseconds_in_hex),
        cmocka_unit_test(test_random_hex_length_and_charset),
        cmocka_unit_test(test_random_hex_two_calls_differ),
        cmocka_unit_test(test_json_put_fixed),
        cmocka_unit_test(test_json_put_string_escapes),
        cmocka_unit_test(test_json_put_double),
        cmocka_unit_test(test_json_put_int_bool_key),
        cmocka_unit_test(test_buf_grows_and_stays_terminated),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_set_valid_int),
        cmocka_unit_test(test_config_int_out_of_range_names_key_and_range),
        cmocka_unit_test(test_config_double_range),
        cmocka_unit_test(test_config_unknown_key),
        cmocka_unit_test(test_config_bool_parsing),
        cmocka_unit_test(test_config_log_level_is_validated),
        cmocka_unit_test(test_config_file_comments_blanks_and_quotes),
        cmocka_unit_test(test_config_file_bad_line_is_parse_error_with_location),
        cmocka_unit_test(test_config_file_bad_value_names_file_and_line),
        cmocka_unit_test(test_config_file_missing_is_io_error),
        cmocka_unit_test(test_config_env_overrides),
        cmocka_unit_test(test_config_env_unknown_variable_rejected),
        cmocka_unit_test(test_config_env_bad_value_names_variable),
        cmocka_unit_test(test_config_env_wins_over_file),
        cmocka_unit_test(test_config_dump_masks_secrets),
        cmocka_unit_test(test_config_docs_list_every_key_with_range),
        cmocka_unit_test(test_geohash_encode_known_vectors),
        cmocka_unit_test(test_geohash_encode_rejects_out_of_range),
        cmocka_unit_test(test_geohash_decode_cell_centre),
        cmocka_unit_test(test_geohash_round_trip),
        cmocka_unit_test(test_geohash_rejects_invalid),
        cmocka_unit_test(test_geohash_neighbours),
        cmocka_unit_test(test_geohash_neighbour_wraps_antimeridian_and_stops_at_pole),
        cmocka_unit_test(test_tz_new_york_offsets_winter_and_summer),
        cmocka_unit_test(test_tz_new_york_dst_transitions),
        cmocka_unit_test(test_tz_local_hour_and_iso_day_of_week),
        cmocka_unit_test(test_tz_utc),
        cmocka_unit_test(test_tz_zones_are_cached),
        cmocka_unit_test(test_tz_unknown_zone_rejected),
        cmocka_unit_test(test_tz_path_traversal_rejected),
        cmocka_unit_test(test_log_parse_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
