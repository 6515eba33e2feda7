/* fusesrv.c: fuse mode's file served by buse itself — a FUSE filesystem of one file, "disk",
 * whose reads and writes call the export's backend directly (nbds_export_open), without a
 * helper process and without an NBD hop.
 *
 * Before it, fuse mode ran nbdfuse on a socketpair to our NBD server: every request of the
 * container's filesystem went loop → FUSE → nbdfuse → libnbd → socket → our reader thread →
 * a worker → the backend, and back the same way, and every attach started a process (16 ms of
 * dynamic linking before it even connected).  Here a request goes loop → FUSE → one of our
 * threads → the backend.  BUSE_FUSE_HELPER=nbdfuse (fuse.c) still runs the helper.
 *
 * The kernel's protocol (linux/fuse.h) is spoken directly, for the handful of operations a
 * loop device and the tools around it use: INIT, LOOKUP, GETATTR, SETATTR (a no-op: the size
 * is the export's), OPEN, READ, WRITE, FSYNC, FLUSH, FALLOCATE (a hole or zeros: the loop
 * device's discard and write-zeroes), RELEASE, OPENDIR, READDIR, RELEASEDIR, STATFS, ACCESS,
 * DESTROY; everything else gets ENOSYS, which the kernel remembers.  The mount is made with
 * mount(2) and a /dev/fuse descriptor (we run as root; no fusermount).
 *
 * FUSE_THREADS threads serve one file, each with a buffer that holds the largest request
 * (FUSE_MAX_IO of payload: the loop device's 1 MiB requests arrive whole).  The descriptor is
 * non-blocking and each thread polls it together with a stop eventfd, so stopping never waits
 * on a blocked read; a thread idle for FUSE_IDLE_MS gives back the pages of its buffer past
 * the first FUSE_KEEP bytes, so fifty idle attaches do not keep fifty big buffers resident.
 * The threads are marked PR_SET_IO_FLUSHER: the kernel may need them to write back dirty
 * pages of the filesystem above, so their own allocations must not wait for that.
 *
 * A daemon killed while one of its threads waits for I/O to a filesystem it serves itself
 * cannot finish dying (that thread never leaves the kernel, so /dev/fuse is never closed and
 * the I/O never fails): the mount's source is "buse:<pid>", and watchdog.c aborts the FUSE
 * connections of its daemon's mounts through fusectl. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/common.h"
#include "nbd/nbds.h"
#include "attach/internal.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

#define FUSE_THREADS 3
#define FUSE_MAX_IO  (1u << 20) /* max_write, and max_pages' worth of a read */
#define FUSE_BUF     (FUSE_MAX_IO + 4096u)
#define FUSE_KEEP    (64u << 10)
#define FUSE_IDLE_MS 2000
#define FUSE_TTL     (86400u * 365) /* attributes never change: cache them for good */
#define NODE_DISK    2

struct fusesrv {
  int fd;      /* /dev/fuse */
  int stop_fd; /* eventfd: readable once fusesrv_stop began */
  char *mnt, *name;
  struct nbds_server *srv;
  struct nbds_export *exp;
  const struct nbds_backend *be;
  void *h;
  bool ro;
  uint64_t size;
  pthread_t threads[FUSE_THREADS];
  unsigned nthreads;
  bool failed;     /* a thread met an error it cannot serve past (__atomic) */
  bool unmounting; /* fusesrv_unmounting was called: ENODEV is expected (__atomic) */
};

/* ---- replies ------------------------------------------------------------------------ */

/* Send the reply to request UNIQUE: ERROR (a negative errno, or 0) and LEN bytes of BODY. */
static int
reply (struct fusesrv *fs, uint64_t unique, int error, const void *body, size_t len)
{
  struct fuse_out_header oh = { .len = (uint32_t)(sizeof oh + (error ? 0 : len)),
                                .error = error,
                                .unique = unique };
  struct iovec iov[2] = { { &oh, sizeof oh }, { (void *)body, error ? 0 : len } };
  ssize_t r = writev (fs->fd, iov, error || len == 0 ? 1 : 2);

  /* ENOENT: the request was interrupted and is gone; not an error of ours */
  if (r == -1 && errno != ENOENT) {
    log_warn ("layer %s: fuse reply: %s", fs->name, strerror (errno));
    return -1;
  }
  return 0;
}

static void
fill_attr (const struct fusesrv *fs, uint64_t node, struct fuse_attr *a)
{
  memset (a, 0, sizeof *a);
  a->ino = node;
  a->blksize = 4096;
  if (node == FUSE_ROOT_ID) {
    a->mode = S_IFDIR | 0700;
    a->nlink = 2;
  } else {
    a->mode = S_IFREG | (fs->ro ? 0400 : 0600);
    a->nlink = 1;
    a->size = fs->size;
    a->blocks = fs->size / 512;
  }
}

