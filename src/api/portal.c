/* portal.c: what `surge serve` needs for the web portal (docs/portal.md): the static assets
 * built into the binary, users and roles from portal.users, login sessions with CSRF tokens,
 * the admin-action record, the live snapshot stream (SSE) and the audit search and reports. */
#include "api_internal.h"
#include "portal_assets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define SESSION_COOKIE "surge_session"
#define SESSIONS_MAX 1024
#define USERS_MAX 64
#define PBKDF2_MIN_ITERATIONS 1000
#define SSE_BLOCK_BYTES 16384

/* ---------------------------------------------------------------- SHA-256, HMAC, PBKDF2 */

/* HMAC-SHA256 (RFC 2104) of msg under key; keys longer than a block are hashed first. */
static void hmac_sha256(const unsigned char *key, size_t key_len, const unsigned char *msg,
                        size_t msg_len, unsigned char out[32])
{
    unsigned char k[64] = {0}, ipad[64], opad[64], inner[32];
    if (key_len > 64) {
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, key, key_len);
        sha256_final(&c, k);
    } else {
        memcpy(k, key, key_len);
    }
    for (int i = 0; i < 64; i++) {
        ipad[i] = k[i] ^ 0x36;
        opad[i] = k[i] ^ 0x5c;
    }
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, ipad, 64);
    sha256_update(&c, msg, msg_len);
    sha256_final(&c, inner);
    sha256_init(&c);
    sha256_update(&c, opad, 64);
    sha256_update(&c, inner, 32);
    sha256_final(&c, out);
}

/* PBKDF2-HMAC-SHA256 (RFC 8018), one 32-byte block: what Python's
 * hashlib.pbkdf2_hmac('sha256', password, salt, iterations) returns. */
