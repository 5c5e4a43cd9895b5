/* event_schemas.h: the schema files compiled into the binary. CMakeLists.txt generates their
 * definition (build/generated/event_schemas.c) from the .avsc files under schemas/. */
#ifndef SURGE_EVENT_SCHEMAS_H
#define SURGE_EVENT_SCHEMAS_H

typedef struct event_schema_file {
    const char *name; /* path under schemas/: "search.avsc", "topics/user-events.avsc" */
    const char *text; /* the file's JSON, NUL-terminated */
} event_schema_file;

/* Every schema file, ended by an entry whose name is NULL. */
extern const event_schema_file EVENT_SCHEMA_FILES[];

#endif
