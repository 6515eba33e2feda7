/* fuzz-tar.c: libFuzzer target for ar_apply_tar.  Each input is a layer tar (any
 * compression) applied to a fresh root directory inside a private sandbox; next to the root
 * sits an empty sentinel directory, and the seeds hold symlinks and hard links aimed at it.
 * Anything appearing in the sentinel means a write escaped the root: abort.  Crashes, leaks
 * and hangs are the fuzzer's to find.  Seeds: tests/fuzz/seeds-fuzz-tar/. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

struct input {
  const uint8_t *data;
  size_t size, pos;
};

static char sandbox[] = "/tmp/fuzz-tar.XXXXXX";
static char root[64], sentinel[64];

static ssize_t
input_read (void *ctx, void *buf, size_t len)
{
  struct input *in = ctx;
  size_t n = MIN (len, in->size - in->pos);

  memcpy (buf, in->data + in->pos, n);
  in->pos += n;
  return n;
}

static void
check_sentinel (void)
{
  DIR *d = opendir (sentinel);
  struct dirent *de;

  if (d == NULL)
    abort ();
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      abort (); /* a member escaped the root */
  closedir (d);
}

static void
remove_sandbox (void)
{
  remove_tree (sandbox);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  log_set_level (LOG_LEVEL_ERROR);
  if (mkdtemp (sandbox) == NULL)
    abort ();
  snprintf (root, sizeof root, "%s/root", sandbox);
  snprintf (sentinel, sizeof sentinel, "%s/sentinel", sandbox);
  if (mkdir (sentinel, 0755) == -1)
    abort ();
  atexit (remove_sandbox);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct input in = { data, size, 0 };
  uint64_t applied;

  if (remove_tree (root) == -1 || mkdir (root, 0755) == -1)
    abort ();
  ar_apply_tar (root, input_read, &in, NULL, &applied);
  check_sentinel ();
  return 0;
}
