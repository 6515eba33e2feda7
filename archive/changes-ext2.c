/* changes-ext2.c: the parent's side of a guided Changes, read in-process with libext2fs.
 *
 * A guided walk (changes.c) looks at only a few entries of the parent's tree: the candidates'
 * inodes and xattrs and the listings of candidate directories.  Mounting the parent for that
 * (attach, nbdfuse, loop, ext4, and the unmount after) costs far more than the reads, and the
 * mount lock is held meanwhile.  So when the parent is not mounted (a settled, unmounted ext4:
 * no journal to replay) it is opened read-only by libext2fs over an io_manager whose reads go
 * straight to the parent's layer stack (layer_stack_pread, the NBD server's own view).  The
 * tree is the filesystem's rootfs/ directory (what the mount manager bind-mounts), and
 * each lookup in it gives exactly what lstat, lgetxattr ("security.capability") and readdir give
 * on a mount of it: mode, owner, rdev, mtime, size, inode number; names, inodes, types
 * (security.capability as the kernel shows it, see cap_as_seen).  A parent that is mounted
 * may be written or hold unreplayed journal blocks: api-diffs.c mounts-and-shares it then. */
#include <dirent.h>
#include <endian.h>
#include <ext2fs/ext2fs.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/capability.h>
#include <sys/sysmacros.h>

#include "archive/internal.h"

#define NAME_FMT "buse-layer:%p" /* the channel's "device name" carries the stack */

struct ar_ext2 {
  struct layer_stack *ls;
  ext2_filsys fs;
  ext2_ino_t root; /* rootfs/: the tree's root */
};

/* An ext2fs error code (an errno or one of libext2fs's own) as err_set. */
static void
set_error (errcode_t e, const char *what, const char *rel)
{
  if (e > 0 && e < 4096)
    err_set ((int)e, "%s %s", what, rel);
  else
    err_set (EIO, "%s %s: ext2fs error %ld", what, rel, (long)e);
}

/* ---- the io_manager: reads from the stack, no writes ------------------------------ */

static struct struct_io_manager layer_io; /* never written; libext2fs wants it non-const */

static errcode_t
lio_open (const char *name, int flags, io_channel *out)
{
  void *ls = NULL;
  io_channel ch;

  if (flags & IO_FLAG_RW)
    return EXT2_ET_RO_FILSYS;
  if (sscanf (name, NAME_FMT, &ls) != 1 || !ls)
    return EXT2_ET_BAD_DEVICE_NAME;
  ch = calloc (1, sizeof *ch);
  if (!ch || !(ch->name = strdup (name))) {
    free (ch);
    return ENOMEM;
  }
  ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  ch->manager = &layer_io;
  ch->block_size = 1024;
  ch->refcount = 1;
  ch->private_data = ls;
  *out = ch;
  return 0;
}

static errcode_t
lio_close (io_channel ch)
{
  if (--ch->refcount > 0)
    return 0;
  free (ch->name);
  free (ch);
  return 0;
}

static errcode_t
lio_set_blksize (io_channel ch, int blksize)
{
  ch->block_size = blksize;
  return 0;
}

/* COUNT blocks at BLOCK, or -COUNT bytes. */
static errcode_t
lio_read64 (io_channel ch, unsigned long long block, int count, void *data)
{
  uint64_t len = count < 0 ? (uint64_t)-count : (uint64_t)count * ch->block_size;

  if (len > UINT32_MAX)
    return EXT2_ET_SHORT_READ;
  if (layer_stack_pread (ch->private_data, data, len, block * ch->block_size) == -1)
    return errno ? errno : EIO;
  return 0;
}

static errcode_t
lio_read (io_channel ch, unsigned long block, int count, void *data)
{
  return lio_read64 (ch, block, count, data);
}

static errcode_t
lio_write (io_channel ch, unsigned long block, int count, const void *data)
{
  (void)ch, (void)block, (void)count, (void)data;
  return EXT2_ET_RO_FILSYS;
}

static errcode_t
lio_write64 (io_channel ch, unsigned long long block, int count, const void *data)
{
  (void)ch, (void)block, (void)count, (void)data;
  return EXT2_ET_RO_FILSYS;
}

static errcode_t
lio_flush (io_channel ch)
{
  (void)ch;
  return 0;
}

static struct struct_io_manager layer_io = {
  .magic = EXT2_ET_MAGIC_IO_MANAGER,
  .name = "buse layer stack",
  .open = lio_open,
  .close = lio_close,
  .set_blksize = lio_set_blksize,
  .read_blk = lio_read,
  .write_blk = lio_write,
  .flush = lio_flush,
  .read_blk64 = lio_read64,
  .write_blk64 = lio_write64,
};

