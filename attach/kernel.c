/* kernel.c: kernel mode — an export as /dev/nbdN through the kernel's NBD client.
 *
 * Each connection is a socketpair: one end served by our NBD server, the other taken through
 * the handshake here (nbds_client_handshake) and then handed to the kernel.  The generic
 * netlink "nbd" family is used (libnl-genl): NBD_CMD_CONNECT with every socket at once, a
 * request timeout and a dead-connection timeout, so a daemon restart can hand new sockets to
 * the same device with NBD_CMD_RECONFIGURE while the kernel holds I/O; NBD_CMD_DISCONNECT to
 * detach.  Kernels without the family get the old ioctls (NBD_SET_SOCK, NBD_DO_IT on a
 * thread).  $BUSE_NBD_IOCTL=1 forces the ioctl path, $BUSE_KDEV_NO_RECONFIGURE=1 makes a
 * reattach move the dm table to a new device (tests).  The device index is chosen
 * and recorded before the connect, so a crash between the two still leaves a record. */
#include <errno.h>
#include <fcntl.h>
#include <linux/nbd-netlink.h>
#include <linux/nbd.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "common/common.h"
#include "attach/internal.h"

static int reap_index (int index, const struct kdev_opts *opts);

/* The logical block size of /dev/nbdN: 512, not the layers' 4096, so that filesystems with
 * 1 KiB blocks (mke2fs picks them below 512 MiB) mount too; ext4 with 4 KiB blocks still
 * sends 4 KiB-aligned I/O. */
#define NBD_BLOCK 512
#define MAX_INDEX 256

/* Queue limits set on /dev/nbdN after each connect.  The nbd driver caps requests at 128 KiB
 * (max_sectors_kb) although it takes 32 MiB (max_hw_sectors_kb, our server's max_payload too),
 * and reads ahead 128 KiB: every 128 KiB of a sequential read is then one round trip through
 * the server.  1280 KiB is the block layer's default cap (BLK_DEF_MAX_SECTORS) and loop's
 * limit; 4 MiB of read-ahead keeps the pipeline fed.  In the QEMU guest's benchmark (row 11,
 * store in tmpfs, loop given the same limits) the two raised buse's cold sequential reads
 * from 0.58x to 0.66x loop's. */
#define QUEUE_MAX_KB        1280
#define QUEUE_READ_AHEAD_KB 4096

struct conns {
  int fd[KDEV_MAX_CONNS];
  unsigned n;
};

static void
conns_close (struct conns *c)
{
  for (unsigned i = 0; i < c->n; i++)
    close (c->fd[i]);
  c->n = 0;
}

/* Socket buffers of a kernel connection: room for a whole request (max_sectors_kb, 1280 KiB)
 * and its reply, so neither the kernel's sender nor ours stops mid-request to let the other
 * side drain (the default, net.core.wmem_default, is 208 KiB).  Best effort: SO_SNDBUFFORCE
 * goes past net.core.wmem_max for root, SO_SNDBUF up to it otherwise. */
#define CONN_SNDBUF (2 << 20)

static void
conn_bufs (int fd)
{
  int v = CONN_SNDBUF;
  if (setsockopt (fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) == -1)
    setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
}

/* Open N connections to export NAME, each through the handshake. */
static int
conns_open (struct kdev *dev, struct nbds_server *srv, unsigned n, struct conns *c)
{
  c->n = 0;
  for (unsigned i = 0; i < n; i++) {
    int sv[2];
    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
      err_set (errno, "socketpair");
      goto err;
    }
    conn_bufs (sv[0]), conn_bufs (sv[1]);
    if (nbds_serve_fd (srv, sv[0], dev->name) == -1) {
      close (sv[1]);
      goto err;
    }
    c->fd[c->n++] = sv[1];
    if (nbds_client_handshake (sv[1], dev->name, &dev->size, &dev->flags) == -1)
      goto err;
  }
  return 0;
