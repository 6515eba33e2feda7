/* json.c: jansson helpers — load and atomically save JSON files, typed lookups. */
#include <string.h>

#include "common/common.h"

void
cleanup_json_decref (void *ptr)
{
  json_t *j = *(json_t **)ptr;
  if (j)
    json_decref (j);
}

json_t *
json_load_path (const char *path)
{
  json_error_t e;
  json_t *j = json_load_file (path, 0, &e);

  if (!j) {
    err_set (errno == ENOENT ? ENOENT : EINVAL, "%s: line %d: %s", path, e.line, e.text);
    return NULL;
  }
  return j;
}

/* OBJ as the text both savers write; NULL + err. */
static char *
dump (const char *path, const json_t *obj)
{
  char *text = json_dumps (obj, JSON_INDENT (2) | JSON_SORT_KEYS);

  if (!text)
    err_set (ENOMEM, "json_dumps %s", path);
  return text;
}

int
json_save_path (const char *path, const json_t *obj)
{
  CLEANUP_FREE char *text = dump (path, obj);
  return text ? write_file_atomic (path, text, strlen (text)) : -1;
}

int
json_save_new (const char *path, const json_t *obj, struct fsync_batch *b)
{
  CLEANUP_FREE char *text = dump (path, obj);
  return text ? write_file_new (path, text, strlen (text), b) : -1;
}

const char *
json_str (const json_t *obj, const char *key)
{
  json_t *v = json_object_get (obj, key);
  return json_is_string (v) ? json_string_value (v) : NULL;
}
