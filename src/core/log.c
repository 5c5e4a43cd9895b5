/* log.c: one structured line per event on stderr, written atomically. */
#include "core.h"

#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static _Atomic int current_level = LOG_INFO;

void log_set_level(log_level level)
{
    atomic_store(&current_level, (int)level);
}

log_level log_get_level(void)
{
    return (log_level)atomic_load_explicit(&current_level, memory_order_relaxed);
}

int log_parse_level(const char *s, log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_msg(log_level level, const char *component, const char *trace_id, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (level < log_get_level()) return;
    char line[2048];
    int n = time_format_rfc3339(time_now_ms(), line, sizeof line);
    n += snprintf(line + n, sizeof line - (size_t)n, " %s [%s] ", names[level], component);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : n + m;
    if (n > (int)sizeof line - 80) n = (int)sizeof line - 80;
    if (trace_id && *trace_id)
        n += snprintf(line + n, sizeof line - (size_t)n, " trace_id=%s", trace_id);
    line[n++] = '\n';
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
        if (w <= 0) break; /* nowhere left to report a failing stderr */
        off += w;
    }
}