err:
  conns_close (c);
  return -1;
}

/* ---- netlink ------------------------------------------------------------------------- */

static struct nl_sock *
genl_open (int *family)
{
  struct nl_sock *sk = nl_socket_alloc ();

  if (sk == NULL) {
    err_set (ENOMEM, "nl_socket_alloc");
    return NULL;
  }
  if (genl_connect (sk) < 0) {
    err_set (EIO, "genl_connect");
    nl_socket_free (sk);
    return NULL;
  }
  *family = genl_ctrl_resolve (sk, NBD_GENL_FAMILY_NAME);
  if (*family < 0) {
    err_set (ENOENT, "generic netlink family 'nbd' not found (nbd module not loaded?)");
    nl_socket_free (sk);
    return NULL;
  }
  return sk;
}

/* Netlink where the kernel has it, unless FORCE (kdev_opts.force_ioctl). */
static bool
use_ioctl (bool force)
{
  int family;
  struct nl_sock *sk;

  if (force)
    return true;
  sk = genl_open (&family);
  if (sk == NULL) {
    log_info ("nbd netlink unavailable (%s): using ioctls", err_get ());
    return true;
  }
  nl_socket_free (sk);
  return false;
}

/* Send CMD on INDEX with the sockets of C (may be NULL) and our timeouts. */
static int
genl_cmd (struct kdev *dev, uint8_t cmd, int index, const struct conns *c)
{
  int family, r = -1, e;
  struct nl_sock *sk = genl_open (&family);
  struct nl_msg *msg = sk ? nlmsg_alloc () : NULL;
  struct nlattr *socks;

  if (msg == NULL)
    goto out;
  genlmsg_put (msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, cmd, 0);
  nla_put_u32 (msg, NBD_ATTR_INDEX, (uint32_t)index);
  if (cmd == NBD_CMD_CONNECT) {
    nla_put_u64 (msg, NBD_ATTR_SIZE_BYTES, dev->size);
    nla_put_u64 (msg, NBD_ATTR_BLOCK_SIZE_BYTES, NBD_BLOCK);
    nla_put_u64 (msg, NBD_ATTR_SERVER_FLAGS, dev->flags);
  }
  if (cmd != NBD_CMD_DISCONNECT) {
    nla_put_u64 (msg, NBD_ATTR_TIMEOUT, dev->opts.timeout_s);
    nla_put_u64 (msg, NBD_ATTR_DEAD_CONN_TIMEOUT, dev->opts.timeout_s);
  }
  if (c) {
    socks = nla_nest_start (msg, NBD_ATTR_SOCKETS);
    for (unsigned i = 0; i < c->n; i++) {
      struct nlattr *item = nla_nest_start (msg, NBD_SOCK_ITEM);
      nla_put_u32 (msg, NBD_SOCK_FD, (uint32_t)c->fd[i]);
      nla_nest_end (msg, item);
    }
    nla_nest_end (msg, socks);
  }
  e = nl_send_sync (sk, msg); /* frees msg */
  msg = NULL;
  if (e < 0)
    err_set (e == -NLE_BUSY    ? EBUSY
             : e == -NLE_INVAL ? EINVAL
             : e == -NLE_PERM  ? EPERM
                               : EIO,
             "nbd netlink command %d on nbd%d: %s", cmd, index, nl_geterror (e));
  else
    r = 0;
out:
  nlmsg_free (msg);
  nl_socket_free (sk);
  return r;
}

/* ---- ioctl fallback ------------------------------------------------------------------ */

static void *
doit_thread (void *arg)
{
  struct kdev *dev = arg;

  if (ioctl (dev->ioctl_fd, NBD_DO_IT) == -1)
    log_debug ("kdev", "nbd%d: NBD_DO_IT: %m", dev->nbd_index);
  ioctl (dev->ioctl_fd, NBD_CLEAR_QUE);
  ioctl (dev->ioctl_fd, NBD_CLEAR_SOCK);
  __atomic_store_n (&dev->doit_running, false, __ATOMIC_SEQ_CST);
  return NULL;
}