static int
reply_attr (struct fusesrv *fs, const struct fuse_in_header *ih)
{
  struct fuse_attr_out out;

  if (ih->nodeid != FUSE_ROOT_ID && ih->nodeid != NODE_DISK)
    return reply (fs, ih->unique, -ENOENT, NULL, 0);
  memset (&out, 0, sizeof out);
  out.attr_valid = FUSE_TTL;
  fill_attr (fs, ih->nodeid, &out.attr);
  return reply (fs, ih->unique, 0, &out, sizeof out);
}

/* READDIR of the root: ".", ".." and "disk", from OFFSET on. */
static int
reply_readdir (struct fusesrv *fs, const struct fuse_in_header *ih, const struct fuse_read_in *in)
{
  static const struct {
    const char *name;
    uint64_t ino;
    uint32_t type;
  } ents[] = { { ".", FUSE_ROOT_ID, DT_DIR },
               { "..", FUSE_ROOT_ID, DT_DIR },
               { "disk", NODE_DISK, DT_REG } };
  char buf[256];
  size_t len = 0;

  for (uint64_t i = in->offset; i < ARRAY_SIZE (ents); i++) {
    size_t nl = strlen (ents[i].name), rec = FUSE_DIRENT_ALIGN (FUSE_NAME_OFFSET + nl);
    if (len + rec > in->size || len + rec > sizeof buf)
      break;
    struct fuse_dirent *d = (struct fuse_dirent *)(buf + len);
    memset (d, 0, rec);
    d->ino = ents[i].ino;
    d->off = i + 1;
    d->namelen = (uint32_t)nl;
    d->type = ents[i].type;
    memcpy (d->name, ents[i].name, nl);
    len += rec;
  }
  return reply (fs, ih->unique, 0, buf, len);
}

/* ---- requests ----------------------------------------------------------------------- */

/* The errno of the backend call that just failed, as FUSE wants it (negative, never 0). */
static int
neg_errno (void)
{
  int e = err_errno () ? err_errno () : errno;
  return e > 0 ? -e : -EIO;
}

static int
do_init (struct fusesrv *fs, const struct fuse_in_header *ih, const struct fuse_init_in *in)
{
  struct fuse_init_out out;
  uint32_t want =
      FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_ASYNC_DIO | FUSE_MAX_PAGES | FUSE_PARALLEL_DIROPS;

  memset (&out, 0, sizeof out);
  out.major = FUSE_KERNEL_VERSION;
  out.minor = FUSE_KERNEL_MINOR_VERSION;
  if (in->major < 7 || (in->major == 7 && in->minor < 28)) { /* max_pages came in 7.28 */
    log_warn ("layer %s: kernel FUSE protocol %u.%u is too old (7.28 needed)", fs->name, in->major,
              in->minor);
    return reply (fs, ih->unique, -EPROTO, NULL, 0);
  }
  if (in->major > 7) /* the kernel offers its own; we answer 7.x and it asks again */
    return reply (fs, ih->unique, 0, &out, 8);
  out.max_readahead = in->max_readahead;
  out.flags = in->flags & want;
  out.max_background = 64;
  out.congestion_threshold = 48;
  out.max_write = FUSE_MAX_IO;
  out.time_gran = 1;
  out.max_pages = FUSE_MAX_IO / 4096;
  return reply (fs, ih->unique, 0, &out, sizeof out);
}

static int
do_lookup (struct fusesrv *fs, const struct fuse_in_header *ih, const char *name)
{
  struct fuse_entry_out out;

  if (ih->nodeid != FUSE_ROOT_ID || strcmp (name, "disk") != 0)
    return reply (fs, ih->unique, -ENOENT, NULL, 0);
  memset (&out, 0, sizeof out);
  out.nodeid = NODE_DISK;
  out.generation = 1;
  out.entry_valid = out.attr_valid = FUSE_TTL;
  fill_attr (fs, NODE_DISK, &out.attr);
  return reply (fs, ih->unique, 0, &out, sizeof out);
}

