/* parse.c: the few text formats users type — sizes, booleans, ids — parsed strictly, with
 * errors that quote what was given. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"

int
parse_size (const char *s, uint64_t *out)
{
  static const char units[] = "bkmgtpe";
  char *end;
  long double v;
  int shift = 0;

  errno = 0;
  if (!s || !*s || *s == '-' || isspace ((unsigned char)*s))
    goto bad;
  v = strtold (s, &end);
  if (errno || end == s || v < 0)
    goto bad;
  if (*end) {
    const char *u = strchr (units, tolower ((unsigned char)*end));
    if (!u)
      goto bad;
    shift = 10 * (int)(u - units);
    end++;
    if (strcasecmp (end, "ib") == 0 || strcasecmp (end, "b") == 0 || *end == '\0')
      ;
    else
      goto bad;
  }
  v *= (long double)(1ull << shift);
  if (v >= 18446744073709551615.0L)
    goto bad;
  *out = (uint64_t)v;
  return 0;
bad:
  err_set (EINVAL, "invalid size '%s' (examples: 4096, 64M, 10G)", s ? s : "");
  return -1;
}

int
parse_bool (const char *s, bool *out)
{
  static const char *const yes[] = { "1", "true", "yes", "on" };
  static const char *const no[] = { "0", "false", "no", "off" };

  for (size_t i = 0; s && i < ARRAY_SIZE (yes); i++) {
    if (strcasecmp (s, yes[i]) == 0)
      return *out = true, 0;
    if (strcasecmp (s, no[i]) == 0)
      return *out = false, 0;
  }
  err_set (EINVAL, "invalid boolean '%s' (true/false)", s ? s : "");
  return -1;
}

const char *
fmt_size (uint64_t n, char *buf, size_t len)
{
  static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  double v = (double)n;
  size_t i = 0;

  while (v >= 1024 && i + 1 < ARRAY_SIZE (u))
    v /= 1024, i++;
  if (i == 0)
    snprintf (buf, len, "%llu B", (unsigned long long)n);
  else
    snprintf (buf, len, "%.1f %s", v, u[i]);
  return buf;
}

int
check_id (const char *id)
{
  size_t n;

  if (!id || !*id) {
    err_set (EINVAL, "empty id");
    return -1;
  }
  n = strlen (id);
  if (n > 128 || !isalnum ((unsigned char)id[0]))
    goto bad;
  for (size_t i = 1; i < n; i++)
    if (!isalnum ((unsigned char)id[i]) && !strchr ("_.-", id[i]))
      goto bad;
  return 0;
bad:
  err_set (EINVAL, "invalid id '%.140s': ids are [A-Za-z0-9][A-Za-z0-9_.-]{0,127}", id);
  return -1;
}
