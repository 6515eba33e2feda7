/* test-layers-dio.c: a writable layer's top diff is opened a second time with O_DIRECT and
 * used for aligned I/O only; aligned and unaligned writes, reads, zeroes and trims mixed at
 * random over an image below read back exactly what a model of the device holds, before and
 * after the stack is closed and opened again, and with the store opened with buffered_io (BUSE_DIRECT_IO=off: no O_DIRECT fd). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layers/layers.h"
#include "tests/unit/check.h"

#define BS      4096u
#define NBLOCKS 1024u /* the 4 MiB base */
#define SIZE    (NBLOCKS * BS)
#define MAXLEN  (16 * BS)

/* Open fds of this process on a diff's data file in HOME: how many, and how many O_DIRECT. */
static void
data_fds (const char *home, int *all, int *direct)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *e;
  char path[512], link[512], info[128];
  size_t hl = strlen (home);

  *all = *direct = 0;
  while (d && (e = readdir (d))) {
    ssize_t n;
    snprintf (path, sizeof path, "/proc/self/fd/%s", e->d_name);
    if ((n = readlink (path, link, sizeof link - 1)) <= 0)
      continue;
    link[n] = '\0';
    if (strncmp (link, home, hl) != 0 || strcmp (link + n - 5, "/data") != 0)
      continue;
    (*all)++;
    snprintf (path, sizeof path, "/proc/self/fdinfo/%s", e->d_name);
    FILE *f = fopen (path, "r");
    while (f && fgets (info, sizeof info, f))
      if (!strncmp (info, "flags:", 6) && (strtoul (info + 6, NULL, 8) & O_DIRECT))
        (*direct)++;
    if (f)
      fclose (f);
  }
  if (d)
    closedir (d);
}

/* Compare the whole device with the model. */
static int
same_view (struct layer_stack *ls, const uint8_t *model, uint8_t *buf)
{
  return layer_stack_pread (ls, buf, SIZE, 0) == 0 && memcmp (buf, model, SIZE) == 0;
}

int
main (void)
{
  char home[] = "/var/tmp/test-layers-dio.XXXXXX";
  struct layer_store_opts o = { .base_size = SIZE };
  struct layer_store *st = NULL;
  struct layer_stack *ls;
  uint8_t *model = malloc (SIZE), *view = NULL, *abuf = NULL, data[MAXLEN + 1];
  int all, direct, probe;
  char probe_path[64];

  if (access ("/sbin/mke2fs", X_OK) == -1 && access ("/usr/sbin/mke2fs", X_OK) == -1)
    return 77;
  CHECK (mkdtemp (home) != NULL);
  snprintf (probe_path, sizeof probe_path, "%s/probe", home);
  probe = open (probe_path, O_RDWR | O_CREAT | O_DIRECT, 0600);
  if (probe == -1) {
    printf ("SKIP: %s has no O_DIRECT\n", home);
    return 77;
  }
  close (probe), unlink (probe_path);
  CHECK (posix_memalign ((void **)&view, BS, SIZE) == 0);
  CHECK (posix_memalign ((void **)&abuf, BS, MAXLEN) == 0);
  CHECK ((st = layer_store_open (home, &o)) != NULL);
  if (!st || !model || !view || !abuf)
    return 1;

  /* an image with data, and a container layer over it */
  CHECK (layer_create (st, "img", NULL, 0, true) == 0);
  CHECK ((ls = layer_stack_open (st, "img", true)) != NULL);
  for (unsigned b = 0; b < NBLOCKS; b += 3) {
    memset (abuf, 'a' + b % 26, BS);
    CHECK (layer_stack_pwrite (ls, abuf, BS, (uint64_t)b * BS, false) == 0);
  }
  CHECK (layer_stack_pread (ls, model, SIZE, 0) == 0);
  layer_stack_close (ls);
  CHECK (layer_create (st, "c", "img", 0, true) == 0);

  CHECK ((ls = layer_stack_open (st, "c", true)) != NULL);
  data_fds (home, &all, &direct);
  CHECK (direct == 1); /* the top's O_DIRECT fd, beside its buffered one and the image's */
  srand (7);
  for (int i = 0; i < 3000 && ls; i++) {
    int op = rand () % 10;
    bool aligned = rand () % 2;
    uint32_t len = aligned ? (1 + rand () % 16) * BS : 1 + rand () % MAXLEN;
    uint64_t off =
        aligned ? (uint64_t)(rand () % (NBLOCKS - 16)) * BS : (uint64_t)(rand () % (SIZE - MAXLEN));
    uint8_t *p = aligned ? abuf : data + 1; /* data + 1: never page-aligned */
    if (op < 5) {
      for (uint32_t k = 0; k < len; k++)
        p[k] = (uint8_t)(i * 31 + k);
      CHECK (layer_stack_pwrite (ls, p, len, off, rand () % 8 == 0) == 0);
      memcpy (model + off, p, len);
    } else if (op < 8) {
      CHECK (layer_stack_pread (ls, p, len, off) == 0);
      CHECK (memcmp (p, model + off, len) == 0);
    } else if (op == 8) {
      CHECK (layer_stack_zero (ls, len, off, false) == 0);
      memset (model + off, 0, len);
    } else { /* a trim's content is unspecified; make it zero after, as a write would */
      CHECK (layer_stack_trim (ls, len, off, false) == 0);
      memset (abuf, 0, len);
      CHECK (layer_stack_pwrite (ls, abuf, len, off, false) == 0);
      memset (model + off, 0, len);
    }
  }
  CHECK (layer_stack_flush (ls) == 0);
  CHECK (same_view (ls, model, view));
  layer_stack_close (ls);

  /* reopened: the same device */
  CHECK ((ls = layer_stack_open (st, "c", true)) != NULL);
  CHECK (ls && same_view (ls, model, view));
  layer_stack_close (ls);

  /* buffered_io (BUSE_DIRECT_IO=off): buffered only, the same device */
  layer_store_close (st);
  o.buffered_io = true;
  CHECK ((st = layer_store_open (home, &o)) != NULL);
  CHECK ((ls = layer_stack_open (st, "c", true)) != NULL);
  data_fds (home, &all, &direct);
  CHECK (all >= 1 && direct == 0);
  CHECK (ls && same_view (ls, model, view));
  layer_stack_close (ls);

  layer_store_close (st);
  remove_tree (home);
  free (model), free (view), free (abuf);
  return CHECK_RESULT ();
}
