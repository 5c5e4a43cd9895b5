/* log.c: the `log://DIR` bus backend, surge's own append-only log. Each partition is a
 * directory of segments (DIR/<topic>/<partition>/<base offset>.log + .index); the batch format
 * is in log_format.h and docs/log-format.md. This file holds the policy: appends with group
 * commit, segment rolls, reads, the time index, retention, committed offsets, and the recovery
 * that runs on open (a torn tail is cut; corruption followed by valid data is reported, never
 * skipped or cut).
 *
 * Locking. Each partition has two mutexes. `lock` guards its segment list, the active segment's
 * files and its end; producers hold it only for the write itself (encoding, compression and the
 * CRC happen before). `sync_lock` guards the group commit state: one thread at a time runs
 * fdatasync and every producer whose batch it covers returns without its own. No thread ever
 * holds both. Readers (consumers, offset_for_time, verify) copy what they need under `lock` and
 * read the files through their own descriptors, so retention may unlink a segment under them.
 *
 * Read-only mode (cfg->read_only, for `surge log` beside a live server) sees the log as it was
 * at open: it takes no lock, creates and writes nothing, and treats bytes after the last
 * complete batch as a write in progress rather than a tail to cut. */
#include "bus_backend.h"
#include "log_format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COMPONENT "bus"
#define DIR_MAX (PATH_MAX - 64) /* room for "/<topic>/<partition>/<20 digits>.index" */

/* A segment: the batches of offsets [base_offset, end_offset) in <base_offset>.log. */
typedef struct log_segment {
    int64_t base_offset;
    int64_t end_offset;            /* the offset after its last batch */
    int64_t size;                  /* bytes of the .log file readers may read */
    int64_t max_timestamp;         /* the largest record timestamp, -1 when empty */
    int64_t index_entries;         /* entries written to the .index file */
    int64_t last_indexed_position; /* position of the last indexed batch; 0 at first */
    bool index_broken;             /* an index write failed: no more entries this run */
} log_segment;

typedef struct log_bus log_bus;

typedef struct log_partition {
    log_bus *lb;
    bus_topic topic;
    int partition;
    char dir[PATH_MAX];

    pthread_mutex_t lock;  /* guards the fields up to sync_lock */
    log_segment *segments; /* oldest first; the last one is active (appended to) */
    size_t nsegments, segments_cap;
    int log_fd, index_fd; /* the active segment's files */
    bool failed;          /* an I/O error left the partition unwritable until reopened */
    char failure[200];

    pthread_mutex_t sync_lock; /* guards the group commit fields below */
    pthread_cond_t sync_cond;
    int64_t synced_end; /* every offset below is on disk */
    bool syncing;       /* a thread is in fdatasync for this partition */
    /* The partition's directory, its first segment or its parents were created at open and
     * their entries are not fsynced yet: the first sync does it, so partitions never written
     * cost nothing. Read and cleared only by the thread that set syncing. */
    bool dirs_unsynced;
} log_partition;

/* A consumer group's committed offsets; -1 where it never committed. */
typedef struct log_group {
    char name[104];
    int64_t offsets[BUS_NTOPICS][BUS_PARTITIONS];
} log_group;

struct log_bus {
    char dir[DIR_MAX];
    bus_config cfg;
    int lock_fd; /* flock'ed: one process (and one bus) per directory */
    log_partition parts[BUS_NTOPICS][BUS_PARTITIONS];
    bus_recovery_report recovery; /* written during open only */

    _Atomic uint64_t batches_written, records_written, bytes_written, fsyncs, records_read;

    pthread_mutex_t offsets_lock; /* guards groups and the offsets files */
    log_group *groups;
    size_t ngroups;

    pthread_mutex_t thread_lock; /* guards stopping; the interval fsync thread waits on cond */
    pthread_cond_t thread_cond;
    bool stopping, thread_started;
    pthread_t thread;
};

typedef struct log_consumer {
    log_bus *lb;
    log_partition *p;
    int64_t next_offset; /* the offset the next returned record must have */
    int fd;              /* the open segment, -1 when none */
    int64_t segment_base;
    char path[PATH_MAX];
    int64_t pos;    /* position of the next batch to read in the open segment */
    int64_t expect; /* the base offset the batch at pos must have (as recovery checks it) */
    bool resynced;  /* pos is a batch found after corrupt bytes: any base >= expect will do */
    log_reader reader;
    buf scratch; /* decompressed records */
    buf names;   /* the current record's header names */
    /* the batch being iterated */
    const unsigned char *rec, *rec_end;
    uint32_t rec_left;
    int64_t rec_offset, first_ts, batch_pos;
    uint64_t unreported_reads; /* records returned since the last add to records_read */
} log_consumer;

/* ---------------------------------------------------------------- files */

static int segment_path(const log_partition *p, int64_t base, const char *ext, char *out)
{
    int n = snprintf(out, PATH_MAX, "%s/%020lld.%s", p->dir, (long long)base, ext);
    return n > 0 && n < PATH_MAX ? 0 : -1;
}

/* snprintf into a fixed message buffer where cutting a long path short is acceptable. */
static void message_printf(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void message_printf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

/* pwrite all of data at pos, retrying short writes. 0, or -1 with errno. */
static int write_full(int fd, const void *data, size_t len, int64_t pos)
{
    const char *p = data;
    while (len > 0) {
        ssize_t k = pwrite(fd, p, len, (off_t)pos);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) {
            errno = EIO;
            return -1;
        }
        p += k;
        len -= (size_t)k;
        pos += k;
    }
    return 0;
}

/* pread exactly len bytes at pos. 0, or -1 with errno (EIO when the file is shorter). */
static int read_full(int fd, void *data, size_t len, int64_t pos)
{
    char *p = data;
    while (len > 0) {
        ssize_t k = pread(fd, p, len, (off_t)pos);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) {
            errno = EIO;
            return -1;
        }
        p += k;
        len -= (size_t)k;
        pos += k;
    }
    return 0;
}

static int fsync_dir(const char *dir, surge_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return surge_fail(err, SURGE_EIO, "bus", "cannot open directory %s to fsync it: %s", dir,
                          strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0)
        return surge_fail(err, SURGE_EIO, "bus", "fsync of directory %s failed: %s", dir,
                          strerror(e));
    return 0;
}

static int make_dir(const char *dir, surge_error *err)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
        return surge_fail(err, SURGE_EIO, "bus", "%s exists and is not a directory", dir);
    }
    return surge_fail(err, SURGE_EIO, "bus", "cannot create directory %s: %s", dir,
                      strerror(errno));
}

/* mkdir -p */
static int make_dirs(const char *dir, surge_error *err)
{
    char path[PATH_MAX];
    if (!str_copy(path, sizeof path, dir))
        return surge_fail(err, SURGE_EINVAL, "bus", "log directory path is too long");
    for (char *s = path + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        int rc = make_dir(path, err);
        *s = '/';
        if (rc) return rc;
    }
    return make_dir(path, err);
}

static int read_only_fail(const log_bus *lb, const char *what, surge_error *err)
{
    return surge_fail(err, SURGE_EFORBIDDEN, "bus", "cannot %s: the log at %s is open read-only",
                      what, lb->dir);
}

/* ---------------------------------------------------------------- segments */

static log_segment *active_segment(log_partition *p)
{
    return &p->segments[p->nsegments - 1];
}

static int segments_push(log_partition *p, int64_t base, surge_error *err)
{
    if (p->nsegments == p->segments_cap) {
        size_t cap = p->segments_cap ? p->segments_cap * 2 : 8;
        log_segment *s = realloc(p->segments, cap * sizeof *s);
        if (!s) return surge_fail(err, SURGE_EINTERNAL, "bus", "out of memory listing segments");
        p->segments = s;
        p->segments_cap = cap;
    }
    log_segment *s = &p->segments[p->nsegments++];
    memset(s, 0, sizeof *s);
    s->base_offset = base;
    s->end_offset = base;
    s->max_timestamp = -1;
    return 0;
}

