/* nbd-randio.c: random I/O load generator for any NBD server, with libnbd.
 *   nbd-randio [-c CONNS] [-q QD] [-t SECONDS] [-b BS] [-w PERCENT] URI
 * Opens CONNS connections (one thread each), keeps QD requests in flight on each, issues
 * BS-sized reads and writes (WRITE% of them writes) at random BS-aligned offsets for
 * SECONDS, and prints one line: "iops N mbs M ops N errors N".  Used by bench/nbd.sh to
 * compare buse nbd with nbdkit on the same file. */
#include <getopt.h>
#include <libnbd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct args {
  const char *uri;
  unsigned conns, qd, seconds, bs, write_pct;
};

struct worker {
  const struct args *a;
  pthread_t thread;
  uint64_t ops, errors, seed;
  unsigned inflight;
  double end;
};

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t
rnd (uint64_t *s)
{
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return *s;
}

static int
done_cb (void *user_data, int *error)
{
  struct worker *w = user_data;
  w->inflight--;
  w->ops++;
  if (*error)
    w->errors++;
  return 1; /* retire the command */
}

/* Keep QD requests in flight until the deadline, then drain. */
static void *
worker_run (void *arg)
{
  struct worker *w = arg;
  const struct args *a = w->a;
  struct nbd_handle *h = nbd_create ();
  char *buf = NULL;
  int64_t size;
  uint64_t blocks;

  if (h == NULL || nbd_connect_uri (h, a->uri) == -1 || (size = nbd_get_size (h)) < a->bs ||
      posix_memalign ((void **)&buf, 4096, a->bs) != 0) {
    fprintf (stderr, "nbd-randio: %s\n", nbd_get_error ());
    exit (1);
  }
  memset (buf, 0x5a, a->bs);
  blocks = size / a->bs;
  while (now () < w->end) {
    while (w->inflight < a->qd) {
      uint64_t off = rnd (&w->seed) % blocks * a->bs;
      nbd_completion_callback cb = { .callback = done_cb, .user_data = w };
      int64_t r = rnd (&w->seed) % 100 < a->write_pct
                      ? nbd_aio_pwrite (h, buf, a->bs, off, cb, 0)
                      : nbd_aio_pread (h, buf, a->bs, off, cb, 0); /* contents unused */
      if (r == -1) {
        fprintf (stderr, "nbd-randio: %s\n", nbd_get_error ());
        exit (1);
      }
      w->inflight++;
    }
    if (nbd_poll (h, -1) == -1)
      break;
  }
  while (w->inflight > 0 && nbd_poll (h, -1) != -1)
    ;
  nbd_shutdown (h, 0);
  nbd_close (h);
  free (buf);
  return NULL;
}

static void
usage (void)
{
  fprintf (stderr, "usage: nbd-randio [-c CONNS] [-q QD] [-t SECONDS] [-b BS] [-w WRITE%%] URI\n");
  exit (2);
}

int
main (int argc, char **argv)
{
  struct args a = { .conns = 4, .qd = 16, .seconds = 5, .bs = 4096, .write_pct = 0 };
  struct worker *ws;
  uint64_t ops = 0, errors = 0;
  double start, secs;
  int c;

  while ((c = getopt (argc, argv, "c:q:t:b:w:")) != -1) {
    switch (c) {
    case 'c': a.conns = atoi (optarg); break;
    case 'q': a.qd = atoi (optarg); break;
    case 't': a.seconds = atoi (optarg); break;
    case 'b': a.bs = atoi (optarg); break;
    case 'w': a.write_pct = atoi (optarg); break;
    default: usage ();
    }
  }
  if (optind != argc - 1 || a.conns == 0 || a.qd == 0 || a.bs == 0)
    usage ();
  a.uri = argv[optind];
  ws = calloc (a.conns, sizeof *ws);
  start = now ();
  for (unsigned i = 0; i < a.conns; i++) {
    ws[i] = (struct worker){ .a = &a,
                             .seed = 0x9e3779b97f4a7c15ull * (i + 1),
                             .end = start + a.seconds };
    pthread_create (&ws[i].thread, NULL, worker_run, &ws[i]);
  }
  for (unsigned i = 0; i < a.conns; i++) {
    pthread_join (ws[i].thread, NULL);
    ops += ws[i].ops, errors += ws[i].errors;
  }
  secs = now () - start;
  printf ("iops %.0f mbs %.1f ops %llu errors %llu\n", ops / secs, ops * (double)a.bs / secs / 1e6,
          (unsigned long long)ops, (unsigned long long)errors);
  free (ws);
  return errors ? 1 : 0;
}
