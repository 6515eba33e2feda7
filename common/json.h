/* json.h: small jansson helpers shared by layers/ (metadata) and graphdriver/ (API). */
#ifndef BUSE_JSON_H
#define BUSE_JSON_H

#include <jansson.h>

#include "common.h"

void cleanup_json_decref (void *ptr);
#define CLEANUP_JSON_DECREF __attribute__ ((cleanup (cleanup_json_decref)))

/* Load a JSON object from PATH; NULL + err (naming the file) on failure. */
json_t *json_load_path (const char *path);
/* Dump OBJ to PATH atomically (write_file_atomic). */
int json_save_path (const char *path, const json_t *obj);
/* obj[key] as a string, or NULL if missing / not a string. */
const char *json_str (const json_t *obj, const char *key);

#endif