/* The segment holding offset: the last one whose base is <= offset. Caller holds p->lock. */
static size_t segment_for_offset(const log_partition *p, int64_t offset)
{
    size_t lo = 0, hi = p->nsegments;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->segments[mid].base_offset <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Reads index entry i of the open index file. */
static int index_read(int fd, int64_t i, log_index_entry *e)
{
    unsigned char raw[LOG_INDEX_ENTRY_BYTES];
    if (read_full(fd, raw, sizeof raw, i * LOG_INDEX_ENTRY_BYTES) != 0) return -1;
    log_index_entry_decode(raw, e);
    return 0;
}

/* Where to start reading segment s (a copy taken under the lock) for a batch: the position of
 * the last indexed batch whose offset is <= offset (by_time false) or whose running max
 * timestamp is < ts (by_time true); 0 when there is none. An entry that does not point at a
 * batch with its offset is ignored with a warning: the caller then scans from the start. */
static int64_t index_lookup(log_partition *p, const log_segment *s, bool by_time, int64_t key,
                            log_reader *rd, int64_t *at_offset)
{
    *at_offset = s->base_offset; /* the offset of the batch at the position returned */
    if (s->index_entries == 0) return 0;
    char path[PATH_MAX];
    if (segment_path(p, s->base_offset, "index", path)) return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_warn(COMPONENT, "cannot open index %s (%s); scanning the segment from its start", path,
                 strerror(errno));
        return 0;
    }
    /* The last entry i with entry.offset <= key (or entry.max_timestamp < key). */
    int64_t lo = -1, hi = s->index_entries;
    log_index_entry found = {0, 0, 0}, e;
    bool ok = true;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (index_read(fd, mid, &e) != 0) {
            ok = false;
            break;
        }
        bool before = by_time ? e.max_timestamp < key : e.offset <= key;
        if (before) {
            lo = mid;
            found = e;
        } else {
            hi = mid;
        }
    }
    close(fd);
    if (!ok) {
        log_warn(COMPONENT, "cannot read index %s; scanning the segment from its start", path);
        return 0;
    }
    if (lo < 0) return 0;
    log_batch_header h;
    const unsigned char *batch;
    char why[160];
    if (found.position <= 0 || found.position >= s->size ||
        log_reader_batch(rd, found.position, s->size, false, &h, &batch, why, sizeof why) !=
            LOG_READ_OK ||
        h.base_offset != found.offset) {
        log_warn(COMPONENT,
                 "index %s entry %lld (offset %lld, position %lld) does not point at its batch; "
                 "scanning the segment from its start (the index is rebuilt at the next open)",
                 path, (long long)lo, (long long)found.offset, (long long)found.position);
        return 0;
    }
    *at_offset = found.offset;
    return found.position;
}

/* ---------------------------------------------------------------- recovery on open */

/* The base offset of the batch log_reader_resync found at pos (-1 if it cannot be re-read). */
static int64_t resync_offset(log_reader *rd, int64_t pos, int64_t limit)
{
    log_batch_header h;
    const unsigned char *batch;
    char why[160];
    if (log_reader_batch(rd, pos, limit, false, &h, &batch, why, sizeof why) != LOG_READ_OK)
        return -1;
    return h.base_offset;
}

typedef struct added_entries {
    log_index_entry *items;
    size_t n, cap;
} added_entries;

static void added_push(added_entries *a, const log_index_entry *e)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        log_index_entry *items = realloc(a->items, cap * sizeof *items);
        if (!items) {
            fputs("surge: out of memory\n", stderr);
            abort();
        }
        a->items = items;
        a->cap = cap;
    }
    a->items[a->n++] = *e;
}

/* Opens segment s of partition p and checks it: from its last index entry (when that entry
 * points at an intact batch) or else from the start, every batch's header, CRC and offset. On
 * the way it re-adds index entries the rule asks for (a missing or damaged index is rebuilt).
 * Corruption followed by a valid batch is logged and left in place (consumers stop at it,
 * bus_verify reports it). Bad bytes with nothing valid after them are a torn tail: the last
 * segment (is_last) is truncated there, a closed segment is only reported. For the last segment
 * the files stay open as p->log_fd and p->index_fd. */
