/* error.c: the one error struct every module fills, and how codes map to names and HTTP. */
#include "core.h"

#include <stdio.h>
#include <string.h>

int surge_fail(surge_error *err, surge_code code, const char *field, const char *fmt, ...)
{
    if (!err) return code;
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

const char *surge_code_name(surge_code code)
{
    switch (code) {
    case SURGE_OK: return "ok";
    case SURGE_EINVAL: return "invalid_argument";
    case SURGE_EPARSE: return "malformed";
    case SURGE_ENOTFOUND: return "not_found";
    case SURGE_ECONFLICT: return "conflict";
    case SURGE_ETOOLARGE: return "too_large";
    case SURGE_ELIMIT: return "rate_limited";
    case SURGE_EAUTH: return "unauthorized";
    case SURGE_EFORBIDDEN: return "forbidden";
    case SURGE_EIO: return "io_error";
    case SURGE_EINTERNAL: return "internal";
    case SURGE_EUNAVAILABLE: return "unavailable";
    }
    return "internal";
}

int surge_code_http_status(surge_code code)
{
    switch (code) {
    case SURGE_OK: return 200;
    case SURGE_EINVAL: return 422;
    case SURGE_EPARSE: return 400;
    case SURGE_ENOTFOUND: return 404;
    case SURGE_ECONFLICT: return 409;
    case SURGE_ETOOLARGE: return 413;
    case SURGE_ELIMIT: return 429;
    case SURGE_EAUTH: return 401;
    case SURGE_EFORBIDDEN: return 403;
    case SURGE_EIO: return 500;
    case SURGE_EINTERNAL: return 500;
    case SURGE_EUNAVAILABLE: return 503;
    }
    return 500;
}