/* ---- open / close ----------------------------------------------------------------- */

struct ar_ext2 *
ar_ext2_open (struct layer_store *st, const char *id)
{
  struct ar_ext2 *x = calloc (1, sizeof *x);
  char name[64];
  errcode_t e;

  if (!x) {
    err_set (errno, "calloc");
    return NULL;
  }
  if (!(x->ls = layer_stack_open (st, id, false)))
    goto err;
  snprintf (name, sizeof name, NAME_FMT, (void *)x->ls);
  e = ext2fs_open2 (name, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0, 0, &layer_io, &x->fs);
  if (e) {
    x->fs = NULL;
    set_error (e, "ext2fs_open layer", id);
    goto err;
  }
  if (ext2fs_has_feature_journal_needs_recovery (x->fs->super)) {
    err_set (ENOTSUP, "layer %s: its journal needs recovery", id);
    goto err;
  }
  e = ext2fs_namei (x->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "rootfs", &x->root);
  if (e) {
    set_error (e, id, "rootfs");
    goto err;
  }
  return x;
err:
  ar_ext2_close (x);
  return NULL;
}

void
ar_ext2_close (struct ar_ext2 *x)
{
  if (!x)
    return;
  if (x->fs)
    ext2fs_close_free (&x->fs);
  layer_stack_close (x->ls);
  free (x);
}

/* ---- lookups ---------------------------------------------------------------------- */

/* The inode of REL ("" or "/a/b" under rootfs/), not following a last symlink.  1: absent. */
static int
lookup (struct ar_ext2 *x, const char *rel, ext2_ino_t *ino)
{
  errcode_t e;

  *ino = x->root;
  if (*rel == '\0')
    return 0;
  e = ext2fs_namei (x->fs, x->root, x->root, rel, ino);
  if (e == EXT2_ET_FILE_NOT_FOUND)
    return 1;
  if (e) {
    set_error (e, "ext2fs_namei", rel);
    return -1;
  }
  return 0;
}

/* What the kernel's ext4 reports as st_mtim (ext4_decode_extra_time). */
static struct timespec
mtime_of (const struct ext2_inode_large *in, int isz)
{
  struct timespec t = { .tv_sec = (int32_t)in->i_mtime };
  size_t end = offsetof (struct ext2_inode_large, i_mtime_extra) + sizeof in->i_mtime_extra;

  if (isz > EXT2_GOOD_OLD_INODE_SIZE &&
      end <= (size_t)EXT2_GOOD_OLD_INODE_SIZE + in->i_extra_isize) {
    t.tv_sec += (int64_t)(in->i_mtime_extra & 3) << 32;
    t.tv_nsec = in->i_mtime_extra >> 2;
  }
  return t;
}

/* st_rdev of a device inode (ext4_iget: the old encoding in i_block[0], else the new one). */
static dev_t
rdev_of (const struct ext2_inode_large *in)
{
  uint32_t o = in->i_block[0], n = in->i_block[1];

  if (!LINUX_S_ISCHR (in->i_mode) && !LINUX_S_ISBLK (in->i_mode))
    return 0;
  if (o)
    return makedev ((o >> 8) & 255, o & 255);
  return makedev ((n & 0xfff00) >> 8, (n & 0xff) | ((n >> 12) & 0xfff00));
}

#define CAP_REV_MASK 0xFF000000u
#define CAP_REV2     0x02000000u
#define CAP_REV3     0x03000000u
#define CAP_SZ2      20 /* magic, then 2 x (permitted, inheritable) */
#define CAP_SZ3      24 /* v2, then the root id */

/* What getxattr shows of a raw security.capability V of LEN bytes (cap_inode_getsecurity,
 * seen from the initial user namespace): v2 as is; v3 with root id 0 as v2; another v3 as
 * is; anything else not at all (EINVAL).  The new length. */
static size_t
cap_as_seen (unsigned char *v, size_t len)
{
  uint32_t magic = 0, root = 0, rev;

  memcpy (&magic, v, MIN (len, sizeof magic));
  magic = le32toh (magic), rev = magic & CAP_REV_MASK;
  if (len == CAP_SZ2 && rev == CAP_REV2)
    return len;
  if (len != CAP_SZ3 || rev != CAP_REV3)
    return 0;
  memcpy (&root, v + CAP_SZ2, sizeof root);
  if (root != 0)
    return len;
  magic = htole32 (CAP_REV2 | (magic & VFS_CAP_FLAGS_EFFECTIVE));
  memcpy (v, &magic, sizeof magic);
  return CAP_SZ2;
}