static int segment_open(log_partition *p, log_segment *s, bool is_last, surge_error *err)
{
    log_bus *lb = p->lb;
    char log_path[PATH_MAX], index_path[PATH_MAX];
    if (segment_path(p, s->base_offset, "log", log_path) ||
        segment_path(p, s->base_offset, "index", index_path))
        return surge_fail(err, SURGE_EINVAL, "bus", "segment path under %s is too long", p->dir);
    bool read_only = lb->cfg.read_only;
    int fd = open(log_path, (is_last && !read_only ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return surge_fail(err, SURGE_EIO, "bus", "cannot open segment %s: %s", log_path,
                          strerror(errno));
    int ifd = read_only ? open(index_path, O_RDONLY | O_CLOEXEC)
                        : open(index_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (ifd < 0 && read_only && errno == ENOENT) ifd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (ifd < 0) {
        int e = errno;
        close(fd);
        return surge_fail(err, SURGE_EIO, "bus", "cannot open index %s: %s", index_path,
                          strerror(e));
    }
    int rc = 0;
    log_reader rd;
    log_reader_init(&rd, fd, log_path);
    added_entries added = {NULL, 0, 0};
    struct stat st, ist;
    if (fstat(fd, &st) != 0 || fstat(ifd, &ist) != 0) {
        rc = surge_fail(err, SURGE_EIO, "bus", "cannot stat %s: %s", log_path, strerror(errno));
        goto done;
    }
    int64_t file_size = st.st_size, index_size = ist.st_size;

    /* Where to start: the last index entry, when it points at an intact batch. */
    int64_t pos = 0, expected = s->base_offset, max_ts = -1, last_indexed = 0, keep = 0;
    int64_t entries = index_size / LOG_INDEX_ENTRY_BYTES;
    bool index_ok = index_size % LOG_INDEX_ENTRY_BYTES == 0;
    if (index_ok && entries > 0) {
        /* The newest entries may point at a torn tail (the index is written after the log but
         * not synced with it): try a few before rebuilding from the start. */
        index_ok = false;
        for (int64_t k = entries - 1; k >= 0 && k >= entries - 4 && !index_ok; k--) {
            log_index_entry e;
            log_batch_header h;
            const unsigned char *batch;
            char why[160];
            index_ok = index_read(ifd, k, &e) == 0 && e.position > 0 && e.position < file_size &&
                       e.offset >= s->base_offset &&
                       log_reader_batch(&rd, e.position, file_size, true, &h, &batch, why,
                                        sizeof why) == LOG_READ_OK &&
                       h.base_offset == e.offset && e.max_timestamp >= h.max_timestamp;
            if (index_ok) {
                pos = last_indexed = e.position;
                expected = e.offset;
                max_ts = e.max_timestamp;
                keep = k + 1;
            }
        }
    }
    if (!index_ok && !read_only)
        log_warn(COMPONENT, "index %s is damaged (%lld bytes); rebuilding it from %s", index_path,
                 (long long)index_size, log_path);

    bool resynced = false;
    while (pos < file_size) {
        log_batch_header h;
        const unsigned char *batch;
        char why[160];
        log_read_status rs =
            log_reader_batch(&rd, pos, file_size, true, &h, &batch, why, sizeof why);
        if (rs == LOG_READ_IOERR) {
            rc = surge_fail(err, SURGE_EIO, "bus", "%s: %s", log_path, why);
            goto done;
        }
        if (rs == LOG_READ_OK && h.base_offset != expected &&
            !(resynced && h.base_offset > expected)) {
            rs = LOG_READ_BAD;
            snprintf(why, sizeof why, "base offset %lld where %lld was expected",
                     (long long)h.base_offset, (long long)expected);
        }
        if (rs == LOG_READ_OK) {
            if (pos - last_indexed >= LOG_INDEX_INTERVAL) {
                log_index_entry e = {h.base_offset, pos,
                                     h.max_timestamp > max_ts ? h.max_timestamp : max_ts};
                added_push(&added, &e);
                last_indexed = pos;
            }
            if (h.max_timestamp > max_ts) max_ts = h.max_timestamp;
            pos += h.length;
            expected = h.base_offset + h.record_count;
            resynced = false;
            continue;
        }
        char rwhy[160];
        int64_t next = log_reader_resync(&rd, pos + 1, file_size, expected, rwhy, sizeof rwhy);
        if (next == -2) {
            rc = surge_fail(err, SURGE_EIO, "bus", "%s: %s", log_path, rwhy);
            goto done;
        }
        if (next >= 0) {
            log_error(COMPONENT,
                      "%s: corrupt batch at position %lld (%s); valid batches resume at position "
                      "%lld (offset %lld): left in place, consumers stop at it and bus_verify "
                      "reports it",
                      log_path, (long long)pos, why, (long long)next,
                      (long long)resync_offset(&rd, next, file_size));
            pos = next;
            resynced = true;
            continue;
        }
        if (read_only && is_last) {
            log_info(COMPONENT,
                     "read-only: %s ends with %lld bytes after its last complete batch at "
                     "position %lld (%s): a write in progress or a torn tail; not read",
                     log_path, (long long)(file_size - pos), (long long)pos, why);
            file_size = pos;
            break;
        }
        if (!is_last) {
            log_error(COMPONENT,
                      "%s: corrupt data from position %lld to the end at %lld (%s) in a closed "
                      "segment: left in place, consumers stop at it and bus_verify reports it",
                      log_path, (long long)pos, (long long)file_size, why);
            break;
        }
        /* A torn or corrupt tail: nothing valid follows, so it never was acknowledged data
         * that a later batch depends on. Cut it so appends continue after the last good batch. */
        int64_t cut = file_size - pos;
        if (ftruncate(fd, (off_t)pos) != 0 || fdatasync(fd) != 0) {
            rc = surge_fail(err, SURGE_EIO, "bus", "cannot truncate %s at position %lld: %s",
                            log_path, (long long)pos, strerror(errno));
            goto done;
        }
        log_warn(COMPONENT,
                 "recovery: cut %lld bytes of torn or corrupt tail at position %lld of %s (%s); "
                 "%s/%d now ends at offset %lld",
                 (long long)cut, (long long)pos, log_path, why, BUS_TOPIC_NAMES[p->topic],
                 p->partition, (long long)expected);
        lb->recovery.truncated_bytes += cut;
        lb->recovery.truncated_partitions++;
        file_size = pos;
        break;
    }

    /* The index: keep the checked prefix, append what the scan added, cut anything after. */
    if (!index_ok) keep = 0;
    if (read_only) {
        /* Only what is on disk can be looked up; the scan's additions are dropped. */
        added.n = 0;
        index_size = keep * LOG_INDEX_ENTRY_BYTES;
    }
    int64_t want_size = (keep + (int64_t)added.n) * LOG_INDEX_ENTRY_BYTES;
    for (size_t i = 0; i < added.n && rc == 0; i++) {
        unsigned char raw[LOG_INDEX_ENTRY_BYTES];
        log_index_entry_encode(&added.items[i], raw);
        if (write_full(ifd, raw, sizeof raw, (keep + (int64_t)i) * LOG_INDEX_ENTRY_BYTES) != 0)
            rc = surge_fail(err, SURGE_EIO, "bus", "cannot write index %s: %s", index_path,
                            strerror(errno));
    }
    if (rc == 0 && index_size != want_size && ftruncate(ifd, (off_t)want_size) != 0)
        rc = surge_fail(err, SURGE_EIO, "bus", "cannot truncate index %s: %s", index_path,
                        strerror(errno));
    if (rc) goto done;

    s->end_offset = expected;
    s->size = file_size;
    s->max_timestamp = max_ts;
    s->index_entries = keep + (int64_t)added.n;
    s->last_indexed_position = last_indexed;
done:
    free(added.items);
    log_reader_free(&rd);
    if (rc == 0 && is_last && !read_only) {
        p->log_fd = fd;
        p->index_fd = ifd;
    } else {
        close(fd);
        close(ifd);
    }
    return rc;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* True when name is <20 digits>.log; *base is its number. */
static bool segment_name(const char *name, int64_t *base)
{
    if (strlen(name) != 24 || strcmp(name + 20, ".log") != 0) return false;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') return false;
        if (v > (INT64_MAX - (name[i] - '0')) / 10) return false;
        v = v * 10 + (name[i] - '0');
    }
    *base = v;
    return true;
}

/* Creates the files of a new empty segment at base. */
static int segment_create(log_partition *p, int64_t base, int *log_fd, int *index_fd,
                          surge_error *err)
{
    char log_path[PATH_MAX], index_path[PATH_MAX];
    if (segment_path(p, base, "log", log_path) || segment_path(p, base, "index", index_path))
        return surge_fail(err, SURGE_EINVAL, "bus", "segment path under %s is too long", p->dir);
    int fd = open(log_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return surge_fail(err, SURGE_EIO, "bus", "cannot create segment %s: %s", log_path,
                          strerror(errno));
    int ifd = open(index_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (ifd < 0) {
        int e = errno;
        close(fd);
        unlink(log_path);
        return surge_fail(err, SURGE_EIO, "bus", "cannot create index %s: %s", index_path,
                          strerror(e));
    }
    *log_fd = fd;
    *index_fd = ifd;
    return 0;
}

static void partition_free(log_partition *p)
{
    if (p->log_fd >= 0) close(p->log_fd);
    if (p->index_fd >= 0) close(p->index_fd);
    p->log_fd = p->index_fd = -1;
    free(p->segments);
    p->segments = NULL;
    p->nsegments = p->segments_cap = 0;
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->sync_lock);
    pthread_cond_destroy(&p->sync_cond);
}

/* Lists, checks and recovers one partition's segments (creating the first when there is none). */
static int partition_open(log_bus *lb, log_partition *p, bus_topic topic, int partition,
                          surge_error *err)
{
    p->lb = lb;
    p->topic = topic;
    p->partition = partition;
    p->log_fd = p->index_fd = -1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->sync_lock, NULL);
    pthread_cond_init(&p->sync_cond, NULL);
    char topic_dir[PATH_MAX];
    int n1 = snprintf(topic_dir, sizeof topic_dir, "%s/%s", lb->dir, BUS_TOPIC_NAMES[topic]);
    int n2 = snprintf(p->dir, sizeof p->dir, "%s/%d", topic_dir, partition);
    if (n1 < 0 || n1 >= (int)sizeof topic_dir || n2 < 0 || n2 >= (int)sizeof p->dir)
        return surge_fail(err, SURGE_EINVAL, "bus", "log directory path is too long");
    int rc = 0;
    DIR *d = opendir(p->dir);
    if (!d && errno == ENOENT) {
        if (lb->cfg.read_only) return segments_push(p, 0, err);
        if ((rc = make_dir(topic_dir, err)) || (rc = make_dir(p->dir, err))) return rc;
        d = opendir(p->dir);
    }
    if (!d) return surge_fail(err, SURGE_EIO, "bus", "cannot list %s: %s", p->dir, strerror(errno));
    int64_t *bases = NULL;
    size_t nbases = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t base;
        if (!segment_name(de->d_name, &base)) continue;
        if (nbases == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *grown = realloc(bases, cap * sizeof *grown);
            if (!grown) {
                free(bases);
                closedir(d);
                return surge_fail(err, SURGE_EINTERNAL, "bus", "out of memory listing %s", p->dir);
            }
            bases = grown;
        }
        bases[nbases++] = base;
    }
    closedir(d);
    if (nbases) qsort(bases, nbases, sizeof *bases, compare_i64);

    if (nbases == 0) {
        rc = segments_push(p, 0, err);
        if (rc == 0 && !lb->cfg.read_only) {
            rc = segment_create(p, 0, &p->log_fd, &p->index_fd, err);
            p->dirs_unsynced = true;
        }
        free(bases);
        return rc;
    }
    for (size_t i = 0; i < nbases && rc == 0; i++) {
        rc = segments_push(p, bases[i], err);
        if (rc == 0) rc = segment_open(p, &p->segments[i], i + 1 == nbases, err);
    }
    free(bases);
    if (rc) return rc;
    for (size_t i = 0; i + 1 < p->nsegments; i++) {
        const log_segment *a = &p->segments[i], *b = &p->segments[i + 1];
        if (a->end_offset != b->base_offset)
            log_error(COMPONENT,
                      "%s: segment %020lld ends at offset %lld but the next one starts at %lld: "
                      "consumers stop there and bus_verify reports it",
                      p->dir, (long long)a->base_offset, (long long)a->end_offset,
                      (long long)b->base_offset);
    }
    for (size_t i = 0; i < p->nsegments; i++)
        lb->recovery.recovered_records += p->segments[i].end_offset - p->segments[i].base_offset;
    return 0;
}

/* ---------------------------------------------------------------- committed offsets */

static int group_file(const log_bus *lb, const char *group, const char *suffix, char *out)
{
    int n = snprintf(out, PATH_MAX, "%s/offsets/%s%s", lb->dir, group, suffix);
    return n > 0 && n < PATH_MAX ? 0 : -1;
}

static log_group *group_find(log_bus *lb, const char *name)
{
    for (size_t i = 0; i < lb->ngroups; i++)
        if (strcmp(lb->groups[i].name, name) == 0) return &lb->groups[i];
    return NULL;
}

static log_group *group_add(log_bus *lb, const char *name)
{
    log_group *g = realloc(lb->groups, (lb->ngroups + 1) * sizeof *g);
    if (!g) return NULL;
    lb->groups = g;
    g = &lb->groups[lb->ngroups++];
    str_copy(g->name, sizeof g->name, name);
    for (int t = 0; t < BUS_NTOPICS; t++)
        for (int i = 0; i < BUS_PARTITIONS; i++)
            g->offsets[t][i] = -1;
    return g;
}

/* Parses one offsets file: "# comment" lines and "<topic> <partition> <offset>" lines. */
static int group_load(log_bus *lb, const char *name, surge_error *err)
{
    char path[PATH_MAX];
    if (group_file(lb, name, "", path))
        return surge_fail(err, SURGE_EINVAL, "bus", "offsets path too long");
    FILE *f = fopen(path, "re");
    if (!f) return surge_fail(err, SURGE_EIO, "bus", "cannot open %s: %s", path, strerror(errno));
    log_group *g = group_add(lb, name);
    if (!g) {
        fclose(f);
        return surge_fail(err, SURGE_EINTERNAL, "bus", "out of memory loading %s", path);
    }
    char line[256];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') continue;
        char topic[64], extra[2];
        int partition;
        long long offset;
        int t = -1;
        if (sscanf(line, "%63s %d %lld %1s", topic, &partition, &offset, extra) != 3 ||
            (t = bus_topic_from_name(topic)) < 0 || partition < 0 || partition >= BUS_PARTITIONS ||
            offset < 0)
            rc = surge_fail(err, SURGE_EPARSE, "bus",
                            "%s:%d: expected \"<topic> <partition 0..%d> <offset >= 0>\"", path,
                            lineno, BUS_PARTITIONS - 1);
        else
            g->offsets[t][partition] = offset;
    }
    if (rc == 0 && ferror(f))
        rc = surge_fail(err, SURGE_EIO, "bus", "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    return rc;
}

static int offsets_load(log_bus *lb, surge_error *err)
{
    char dir[PATH_MAX];
    int n = snprintf(dir, sizeof dir, "%s/offsets", lb->dir);
    if (n < 0 || n >= (int)sizeof dir)
        return surge_fail(err, SURGE_EINVAL, "bus", "log directory path is too long");
    int rc = lb->cfg.read_only ? 0 : make_dir(dir, err);
    if (rc) return rc;
    DIR *d = opendir(dir);
    if (!d && lb->cfg.read_only && errno == ENOENT) return 0;
    if (!d) return surge_fail(err, SURGE_EIO, "bus", "cannot list %s: %s", dir, strerror(errno));
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        if (name[0] == '.' || len > 100) continue;
        if (len > 4 && strcmp(name + len - 4, ".tmp") == 0) continue; /* an unfinished commit */
        rc = group_load(lb, name, err);
    }
    closedir(d);
    return rc;
}

/* Writes a group's offsets file atomically: temp file, fsync, rename, fsync the directory. */
static int group_store(log_bus *lb, const log_group *g, surge_error *err)
{
    char path[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
    int n = snprintf(dir, sizeof dir, "%s/offsets", lb->dir);
    if (group_file(lb, g->name, "", path) || group_file(lb, g->name, ".tmp", tmp) || n < 0 ||
        n >= (int)sizeof dir)
        return surge_fail(err, SURGE_EINVAL, "bus", "offsets path too long");
    buf text;
    buf_init(&text);
    buf_printf(&text, "# surge committed offsets of group %s: topic partition next-offset\n",
               g->name);
    for (int t = 0; t < BUS_NTOPICS; t++)
        for (int i = 0; i < BUS_PARTITIONS; i++)
            if (g->offsets[t][i] >= 0)
                buf_printf(&text, "%s %d %lld\n", BUS_TOPIC_NAMES[t], i,
                           (long long)g->offsets[t][i]);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = surge_fail(err, SURGE_EIO, "bus", "cannot create %s: %s", tmp, strerror(errno));
    } else {
        if (write_full(fd, text.data, text.len, 0) != 0 || fsync(fd) != 0)
            rc = surge_fail(err, SURGE_EIO, "bus", "cannot write %s: %s", tmp, strerror(errno));
        if (close(fd) != 0 && rc == 0)
            rc = surge_fail(err, SURGE_EIO, "bus", "cannot write %s: %s", tmp, strerror(errno));
        if (rc == 0 && rename(tmp, path) != 0)
            rc = surge_fail(err, SURGE_EIO, "bus", "cannot rename %s to %s: %s", tmp, path,
                            strerror(errno));
        if (rc == 0) rc = fsync_dir(dir, err);
        if (rc) unlink(tmp);
    }
    buf_free(&text);
    return rc;
}

static int log_commit(void *impl, const char *group, bus_topic topic, int partition, int64_t offset,
                      surge_error *err)
{
    log_bus *lb = impl;
    if (lb->cfg.read_only) return read_only_fail(lb, "commit offsets", err);
    pthread_mutex_lock(&lb->offsets_lock);
    int rc = 0;
    log_group *g = group_find(lb, group);
    bool added = false;
    if (!g) {
        g = group_add(lb, group);
        added = true;
    }
    if (!g) {
        rc = surge_fail(err, SURGE_EINTERNAL, "bus", "out of memory committing for %s", group);
    } else {
        int64_t before = g->offsets[topic][partition];
        g->offsets[topic][partition] = offset;
        rc = group_store(lb, g, err);
        if (rc) {
            g->offsets[topic][partition] = before;
            if (added) lb->ngroups--;
        }
    }
    pthread_mutex_unlock(&lb->offsets_lock);
    return rc;
}

static int log_committed(void *impl, const char *group, bus_topic topic, int partition,
                         int64_t *offset, surge_error *err)
{
    log_bus *lb = impl;
    pthread_mutex_lock(&lb->offsets_lock);
    log_group *g = group_find(lb, group);
    int64_t v = g ? g->offsets[topic][partition] : -1;
    pthread_mutex_unlock(&lb->offsets_lock);
    if (v < 0)
        return surge_fail(err, SURGE_ENOTFOUND, "group",
                          "group \"%s\" has no committed offset on %s/%d", group,
                          BUS_TOPIC_NAMES[topic], partition);
    *offset = v;
    return 0;
}

/* ---------------------------------------------------------------- durability */

static void partition_fail(log_partition *p, const char *what)
{
    pthread_mutex_lock(&p->lock);
    if (!p->failed) {
        p->failed = true;
        str_copy(p->failure, sizeof p->failure, what);
        log_error(COMPONENT, "%s/%d is unwritable until the bus is reopened: %s",
                  BUS_TOPIC_NAMES[p->topic], p->partition, what);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Returns once every offset below target is on disk. One thread at a time runs fdatasync on
 * the active segment (rolls sync the segments they close), covering everything written when it
 * started; a thread whose target that covers just waits for it and issues none of its own. */
static int partition_sync(log_partition *p, int64_t target, surge_error *err)
{
    log_bus *lb = p->lb;
    pthread_mutex_lock(&p->sync_lock);
    while (p->synced_end < target) {
        if (p->syncing) {
            pthread_cond_wait(&p->sync_cond, &p->sync_lock);
            continue;
        }
        p->syncing = true;
        pthread_mutex_unlock(&p->sync_lock);

        pthread_mutex_lock(&p->lock);
        bool failed = p->failed;
        char failure[sizeof p->failure];
        str_copy(failure, sizeof failure, p->failure);
        int64_t upto = active_segment(p)->end_offset;
        /* A copy of the descriptor: a roll may close the original while we sync. */
        int fd = failed ? -1 : dup(p->log_fd);
        int dup_errno = errno;
        char path[PATH_MAX];
        if (segment_path(p, active_segment(p)->base_offset, "log", path))
            str_copy(path, sizeof path, p->dir);
        pthread_mutex_unlock(&p->lock);

        int rc = 0, e = 0;
        char what[256] = "";
        if (failed) {
            rc = -1;
        } else if (fd < 0) {
            rc = -1;
            e = dup_errno;
        } else {
            rc = fdatasync(fd);
            e = errno;
            close(fd);
            atomic_fetch_add_explicit(&lb->fsyncs, 1, memory_order_relaxed);
        }
        if (rc == 0 && p->dirs_unsynced) {
            surge_error derr;
            char topic_dir[PATH_MAX];
            message_printf(topic_dir, sizeof topic_dir, "%s/%s", lb->dir,
                           BUS_TOPIC_NAMES[p->topic]);
            if (fsync_dir(p->dir, &derr) || fsync_dir(topic_dir, &derr) ||
                fsync_dir(lb->dir, &derr)) {
                rc = -1;
                str_copy(what, sizeof what, derr.message);
                partition_fail(p, what);
            } else {
                p->dirs_unsynced = false;
            }
        }
        if (rc != 0 && !failed && !what[0]) {
            message_printf(what, sizeof what, "fdatasync of %s failed: %s", path, strerror(e));
            partition_fail(p, what);
        }
        pthread_mutex_lock(&p->sync_lock);
        p->syncing = false;
        if (rc == 0 && upto > p->synced_end) p->synced_end = upto;
        pthread_cond_broadcast(&p->sync_cond);
        if (rc != 0) {
            pthread_mutex_unlock(&p->sync_lock);
            return surge_fail(err, SURGE_EIO, "bus", "%s", failed ? failure : what);
        }
    }
    pthread_mutex_unlock(&p->sync_lock);
    return 0;
}

/* Closes the active segment (durably) and starts a new one at its end. Caller holds p->lock. */
static int partition_roll(log_partition *p, surge_error *err)
{
    log_segment *s = active_segment(p);
    char path[PATH_MAX];
    if (segment_path(p, s->base_offset, "log", path)) str_copy(path, sizeof path, p->dir);
    if (fdatasync(p->log_fd) != 0) {
        char what[256];
        message_printf(what, sizeof what, "fdatasync of %s failed: %s", path, strerror(errno));
        p->failed = true;
        str_copy(p->failure, sizeof p->failure, what);
        log_error(COMPONENT, "%s/%d is unwritable until the bus is reopened: %s",
                  BUS_TOPIC_NAMES[p->topic], p->partition, what);
        return surge_fail(err, SURGE_EIO, "bus", "%s", what);
    }
    atomic_fetch_add_explicit(&p->lb->fsyncs, 1, memory_order_relaxed);
    if (fdatasync(p->index_fd) != 0)
        log_warn(COMPONENT, "fdatasync of the index of %s failed (%s); it is rebuilt if damaged",
                 path, strerror(errno));
    int64_t base = s->end_offset;
    int log_fd, index_fd;
    int rc = segment_create(p, base, &log_fd, &index_fd, err);
    if (rc) return rc;
    rc = fsync_dir(p->dir, err);
    if (rc == 0) rc = segments_push(p, base, err);
    if (rc) {
        char log_path[PATH_MAX], index_path[PATH_MAX];
        close(log_fd);
        close(index_fd);
        if (segment_path(p, base, "log", log_path) == 0) unlink(log_path);
        if (segment_path(p, base, "index", index_path) == 0) unlink(index_path);
        return rc;
    }
    close(p->log_fd);
    close(p->index_fd);
    p->log_fd = log_fd;
    p->index_fd = index_fd;
    return 0;
}

/* Appends one batch (written, not yet synced); *end is the partition's end offset after it. */
static int log_append(log_bus *lb, bus_topic topic, int partition, const bus_record *records,
                      size_t n, int64_t *base_offset, int64_t *end_out, surge_error *err)
{
    log_partition *p = &lb->parts[topic][partition];
    if (lb->cfg.read_only) return read_only_fail(lb, "produce", err);
    log_batch batch;
    int rc = log_batch_encode(records, n, time_now_ms(), lb->cfg.compress, &batch, err);
    if (rc) return rc;

    pthread_mutex_lock(&p->lock);
    log_segment *s = active_segment(p);
    if (p->failed) {
        rc = surge_fail(err, SURGE_EIO, "bus", "%s/%d is unwritable after an earlier error: %s",
                        BUS_TOPIC_NAMES[topic], partition, p->failure);
        goto unlock;
    }
    if (s->size > 0 && s->size + (int64_t)batch.len > lb->cfg.segment_bytes) {
        if ((rc = partition_roll(p, err))) goto unlock;
        s = active_segment(p);
    }
    int64_t base = s->end_offset, pos = s->size;
    log_batch_seal(&batch, base);
    if (write_full(p->log_fd, batch.data, batch.len, pos) != 0) {
        int e = errno;
        char path[PATH_MAX];
        if (segment_path(p, s->base_offset, "log", path)) str_copy(path, sizeof path, p->dir);
        rc = surge_fail(err, SURGE_EIO, "bus",
                        "appending %zu bytes to %s at position %lld failed: %s", batch.len, path,
                        (long long)pos, strerror(e));
        /* Take back whatever part was written so the next batch starts at a batch boundary. */
        if (ftruncate(p->log_fd, (off_t)pos) != 0) {
            p->failed = true;
            message_printf(p->failure, sizeof p->failure,
                           "cannot cut a failed append off %s at position %lld: %s", path,
                           (long long)pos, strerror(errno));
            log_error(COMPONENT, "%s", p->failure);
        }
        goto unlock;
    }
    int64_t max_ts =
        batch.max_timestamp > s->max_timestamp ? batch.max_timestamp : s->max_timestamp;
    if (pos - s->last_indexed_position >= LOG_INDEX_INTERVAL && !s->index_broken) {
        unsigned char raw[LOG_INDEX_ENTRY_BYTES];
        log_index_entry e = {base, pos, max_ts};
        log_index_entry_encode(&e, raw);
        if (write_full(p->index_fd, raw, sizeof raw, s->index_entries * LOG_INDEX_ENTRY_BYTES) ==
            0) {
            s->index_entries++;
            s->last_indexed_position = pos;
        } else {
            /* Reads work without the rest of the index (they scan from the last entry), and the
             * next open rebuilds it. */
            s->index_broken = true;
            log_warn(COMPONENT,
                     "cannot write the index of %s/%d (%s); it is rebuilt at the next open",
                     BUS_TOPIC_NAMES[topic], partition, strerror(errno));
        }
    }
    s->size += (int64_t)batch.len;
    s->end_offset += batch.record_count;
    s->max_timestamp = max_ts;
    int64_t end = s->end_offset;
    pthread_mutex_unlock(&p->lock);

    atomic_fetch_add_explicit(&lb->batches_written, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lb->records_written, batch.record_count, memory_order_relaxed);
    atomic_fetch_add_explicit(&lb->bytes_written, batch.len, memory_order_relaxed);
    free(batch.data);
    if (base_offset) *base_offset = base;
    *end_out = end;
    return 0;

unlock:
    pthread_mutex_unlock(&p->lock);
    free(batch.data);
    return rc;
}

static int log_produce(void *impl, bus_topic topic, int partition, const bus_record *records,
                       size_t n, int64_t *base_offset, surge_error *err)
{
    log_bus *lb = impl;
    int64_t end;
    int rc = log_append(lb, topic, partition, records, n, base_offset, &end, err);
    if (rc || lb->cfg.fsync_interval_ms != 0) return rc;
    return partition_sync(&lb->parts[topic][partition], end, err);
}

/* From this many partitions in one produce_many, one syncfs replaces their fdatasyncs. */
#define SYNCFS_MIN_PARTITIONS 4

/* Every batch is written first, then each partition touched is synced once: with ext4's ordered
 * journal the first fdatasync commits the others' blocks too, so a request that spans many
 * partitions pays for about one sync instead of one per partition. */
static int log_produce_many(void *impl, bus_batch *batches, size_t n, surge_error *err)
{
    log_bus *lb = impl;
    int first_rc = 0;
    int64_t *ends = malloc((n ? n : 1) * sizeof *ends);
    if (!ends) return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        bus_batch *b = &batches[i];
        b->base_offset = -1;
        surge_error e;
        b->error = log_append(lb, b->topic, b->partition, b->records, b->count, &b->base_offset,
                              &ends[i], &e);
        if (b->error) {
            b->base_offset = -1;
            if (!first_rc && err) *err = e;
            if (!first_rc) first_rc = b->error;
        }
    }
    size_t written = 0;
    for (size_t i = 0; i < n; i++) written += batches[i].error == 0;
    if (lb->cfg.fsync_interval_ms == 0 && written >= SYNCFS_MIN_PARTITIONS &&
        syncfs(lb->lock_fd) == 0) {
        /* One syncfs makes every file of the log's filesystem durable: far cheaper than one
         * fdatasync per partition when a request spans many (a batch of 1000 mixed events
         * touches about 30). The partitions' synced marks move up to what was written. */
        atomic_fetch_add_explicit(&lb->fsyncs, 1, memory_order_relaxed);
        for (size_t i = 0; i < n; i++) {
            if (batches[i].error) continue;
            log_partition *p = &lb->parts[batches[i].topic][batches[i].partition];
            pthread_mutex_lock(&p->sync_lock);
            if (!p->dirs_unsynced && ends[i] > p->synced_end) p->synced_end = ends[i];
            pthread_cond_broadcast(&p->sync_cond);
            pthread_mutex_unlock(&p->sync_lock);
        }
    }
    if (lb->cfg.fsync_interval_ms == 0) {
        for (size_t i = 0; i < n; i++) {
            bus_batch *b = &batches[i];
            if (b->error) continue;
            surge_error e;
            /* returns at once when the syncfs above already covered it */
            int rc = partition_sync(&lb->parts[b->topic][b->partition], ends[i], &e);
            if (rc) {
                /* written but not known to be durable: reported as not written */
                b->error = rc;
                b->base_offset = -1;
                if (!first_rc && err) *err = e;
                if (!first_rc) first_rc = rc;
            }
        }
    }
    free(ends);
    return first_rc;
}

/* Syncs every partition with writes newer than its last fdatasync. */
static void sync_dirty(log_bus *lb)
{
    for (int t = 0; t < BUS_NTOPICS; t++)
        for (int i = 0; i < BUS_PARTITIONS; i++) {
            log_partition *p = &lb->parts[t][i];
            pthread_mutex_lock(&p->lock);
            int64_t end = active_segment(p)->end_offset;
            bool failed = p->failed;
            pthread_mutex_unlock(&p->lock);
            pthread_mutex_lock(&p->sync_lock);
            bool dirty = end > p->synced_end;
            pthread_mutex_unlock(&p->sync_lock);
            if (dirty && !failed) partition_sync(p, end, NULL);
        }
}

/* The fsync_interval_ms > 0 policy: produce returns after the write; this thread makes the data
 * durable every interval. */
static void *sync_thread_main(void *arg)
{
    log_bus *lb = arg;
    pthread_mutex_lock(&lb->thread_lock);
    while (!lb->stopping) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        int64_t ns = deadline.tv_nsec + (lb->cfg.fsync_interval_ms % 1000) * 1000000;
        deadline.tv_sec += (time_t)(lb->cfg.fsync_interval_ms / 1000 + ns / 1000000000);
        deadline.tv_nsec = (long)(ns % 1000000000);
        while (!lb->stopping &&
               pthread_cond_timedwait(&lb->thread_cond, &lb->thread_lock, &deadline) != ETIMEDOUT) {
        }
        if (lb->stopping) break;
        pthread_mutex_unlock(&lb->thread_lock);
        sync_dirty(lb);
        pthread_mutex_lock(&lb->thread_lock);
    }
    pthread_mutex_unlock(&lb->thread_lock);
    return NULL;
}

/* ---------------------------------------------------------------- open and close */

static void log_close(void *impl)
{
    log_bus *lb = impl;
    if (!lb) return;
    if (lb->thread_started) {
        pthread_mutex_lock(&lb->thread_lock);
        lb->stopping = true;
        pthread_cond_signal(&lb->thread_cond);
        pthread_mutex_unlock(&lb->thread_lock);
        pthread_join(lb->thread, NULL);
        sync_dirty(lb);
    }
    for (int t = 0; t < BUS_NTOPICS; t++)
        for (int i = 0; i < BUS_PARTITIONS; i++)
            if (lb->parts[t][i].lb) partition_free(&lb->parts[t][i]);
    free(lb->groups);
    pthread_mutex_destroy(&lb->offsets_lock);
    pthread_mutex_destroy(&lb->thread_lock);
    pthread_cond_destroy(&lb->thread_cond);
    if (lb->lock_fd >= 0) close(lb->lock_fd); /* releases the flock */
    free(lb);
}

/* Takes an exclusive flock on DIR/.lock for the life of the bus: one writer per directory. */
static int lock_dir(log_bus *lb, surge_error *err)
{
    char lock_path[PATH_MAX];
    int n = snprintf(lock_path, sizeof lock_path, "%s/.lock", lb->dir);
    if (n < 0 || n >= (int)sizeof lock_path)
        return surge_fail(err, SURGE_EINVAL, "bus", "log directory path is too long");
    lb->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lb->lock_fd < 0)
        return surge_fail(err, SURGE_EIO, "bus", "cannot open %s: %s", lock_path, strerror(errno));
    if (flock(lb->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return surge_fail(err, SURGE_ECONFLICT, "bus",
                              "log directory %s is already open for writing (by this or another "
                              "process)",
                              lb->dir);
        return surge_fail(err, SURGE_EIO, "bus", "cannot lock %s: %s", lock_path, strerror(errno));
    }
    return 0;
}

/* "log:///abs/dir" -> "/abs/dir"; "log://relative/dir" -> "relative/dir". */
static void *log_open(const char *url, const bus_config *cfg, surge_error *err)
{
    const char *prefix = "log://";
    size_t plen = strlen(prefix);
    if (strncmp(url, prefix, plen) != 0 || url[plen] == 0) {
        surge_fail(err, SURGE_EINVAL, "bus",
                   "bus URL \"%s\" is not log:///abs/dir or log://relative/dir", url);
        return NULL;
    }
    const char *dir = url + plen;
    if (strlen(dir) >= DIR_MAX) {
        surge_fail(err, SURGE_EINVAL, "bus", "log directory path is longer than %d bytes",
                   DIR_MAX - 1);
        return NULL;
    }
    log_bus *lb = calloc(1, sizeof *lb);
    if (!lb) {
        surge_fail(err, SURGE_EINTERNAL, "bus", "out of memory opening %s", url);
        return NULL;
    }
    str_copy(lb->dir, sizeof lb->dir, dir);
    lb->cfg = *cfg;
    lb->lock_fd = -1;
    pthread_mutex_init(&lb->offsets_lock, NULL);
    pthread_mutex_init(&lb->thread_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lb->thread_cond, &ca);
    pthread_condattr_destroy(&ca);

    if (cfg->read_only) {
        struct stat st;
        if (stat(lb->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            surge_fail(err, SURGE_ENOTFOUND, "bus", "log directory %s does not exist", lb->dir);
            goto fail;
        }
    } else if (make_dirs(lb->dir, err) || lock_dir(lb, err)) {
        goto fail;
    }
    for (int t = 0; t < BUS_NTOPICS; t++)
        for (int i = 0; i < BUS_PARTITIONS; i++)
            if (partition_open(lb, &lb->parts[t][i], (bus_topic)t, i, err)) goto fail;
    if (offsets_load(lb, err)) goto fail;
    /* Whatever the files hold now is what a crash would leave: count it as synced. */
    for (int t = 0; t < BUS_NTOPICS; t++)
        for (int i = 0; i < BUS_PARTITIONS; i++)
            lb->parts[t][i].synced_end = active_segment(&lb->parts[t][i])->end_offset;
    if (lb->recovery.truncated_partitions)
        log_warn(COMPONENT, "recovery of %s cut %lld bytes from %d partitions; %lld records intact",
                 lb->dir, (long long)lb->recovery.truncated_bytes,
                 lb->recovery.truncated_partitions, (long long)lb->recovery.recovered_records);
    if (cfg->fsync_interval_ms > 0 && !cfg->read_only) {
        int prc = pthread_create(&lb->thread, NULL, sync_thread_main, lb);
        if (prc != 0) {
            surge_fail(err, SURGE_EINTERNAL, "bus", "cannot start the fsync thread: %s",
                       strerror(prc));
            goto fail;
        }
        lb->thread_started = true;
    }
    return lb;
fail:
    log_close(lb);
    return NULL;
}

/* ---------------------------------------------------------------- offsets and time */

static int log_end_offset(void *impl, bus_topic topic, int partition, int64_t *end,
                          surge_error *err)
{
    log_partition *p = &((log_bus *)impl)->parts[topic][partition];
    pthread_mutex_lock(&p->lock);
    *end = active_segment(p)->end_offset;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static int log_start_offset(void *impl, bus_topic topic, int partition, int64_t *start,
                            surge_error *err)
{
    log_partition *p = &((log_bus *)impl)->parts[topic][partition];
    pthread_mutex_lock(&p->lock);
    *start = p->segments[0].base_offset;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static int log_offset_for_time(void *impl, bus_topic topic, int partition, int64_t ts_ms,
                               int64_t *offset, surge_error *err)
{
    log_partition *p = &((log_bus *)impl)->parts[topic][partition];
    for (int attempt = 0; attempt < 3; attempt++) {
        pthread_mutex_lock(&p->lock);
        size_t i = 0;
        while (i < p->nsegments && p->segments[i].max_timestamp < ts_ms)
            i++;
        if (i == p->nsegments) {
            *offset = active_segment(p)->end_offset;
            pthread_mutex_unlock(&p->lock);
            return 0;
        }
        log_segment s = p->segments[i];
        pthread_mutex_unlock(&p->lock);

        char path[PATH_MAX];
        if (segment_path(p, s.base_offset, "log", path))
            return surge_fail(err, SURGE_EINVAL, "bus", "segment path too long");
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) continue; /* deleted by retention meanwhile */
        if (fd < 0)
            return surge_fail(err, SURGE_EIO, "bus", "cannot open %s: %s", path, strerror(errno));
        log_reader rd;
        log_reader_init(&rd, fd, path);
        buf scratch, names;
        buf_init(&scratch);
        buf_init(&names);
        int rc = -1; /* -1: still looking */
        int64_t at_offset;
        int64_t pos = index_lookup(p, &s, true, ts_ms, &rd, &at_offset);
        while (rc < 0 && pos < s.size) {
            log_batch_header h;
            const unsigned char *batch, *raw = NULL;
            char why[160];
            if (log_reader_batch(&rd, pos, s.size, true, &h, &batch, why, sizeof why) !=
                LOG_READ_OK) {
                rc = surge_fail(err, SURGE_EIO, "bus", "corrupt batch in %s at position %lld: %s",
                                path, (long long)pos, why);
                break;
            }
            if (h.max_timestamp >= ts_ms) {
                /* The answer is in this batch: its first record at or after ts_ms. */
                const char *bad = log_batch_records(batch, &h, &scratch, &raw);
                const unsigned char *end = bad ? NULL : raw + h.raw_length;
                for (uint32_t r = 0; !bad && r < h.record_count && rc < 0; r++) {
                    bus_record rec;
                    bad = log_record_decode(&raw, end, h.first_timestamp, &rec, &names);
                    if (!bad && rec.timestamp_ms >= ts_ms) {
                        *offset = h.base_offset + r;
                        rc = 0;
                    }
                }
                if (rc < 0)
                    rc = surge_fail(
                        err, SURGE_EIO, "bus", "corrupt batch in %s at position %lld: %s", path,
                        (long long)pos, bad ? bad : "no record reaches its max timestamp");
            }
            pos += h.length;
        }
        if (rc < 0)
            rc = surge_fail(err, SURGE_EIO, "bus",
                            "%s: no batch reaches the segment's max timestamp %lld", path,
                            (long long)s.max_timestamp);
        buf_free(&scratch);
        buf_free(&names);
        log_reader_free(&rd);
        close(fd);
        return rc;
    }
    return surge_fail(err, SURGE_EUNAVAILABLE, "bus",
                      "%s/%d: segments kept being deleted during the lookup; try again",
                      BUS_TOPIC_NAMES[topic], partition);
}

/* ---------------------------------------------------------------- consumers */

static void consumer_flush_reads(log_consumer *c)
{
    if (c->unreported_reads) {
        atomic_fetch_add_explicit(&c->lb->records_read, c->unreported_reads, memory_order_relaxed);
        c->unreported_reads = 0;
    }
}

static void consumer_drop_segment(log_consumer *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->rec_left = 0;
    log_reader_free(&c->reader);
    log_reader_init(&c->reader, -1, c->path);
}

/* Read-only mode: the writer's retention deleted the segment at base, and with it every older
 * one; drop them from this snapshot. False when base is the active segment (then the file
 * missing is an error). */
static bool forget_deleted(log_partition *p, int64_t base)
{
    pthread_mutex_lock(&p->lock);
    size_t n = 0;
    while (n + 1 < p->nsegments && p->segments[n].base_offset <= base)
        n++;
    if (n) {
        memmove(&p->segments[0], &p->segments[n], (p->nsegments - n) * sizeof p->segments[0]);
        p->nsegments -= n;
    }
    pthread_mutex_unlock(&p->lock);
    return n > 0;
}

static void *log_consumer_open(void *impl, bus_topic topic, int partition, int64_t from_offset,
                               surge_error *err)
{
    log_bus *lb = impl;
    log_partition *p = &lb->parts[topic][partition];
    pthread_mutex_lock(&p->lock);
    int64_t start = p->segments[0].base_offset, end = active_segment(p)->end_offset;
    pthread_mutex_unlock(&p->lock);
    if (from_offset > end) {
        surge_fail(err, SURGE_EINVAL, "offset", "offset %lld is past the end (%lld) of %s/%d",
                   (long long)from_offset, (long long)end, BUS_TOPIC_NAMES[topic], partition);
        return NULL;
    }
    log_consumer *c = calloc(1, sizeof *c);
    if (!c) {
        surge_fail(err, SURGE_EINTERNAL, "bus", "out of memory opening a consumer");
        return NULL;
    }
    c->lb = lb;
    c->p = p;
    c->next_offset = from_offset < start ? start : from_offset;
    c->fd = -1;
    c->segment_base = -1;
    log_reader_init(&c->reader, -1, c->path);
    buf_init(&c->scratch);
    buf_init(&c->names);
    return c;
}

static int consumer_corrupt(log_consumer *c, surge_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fails a read with SURGE_EIO; the consumer stays where it is, so the next call fails the same
 * way (a corrupt batch is never skipped silently). */
static int consumer_corrupt(log_consumer *c, surge_error *err, const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    surge_fail(err, SURGE_EIO, "bus", "%s", message);
    return -SURGE_EIO;
}

static int log_consumer_next(void *handle, bus_record *out, surge_error *err)
{
    log_consumer *c = handle;
    log_partition *p = c->p;
    for (;;) {
        while (c->rec_left > 0) {
            const char *bad = log_record_decode(&c->rec, c->rec_end, c->first_ts, out, &c->names);
            if (bad)
                return consumer_corrupt(c, err,
                                        "corrupt record at offset %lld of the batch in "
                                        "%s at position %lld: %s",
                                        (long long)c->rec_offset, c->path, (long long)c->batch_pos,
                                        bad);
            int64_t offset = c->rec_offset++;
            c->rec_left--;
            if (offset < c->next_offset) continue; /* before where the consumer started */
            out->offset = offset;
            c->next_offset = offset + 1;
            c->unreported_reads++;
            return 1;
        }
        consumer_flush_reads(c);

        pthread_mutex_lock(&p->lock);
        int64_t start = p->segments[0].base_offset, end = active_segment(p)->end_offset;
        if (c->next_offset < start) {
            log_warn(COMPONENT,
                     "consumer of %s/%d: offsets %lld..%lld were deleted by retention before "
                     "they were read; continuing at %lld",
                     BUS_TOPIC_NAMES[p->topic], p->partition, (long long)c->next_offset,
                     (long long)start - 1, (long long)start);
            c->next_offset = start;
        }
        if (c->next_offset >= end) {
            pthread_mutex_unlock(&p->lock);
            return 0;
        }
        size_t i = segment_for_offset(p, c->next_offset);
        log_segment s = p->segments[i];
        bool has_next = i + 1 < p->nsegments;
        int64_t next_base = has_next ? p->segments[i + 1].base_offset : 0;
        pthread_mutex_unlock(&p->lock);

        if (c->fd < 0 || c->segment_base != s.base_offset) {
            consumer_drop_segment(c);
            if (segment_path(p, s.base_offset, "log", c->path))
                return consumer_corrupt(c, err, "segment path under %s is too long", p->dir);
            c->fd = open(c->path, O_RDONLY | O_CLOEXEC);
            if (c->fd < 0) {
                int e = errno;
                pthread_mutex_lock(&p->lock);
                bool retained = p->segments[0].base_offset <= s.base_offset;
                pthread_mutex_unlock(&p->lock);
                if (e == ENOENT && !retained) continue; /* retention deleted it: look again */
                if (e == ENOENT && c->lb->cfg.read_only && forget_deleted(p, s.base_offset))
                    continue; /* the writer's retention deleted it */
                return consumer_corrupt(c, err, "cannot open %s: %s", c->path, strerror(e));
            }
            c->segment_base = s.base_offset;
            log_reader_init(&c->reader, c->fd, c->path);
            c->pos = index_lookup(p, &s, false, c->next_offset, &c->reader, &c->expect);
            c->resynced = false;
        }
        if (c->pos >= s.size) {
            if (has_next)
                return consumer_corrupt(c, err,
                                        "offsets %lld..%lld are missing: %s ends at offset %lld "
                                        "and the next segment starts at %lld",
                                        (long long)c->next_offset, (long long)next_base - 1,
                                        c->path, (long long)c->next_offset, (long long)next_base);
            return consumer_corrupt(c, err, "%s ends at position %lld before offset %lld", c->path,
                                    (long long)s.size, (long long)c->next_offset);
        }
        log_batch_header h;
        const unsigned char *batch, *raw;
        char why[160];
        log_read_status rs =
            log_reader_batch(&c->reader, c->pos, s.size, true, &h, &batch, why, sizeof why);
        /* The same offset rules as recovery and verify, so all three agree on what is valid. */
        if (rs == LOG_READ_OK && h.base_offset != c->expect &&
            !(c->resynced && h.base_offset > c->expect)) {
            rs = LOG_READ_BAD;
            snprintf(why, sizeof why, "base offset %lld where %lld was expected",
                     (long long)h.base_offset, (long long)c->expect);
        }
        if (rs == LOG_READ_OK && h.base_offset > c->next_offset) {
            rs = LOG_READ_BAD;
            snprintf(why, sizeof why, "batch starts at offset %lld, offsets %lld..%lld are missing",
                     (long long)h.base_offset, (long long)c->next_offset,
                     (long long)h.base_offset - 1);
        }
        if (rs != LOG_READ_OK) {
            /* Bad bytes only stop the consumer when they may hold offsets it still has to
             * return: when the next valid batch starts at or before next_offset, they hold
             * none (the consumer seeks past them, or they sit between two batches). */
            char rwhy[160];
            int64_t next = rs == LOG_READ_IOERR ? -2
                                                : log_reader_resync(&c->reader, c->pos + 1, s.size,
                                                                    c->expect, rwhy, sizeof rwhy);
            int64_t resume = next >= 0 ? resync_offset(&c->reader, next, s.size) : -1;
            if (resume < 0 || resume > c->next_offset)
                return consumer_corrupt(c, err, "corrupt batch in %s at position %lld: %s", c->path,
                                        (long long)c->pos, why);
            log_warn(COMPONENT,
                     "consumer of %s/%d: stepped over corrupt bytes at positions %lld..%lld of %s "
                     "(%s); they hold no offset at or after %lld",
                     BUS_TOPIC_NAMES[p->topic], p->partition, (long long)c->pos,
                     (long long)next - 1, c->path, why, (long long)c->next_offset);
            c->pos = next;
            c->resynced = true;
            continue;
        }
        int64_t batch_end = h.base_offset + (int64_t)h.record_count;
        if (batch_end <= c->next_offset) {
            c->pos += h.length; /* wholly before the offset sought (after an index seek) */
            c->expect = batch_end;
            c->resynced = false;
            continue;
        }
        const char *bad = log_batch_records(batch, &h, &c->scratch, &raw);
        if (bad)
            return consumer_corrupt(c, err, "corrupt batch in %s at position %lld: %s", c->path,
                                    (long long)c->pos, bad);
        c->rec = raw;
        c->rec_end = raw + h.raw_length;
        c->rec_left = h.record_count;
        c->rec_offset = h.base_offset;
        c->first_ts = h.first_timestamp;
        c->batch_pos = c->pos;
        c->pos += h.length;
        c->expect = batch_end;
        c->resynced = false;
    }
}

static void log_consumer_close(void *handle)
{
    log_consumer *c = handle;
    if (!c) return;
    consumer_flush_reads(c);
    if (c->fd >= 0) close(c->fd);
    log_reader_free(&c->reader);
    buf_free(&c->scratch);
    buf_free(&c->names);
    free(c);
}

/* ---------------------------------------------------------------- retention */

static int log_apply_retention(void *impl, int64_t now_ms, surge_error *err)
{
    log_bus *lb = impl;
    if (lb->cfg.read_only) return -read_only_fail(lb, "apply retention", err);
    int deleted = 0, rc = 0;
    for (int t = 0; t < BUS_NTOPICS && rc == 0; t++)
        for (int i = 0; i < BUS_PARTITIONS && rc == 0; i++) {
            log_partition *p = &lb->parts[t][i];
            pthread_mutex_lock(&p->lock);
            int64_t total = 0;
            for (size_t k = 0; k < p->nsegments; k++)
                total += p->segments[k].size;
            int deleted_here = 0;
            while (p->nsegments > 1) { /* never the active segment */
                log_segment *s = &p->segments[0];
                bool by_age =
                    lb->cfg.retention_ms > 0 && s->max_timestamp < now_ms - lb->cfg.retention_ms;
                bool by_size = lb->cfg.retention_bytes > 0 && total > lb->cfg.retention_bytes;
                if (!by_age && !by_size) break;
                char log_path[PATH_MAX], index_path[PATH_MAX];
                if (segment_path(p, s->base_offset, "log", log_path) ||
                    segment_path(p, s->base_offset, "index", index_path)) {
                    rc = surge_fail(err, SURGE_EINVAL, "bus", "segment path under %s too long",
                                    p->dir);
                    break;
                }
                /* The index first: a crash in between leaves a log whose index is rebuilt and
                 * deleted again, never an orphaned index. */
                if (unlink(index_path) != 0 && errno != ENOENT)
                    log_warn(COMPONENT, "retention cannot delete %s: %s", index_path,
                             strerror(errno));
                if (unlink(log_path) != 0 && errno != ENOENT) {
                    rc = surge_fail(err, SURGE_EIO, "bus", "retention cannot delete %s: %s",
                                    log_path, strerror(errno));
                    break;
                }
                log_info(COMPONENT,
                         "retention deleted %s: offsets %lld..%lld, %lld bytes, newest record "
                         "at %lld ms (%s)",
                         log_path, (long long)s->base_offset, (long long)s->end_offset - 1,
                         (long long)s->size, (long long)s->max_timestamp,
                         by_age ? "older than the retention time" : "over the retention size");
                total -= s->size;
                memmove(&p->segments[0], &p->segments[1],
                        (p->nsegments - 1) * sizeof p->segments[0]);
                p->nsegments--;
                deleted++;
                deleted_here++;
            }
            pthread_mutex_unlock(&p->lock);
            /* Not needed for correctness (a segment that reappears after a crash is deleted
             * again), but keeps the directory in step with the counts reported. */
            if (deleted_here && rc == 0) rc = fsync_dir(p->dir, err);
        }
    return rc ? -rc : deleted;
}

/* ---------------------------------------------------------------- recovery report, verify */

static void log_recovery(void *impl, bus_recovery_report *out)
{
    *out = ((log_bus *)impl)->recovery;
}

typedef struct verifier {
    void (*report)(void *ctx, const char *message);
    void *ctx;
    int problems;
    char first[256];
} verifier;

static void verify_problem(verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void verify_problem(verifier *v, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (v->problems++ == 0) str_copy(v->first, sizeof v->first, message);
    if (v->report) v->report(v->ctx, message);
}

/* Checks every batch of one segment (header, CRC, offsets, records), stepping over corrupt
 * stretches to the next valid batch. *expected is the offset the segment should start with
 * and becomes the offset after its last valid batch. */
static int verify_segment(log_partition *p, const log_segment *s, verifier *v, int64_t *expected,
                          surge_error *err)
{
    char path[PATH_MAX];
    if (segment_path(p, s->base_offset, "log", path))
        return surge_fail(err, SURGE_EINVAL, "bus", "segment path under %s too long", p->dir);
    if (s->base_offset != *expected)
        verify_problem(v, "%s: starts at offset %lld but the previous segment ends at %lld", path,
                       (long long)s->base_offset, (long long)*expected);
    *expected = s->end_offset;
    if (s->size == 0) return 0; /* an empty active segment: nothing to read */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return 0; /* deleted by retention since the listing */
    if (fd < 0)
        return surge_fail(err, SURGE_EIO, "bus", "cannot open %s: %s", path, strerror(errno));
    log_reader rd;
    log_reader_init(&rd, fd, path);
    buf scratch, names;
    buf_init(&scratch);
    buf_init(&names);
    int rc = 0;
    int64_t pos = 0, want = s->base_offset;
    bool resynced = false;
    while (pos < s->size) {
        log_batch_header h;
        const unsigned char *batch, *raw;
        char why[160];
        log_read_status rs = log_reader_batch(&rd, pos, s->size, true, &h, &batch, why, sizeof why);
        if (rs == LOG_READ_IOERR) {
            rc = surge_fail(err, SURGE_EIO, "bus", "%s: %s", path, why);
            break;
        }
        const char *bad = NULL;
        if (rs == LOG_READ_OK && h.base_offset != want && !(resynced && h.base_offset > want)) {
            snprintf(why, sizeof why, "base offset %lld where %lld was expected",
                     (long long)h.base_offset, (long long)want);
            rs = LOG_READ_BAD;
        }
        if (rs == LOG_READ_OK && !(bad = log_batch_records(batch, &h, &scratch, &raw))) {
            const unsigned char *end = raw + h.raw_length;
            for (uint32_t r = 0; !bad && r < h.record_count; r++) {
                bus_record rec;
                bad = log_record_decode(&raw, end, h.first_timestamp, &rec, &names);
            }
            if (!bad && raw != end) bad = "bytes after the last record";
        }
        if (rs == LOG_READ_OK && !bad) {
            pos += h.length;
            want = h.base_offset + h.record_count;
            resynced = false;
            continue;
        }
        if (bad) snprintf(why, sizeof why, "%s", bad);
        char rwhy[160];
        int64_t next = log_reader_resync(&rd, pos + 1, s->size, want, rwhy, sizeof rwhy);
        if (next == -2) {
            rc = surge_fail(err, SURGE_EIO, "bus", "%s: %s", path, rwhy);
            break;
        }
        if (next >= 0) {
            verify_problem(v,
                           "%s: corrupt batch at position %lld (%s); valid batches resume at "
                           "position %lld (offset %lld)",
                           path, (long long)pos, why, (long long)next,
                           (long long)resync_offset(&rd, next, s->size));
            pos = next;
            resynced = true;
            continue;
        }
        verify_problem(v,
                       "%s: corrupt batch at position %lld (%s); nothing valid follows up to "
                       "the end at %lld",
                       path, (long long)pos, why, (long long)s->size);
        break;
    }
    buf_free(&scratch);
    buf_free(&names);
    log_reader_free(&rd);
    close(fd);
    *expected = s->end_offset > want ? s->end_offset : want;
    return rc;
}

static int log_verify(void *impl, void (*report)(void *ctx, const char *message), void *ctx,
                      surge_error *err)
{
    log_bus *lb = impl;
    verifier v = {report, ctx, 0, ""};
    for (int t = 0; t < BUS_NTOPICS; t++)
        for (int i = 0; i < BUS_PARTITIONS; i++) {
            log_partition *p = &lb->parts[t][i];
            pthread_mutex_lock(&p->lock);
            size_t n = p->nsegments;
            log_segment *copy = malloc(n * sizeof *copy);
            if (copy) memcpy(copy, p->segments, n * sizeof *copy);
            pthread_mutex_unlock(&p->lock);
            if (!copy) return surge_fail(err, SURGE_EINTERNAL, "bus", "out of memory verifying");
            int64_t expected = copy[0].base_offset;
            int rc = 0;
            for (size_t k = 0; k < n && rc == 0; k++)
                rc = verify_segment(p, &copy[k], &v, &expected, err);
            free(copy);
            if (rc) return rc;
        }
    if (v.problems)
        return surge_fail(err, SURGE_EIO, "bus", "%d problem%s in the log at %s; first: %s",
                          v.problems, v.problems == 1 ? "" : "s", lb->dir, v.first);
    return 0;
}

static void log_get_stats(void *impl, bus_stats *out)
{
    log_bus *lb = impl;
    out->batches_written = atomic_load_explicit(&lb->batches_written, memory_order_relaxed);
    out->records_written = atomic_load_explicit(&lb->records_written, memory_order_relaxed);
    out->bytes_written = atomic_load_explicit(&lb->bytes_written, memory_order_relaxed);
    out->fsyncs = atomic_load_explicit(&lb->fsyncs, memory_order_relaxed);
    out->records_read = atomic_load_explicit(&lb->records_read, memory_order_relaxed);
}

const bus_backend bus_log_backend = {
    .scheme = "log",
    .url_forms = "log:///abs/dir, log://relative/dir",
    .open = log_open,
    .close = log_close,
    .produce = log_produce,
    .produce_many = log_produce_many,
    .end_offset = log_end_offset,
    .start_offset = log_start_offset,
    .offset_for_time = log_offset_for_time,
    .consumer_open = log_consumer_open,
    .consumer_next = log_consumer_next,
    .consumer_close = log_consumer_close,
    .commit = log_commit,
    .committed = log_committed,
    .apply_retention = log_apply_retention,
    .recovery = log_recovery,
    .verify = log_verify,
    .get_stats = log_get_stats,
};