static void pbkdf2_sha256(const char *password, const unsigned char *salt, size_t salt_len,
                          long iterations, unsigned char out[32])
{
    unsigned char msg[128 + 4], u[32];
    size_t n = salt_len < 128 ? salt_len : 128;
    memcpy(msg, salt, n);
    msg[n] = 0, msg[n + 1] = 0, msg[n + 2] = 0, msg[n + 3] = 1;
    size_t plen = strlen(password);
    hmac_sha256((const unsigned char *)password, plen, msg, n + 4, u);
    memcpy(out, u, 32);
    for (long i = 1; i < iterations; i++) {
        hmac_sha256((const unsigned char *)password, plen, u, 32, u);
        for (int j = 0; j < 32; j++)
            out[j] ^= u[j];
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes exactly len hex characters into out (len / 2 bytes). -1 on a bad character. */
static int hex_decode(const char *s, size_t len, unsigned char *out)
{
    if (len % 2) return -1;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* Equal without an early exit, so the time taken does not tell how much matched. */
static bool bytes_equal(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    unsigned diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(x[i] ^ y[i]);
    return diff == 0;
}

/* ---------------------------------------------------------------- users */

typedef enum portal_role { ROLE_VIEWER, ROLE_ADMIN } portal_role;

static const char *role_name(portal_role role)
{
    return role == ROLE_ADMIN ? "admin" : "viewer";
}

typedef struct portal_user {
    char name[48];
    portal_role role;
    bool pbkdf2; /* else salted sha256 */
    long iterations;
    unsigned char salt[64];
    size_t salt_len;
    unsigned char hash[32];
} portal_user;

/* One entry "name:role:hash" where hash is "pbkdf2-sha256$ITER$SALTHEX$HASHHEX" or
 * "sha256$SALTHEX$HASHHEX" (sha256(salt || password)). */
static int parse_user(const char *entry, size_t len, portal_user *u, surge_error *err)
{
    char text[512];
    if (len >= sizeof text)
        return surge_fail(err, SURGE_EINVAL, "portal.users",
                          "a user entry is longer than %zu "
                          "characters",
                          sizeof text - 1);
    memcpy(text, entry, len);
    text[len] = 0;
    memset(u, 0, sizeof *u);
    char *c1 = strchr(text, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2)
        return surge_fail(err, SURGE_EINVAL, "portal.users",
                          "user entry '%.40s' is not "
                          "name:role:hash",
                          text);
    *c1 = *c2 = 0;
    const char *name = text, *role = c1 + 1, *hash = c2 + 1;
    size_t nl = strlen(name);
    if (nl == 0 || nl >= sizeof u->name)
        return surge_fail(err, SURGE_EINVAL, "portal.users",
                          "user name '%.40s' must be 1..%zu "
                          "characters",
                          name, sizeof u->name - 1);
    for (size_t i = 0; i < nl; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.' || ch == '@'))
            return surge_fail(err, SURGE_EINVAL, "portal.users",
                              "user name '%.40s' may only "
                              "hold letters, digits and _ - . @",
                              name);
    }
    memcpy(u->name, name, nl + 1);
    if (strcmp(role, "admin") == 0)
        u->role = ROLE_ADMIN;
    else if (strcmp(role, "viewer") == 0)
        u->role = ROLE_VIEWER;
    else
        return surge_fail(err, SURGE_EINVAL, "portal.users",
                          "user '%s' has role '%.20s'; roles "
                          "are admin and viewer",
                          name, role);
    char *parts[4] = {0};
    int np = 0;
    for (char *p = (char *)hash; np < 4; np++) {
        parts[np] = p;
        char *d = strchr(p, '$');
        if (!d) {
            np++;
            break;
        }
        *d = 0;
        p = d + 1;
    }
    const char *salt_hex, *hash_hex;
    if (np == 4 && strcmp(parts[0], "pbkdf2-sha256") == 0) {
        char *end;
        u->pbkdf2 = true;
        u->iterations = strtol(parts[1], &end, 10);
        if (*end || u->iterations < PBKDF2_MIN_ITERATIONS || u->iterations > 10000000)
            return surge_fail(err, SURGE_EINVAL, "portal.users",
                              "user '%s': pbkdf2 iterations "
                              "must be %d..10000000",
                              name, PBKDF2_MIN_ITERATIONS);
        salt_hex = parts[2];
        hash_hex = parts[3];
    } else if (np == 3 && strcmp(parts[0], "sha256") == 0) {
        salt_hex = parts[1];
        hash_hex = parts[2];
    } else {
        return surge_fail(err, SURGE_EINVAL, "portal.users",
                          "user '%s': the hash must be "
                          "pbkdf2-sha256$ITERATIONS$SALTHEX$HASHHEX or sha256$SALTHEX$HASHHEX",
                          name);
    }
    size_t sl = strlen(salt_hex);
    if (sl < 16 || sl > 2 * sizeof u->salt || hex_decode(salt_hex, sl, u->salt))
        return surge_fail(err, SURGE_EINVAL, "portal.users",
                          "user '%s': the salt must be 16..%zu "
                          "hex characters",
                          name, 2 * sizeof u->salt);
    u->salt_len = sl / 2;
    if (strlen(hash_hex) != 64 || hex_decode(hash_hex, 64, u->hash))
        return surge_fail(err, SURGE_EINVAL, "portal.users",
                          "user '%s': the hash must be 64 hex "
                          "characters (a SHA-256)",
                          name);
    return 0;
}

static bool password_ok(const portal_user *u, const char *password)
{
    unsigned char got[32];
    if (u->pbkdf2) {
        pbkdf2_sha256(password, u->salt, u->salt_len, u->iterations, got);
    } else {
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, u->salt, u->salt_len);
        sha256_update(&c, password, strlen(password));
        sha256_final(&c, got);
    }
    return bytes_equal(got, u->hash, 32);
}

/* ---------------------------------------------------------------- state */

typedef struct session {
    char id[33];   /* 128 random bits in hex; "" = free slot */
    char csrf[33]; /* per-session CSRF token, sent back in X-CSRF-Token */
    char user[64];
    portal_role role;
    int64_t expires_ms; /* idle expiry: each use moves it to now + ttl */
} session;

/* One shared snapshot: every live client streams the same bytes (refcounted). */
typedef struct snapshot {
    _Atomic int refs;
    uint64_t seq;
    int64_t ts_ms;
    size_t len;
    char data[];
} snapshot;

typedef struct live_client live_client;

struct portal {
    portal_user users[USERS_MAX];
    int nusers;
    int64_t session_ttl_ms;
    int live_max;

    pthread_mutex_t sessions_lock; /* guards sessions[] */
    session sessions[SESSIONS_MAX];

    /* live stream: lock guards current, waiters, clients, stopping */
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* the producer: a client came, or shutdown */
    pthread_cond_t published; /* one-shot readers: a new snapshot is current */
    int64_t demand_until_ms;  /* one-shot readers keep the producer busy until then */
    pthread_t producer;
    bool producer_running;
    bool stopping;
    snapshot *current;
    live_client *waiters; /* suspended clients to resume at the next snapshot */
    int clients;
    int compute_route;
    /* the producer's own state (only its thread touches these) */
    uint64_t prev_events, prev_prices;
    int64_t prev_ms;
    uint64_t latency_prev[METRIC_BUCKETS];
    store_region *regions;
    size_t nregions;
    int64_t regions_loaded_ms;
};

struct live_client {
    struct portal *p;
    struct MHD_Connection *conn;
    uint64_t next_seq;
    snapshot *sending; /* the snapshot being written, with a reference */
    size_t offset;     /* into the frame "data: <json>\n\n" */
    bool waiting;      /* on p->waiters */
    bool suspended;    /* MHD_suspend_connection returned, nobody resumed it yet */
    live_client *next;
    bool sent_hello;
};

static void snapshot_release(snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) free(s);
}

/* ---------------------------------------------------------------- sessions */

static session *session_find(struct portal *p, const char *id, int64_t now_ms)
{
    if (!id || strlen(id) != 32) return NULL;
    for (int i = 0; i < SESSIONS_MAX; i++) {
        session *s = &p->sessions[i];
        if (s->id[0] && bytes_equal(s->id, id, 32)) {
            if (s->expires_ms <= now_ms) {
                s->id[0] = 0; /* expired: forget it */
                return NULL;
            }
            return s;
        }
    }
    return NULL;
}

/* A copy of the session of the request's cookie (refreshing its expiry); false when none. */
static bool session_of(api_request *r, session *out, bool *had_cookie)
{
    struct portal *p = r->server->portal;
    const char *id = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, SESSION_COOKIE);
    if (had_cookie) *had_cookie = id && *id;
    if (!p || !id) return false;
    int64_t now = time_now_ms();
    pthread_mutex_lock(&p->sessions_lock);
    session *s = session_find(p, id, now);
    if (s) {
        s->expires_ms = now + p->session_ttl_ms;
        *out = *s;
    }
    pthread_mutex_unlock(&p->sessions_lock);
    return s != NULL;
}

static void session_create(struct portal *p, const char *user, portal_role role, session *out)
{
    int64_t now = time_now_ms();
    pthread_mutex_lock(&p->sessions_lock);
    /* a free or expired slot, else the one closest to expiry */
    session *slot = &p->sessions[0];
    for (int i = 0; i < SESSIONS_MAX; i++) {
        session *s = &p->sessions[i];
        if (!s->id[0] || s->expires_ms <= now) {
            slot = s;
            break;
        }
        if (s->expires_ms < slot->expires_ms) slot = s;
    }
    random_hex(slot->id, 16);
    random_hex(slot->csrf, 16);
    snprintf(slot->user, sizeof slot->user, "%s", user);
    slot->role = role;
    slot->expires_ms = now + p->session_ttl_ms;
    *out = *slot;
    pthread_mutex_unlock(&p->sessions_lock);
}

static void session_delete(struct portal *p, const char *id)
{
    pthread_mutex_lock(&p->sessions_lock);
    session *s = session_find(p, id, time_now_ms());
    if (s) memset(s, 0, sizeof *s);
    pthread_mutex_unlock(&p->sessions_lock);
}

