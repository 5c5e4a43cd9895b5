/* portal_assets.h: the portal's static files (web/), built into the binary by CMakeLists.txt
 * (generated/portal_assets.c) so `surge serve` needs no files and no internet to serve them. */
#ifndef SURGE_PORTAL_ASSETS_H
#define SURGE_PORTAL_ASSETS_H

#include <stddef.h>

typedef struct portal_asset {
    const char *name;          /* "index.html", "app.js", "uPlot.iife.min.js" */
    const unsigned char *data; /* size bytes (plus a NUL not counted) */
    size_t size;
    const char *etag; /* "\"<first 16 hex of the sha256>\"" */
} portal_asset;

/* Ends with an entry whose name is NULL. */
extern const portal_asset PORTAL_ASSETS[];

#endif