static int
ioctl_connect (struct kdev *dev, int index, const struct conns *c)
{
  char path[32];
  int fd, e;

  snprintf (path, sizeof path, "/dev/nbd%d", index);
  fd = open (path, O_RDWR | O_CLOEXEC);
  if (fd == -1) {
    err_set (errno, "open %s", path);
    return -1;
  }
  if (ioctl (fd, NBD_SET_BLKSIZE, (unsigned long)NBD_BLOCK) == -1 ||
      ioctl (fd, NBD_SET_SIZE_BLOCKS, (unsigned long)(dev->size / NBD_BLOCK)) == -1 ||
      ioctl (fd, NBD_SET_FLAGS, (unsigned long)dev->flags) == -1 ||
      ioctl (fd, NBD_SET_TIMEOUT, (unsigned long)dev->opts.timeout_s) == -1)
    goto err;
  for (unsigned i = 0; i < c->n; i++)
    if (ioctl (fd, NBD_SET_SOCK, (unsigned long)c->fd[i]) == -1)
      goto err;
  dev->ioctl_fd = fd;
  dev->doit_running = true;
  e = pthread_create (&dev->doit_thread, NULL, doit_thread, dev);
  if (e != 0) {
    dev->doit_running = false;
    dev->ioctl_fd = -1;
    errno = e;
    goto err;
  }
  dev->ioctl_mode = true;
  return 0;
err:
  err_set (errno, "%s: nbd ioctls", path);
  ioctl (fd, NBD_CLEAR_SOCK);
  close (fd);
  return -1;
}

static void
ioctl_disconnect (struct kdev *dev)
{
  ioctl (dev->ioctl_fd, NBD_DISCONNECT);
  pthread_join (dev->doit_thread, NULL);
  close (dev->ioctl_fd);
  dev->ioctl_fd = -1;
  dev->ioctl_mode = false;
}

/* ---- attach / detach ----------------------------------------------------------------- */

static bool
nbd_busy (int index)
{
  char path[64];

  snprintf (path, sizeof path, "/sys/block/nbd%d/pid", index);
  return access (path, F_OK) == 0;
}

static bool
nbd_exists (int index)
{
  char path[64];

  snprintf (path, sizeof path, "/sys/block/nbd%d", index);
  return access (path, F_OK) == 0;
}

/* Wait until nbdINDEX is connected (BUSY true) or free (false); 0 or -1 on timeout. */
static int
wait_busy (int index, bool busy, int ms)
{
  for (int t = 0; t < ms; t += 10) {
    if (nbd_busy (index) == busy)
      return 0;
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  err_set (ETIMEDOUT, "nbd%d did not %s within %d ms", index, busy ? "connect" : "disconnect", ms);
  return -1;
}

/* Read /sys/block/nbdINDEX/queue/ATTR as a number; -1 if it cannot. */
static long
queue_get (int index, const char *attr)
{
  char path[80];
  CLEANUP_FREE char *s = NULL;

  snprintf (path, sizeof path, "/sys/block/nbd%d/queue/%s", index, attr);
  s = read_file (path, NULL);
  return s ? strtol (s, NULL, 10) : -1;
}

/* Raise /sys/block/nbdINDEX/queue/ATTR to KB (never lower it); best effort, only logged. */
static void
queue_raise (int index, const char *attr, long kb)
{
  char path[80], val[24];
  long cur = queue_get (index, attr);
  int fd, n;

  if (cur < 0 || cur >= kb)
    return;
  snprintf (path, sizeof path, "/sys/block/nbd%d/queue/%s", index, attr);
  n = snprintf (val, sizeof val, "%ld\n", kb);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd == -1 || write (fd, val, (size_t)n) != n)
    log_debug ("kdev", "nbd%d: %s %ld -> %ld: %m", index, attr, cur, kb);
  if (fd != -1)
    close (fd);
}