static void write_session_json(api_request *r, const session *s)
{
    char ts[40];
    time_format_rfc3339(s->expires_ms, ts, sizeof ts);
    buf_reset(&r->out);
    buf_puts(&r->out, "{\"user\":");
    json_put_string(&r->out, s->user);
    buf_puts(&r->out, ",\"role\":");
    json_put_string(&r->out, role_name(s->role));
    buf_puts(&r->out, ",\"csrf_token\":");
    json_put_string(&r->out, s->csrf);
    buf_puts(&r->out, ",\"expires_at\":");
    json_put_string(&r->out, ts);
    buf_puts(&r->out, ",\"session_ttl_s\":");
    json_put_int(&r->out, r->server->portal->session_ttl_ms / 1000);
    buf_putc(&r->out, '}');
}

static bool is_read_method(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* The CSRF check of a change made with a session cookie. 0 or 1 after writing a 403. */
static int csrf_check(api_request *r, const session *s)
{
    const char *token = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
    if (!token || !*token) {
        api_fail(r, SURGE_EFORBIDDEN, "X-CSRF-Token",
                 "a change made with a portal session needs the X-CSRF-Token header (the "
                 "csrf_token of POST /api/v1/portal/login or GET /api/v1/portal/session)");
        return 1;
    }
    if (strlen(token) != 32 || !bytes_equal(token, s->csrf, 32)) {
        api_fail(r, SURGE_EFORBIDDEN, "X-CSRF-Token",
                 "the X-CSRF-Token header does not match this session's csrf_token");
        return 1;
    }
    return 0;
}

int portal_authorize(api_request *r)
{
    session s;
    bool had_cookie = false;
    if (!session_of(r, &s, &had_cookie)) {
        if (!had_cookie) return -1;
        api_fail(r, SURGE_EAUTH, "cookie",
                 "the portal session has expired or is unknown; log in "
                 "again (POST /api/v1/portal/login)");
        return 1;
    }
    snprintf(r->actor, sizeof r->actor, "%s", s.user);
    snprintf(r->role, sizeof r->role, "%s", role_name(s.role));
    if (is_read_method(r->method)) return 0;
    if (s.role != ROLE_ADMIN) {
        api_fail(r, SURGE_EFORBIDDEN, NULL,
                 "user '%s' has the viewer role: it may read but not "
                 "change anything",
                 s.user);
        return 1;
    }
    return csrf_check(r, &s);
}

/* ---------------------------------------------------------------- admin actions */

static void fill_client_ip(api_request *r, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = 0;
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)size);
}

/* Copies at most size-1 bytes of s, never splitting a UTF-8 character. */
static void copy_utf8_cut(char *dst, size_t size, const char *s, size_t n)
{
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = 0;
}

static void record(api_request *r, const char *actor, const char *role, const char *detail)
{
    store_admin_action a;
    memset(&a, 0, sizeof a);
    a.ts_ms = r->now_ms ? r->now_ms : time_now_ms();
    snprintf(a.actor, sizeof a.actor, "%s", actor);
    snprintf(a.role, sizeof a.role, "%s", role);
    snprintf(a.method, sizeof a.method, "%s", r->method);
    copy_utf8_cut(a.path, sizeof a.path, r->url, strlen(r->url));
    a.status = r->status;
    snprintf(a.trace_id, sizeof a.trace_id, "%s", r->trace_id);
    if (r->client_ip[0])
        snprintf(a.client_ip, sizeof a.client_ip, "%s", r->client_ip);
    else
        fill_client_ip(r, a.client_ip, sizeof a.client_ip);
    if (detail) copy_utf8_cut(a.detail, sizeof a.detail, detail, strlen(detail));
    surge_error err;
    if (store_admin_action_insert(r->server->db, &a, &err))
        log_msg(LOG_ERROR, "portal", r->trace_id, "recording the admin action failed: %s",
                err.message);
}

void portal_record_action(api_request *r)
{
    char actor[96];
    if (r->actor[0])
        snprintf(actor, sizeof actor, "%s", r->actor);
    else
        snprintf(actor, sizeof actor, "token@%s", r->client_ip[0] ? r->client_ip : "unknown");
    /* the body says what was changed; an error answer says why it was refused */
    char detail[512] = "";
    if (r->status >= 400 && r->out.len)
        copy_utf8_cut(detail, sizeof detail, r->out.data, r->out.len);
    else if (r->body.len)
        copy_utf8_cut(detail, sizeof detail, r->body.data, r->body.len);
    record(r, actor, r->role[0] ? r->role : "admin", detail);
}

/* ---------------------------------------------------------------- static assets */

static const char *asset_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return "application/octet-stream";
    if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
    if (!strcmp(dot, ".svg")) return "image/svg+xml";
    if (!strcmp(dot, ".png")) return "image/png";
    if (!strcmp(dot, ".ico")) return "image/x-icon";
    if (!strcmp(dot, ".json")) return "application/json";
    return "application/octet-stream";
}

/* Only the page's own files: no inline script, no other origin (the machines have no
 * internet, and a CDN would be a second thing to trust). */
#define PORTAL_CSP                                                                                 \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

void handle_portal_asset(api_request *r)
{
    /* "/" has no path parameter (and route_find leaves params unset for it) */
    bool by_name = r->route && strcmp(r->route->pattern, "/assets/{file}") == 0;
    const char *name = by_name ? r->params[0] : "index.html";
    const portal_asset *a = NULL;
    for (const portal_asset *x = PORTAL_ASSETS; x->name; x++)
        if (strcmp(x->name, name) == 0) {
            a = x;
            break;
        }
    if (!a) {
        api_fail(r, SURGE_ENOTFOUND, "file", "no portal asset named '%s'", name);
        return;
    }
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    bool fresh = inm && strcmp(inm, a->etag) == 0;
    struct MHD_Response *resp =
        fresh ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
              : MHD_create_response_from_buffer(a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        api_fail(r, SURGE_EINTERNAL, NULL, "out of memory");
        return;
    }
    r->status = fresh ? 304 : 200;
    MHD_add_response_header(resp, "Content-Type", asset_type(a->name));
    MHD_add_response_header(resp, "ETag", a->etag);
    /* revalidate every time (cheap: 304): a new surge binary brings new assets at once */
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (strstr(a->name, ".html")) {
        MHD_add_response_header(resp, "Content-Security-Policy", PORTAL_CSP);
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    }
    r->response = resp;
}

