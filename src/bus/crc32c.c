/* crc32c.c: CRC-32C (Castagnoli) for the log's record batches. The SSE4.2 crc32 instruction
 * computes exactly this polynomial, 8 bytes per instruction; CPUs without it get slicing-by-8
 * tables (8 lookups per 8 bytes), which are built once on first use. */
#include "bus_backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u /* reflected 0x1EDC6F41 */

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_build(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ ((c & 1) ? CRC32C_POLY : 0);
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_table[0][n];
        for (int t = 1; t < 8; t++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[t][n] = c;
        }
    }
}

uint32_t bus_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_table_once, crc_table_build);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    while (len >= 8) {
        /* Little-endian assembly of the next 8 bytes, independent of the host's byte order. */
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
            crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^
            crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *data,
                                                               size_t len)
{
    const unsigned char *p = data;
    uint64_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

bool bus_crc32c_hardware(void)
{
    static _Atomic int has = -1; /* -1 unknown; racing first callers store the same answer */
    int known = atomic_load_explicit(&has, memory_order_relaxed);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        atomic_store_explicit(&has, known, memory_order_relaxed);
    }
    return known == 1;
}

uint32_t bus_crc32c(uint32_t crc, const void *data, size_t len)
{
    if (bus_crc32c_hardware()) return crc32c_sse42(crc, data, len);
    return bus_crc32c_portable(crc, data, len);
}

#else

bool bus_crc32c_hardware(void)
{
    return false;
}

uint32_t bus_crc32c(uint32_t crc, const void *data, size_t len)
{
    return bus_crc32c_portable(crc, data, len);
}

#endif
