/* err.c: the thread-local last error.  Deep code records what failed and why with err_set;
 * only the edges (HTTP replies, NBD error codes, CLI messages) read it back. */
#include <stdio.h>
#include <string.h>

#include "common/common.h"

#define ERR_MAX 1024

static __thread char err_msg[ERR_MAX];
static __thread int err_num;

void
err_set (int errnum, const char *fmt, ...)
{
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (err_msg, ERR_MAX, fmt, ap);
  va_end (ap);
  if (errnum && n >= 0 && n < ERR_MAX)
    snprintf (err_msg + n, ERR_MAX - n, ": %s", strerror (errnum));
  err_num = errnum;
  errno = errnum ? errnum : EIO;
}

void
err_set_plain (int errnum, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (err_msg, ERR_MAX, fmt, ap);
  va_end (ap);
  err_num = errnum;
  errno = errnum ? errnum : EIO;
}

void
err_prefix (const char *fmt, ...)
{
  char old[ERR_MAX];
  va_list ap;
  int n, saved = errno;

  memcpy (old, err_msg, ERR_MAX);
  va_start (ap, fmt);
  n = vsnprintf (err_msg, ERR_MAX, fmt, ap);
  va_end (ap);
  if (n >= 0 && n < ERR_MAX - 3) {
    size_t len = strnlen (old, ERR_MAX - 1), room = ERR_MAX - 3 - (size_t)n;

    memcpy (err_msg + n, ": ", 2);
    len = MIN (len, room);
    memcpy (err_msg + n + 2, old, len);
    err_msg[n + 2 + len] = '\0';
  }
  errno = saved;
}

const char *
err_get (void)
{
  return err_msg;
}

int
err_errno (void)
{
  return err_num;
}

void
err_clear (void)
{
  err_msg[0] = '\0';
  err_num = 0;
}
