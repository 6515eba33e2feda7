/* internal.h: what the files of attach/ share — the struct behind struct kdev, the
 * state records kept in state_dir, and one ops table per attach mode. */
#ifndef BUSE_ATTACH_INTERNAL_H
#define BUSE_ATTACH_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "attach/attach.h"

#define KDEV_MAX_CONNS 16

struct kdev {
  enum kdev_mode mode; /* KDEV_FUSE or KDEV_KERNEL, never auto */
  char *name;          /* export name (layer id) */
  char *rec;           /* record directory: <state_dir>/<name>.<n>, holds the files below */
  char *path;          /* what users open: /dev/loopN, /dev/nbdN or /dev/mapper/buse-<name> */
  struct kdev_opts opts;
  char *state_dir;

  /* fuse mode */
  struct fusesrv *fsrv; /* our FUSE server of the file; NULL with nbdfuse */
  pid_t fuse_pid;       /* nbdfuse, our child; 0 when not running */
  char *fuse_mnt;       /* <rec>/fuse */
  char *fuse_file;
  char *loop; /* /dev/loopN */

  /* kernel mode */
  int nbd_index; /* -1 when none */
  char *nbd;     /* /dev/nbdN */
  uint64_t size;
  uint16_t flags;
  bool ioctl_mode; /* NBD_DO_IT thread instead of netlink */
  int ioctl_fd;
  pthread_t doit_thread;
  bool doit_running;
  char *dm_name; /* buse-<name>, when wrapped */
  bool suspended;
};

/* rec.c: state records.  Each attach owns one directory; every object is written there
 * before it is created, so a crashed run's leftovers can be found and undone. */
int kdev_rec_write (struct kdev *dev, const char *key, const char *fmt, ...) ATTR_PRINTF (3, 4);
char *kdev_rec_read (const char *rec, const char *key); /* NULL when absent */
void kdev_rec_remove (struct kdev *dev, const char *key);
/* mount.c: unmount every mount whose source is the block device DEVPATH (lazily if busy). */
int kdev_umount_users (const char *devpath);
/* 1 if DEVPATH is mounted somewhere (*where gets the first mount point), 0 if not. */
int kdev_mounted (const char *devpath, char **where);
/* Keep the first error across cleanup that may overwrite it. */
struct kdev_err {
  int errnum;
  char *msg;
};
void kdev_err_save (struct kdev_err *e);
void kdev_err_restore (struct kdev_err *e); /* re-sets and frees */

/* One attach mode (fuse.c, kernel.c).  kdev.c makes the record directory and dispatches
 * through the table of dev->mode; a mode calls only rec.c, mount.c and its own helpers
 * (loop.c, dm.c), never back into kdev.c. */
struct kdev_mode_ops {
  const char *name;
  /* Make the device over SRV's export dev->name; sets dev->path.  On -1, detach undoes the
   * half-made device. */
  int (*attach) (struct kdev *dev, struct nbds_server *srv);
  int (*detach) (struct kdev *dev); /* undoes whatever is set in DEV */
  int (*check) (struct kdev *dev);  /* 0 while it works, -1 + err once lost */
  /* Undo what record REC of a dead run names of this mode's objects; 0 when nothing is left.
   * kdev_reap runs every mode's reap on every record. */
  int (*reap) (const char *rec, const struct kdev_opts *opts);
  /* DEV adopted from a dead run's record (nbd_index, dm_name set): new connections from SRV.
   * NULL where a mode cannot outlive its process (fuse). */
  int (*reattach) (struct kdev *dev, struct nbds_server *srv);
  int (*suspend) (struct kdev *dev); /* may be NULL: nothing to suspend */
  int (*resume) (struct kdev *dev);
};
extern const struct kdev_mode_ops kdev_fuse_ops;   /* fuse.c: nbdfuse + loop */
extern const struct kdev_mode_ops kdev_kernel_ops; /* kernel.c: /dev/nbdN (+ dm) */

/* fusesrv.c: the file <mnt>/disk of export NAME served by our own FUSE threads.  Its mount is
 * of type fuse.FUSESRV_TYPE with source FUSESRV_SOURCE<pid of the daemon>. */
#define FUSESRV_TYPE   "buse"
#define FUSESRV_SOURCE "buse:"
struct fusesrv;
struct fusesrv *fusesrv_start (struct nbds_server *srv, const char *name, const char *mnt,
                               bool read_only); /* NULL + err */
void fusesrv_unmounting (struct fusesrv *fs);   /* before the unmount; accepts NULL */
void fusesrv_stop (struct fusesrv *fs);         /* after the unmount; accepts NULL */
int fusesrv_check (const struct fusesrv *fs);   /* 0 while it serves, -1 + err */

/* loop.c */
int kdev_loop_make (struct kdev *dev);               /* a loop device over dev->fuse_file */
int kdev_loop_clear (const char *devpath);           /* LOOP_CLR_FD; 0 if already free */
int kdev_loops_clear (const char *file, bool force); /* every loop backed by FILE */

/* dm.c */
bool kdev_dm_available (void);
int kdev_dm_create (struct kdev *dev); /* linear over dev->nbd; sets dev->path */
int kdev_dm_reload (struct kdev *dev); /* point the table at dev->nbd (suspend, load, resume) */
int kdev_dm_suspend (struct kdev *dev);
int kdev_dm_hold (struct kdev *dev); /* suspend without flushing or freezing (dead device) */
int kdev_dm_resume (struct kdev *dev);
int kdev_dm_remove (const char *dm_name);

#endif
