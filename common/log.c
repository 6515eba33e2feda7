/* log.c: leveled logging to stderr with per-area debug switches.  One line per call,
 * written with a single write(2) so lines from worker threads never interleave. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/common.h"

static const char *const areas[] = {
  "nbd", "layers", "kdev", "gd", "http", "archive", "snap", "vol"
};
static enum log_level level = LOG_LEVEL_WARN;
static unsigned debug_mask; /* bit i: areas[i] */

void
log_set_level (enum log_level l)
{
  level = l;
}

int
log_set_debug (const char *list)
{
  char buf[256];
  char *save = NULL;

  if (strlen (list) >= sizeof buf) {
    err_set (EINVAL, "list too long");
    return -1;
  }
  strcpy (buf, list);
  for (char *a = strtok_r (buf, ",", &save); a; a = strtok_r (NULL, ",", &save)) {
    size_t i;
    if (strcmp (a, "all") == 0) {
      debug_mask = ~0u;
      continue;
    }
    for (i = 0; i < ARRAY_SIZE (areas); i++)
      if (strcmp (a, areas[i]) == 0)
        break;
    if (i == ARRAY_SIZE (areas)) {
      err_set (EINVAL, "unknown area '%s' (nbd, layers, kdev, gd, http, archive, snap, vol, all)",
               a);
      return -1;
    }
    debug_mask |= 1u << i;
  }
  level = LOG_LEVEL_DEBUG;
  return 0;
}

bool
log_debug_on (const char *area)
{
  if (debug_mask == 0)
    return false;
  for (size_t i = 0; i < ARRAY_SIZE (areas); i++)
    if (strcmp (area, areas[i]) == 0)
      return debug_mask & (1u << i);
  return debug_mask == ~0u;
}

void
log_msg (enum log_level l, const char *fmt, ...)
{
  static const char *const names[] = { "error", "warning", "info", "debug" };
  char line[2048];
  struct timespec ts;
  struct tm tm;
  va_list ap;
  int n, saved = errno;

  if (l > level)
    return;
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  n = snprintf (line, sizeof line, "%02d:%02d:%02d.%03ld buse[%d] %s: ", tm.tm_hour, tm.tm_min,
                tm.tm_sec, ts.tv_nsec / 1000000, (int)getpid (), names[l]);
  va_start (ap, fmt);
  n += vsnprintf (line + n, sizeof line - n - 1, fmt, ap);
  va_end (ap);
  if (n > (int)sizeof line - 2)
    n = sizeof line - 2;
  line[n++] = '\n';
  if (write (STDERR_FILENO, line, n) == -1) {
    /* nowhere left to report it */
  }
  errno = saved;
}