/* Larger requests and read-ahead than the nbd driver's defaults (see QUEUE_MAX_KB). */
static void
queue_tune (int index)
{
  long hw = queue_get (index, "max_hw_sectors_kb");

  queue_raise (index, "max_sectors_kb", hw > 0 && hw < QUEUE_MAX_KB ? hw : QUEUE_MAX_KB);
  queue_raise (index, "read_ahead_kb", QUEUE_READ_AHEAD_KB);
}

/* Connect C to the first free /dev/nbdN; sets dev->nbd_index and dev->nbd. */
static int
connect_free (struct kdev *dev, const struct conns *c, bool ioctls)
{
  for (int idx = 0; idx < MAX_INDEX; idx++) {
    if (nbd_busy (idx) || (ioctls && !nbd_exists (idx)))
      continue;
    if (kdev_rec_write (dev, "nbd", "%d\n", idx) == -1)
      return -1;
    int r = ioctls ? ioctl_connect (dev, idx, c) : genl_cmd (dev, NBD_CMD_CONNECT, idx, c);
    if (r == 0) {
      dev->nbd_index = idx;
      free (dev->nbd);
      dev->nbd = xasprintf ("/dev/nbd%d", idx);
      if (dev->nbd == NULL || wait_busy (idx, true, 5000) == -1)
        return -1;
      queue_tune (idx); /* before a dm table is stacked on it: dm takes its limits */
      return 0;
    }
    kdev_rec_remove (dev, "nbd");
    if (errno != EBUSY)
      return -1;
  }
  err_set (ENOSPC, "no free /dev/nbdN");
  return -1;
}

static int
kernel_attach (struct kdev *dev, struct nbds_server *srv)
{
  struct conns c;
  bool ioctls = use_ioctl (dev->opts.force_ioctl);
  int r;

  if (conns_open (dev, srv, dev->opts.connections, &c) == -1)
    return -1;
  if (dev->opts.read_only)
    dev->flags |= NBD_FLAG_READ_ONLY;
  r = connect_free (dev, &c, ioctls);
  conns_close (&c); /* the kernel holds its own references */
  if (r == -1)
    return -1;
  log_debug ("kdev", "%s: %s connected with %u connections (%s)", dev->name, dev->nbd,
             dev->opts.connections, ioctls ? "ioctl" : "netlink");
  if (dev->opts.use_dm && kdev_dm_available ())
    return kdev_dm_create (dev);
  dev->path = strdup (dev->nbd);
  return dev->path ? 0 : -1;
}

/* After a restart: new sockets for the same device, or a new device under the dm table. */
static int
kernel_reattach (struct kdev *dev, struct nbds_server *srv)
{
  struct conns c;
  int r = -1;

  err_set (ENXIO, "nbd%d is not connected any more", dev->nbd_index);
  if (nbd_busy (dev->nbd_index) && !use_ioctl (dev->opts.force_ioctl) &&
      !dev->opts.no_reconfigure && conns_open (dev, srv, dev->opts.connections, &c) == 0) {
    r = genl_cmd (dev, NBD_CMD_RECONFIGURE, dev->nbd_index, &c);
    conns_close (&c);
  }
  if (r == 0) {
    dev->path = dev->dm_name ? xasprintf ("/dev/mapper/%s", dev->dm_name) : strdup (dev->nbd);
    return dev->path ? 0 : -1;
  }
  if (dev->dm_name == NULL)
    return -1;
  log_warn ("layer %s: cannot reconfigure nbd%d (%s); moving %s to a new device", dev->name,
            dev->nbd_index, err_get (), dev->dm_name);
  if (kdev_dm_hold (dev) == -1) /* hold new I/O in dm while the device is swapped */
    return -1;
  reap_index (dev->nbd_index, &dev->opts);
  if (conns_open (dev, srv, dev->opts.connections, &c) == -1)
    return -1;
  r = connect_free (dev, &c, use_ioctl (dev->opts.force_ioctl));
  conns_close (&c);
  if (r == -1)
    return -1;
  dev->path = xasprintf ("/dev/mapper/%s", dev->dm_name);
  return dev->path ? kdev_dm_reload (dev) : -1;
}