/* ---------------------------------------------------------------- login, logout, session */

static void set_cookie(api_request *r, const char *id, int64_t max_age_s)
{
    snprintf(r->set_cookie, sizeof r->set_cookie,
             SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld", id,
             (long long)max_age_s);
}

void handle_portal_login(api_request *r)
{
    struct portal *p = r->server->portal;
    json_t *root = api_body_json(r);
    if (!root) return;
    static const char *const allowed[] = {"username", "password", "token", NULL};
    char username[64] = "", password[256] = "", token[256] = "";
    surge_error err;
    if (jin_check_keys(root, allowed, "the login", &err) ||
        jin_string(root, "username", false, username, sizeof username, &err) ||
        jin_string(root, "password", false, password, sizeof password, &err) ||
        jin_string(root, "token", false, token, sizeof token, &err)) {
        json_decref(root);
        api_error(r, &err);
        return;
    }
    json_decref(root);
    const char *user = NULL;
    portal_role role = ROLE_VIEWER;
    if (token[0]) {
        if (username[0] || password[0]) {
            api_fail(r, SURGE_EINVAL, "token",
                     "send either token or username and password, not "
                     "both");
            return;
        }
        const char *admin = r->server->cfg.admin_token;
        size_t n = strlen(admin);
        if (n && strlen(token) == n && bytes_equal(token, admin, n)) {
            user = "admin-token";
            role = ROLE_ADMIN;
        }
    } else {
        if (!username[0]) {
            api_fail(r, SURGE_EINVAL, "username", "username is required (or log in with token)");
            return;
        }
        if (!password[0]) {
            api_fail(r, SURGE_EINVAL, "password", "password is required");
            return;
        }
        for (int i = 0; i < p->nusers; i++)
            if (strcmp(p->users[i].name, username) == 0) {
                if (password_ok(&p->users[i], password)) {
                    user = p->users[i].name;
                    role = p->users[i].role;
                }
                break;
            }
    }
    explicit_bzero(password, sizeof password);
    if (!user) {
        api_fail(r, SURGE_EAUTH, NULL,
                 token[0] ? "the token is not the admin token" : "unknown user or wrong password");
        explicit_bzero(token, sizeof token);
        record(r, username[0] ? username : "token", "", "login failed");
        return;
    }
    explicit_bzero(token, sizeof token);
    session s;
    session_create(p, user, role, &s);
    set_cookie(r, s.id, p->session_ttl_ms / 1000);
    write_session_json(r, &s);
    record(r, user, role_name(role), "login");
}

void handle_portal_logout(api_request *r)
{
    struct portal *p = r->server->portal;
    session s;
    if (session_of(r, &s, NULL)) {
        if (csrf_check(r, &s)) return;
        session_delete(p, s.id);
        snprintf(r->actor, sizeof r->actor, "%s", s.user);
        record(r, s.user, role_name(s.role), "logout");
    }
    set_cookie(r, "", 0);
    buf_puts(&r->out, "{\"logged_out\":true}");
}

void handle_portal_session(api_request *r)
{
    session s;
    if (!session_of(r, &s, NULL)) {
        api_fail(r, SURGE_EAUTH, "cookie", "not logged in, or the session has expired");
        return;
    }
    write_session_json(r, &s);
}

/* ---------------------------------------------------------------- live snapshots */

/* Reloads the region list every 10 s: new regions appear on the live page soon enough, and
 * the database is not asked 500 rows every second. */
static void producer_regions(struct portal *p, api_server *s, int64_t now)
{
    if (p->regions && now - p->regions_loaded_ms < 10000) return;
    store_region *list = NULL;
    size_t n = 0;
    surge_error err;
    if (store_region_list(s->db, &list, &n, &err)) {
        log_warn("portal", "live: listing regions failed: %s", err.message);
        return;
    }
    free(p->regions);
    p->regions = list;
    p->nregions = n;
    p->regions_loaded_ms = now;
}

