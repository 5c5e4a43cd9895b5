/* geohash.c: regions are geohash cells; this is the encoder, decoder and neighbour walk. */
#include "core.h"

#include <math.h>
#include <string.h>

static const char BASE32[] = "0123456789bcdefghjkmnpqrstuvwxyz";

static int base32_index(char c)
{
    const char *p = c ? strchr(BASE32, c) : NULL;
    return p ? (int)(p - BASE32) : -1;
}

int geohash_encode(double lat, double lon, int precision, char *out)
{
    if (precision < 1 || precision > GEOHASH_MAX || !isfinite(lat) || !isfinite(lon) ||
        lat < -90 || lat > 90 || lon < -180 || lon > 180)
        return -1;
    double lat_lo = -90, lat_hi = 90, lon_lo = -180, lon_hi = 180;
    int bit = 0, ch = 0, n = 0;
    bool even = true;
    while (n < precision) {
        if (even) {
            double mid = (lon_lo + lon_hi) / 2;
            if (lon >= mid) {
                ch = ch * 2 + 1;
                lon_lo = mid;
            } else {
                ch *= 2;
                lon_hi = mid;
            }
        } else {
            double mid = (lat_lo + lat_hi) / 2;
            if (lat >= mid) {
                ch = ch * 2 + 1;
                lat_lo = mid;
            } else {
                ch *= 2;
                lat_hi = mid;
            }
        }
        even = !even;
        if (++bit == 5) {
            out[n++] = BASE32[ch];
            bit = 0;
            ch = 0;
        }
    }
    out[n] = 0;
    return 0;
}

int geohash_decode(const char *hash, double *lat, double *lon, double *lat_err, double *lon_err)
{
    size_t len = strlen(hash);
    if (len < 1 || len > GEOHASH_MAX) return -1;
    double lat_lo = -90, lat_hi = 90, lon_lo = -180, lon_hi = 180;
    bool even = true;
    for (size_t i = 0; i < len; i++) {
        int v = base32_index(hash[i]);
        if (v < 0) return -1;
        for (int b = 4; b >= 0; b--) {
            int bit = (v >> b) & 1;
            if (even) {
                double mid = (lon_lo + lon_hi) / 2;
                if (bit) lon_lo = mid; else lon_hi = mid;
            } else {
                double mid = (lat_lo + lat_hi) / 2;
                if (bit) lat_lo = mid; else lat_hi = mid;
            }
            even = !even;
        }
    }
    *lat = (lat_lo + lat_hi) / 2;
    *lon = (lon_lo + lon_hi) / 2;
    if (lat_err) *lat_err = (lat_hi - lat_lo) / 2;
    if (lon_err) *lon_err = (lon_hi - lon_lo) / 2;
    return 0;
}

bool geohash_valid(const char *s)
{
    size_t len = strlen(s);
    if (len < 1 || len > GEOHASH_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (base32_index(s[i]) < 0) return false;
    return true;
}

int geohash_neighbour(const char *hash, int dlat, int dlon, char *out)
{
    double lat, lon, lat_err, lon_err;
    if (geohash_decode(hash, &lat, &lon, &lat_err, &lon_err)) return -1;
    double nlat = lat + dlat * 2 * lat_err, nlon = lon + dlon * 2 * lon_err;
    if (nlat > 90 || nlat < -90) return -1;
    if (nlon > 180) nlon -= 360;
    if (nlon < -180) nlon += 360;
    return geohash_encode(nlat, nlon, (int)strlen(hash), out);
}