static int
do_open (struct fusesrv *fs, const struct fuse_in_header *ih, const struct fuse_open_in *in)
{
  struct fuse_open_out out;

  if (ih->opcode == FUSE_OPEN && ih->nodeid != NODE_DISK)
    return reply (fs, ih->unique, -EISDIR, NULL, 0);
  if (ih->opcode == FUSE_OPEN && fs->ro && (in->flags & O_ACCMODE) != O_RDONLY)
    return reply (fs, ih->unique, -EROFS, NULL, 0);
  memset (&out, 0, sizeof out);
  /* no page cache for the file: the filesystem above caches, the loop device reads with
   * O_DIRECT anyway */
  out.open_flags = ih->opcode == FUSE_OPEN ? FOPEN_DIRECT_IO : 0;
  return reply (fs, ih->unique, 0, &out, sizeof out);
}

/* A range the export has: clipped to its end (0 bytes past it). */
static uint32_t
clip (const struct fusesrv *fs, uint64_t off, uint32_t len)
{
  if (off >= fs->size)
    return 0;
  return fs->size - off < len ? (uint32_t)(fs->size - off) : len;
}

/* The data goes to BUF, over the request (IH and IN point into it): copied out first. */
static int
do_read (struct fusesrv *fs, const struct fuse_in_header *ih, const struct fuse_read_in *in,
         char *buf)
{
  uint64_t unique = ih->unique, off = in->offset;
  uint32_t n = clip (fs, off, MIN (in->size, FUSE_MAX_IO));

  if (n > 0 && fs->be->pread (fs->h, buf, n, off) == -1) {
    int e = neg_errno ();
    log_warn ("layer %s: read of %" PRIu32 " bytes at %" PRIu64 ": %s", fs->name, n, off,
              err_get ());
    return reply (fs, unique, e, NULL, 0);
  }
  return reply (fs, unique, 0, buf, n);
}

static int
do_write (struct fusesrv *fs, const struct fuse_in_header *ih, const struct fuse_write_in *in,
          const char *data, size_t have)
{
  struct fuse_write_out out = { .size = in->size };

  if (fs->ro)
    return reply (fs, ih->unique, -EROFS, NULL, 0);
  if (in->size > have || clip (fs, in->offset, in->size) != in->size)
    return reply (fs, ih->unique, in->size > have ? -EINVAL : -ENOSPC, NULL, 0);
  if (in->size > 0 && fs->be->pwrite (fs->h, data, in->size, in->offset, false) == -1) {
    int e = neg_errno ();
    log_warn ("layer %s: write of %" PRIu32 " bytes at %" PRIu64 ": %s", fs->name, in->size,
              (uint64_t)in->offset, err_get ());
    return reply (fs, ih->unique, e, NULL, 0);
  }
  return reply (fs, ih->unique, 0, &out, sizeof out);
}

static int
do_flush (struct fusesrv *fs, const struct fuse_in_header *ih)
{
  if (!fs->ro && fs->be->flush && fs->be->flush (fs->h) == -1) {
    int e = neg_errno ();
    log_warn ("layer %s: flush: %s", fs->name, err_get ());
    return reply (fs, ih->unique, e, NULL, 0);
  }
  return reply (fs, ih->unique, 0, NULL, 0);
}

/* The loop device's discard (a hole) and write-zeroes (zeros, KEEP_SIZE). */
static int
do_fallocate (struct fusesrv *fs, const struct fuse_in_header *ih,
              const struct fuse_fallocate_in *in)
{
  uint32_t mode = in->mode & ~(uint32_t)FALLOC_FL_KEEP_SIZE;
  int r;

  if (fs->ro)
    return reply (fs, ih->unique, -EROFS, NULL, 0);
  if (in->length > UINT32_MAX || clip (fs, in->offset, (uint32_t)in->length) != in->length)
    return reply (fs, ih->unique, -EINVAL, NULL, 0);
  if (mode == FALLOC_FL_PUNCH_HOLE && fs->be->trim)
    r = fs->be->trim (fs->h, (uint32_t)in->length, in->offset, false);
  else if (mode == FALLOC_FL_ZERO_RANGE && fs->be->zero)
    r = fs->be->zero (fs->h, (uint32_t)in->length, in->offset, false, false, false);
  else
    return reply (fs, ih->unique, -EOPNOTSUPP, NULL, 0);
  if (r == -1) {
    int e = neg_errno ();
    log_warn ("layer %s: fallocate 0x%x of %" PRIu64 " bytes at %" PRIu64 ": %s", fs->name,
              in->mode, (uint64_t)in->length, (uint64_t)in->offset, err_get ());
    return reply (fs, ih->unique, e, NULL, 0);
  }
  return reply (fs, ih->unique, 0, NULL, 0);
}