/* Builds one snapshot: every (region, product) quoted now, and the totals. */
static snapshot *producer_build(struct portal *p, api_server *s, uint64_t seq)
{
    int64_t now = time_now_ms(), t0_ns = time_mono_ns();
    producer_regions(p, s, now);
    buf b;
    buf_init(&b);
    buf_puts(&b, "data: {\"seq\":");
    json_put_int(&b, (int64_t)seq);
    buf_puts(&b, ",\"ts\":");
    json_put_int(&b, now);
    buf_puts(&b, ",\"regions\":[");
    char model_version[40] = "none";
    bool first = true, have_model = false;
    for (size_t i = 0; i < p->nregions; i++) {
        const store_region *reg = &p->regions[i];
        for (int k = 0; k < reg->product_count; k++) {
            pricing_request req;
            memset(&req, 0, sizeof req);
            snprintf(req.region_id, sizeof req.region_id, "%s", reg->region_id);
            snprintf(req.product_type, sizeof req.product_type, "%s", reg->products[k]);
            pricing_decision d;
            surge_error err;
            if (pricing_engine_quote(s->engine, &req, now, &d, &err)) continue;
            if (!have_model) {
                snprintf(model_version, sizeof model_version, "%s", d.inputs.model_version);
                have_model = true;
            }
            if (!first) buf_putc(&b, ',');
            first = false;
            buf_puts(&b, "{\"region_id\":");
            json_put_string(&b, reg->region_id);
            buf_puts(&b, ",\"product_type\":");
            json_put_string(&b, reg->products[k]);
            buf_puts(&b, ",\"surge\":");
            json_put_fixed(&b, d.result.surge_e4, 4);
            buf_puts(&b, ",\"price\":");
            json_put_fixed(&b, d.result.price_cents, 2);
            buf_putc(&b, '}');
        }
    }
    /* totals: rates over the time since the last snapshot */
    uint64_t events = 0;
    if (s->ingest) {
        ingest_stats is;
        ingest_get_stats(s->ingest, &is);
        events = is.accepted;
    }
    pricing_stats ps;
    pricing_engine_stats(s->engine, &ps);
    double dt = p->prev_ms ? (double)(now - p->prev_ms) / 1000.0 : 0;
    double events_per_s = dt > 0 ? (double)(events - p->prev_events) / dt : 0;
    double prices_per_s = dt > 0 ? (double)(ps.computed - p->prev_prices) / dt : 0;
    p->prev_events = events;
    p->prev_prices = ps.computed;
    p->prev_ms = now;
    int64_t p99_ns = p->compute_route >= 0
                         ? metrics_route_quantile_ns(p->compute_route, 0.99, p->latency_prev)
                         : 0;
    buf_puts(&b, "],\"totals\":{\"events_per_s\":");
    json_put_double(&b, events_per_s);
    buf_puts(&b, ",\"prices_per_s\":");
    json_put_double(&b, prices_per_s);
    buf_puts(&b, ",\"p99_ms\":");
    if (p99_ns)
        json_put_double(&b, (double)p99_ns / 1e6);
    else
        buf_puts(&b, "null");
    buf_puts(&b, ",\"model_version\":");
    json_put_string(&b, model_version);
    buf_puts(&b, ",\"clients\":");
    pthread_mutex_lock(&p->lock);
    json_put_int(&b, p->clients);
    pthread_mutex_unlock(&p->lock);
    buf_puts(&b, "}}\n\n");
    snapshot *snap = malloc(sizeof *snap + b.len + 1);
    if (snap) {
        atomic_init(&snap->refs, 1);
        snap->seq = seq;
        snap->ts_ms = now;
        snap->len = b.len;
        memcpy(snap->data, b.data, b.len + 1);
    }
    log_debug("portal", "live snapshot %llu: %zu regions in %.3f ms, %zu bytes",
              (unsigned long long)seq, p->nregions, (double)(time_mono_ns() - t0_ns) / 1e6, b.len);
    buf_free(&b);
    return snap;
}

/* Takes every client off the waiting list and returns those already suspended, for the
 * caller to resume with resume_all after it has dropped the lock. MHD is never called with
 * p->lock held: MHD may free a response (live_free takes p->lock) while holding its own
 * locks. A client not suspended yet resumes itself when it finds waiting cleared. Caller holds
 * lock. */
static live_client *take_waiters_locked(struct portal *p)
{
    live_client *resume = NULL, *c = p->waiters;
    while (c) {
        live_client *next = c->next;
        c->waiting = false;
        if (c->suspended) {
            c->suspended = false;
            c->next = resume;
            resume = c;
        }
        c = next;
    }
    p->waiters = NULL;
    return resume;
}

static void resume_all(live_client *list)
{
    while (list) {
        /* once resumed, a client may be freed at any moment: read it first */
        live_client *next = list->next;
        MHD_resume_connection(list->conn);
        list = next;
    }
}

/* Makes snap the current snapshot; returns the clients to resume. Caller holds lock. */
static live_client *publish_locked(struct portal *p, snapshot *snap)
{
    snapshot_release(p->current);
    p->current = snap;
    pthread_cond_broadcast(&p->published);
    return take_waiters_locked(p);
}