/* security.capability of INO into CAP (*CAPLEN 0: none, or longer than CAPMAX, as an
 * lgetxattr into a CAPMAX-byte buffer gives). */
static int
read_cap (struct ar_ext2 *x, ext2_ino_t ino, const char *rel, unsigned char *cap, size_t capmax,
          size_t *caplen)
{
  struct ext2_xattr_handle *h = NULL;
  void *v = NULL;
  size_t len = 0;
  errcode_t e;

  *caplen = 0;
  e = ext2fs_xattrs_open (x->fs, ino, &h);
  if (!e)
    e = ext2fs_xattrs_read (h);
  if (!e) {
    e = ext2fs_xattr_get (h, "security.capability", &v, &len);
    if (e == EXT2_ET_EA_KEY_NOT_FOUND)
      e = 0;
    else if (!e && len <= capmax) {
      memcpy (cap, v, len);
      *caplen = cap_as_seen (cap, len);
    }
  }
  if (v)
    ext2fs_free_mem (&v);
  if (h)
    ext2fs_xattrs_close (&h);
  if (e)
    set_error (e, "xattrs of", rel);
  return e ? -1 : 0;
}

int
ar_ext2_stat (struct ar_ext2 *x, const char *rel, struct stat *st, unsigned char *cap,
              size_t capmax, size_t *caplen, bool *exists)
{
  struct ext2_inode_large in;
  ext2_ino_t ino;
  errcode_t e;
  int r;

  *exists = false;
  *caplen = 0;
  if ((r = lookup (x, rel, &ino)) != 0)
    return r == 1 ? 0 : -1;
  memset (&in, 0, sizeof in);
  e = ext2fs_read_inode_full (x->fs, ino, (struct ext2_inode *)&in, sizeof in);
  if (e) {
    set_error (e, "ext2fs_read_inode", rel);
    return -1;
  }
  memset (st, 0, sizeof *st); /* st_dev 0: never the device of the other tree */
  st->st_ino = ino;
  st->st_mode = in.i_mode;
  st->st_uid = inode_uid (in);
  st->st_gid = inode_gid (in);
  st->st_rdev = rdev_of (&in);
  st->st_size = EXT2_I_SIZE (&in);
  st->st_mtim = mtime_of (&in, EXT2_INODE_SIZE (x->fs->super));
  st->st_nlink = in.i_links_count;
  *exists = true;
  return read_cap (x, ino, rel, cap, capmax, caplen);
}

static unsigned char
dtype_of (int ft)
{
  static const unsigned char dt[] = {
    [EXT2_FT_REG_FILE] = DT_REG, [EXT2_FT_DIR] = DT_DIR,   [EXT2_FT_CHRDEV] = DT_CHR,
    [EXT2_FT_BLKDEV] = DT_BLK,   [EXT2_FT_FIFO] = DT_FIFO, [EXT2_FT_SOCK] = DT_SOCK,
    [EXT2_FT_SYMLINK] = DT_LNK
  };

  return ft > 0 && (size_t)ft < sizeof dt ? dt[ft] : DT_UNKNOWN;
}

struct lister {
  ar_ext2_entry_fn fn;
  void *cbdata;
  int r;
};

static int
list_one (ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset, int blocksize,
          char *buf, void *priv)
{
  struct lister *l = priv;
  int len = ext2fs_dirent_name_len (de);
  char name[EXT2_NAME_LEN + 1];

  (void)dir, (void)offset, (void)blocksize, (void)buf;
  if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE || de->inode == 0)
    return 0;
  memcpy (name, de->name, len);
  name[len] = '\0';
  if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return 0;
  l->r = l->fn (l->cbdata, name, de->inode, dtype_of (ext2fs_dirent_file_type (de)));
  return l->r ? DIRENT_ABORT : 0;
}

int
ar_ext2_list (struct ar_ext2 *x, const char *rel, ar_ext2_entry_fn fn, void *cbdata)
{
  struct lister l = { fn, cbdata, 0 };
  ext2_ino_t ino;
  errcode_t e;
  int r;

  if ((r = lookup (x, rel, &ino)) != 0) {
    if (r == 1)
      err_set (ENOENT, "ext2fs_namei %s", rel);
    return -1;
  }
  e = ext2fs_dir_iterate2 (x->fs, ino, 0, NULL, list_one, &l);
  if (e) {
    set_error (e, "ext2fs_dir_iterate", rel);
    return -1;
  }
  return l.r ? -1 : 0;
}
