/* log_format.h: the on-disk format of the log backend (record batches, records, index entries)
 * and a windowed reader that finds and checks batches in a segment file. Private to src/bus;
 * docs/log-format.md describes the same format for people. log.c owns directories, segments,
 * locks and recovery policy; this file owns the bytes. */
#ifndef SURGE_BUS_LOG_FORMAT_H
#define SURGE_BUS_LOG_FORMAT_H

#include "bus.h"

/* Batch layout, all integers little-endian:
 *    0  u32  magic            LOG_MAGIC, the bytes 'S' 'R' 'G' 'L'
 *    4  u32  crc              CRC-32C of bytes [16, length) followed by bytes [8, 16)
 *    8  i64  base_offset      offset of the first record; the others follow consecutively
 *   16  u32  length           bytes of the whole batch, this header included
 *   20  u8   version          1
 *   21  u8   attributes       bit 0: the records are snappy-compressed; other bits zero
 *   22  u16  reserved         zero
 *   24  u32  record_count     >= 1
 *   28  u32  raw_length       bytes of the records before compression
 *   32  i64  first_timestamp  the first record's timestamp, ms since the epoch
 *   40  i64  max_timestamp    the largest record timestamp in the batch
 *   48       records          raw_length bytes, or their snappy compression
 * The CRC takes the base offset last so the producer can compute it over the records before it
 * holds the partition lock and only add the 8 offset bytes once the offset is known. */
#define LOG_MAGIC 0x4C475253u
#define LOG_VERSION 1
#define LOG_HEADER_BYTES 48
#define LOG_ATTR_SNAPPY 0x01
/* No batch (header and records, compressed or not) may exceed this. */
#define LOG_MAX_BATCH_BYTES (64 * 1024 * 1024)

/* A record, inside a batch's raw bytes:
 *   uvarint  body length (the bytes after this varint)
 *   varint   timestamp - first_timestamp (zigzag)
 *   uvarint  key length, then the key
 *   uvarint  value length, then the value
 *   uvarint  header count (0..BUS_MAX_HEADERS)
 *   per header: uvarint name length, name, uvarint value length, value
 * uvarint is LEB128 (7 bits a byte, low first, at most 10 bytes); zigzag maps 0,-1,1,-2 to
 * 0,1,2,3. Offsets are not stored per record: record i of a batch has base_offset + i. */

/* Index file (<base>.index beside <base>.log): 24-byte entries, little-endian i64 each:
 *   offset         base offset of an indexed batch
 *   position       its byte position in the .log file
 *   max_timestamp  the largest timestamp of the segment up to and including that batch
 * A batch gets an entry when it starts at least LOG_INDEX_INTERVAL bytes after the previous
 * indexed batch (the segment's first batch, at position 0, counts as indexed and has no entry).
 * The rule depends only on batch positions, so a rebuilt index is identical to the original. */
#define LOG_INDEX_INTERVAL 4096
#define LOG_INDEX_ENTRY_BYTES 24

typedef struct log_batch_header {
    uint32_t crc;
    int64_t base_offset;
    uint32_t length;
    uint8_t version, attributes;
    uint32_t record_count, raw_length;
    int64_t first_timestamp, max_timestamp;
} log_batch_header;

typedef struct log_index_entry {
    int64_t offset, position, max_timestamp;
} log_index_entry;

/* An encoded batch waiting for its base offset. data is malloc'ed; free it with free(). */
typedef struct log_batch {
    unsigned char *data;
    size_t len;
    uint32_t crc_body; /* CRC-32C of bytes [16, len), before the offset bytes are added */
    uint32_t record_count;
    int64_t max_timestamp;
} log_batch;

/* Encodes records (checked by bus.c) into one batch; a record timestamp of 0 becomes now_ms.
 * Compresses with snappy when compress is true and that makes the batch smaller. Returns 0, or
 * SURGE_ETOOLARGE when the batch would exceed LOG_MAX_BATCH_BYTES. */
int log_batch_encode(const bus_record *records, size_t n, int64_t now_ms, bool compress,
                     log_batch *out, surge_error *err);
/* Writes the base offset into an encoded batch and completes its CRC. */
void log_batch_seal(log_batch *batch, int64_t base_offset);

/* Parses and checks the 48 header bytes at p (magic, version, attributes, lengths, counts,
 * timestamps). Returns NULL, or a reason that names the bad field (a static string). */
const char *log_batch_parse_header(const unsigned char *p, log_batch_header *h);
/* The CRC-32C of a whole batch as the header's crc field defines it. */
uint32_t log_batch_crc(const unsigned char *batch, size_t length);
/* Gives the raw record bytes of a checked batch: the payload itself, or its decompression into
 * scratch. Returns NULL or the reason the payload is bad. */
const char *log_batch_records(const unsigned char *batch, const log_batch_header *h, buf *scratch,
                              const unsigned char **raw);
/* Decodes the record at *p (raw bytes up to end) into out, copies header names into names (so
 * they are NUL-terminated) and advances *p. out's pointers point into the raw bytes and names.
 * A zero-length key or value reads back as NULL with length 0. Returns NULL or the reason. */
const char *log_record_decode(const unsigned char **p, const unsigned char *end, int64_t first_ts,
                              bus_record *out, buf *names);

void log_index_entry_encode(const log_index_entry *e, unsigned char out[LOG_INDEX_ENTRY_BYTES]);
void log_index_entry_decode(const unsigned char in[LOG_INDEX_ENTRY_BYTES], log_index_entry *e);

/* Reads batches of one segment file through a window of file bytes, so many small batches cost
 * one pread. Bytes below the limit a caller passes never change (the log is append-only), so
 * the window stays valid while a writer appends. */
typedef struct log_reader {
    int fd;
    const char *path; /* for messages; not owned */
    buf window;
    int64_t window_pos; /* file position of window.data[0] */
} log_reader;

typedef enum log_read_status {
    LOG_READ_OK,
    LOG_READ_SHORT, /* the bytes before limit end inside this batch (a torn write) */
    LOG_READ_BAD,   /* the bytes at pos are not a valid batch (magic, field, CRC) */
    LOG_READ_IOERR  /* pread failed; why holds errno's text */
} log_read_status;

void log_reader_init(log_reader *r, int fd, const char *path);
void log_reader_free(log_reader *r);
/* Reads the batch at pos, which must end at or before limit, checks its header and (when
 * check_crc) its CRC. On LOG_READ_OK *batch points at its bytes inside the window, valid until
 * the next call. Otherwise why (>= 128 bytes) says what is wrong. */
log_read_status log_reader_batch(log_reader *r, int64_t pos, int64_t limit, bool check_crc,
                                 log_batch_header *h, const unsigned char **batch, char *why,
                                 size_t why_size);
/* The first position in [from, limit) holding a valid batch (magic, header, CRC) whose base
 * offset is >= min_offset: -1 when there is none, -2 on a read error (why says which). */
int64_t log_reader_resync(log_reader *r, int64_t from, int64_t limit, int64_t min_offset, char *why,
                          size_t why_size);

#endif