/* One snapshot a second while anybody watches, shared by all of them. */
static void *producer_main(void *arg)
{
    api_server *s = arg;
    struct portal *p = s->portal;
    uint64_t seq = 0;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        if (p->clients == 0 && time_now_ms() >= p->demand_until_ms) {
            pthread_cond_wait(&p->wake, &p->lock);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        snapshot *snap = producer_build(p, s, ++seq);
        pthread_mutex_lock(&p->lock);
        live_client *resume = NULL;
        if (snap && !p->stopping)
            resume = publish_locked(p, snap);
        else
            snapshot_release(snap);
        pthread_mutex_unlock(&p->lock);
        resume_all(resume);
        pthread_mutex_lock(&p->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        while (!p->stopping) {
            if (pthread_cond_timedwait(&p->wake, &p->lock, &until) != 0) break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static const char SSE_HELLO[] = "retry: 2000\n\n";

/* MHD asks for the next bytes of a live stream. With nothing new to send the connection is
 * suspended (no polling) until the producer publishes and resumes it. */
static ssize_t live_read(void *cls, uint64_t pos, char *out, size_t max)
{
    live_client *c = cls;
    struct portal *p = c->p;
    ssize_t n = 0;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (!c->sent_hello) {
        c->sent_hello = true;
        size_t len = sizeof SSE_HELLO - 1;
        if (len <= max) {
            memcpy(out, SSE_HELLO, len);
            pthread_mutex_unlock(&p->lock);
            return (ssize_t)len;
        }
    }
    /* a new client starts with a fresh snapshot, not one kept from before nobody watched */
    if (!c->sending && p->current && p->current->seq >= c->next_seq &&
        (c->next_seq > 0 || time_now_ms() - p->current->ts_ms < 1500)) {
        c->sending = p->current;
        atomic_fetch_add(&c->sending->refs, 1);
        c->offset = 0;
        c->next_seq = c->sending->seq + 1;
    }
    if (c->sending) {
        size_t left = c->sending->len - c->offset;
        size_t take = left < max ? left : max;
        memcpy(out, c->sending->data + c->offset, take);
        c->offset += take;
        n = (ssize_t)take;
        if (c->offset == c->sending->len) {
            snapshot_release(c->sending);
            c->sending = NULL;
        }
    } else {
        c->waiting = true;
        c->suspended = false;
        c->next = p->waiters;
        p->waiters = c;
        pthread_mutex_unlock(&p->lock);
        MHD_suspend_connection(c->conn);
        pthread_mutex_lock(&p->lock);
        /* a snapshot (or shutdown) came while suspending: nobody else will resume us */
        bool resume_now = !c->waiting;
        c->suspended = !resume_now;
        pthread_mutex_unlock(&p->lock);
        if (resume_now) MHD_resume_connection(c->conn);
        return 0;
    }
    pthread_mutex_unlock(&p->lock);
    return n;
}

static void live_free(void *cls)
{
    live_client *c = cls;
    struct portal *p = c->p;
    pthread_mutex_lock(&p->lock);
    if (c->waiting) {
        for (live_client **pp = &p->waiters; *pp; pp = &(*pp)->next)
            if (*pp == c) {
                *pp = c->next;
                break;
            }
    }
    p->clients--;
    pthread_mutex_unlock(&p->lock);
    snapshot_release(c->sending);
    free(c);
}

/* GET /api/v1/live without Accept: text/event-stream: the current snapshot as one JSON
 * document (curl, scripts), waiting up to 3 s for the producer when none is fresh. */
static void live_once(api_request *r, struct portal *p)
{
    pthread_mutex_lock(&p->lock);
    int64_t now = time_now_ms();
    p->demand_until_ms = now + 10000;
    if (!p->current || now - p->current->ts_ms > 2000) {
        uint64_t seen = p->current ? p->current->seq : 0;
        pthread_cond_broadcast(&p->wake);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 3;
        while (!p->stopping && (!p->current || p->current->seq == seen))
            if (pthread_cond_timedwait(&p->published, &p->lock, &until)) break;
    }
    snapshot *snap = p->stopping ? NULL : p->current;
    if (snap) atomic_fetch_add(&snap->refs, 1);
    pthread_mutex_unlock(&p->lock);
    if (!snap) {
        api_fail(r, SURGE_EUNAVAILABLE, NULL, "no live snapshot is ready yet; retry in a second");
        return;
    }
    /* the frame is "data: " JSON "\n\n" */
    buf_append(&r->out, snap->data + 6, snap->len - 8);
    snapshot_release(snap);
}

void handle_portal_live(api_request *r)
{
    struct portal *p = r->server->portal;
    const char *accept = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept");
    if (!accept || !strstr(accept, "text/event-stream")) {
        live_once(r, p);
        return;
    }
    live_client *c = calloc(1, sizeof *c);
    if (!c) {
        api_fail(r, SURGE_EINTERNAL, NULL, "out of memory");
        return;
    }
    c->p = p;
    c->conn = r->conn;
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->clients >= p->live_max) {
        bool stopping = p->stopping;
        pthread_mutex_unlock(&p->lock);
        free(c);
        if (stopping)
            api_fail(r, SURGE_EUNAVAILABLE, NULL, "the server is shutting down");
        else
            api_fail(r, SURGE_EUNAVAILABLE, NULL,
                     "%d live streams are open already "
                     "(portal.live_max_clients); close one or raise the limit",
                     p->live_max);
        return;
    }
    p->clients++;
    pthread_cond_signal(&p->wake); /* the first client starts the producer at once */
    pthread_mutex_unlock(&p->lock);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK_BYTES,
                                                                  live_read, c, live_free);
    if (!resp) {
        live_free(c);
        api_fail(r, SURGE_EINTERNAL, NULL, "out of memory");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    r->response = resp;
}

/* ---------------------------------------------------------------- audit search, reports */

/* A query time argument (RFC 3339 or epoch ms), or def when absent. -1 after writing a 400. */
static int query_time(api_request *r, const char *name, int64_t def, int64_t *out)
{
    const char *v = api_query(r, name);
    if (!v) {
        *out = def;
        return 0;
    }
    if (time_parse(v, out)) {
        api_fail(r, SURGE_EINVAL, name,
                 "'%s' must be RFC 3339 (2026-01-11T10:00:00Z) or epoch "
                 "milliseconds",
                 name);
        return -1;
    }
    return 0;
}

static int query_int(api_request *r, const char *name, long def, long min, long max, long *out)
{
    const char *v = api_query(r, name);
    if (!v) {
        *out = def;
        return 0;
    }
    /* digits only: no sign, blanks or fraction that strtol would let through */
    size_t n = strlen(v);
    bool digits = n > 0 && n <= 18;
    for (size_t i = 0; i < n && digits; i++)
        digits = v[i] >= '0' && v[i] <= '9';
    long x = digits ? strtol(v, NULL, 10) : -1;
    if (!digits || x < min || x > max) {
        api_fail(r, SURGE_EINVAL, name, "'%s' must be an integer %ld..%ld", name, min, max);
        return -1;
    }
    *out = x;
    return 0;
}

/* Kinds of query text, each checked as docs/openapi.yaml documents it. */
typedef enum query_kind { Q_HEX32, Q_REGION, Q_PRODUCT } query_kind;

/* A query text argument ("" when absent). -1 after writing a 422 naming the rule. */
static int query_text(api_request *r, const char *name, query_kind kind, char *out, size_t size)
{
    const char *v = api_query(r, name);
    out[0] = 0;
    if (!v) return 0;
    size_t n = strlen(v);
    bool ok = n > 0 && n < size;
    for (size_t i = 0; i < n && ok; i++) {
        char c = v[i];
        if (kind == Q_HEX32)
            ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        else if (kind == Q_PRODUCT)
            ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    if (ok && kind == Q_HEX32) ok = n == 32;
    if (ok && kind == Q_REGION) ok = n <= GEOHASH_MAX && geohash_valid(v);
    if (!ok) {
        api_fail(r, SURGE_EINVAL, name, "%s",
                 kind == Q_HEX32    ? "must be 32 lower-case hex characters"
                 : kind == Q_REGION ? "must be a geohash region id (1-12 characters of "
                                      "0-9 b-h j k m n p-z)"
                                    : "must be 1-31 characters of a-z 0-9 _ -");
        return -1;
    }
    memcpy(out, v, n + 1);
    return 0;
}

static void put_time(buf *o, int64_t ms)
{
    char ts[40];
    time_format_rfc3339(ms, ts, sizeof ts);
    json_put_string(o, ts);
}

void handle_portal_audit_search(api_request *r)
{
    char request_id[40], trace_id[40], region_id[STORE_REGION_ID_MAX],
        product_type[STORE_PRODUCT_MAX];
    if (query_text(r, "request_id", Q_HEX32, request_id, sizeof request_id) ||
        query_text(r, "trace_id", Q_HEX32, trace_id, sizeof trace_id) ||
        query_text(r, "region_id", Q_REGION, region_id, sizeof region_id) ||
        query_text(r, "product_type", Q_PRODUCT, product_type, sizeof product_type))
        return;
    /* an id names one decision whenever it was made; otherwise the last hour by default */
    bool by_id = request_id[0] || trace_id[0];
    int64_t from, to;
    long limit;
    if (query_time(r, "from", by_id ? 0 : r->now_ms - 3600000, &from) ||
        query_time(r, "to", r->now_ms + 60000, &to) ||
        query_int(r, "limit", 100, 1, STORE_AUDIT_SEARCH_MAX, &limit))
        return;
    store_audit_filter f = {request_id, trace_id, region_id, product_type, from, to, (int)limit};
    store_audit_row *rows = NULL;
    size_t n = 0;
    surge_error err;
    /* decisions still queued for the audit writer are found too */
    pricing_engine_flush(r->server->engine, NULL);
    if (store_audit_search(r->server->db, &f, &rows, &n, &err)) {
        api_error(r, &err);
        return;
    }
    buf *o = &r->out;
    buf_puts(o, "{\"from\":");
    put_time(o, from);
    buf_puts(o, ",\"to\":");
    put_time(o, to);
    buf_puts(o, ",\"limit\":");
    json_put_int(o, limit);
    buf_puts(o, ",\"count\":");
    json_put_int(o, (int64_t)n);
    buf_puts(o, ",\"decisions\":[");
    for (size_t i = 0; i < n; i++) {
        const store_audit_row *a = &rows[i];
        if (i) buf_putc(o, ',');
        buf_puts(o, "{\"request_id\":");
        json_put_string(o, a->request_id);
        buf_puts(o, ",\"trace_id\":");
        json_put_string(o, a->trace_id);
        buf_puts(o, ",\"timestamp\":");
        put_time(o, a->ts_ms);
        buf_puts(o, ",\"region_id\":");
        json_put_string(o, a->region_id);
        buf_puts(o, ",\"product_type\":");
        json_put_string(o, a->product_type);
        buf_puts(o, ",\"user_id\":");
        json_put_string(o, a->user_id);
        buf_puts(o, ",\"price\":");
        json_put_fixed(o, a->price_cents, 2);
        buf_puts(o, ",\"base_price\":");
        json_put_fixed(o, a->base_price_cents, 2);
        buf_puts(o, ",\"surge_multiplier\":");
        json_put_double(o, a->surge_multiplier);
        buf_puts(o, ",\"demand_score\":");
        json_put_double(o, a->demand_score);
        buf_puts(o, ",\"confidence\":");
        json_put_double(o, a->confidence);
        buf_puts(o, ",\"model_version\":");
        json_put_string(o, a->model_version);
        buf_puts(o, ",\"rule_id\":");
        json_put_int(o, a->rule_id);
        buf_puts(o, ",\"cached\":");
        json_put_bool(o, a->cached);
        /* the JSON columns are written by pricing's own writer: valid JSON or NULL */
        buf_puts(o, ",\"factors\":");
        buf_puts(o, a->factors_json && *a->factors_json ? a->factors_json : "null");
        buf_puts(o, ",\"guardrails\":");
        buf_puts(o, a->guardrails_json && *a->guardrails_json ? a->guardrails_json : "null");
        buf_putc(o, '}');
        store_audit_row_clear(&rows[i]);
    }
    buf_puts(o, "]}");
    free(rows);
}

static void write_report_rows(buf *o, const store_report_row *rows, size_t n, bool by_hour)
{
    for (size_t i = 0; i < n; i++) {
        const store_report_row *x = &rows[i];
        if (i) buf_putc(o, ',');
        if (by_hour) {
            buf_puts(o, "{\"hour\":");
            put_time(o, x->hour_ms);
        } else {
            buf_puts(o, "{\"region_id\":");
            json_put_string(o, x->region_id);
        }
        buf_puts(o, ",\"decisions\":");
        json_put_int(o, x->decisions);
        buf_puts(o, ",\"revenue\":");
        json_put_fixed(o, x->revenue_cents, 2);
        buf_puts(o, ",\"avg_surge\":");
        json_put_double(o, x->avg_surge);
        buf_puts(o, ",\"max_surge\":");
        json_put_double(o, x->max_surge);
        buf_puts(o, ",\"surge_distribution\":[");
        for (int k = 0; k < STORE_SURGE_BUCKETS; k++) {
            if (k) buf_putc(o, ',');
            json_put_int(o, x->surge_buckets[k]);
        }
        buf_puts(o, "]}");
    }
}

void handle_portal_reports(api_request *r)
{
    char region_id[STORE_REGION_ID_MAX];
    int64_t from, to;
    if (query_text(r, "region_id", Q_REGION, region_id, sizeof region_id) ||
        query_time(r, "from", r->now_ms - 24 * 3600000LL, &from) ||
        query_time(r, "to", r->now_ms + 60000, &to))
        return;
    pricing_engine_flush(r->server->engine, NULL);
    store_report_row *hours = NULL, *regions = NULL;
    size_t nh = 0, nr = 0;
    surge_error err;
    if (store_audit_report(r->server->db, STORE_REPORT_BY_HOUR, from, to, region_id, &hours, &nh,
                           &err) ||
        store_audit_report(r->server->db, STORE_REPORT_BY_REGION, from, to, region_id, &regions,
                           &nr, &err)) {
        free(hours);
        api_error(r, &err);
        return;
    }
    buf *o = &r->out;
    buf_puts(o, "{\"from\":");
    put_time(o, from);
    buf_puts(o, ",\"to\":");
    put_time(o, to);
    buf_puts(o, ",\"region_id\":");
    if (region_id[0])
        json_put_string(o, region_id);
    else
        buf_puts(o, "null");
    buf_puts(o, ",\"surge_buckets\":[\"1-1.25\",\"1.25-1.5\",\"1.5-2\",\"2-2.5\",\"2.5-3\","
                "\"3+\"],\"by_hour\":[");
    write_report_rows(o, hours, nh, true);
    buf_puts(o, "],\"by_region\":[");
    write_report_rows(o, regions, nr, false);
    buf_puts(o, "]}");
    free(hours);
    free(regions);
}

void handle_portal_actions(api_request *r)
{
    long limit, before;
    if (query_int(r, "limit", 100, 1, 1000, &limit) ||
        query_int(r, "before", 0, 0, 0x7fffffffffffffffL, &before))
        return;
    store_admin_action *list = NULL;
    size_t n = 0;
    surge_error err;
    if (store_admin_action_list(r->server->db, before, (int)limit, &list, &n, &err)) {
        api_error(r, &err);
        return;
    }
    buf *o = &r->out;
    buf_puts(o, "{\"actions\":[");
    for (size_t i = 0; i < n; i++) {
        const store_admin_action *a = &list[i];
        if (i) buf_putc(o, ',');
        buf_puts(o, "{\"action_id\":");
        json_put_int(o, a->action_id);
        buf_puts(o, ",\"timestamp\":");
        put_time(o, a->ts_ms);
        buf_puts(o, ",\"actor\":");
        json_put_string(o, a->actor);
        buf_puts(o, ",\"role\":");
        json_put_string(o, a->role);
        buf_puts(o, ",\"method\":");
        json_put_string(o, a->method);
        buf_puts(o, ",\"path\":");
        json_put_string(o, a->path);
        buf_puts(o, ",\"status\":");
        json_put_int(o, a->status);
        buf_puts(o, ",\"trace_id\":");
        json_put_string(o, a->trace_id);
        buf_puts(o, ",\"client_ip\":");
        json_put_string(o, a->client_ip);
        buf_puts(o, ",\"detail\":");
        json_put_string(o, a->detail);
        buf_putc(o, '}');
    }
    buf_puts(o, "]}");
    free(list);
}

/* ---------------------------------------------------------------- life cycle */

int portal_start(api_server *s, surge_error *err)
{
    struct portal *p = calloc(1, sizeof *p);
    if (!p) return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    p->session_ttl_ms =
        s->cfg.portal_session_ttl_ms > 0 ? s->cfg.portal_session_ttl_ms : 8 * 3600000LL;
    p->live_max = s->cfg.portal_live_max_clients > 0 ? s->cfg.portal_live_max_clients : 64;
    p->compute_route = -1;
    for (int i = 0; i < API_NROUTES; i++)
        if (strcmp(API_ROUTES[i].pattern, "/api/v1/pricing/compute") == 0) p->compute_route = i;
    const char *users = s->cfg.portal_users ? s->cfg.portal_users : "";
    while (*users) {
        while (*users == ' ' || *users == ',')
            users++;
        if (!*users) break;
        size_t len = strcspn(users, ",");
        while (len && users[len - 1] == ' ')
            len--;
        if (p->nusers == USERS_MAX) {
            free(p);
            return surge_fail(err, SURGE_EINVAL, "portal.users", "at most %d users", USERS_MAX);
        }
        if (parse_user(users, len, &p->users[p->nusers], err)) {
            free(p);
            if (!err) return SURGE_EINVAL;
            /* the message names the key, as config errors do */
            char msg[sizeof err->message + 16];
            snprintf(msg, sizeof msg, "portal.users: %s", err->message);
            str_copy(err->message, sizeof err->message, msg);
            return err->code;
        }
        for (int i = 0; i < p->nusers; i++)
            if (strcmp(p->users[i].name, p->users[p->nusers].name) == 0) {
                char name[48];
                snprintf(name, sizeof name, "%s", p->users[i].name);
                free(p);
                return surge_fail(err, SURGE_EINVAL, "portal.users", "user '%s' is listed twice",
                                  name);
            }
        p->nusers++;
        users += strcspn(users, ",");
    }
    pthread_mutex_init(&p->sessions_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->published, NULL);
    s->portal = p;
    if (pthread_create(&p->producer, NULL, producer_main, s) == 0) {
        p->producer_running = true;
        pthread_setname_np(p->producer, "surge-live");
    } else {
        log_warn("portal", "cannot start the live snapshot thread: the live page stays empty");
    }
    return 0;
}

void portal_shutdown(api_server *s)
{
    struct portal *p = s ? s->portal : NULL;
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    live_client *resume = take_waiters_locked(p);
    pthread_cond_broadcast(&p->wake);
    pthread_cond_broadcast(&p->published);
    pthread_mutex_unlock(&p->lock);
    resume_all(resume); /* each then ends its stream (live_read sees stopping) */
    if (p->producer_running) {
        pthread_join(p->producer, NULL);
        p->producer_running = false;
    }
}

void portal_free(api_server *s)
{
    struct portal *p = s ? s->portal : NULL;
    if (!p) return;
    snapshot_release(p->current);
    free(p->regions);
    pthread_mutex_destroy(&p->sessions_lock);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->published);
    explicit_bzero(p, sizeof *p);
    free(p);
    s->portal = NULL;
}