static int
kernel_detach (struct kdev *dev)
{
  CLEANUP_FREE char *where = NULL;

  if (dev->path && kdev_mounted (dev->path, &where) == 1) {
    err_set (EBUSY, "%s is still mounted on %s", dev->path, where);
    return -1;
  }
  if (dev->dm_name) {
    if (kdev_dm_remove (dev->dm_name) == -1)
      return -1;
    kdev_rec_remove (dev, "dm");
  }
  if (dev->nbd_index >= 0) {
    if (dev->ioctl_mode)
      ioctl_disconnect (dev);
    else if (nbd_busy (dev->nbd_index) &&
             genl_cmd (dev, NBD_CMD_DISCONNECT, dev->nbd_index, NULL) == -1)
      return -1;
    if (wait_busy (dev->nbd_index, false, 10000) == -1)
      return -1;
    kdev_rec_remove (dev, "nbd");
  }
  return 0;
}

static int
kernel_check (struct kdev *dev)
{
  if (dev->ioctl_mode ? !__atomic_load_n (&dev->doit_running, __ATOMIC_SEQ_CST)
                      : !nbd_busy (dev->nbd_index)) {
    err_set (ENXIO, "%s was disconnected", dev->nbd);
    return -1;
  }
  return 0;
}

static int
reap_index (int index, const struct kdev_opts *opts)
{
  struct kdev tmp = { .nbd_index = index, .opts = { .timeout_s = 30 } };
  char path[32];
  int fd;

  if (!nbd_busy (index))
    return 0;
  snprintf (path, sizeof path, "/dev/nbd%d", index);
  kdev_umount_users (path);
  if (!use_ioctl (opts && opts->force_ioctl)) {
    if (genl_cmd (&tmp, NBD_CMD_DISCONNECT, index, NULL) == -1)
      return -1;
  } else if ((fd = open (path, O_RDWR | O_CLOEXEC)) != -1) {
    ioctl (fd, NBD_DISCONNECT);
    ioctl (fd, NBD_CLEAR_SOCK);
    close (fd);
  }
  return wait_busy (index, false, 10000);
}

/* The kernel objects a dead run's record REC names: its dm table (and what is mounted on it),
 * then its /dev/nbdN. */
static int
kernel_reap (const char *rec, const struct kdev_opts *opts)
{
  CLEANUP_FREE char *dm = kdev_rec_read (rec, "dm");
  CLEANUP_FREE char *nbd = kdev_rec_read (rec, "nbd");
  int r = 0;

  if (dm) {
    CLEANUP_FREE char *path = xasprintf ("/dev/mapper/%s", dm);
    if (path && kdev_umount_users (path) == -1)
      r = -1;
    if (kdev_dm_remove (dm) == -1)
      r = -1;
  }
  if (nbd && *nbd && reap_index (atoi (nbd), opts) == -1) /* empty: cut by a power loss */
    r = -1;
  return r;
}

/* Suspend / resume: only a device wrapped in dm has a table to hold I/O in. */
static int
kernel_suspend (struct kdev *dev)
{
  return dev->dm_name ? kdev_dm_suspend (dev) : 0;
}

static int
kernel_resume (struct kdev *dev)
{
  return dev->dm_name ? kdev_dm_resume (dev) : 0;
}

const struct kdev_mode_ops kdev_kernel_ops = {
  .name = "kernel",
  .attach = kernel_attach,
  .detach = kernel_detach,
  .check = kernel_check,
  .reap = kernel_reap,
  .reattach = kernel_reattach,
  .suspend = kernel_suspend,
  .resume = kernel_resume,
};