static int
do_statfs (struct fusesrv *fs, const struct fuse_in_header *ih)
{
  struct fuse_statfs_out out;

  memset (&out, 0, sizeof out);
  out.st.bsize = out.st.frsize = 4096;
  out.st.blocks = (fs->size + 4095) / 4096;
  out.st.files = 2;
  out.st.namelen = 255;
  return reply (fs, ih->unique, 0, &out, sizeof out);
}

/* One request of LEN bytes in BUF.  -1: the descriptor failed (stop serving). */
static int
dispatch (struct fusesrv *fs, char *buf, size_t len)
{
  const struct fuse_in_header *ih = (const void *)buf;
  const char *arg = buf + sizeof *ih;
  size_t alen = len - sizeof *ih;

#define NEED(type)                                                                                 \
  do {                                                                                             \
    if (alen < sizeof (type))                                                                      \
      return reply (fs, ih->unique, -EINVAL, NULL, 0);                                             \
  } while (0)
  switch (ih->opcode) {
  case FUSE_INIT: { /* only its first four fields matter; older kernels send fewer after them */
    struct fuse_init_in in;
    if (alen < 16)
      return reply (fs, ih->unique, -EINVAL, NULL, 0);
    memset (&in, 0, sizeof in);
    memcpy (&in, arg, MIN (alen, sizeof in));
    return do_init (fs, ih, &in);
  }
  case FUSE_LOOKUP:
    if (alen == 0 || arg[alen - 1] != '\0')
      return reply (fs, ih->unique, -EINVAL, NULL, 0);
    return do_lookup (fs, ih, arg);
  case FUSE_FORGET:
  case FUSE_BATCH_FORGET:
  case FUSE_INTERRUPT: /* every request is answered soon anyway */ return 0;
  case FUSE_GETATTR:
  case FUSE_SETATTR: /* nothing to set: the size is the export's, times are not kept */
    return reply_attr (fs, ih);
  case FUSE_OPEN:
  case FUSE_OPENDIR: NEED (struct fuse_open_in); return do_open (fs, ih, (const void *)arg);
  case FUSE_READ: NEED (struct fuse_read_in); return do_read (fs, ih, (const void *)arg, buf);
  case FUSE_READDIR: NEED (struct fuse_read_in); return reply_readdir (fs, ih, (const void *)arg);
  case FUSE_WRITE:
    NEED (struct fuse_write_in);
    return do_write (fs, ih, (const void *)arg, arg + sizeof (struct fuse_write_in),
                     alen - sizeof (struct fuse_write_in));
  case FUSE_FSYNC:
  case FUSE_FLUSH: return do_flush (fs, ih);
  case FUSE_FALLOCATE:
    NEED (struct fuse_fallocate_in);
    return do_fallocate (fs, ih, (const void *)arg);
  case FUSE_STATFS: return do_statfs (fs, ih);
  case FUSE_RELEASE:
  case FUSE_RELEASEDIR:
  case FUSE_ACCESS:
  case FUSE_FSYNCDIR:
  case FUSE_DESTROY: return reply (fs, ih->unique, 0, NULL, 0);
  default: return reply (fs, ih->unique, -ENOSYS, NULL, 0);
  }
#undef NEED
}

/* ---- threads ------------------------------------------------------------------------ */

static void *
serve (void *arg)
{
  struct fusesrv *fs = arg;
  char *buf = mmap (NULL, FUSE_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bool trimmed = true;

  if (buf == MAP_FAILED) {
    log_warn ("layer %s: fuse thread buffer: %s", fs->name, strerror (errno));
    __atomic_store_n (&fs->failed, true, __ATOMIC_RELAXED);
    return NULL;
  }
  prctl (PR_SET_IO_FLUSHER, 1, 0, 0, 0); /* refused without CAP_SYS_RESOURCE: no matter */
  for (;;) {
    struct pollfd p[2] = { { fs->fd, POLLIN, 0 }, { fs->stop_fd, POLLIN, 0 } };
    int n = poll (p, 2, trimmed ? -1 : FUSE_IDLE_MS);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1 || (p[1].revents & POLLIN))
      break;
    if (n == 0) { /* idle: the buffer's big pages back to the kernel */
      madvise (buf + FUSE_KEEP, FUSE_BUF - FUSE_KEEP, MADV_DONTNEED);
      trimmed = true;
      continue;
    }
    ssize_t len = read (fs->fd, buf, FUSE_BUF);
    if (len == -1 && (errno == EAGAIN || errno == EINTR || errno == ENOENT))
      continue;      /* another thread took it, or it was interrupted */
    if (len == -1) { /* ENODEV: unmounted, or the connection was aborted */
      if (errno != ENODEV || !__atomic_load_n (&fs->unmounting, __ATOMIC_RELAXED)) {
        log_warn ("layer %s: reading /dev/fuse: %s", fs->name,
                  errno == ENODEV ? "the FUSE connection was aborted" : strerror (errno));
        __atomic_store_n (&fs->failed, true, __ATOMIC_RELAXED);
      }
      break;
    }
    if ((size_t)len < sizeof (struct fuse_in_header))
      continue;
    trimmed = false; /* a small READ request may have filled the buffer with its reply */
    if (dispatch (fs, buf, (size_t)len) == -1) {
      __atomic_store_n (&fs->failed, true, __ATOMIC_RELAXED);
      break;
    }
  }
  munmap (buf, FUSE_BUF);
  return NULL;
}

/* ---- life --------------------------------------------------------------------------- */

void
fusesrv_unmounting (struct fusesrv *fs)
{
  if (fs)
    __atomic_store_n (&fs->unmounting, true, __ATOMIC_RELAXED);
}

void
fusesrv_stop (struct fusesrv *fs)
{
  uint64_t one = 1;

  if (fs == NULL)
    return;
  if (fs->stop_fd >= 0 && write (fs->stop_fd, &one, sizeof one) != sizeof one)
    log_warn ("layer %s: fuse stop: %s", fs->name, strerror (errno));
  for (unsigned i = 0; i < fs->nthreads; i++)
    pthread_join (fs->threads[i], NULL);
  if (fs->fd >= 0)
    close (fs->fd); /* a mount still there (detached lazily) now fails its I/O: ENOTCONN */
  if (fs->stop_fd >= 0)
    close (fs->stop_fd);
  nbds_export_close (fs->srv, fs->exp);
  free (fs->mnt);
  free (fs->name);
  free (fs);
}

struct fusesrv *
fusesrv_start (struct nbds_server *srv, const char *name, const char *mnt, bool read_only)
{
  struct fusesrv *fs = calloc (1, sizeof *fs);
  CLEANUP_FREE char *opts = NULL, *src = NULL;
  bool ro = false;
  int64_t size;

  if (fs == NULL) {
    err_set (errno, "calloc");
    return NULL;
  }
  fs->fd = fs->stop_fd = -1;
  fs->srv = srv;
  if ((fs->mnt = strdup (mnt)) == NULL || (fs->name = strdup (name)) == NULL) {
    err_set (errno, "strdup");
    goto err;
  }
  if ((fs->exp = nbds_export_open (srv, name, &fs->be, &fs->h, &ro)) == NULL)
    goto err;
  fs->ro = ro || read_only;
  if ((size = fs->be->get_size (fs->h)) < 0) {
    err_set (EIO, "size of export %s", name);
    goto err;
  }
  fs->size = (uint64_t)size;
  if ((fs->fd = open ("/dev/fuse", O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1) {
    err_set (errno, "open /dev/fuse");
    goto err;
  }
  if ((fs->stop_fd = eventfd (0, EFD_CLOEXEC)) == -1) {
    err_set (errno, "eventfd");
    goto err;
  }
  opts = xasprintf ("fd=%d,rootmode=40000,user_id=0,group_id=0", fs->fd);
  src = xasprintf (FUSESRV_SOURCE "%d", (int)getpid ()); /* whose it is: the watchdog's key */
  if (opts == NULL || src == NULL)
    goto err;
  if (mount (src, mnt, "fuse." FUSESRV_TYPE, MS_NOSUID | MS_NODEV | MS_NOATIME, opts) == -1) {
    err_set (errno, "mount fuse on %s", mnt);
    goto err;
  }
  for (; fs->nthreads < FUSE_THREADS; fs->nthreads++) {
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setstacksize (&attr, 256u << 10);
    int r = pthread_create (&fs->threads[fs->nthreads], &attr, serve, fs);
    pthread_attr_destroy (&attr);
    if (r != 0) {
      err_set (r, "fuse thread for %s", name);
      if (fs->nthreads == 0) {
        umount2 (mnt, MNT_DETACH);
        goto err;
      }
      break; /* fewer threads still serve */
    }
  }
  log_debug ("kdev", "layer %s: served by fuse on %s (%" PRIu64 " bytes%s)", name, mnt, fs->size,
             fs->ro ? ", read-only" : "");
  return fs;
err:
  fusesrv_stop (fs);
  return NULL;
}

/* 0 while it serves, -1 + err once a thread gave up. */
int
fusesrv_check (const struct fusesrv *fs)
{
  if (fs && __atomic_load_n (&fs->failed, __ATOMIC_RELAXED)) {
    err_set (EIO, "the fuse server of layer %s failed (see the log)", fs->name);
    return -1;
  }
  return 0;
}
