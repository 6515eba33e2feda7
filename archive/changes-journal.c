/* changes-journal.c: which filesystem blocks an ext4's journal has logged.
 *
 * The guide of changes-guide.c needs the inode tables of a mounted layer to be current on its
 * device.  FIFREEZE does that by checkpointing the journal, but through NBD that costs tens of
 * milliseconds of synchronous writes and flushes.  syncfs is cheaper: it only commits every
 * change to the journal.  A committed change that is not yet checkpointed lives in a journal
 * block the layer wrote, and the descriptor block of its transaction names the block it will
 * be written to.  So, after syncfs, scanning the journal blocks among the layer's written
 * blocks for descriptor blocks gives every metadata block that may still be waiting for its
 * checkpoint; the guide treats those as written too.  Old descriptors only add candidates.
 * Format (jbd2, big-endian): a 12-byte header (magic, block type, sequence), then tags of
 * 8, 10, 12 or 16 bytes depending on the 64bit, csum v2 and csum v3 features, each followed
 * by a 16-byte UUID unless flagged SAME_UUID, the last one flagged LAST_TAG.
 * Only what we understand is used: an internal journal mapped by at most four extents in its
 * inode (depth 0) and no fast commits (their records name inodes, not blocks). */
#include <string.h>

#include "archive/internal.h"

#define BS              4096u
#define JBD2_MAGIC      0xC03B3998u
#define JBD2_DESCRIPTOR 1
#define JBD2_SB_V1      3
#define JBD2_SB_V2      4
#define JF_64BIT        0x02u
#define JF_CSUM_V2      0x08u
#define JF_CSUM_V3      0x10u
#define JF_FAST_COMMIT  0x20u
#define TAG_SAME_UUID   0x2u
#define TAG_LAST        0x8u
#define EXT4_EXTENTS_FL 0x80000u
#define EXT_MAGIC       0xF30A
#define EXT_MAX         4

struct ar_journal {
  size_t n;
  uint64_t lblk[EXT_MAX], pblk[EXT_MAX], len[EXT_MAX];
  unsigned tag_bytes;
  bool csum_v3, big, tail; /* tag3 layout; 64-bit block numbers; 4-byte tail checksum */
};

static uint32_t
be32 (const unsigned char *p)
{
  return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint16_t
be16 (const unsigned char *p)
{
  return p[0] << 8 | p[1];
}

/* The extents in the journal inode's i_block (depth 0 only). */
static int
load_extents (struct ar_journal *j, const unsigned char *ino)
{
  const unsigned char *h = ino + 0x28;

  if (!(le32 (ino + 0x20) & EXT4_EXTENTS_FL) || le16 (h) != EXT_MAGIC || le16 (h + 6) != 0 ||
      le16 (h + 2) == 0 || le16 (h + 2) > EXT_MAX)
    return -1;
  j->n = le16 (h + 2);
  for (size_t i = 0; i < j->n; i++) {
    const unsigned char *e = h + 12 + 12 * i;
    uint16_t len = le16 (e + 4);
    j->lblk[i] = le32 (e);
    j->len[i] = len > 32768 ? len - 32768 : len; /* above 32768: an unwritten extent */
    j->pblk[i] = (uint64_t)le16 (e + 6) << 32 | le32 (e + 8);
  }
  return 0;
}

/* Tag size and layout from the journal superblock (journal block 0). */
static int
load_features (struct ar_journal *j, const unsigned char *sb)
{
  uint32_t type = be32 (sb + 4), incompat = type == JBD2_SB_V2 ? be32 (sb + 0x28) : 0;

  if (be32 (sb) != JBD2_MAGIC || (type != JBD2_SB_V1 && type != JBD2_SB_V2) ||
      be32 (sb + 0xC) != BS || incompat & JF_FAST_COMMIT)
    return -1;
  j->csum_v3 = incompat & JF_CSUM_V3;
  j->big = incompat & JF_64BIT;
  j->tail = incompat & (JF_CSUM_V2 | JF_CSUM_V3);
  if (j->csum_v3)
    j->tag_bytes = 16;
  else
    j->tag_bytes = 12 + (incompat & JF_CSUM_V2 ? 2 : 0) - (j->big ? 0 : 4);
  return 0;
}

struct ar_journal *
ar_journal_open (struct layer_stack *ls, uint64_t inode_off)
{
  struct ar_journal *j = calloc (1, sizeof *j);
  unsigned char ino[256], sb[BS];

  if (!j) {
    err_set (errno, "calloc");
    return NULL;
  }
  if (layer_stack_pread (ls, ino, sizeof ino, inode_off) == -1)
    goto err;
  if (load_extents (j, ino) == -1 || j->lblk[0] != 0) {
    err_set (ENOTSUP, "journal: not a plain extent-mapped inode");
    goto err;
  }
  if (layer_stack_pread (ls, sb, sizeof sb, j->pblk[0] * BS) == -1)
    goto err;
  if (load_features (j, sb) == -1) {
    err_set (ENOTSUP, "journal: not a jbd2 superblock we understand");
    goto err;
  }
  return j;
err:
  free (j);
  return NULL;
}

void
ar_journal_free (struct ar_journal *j)
{
  free (j);
}

bool
ar_journal_has (const struct ar_journal *j, uint64_t b)
{
  for (size_t i = 0; i < j->n; i++)
    if (b >= j->pblk[i] && b < j->pblk[i] + j->len[i])
      return true;
  return false;
}

/* The block number and flags of the tag at P. */
static uint64_t
tag_block (const struct ar_journal *j, const unsigned char *p, uint32_t *flags)
{
  uint64_t hi = j->big || j->csum_v3 ? be32 (p + 8) : 0;

  *flags = j->csum_v3 ? be32 (p + 4) : be16 (p + 6);
  return (j->big ? hi << 32 : 0) | be32 (p);
}

int
ar_journal_scan (const struct ar_journal *j, struct layer_stack *ls, uint64_t b,
                 int (*fn) (void *cbdata, uint64_t blk), void *cbdata)
{
  unsigned char blk[BS];
  size_t at = 12, end = BS - (j->tail ? 4 : 0);
  uint32_t flags = 0;

  if (layer_stack_pread (ls, blk, sizeof blk, b * BS) == -1)
    return -1;
  if (be32 (blk) != JBD2_MAGIC || be32 (blk + 4) != JBD2_DESCRIPTOR)
    return 0;
  while (!(flags & TAG_LAST) && at + j->tag_bytes <= end) {
    uint64_t target = tag_block (j, blk + at, &flags);
    if (fn (cbdata, target) == -1)
      return -1;
    at += j->tag_bytes + (flags & TAG_SAME_UUID ? 0 : 16);
  }
  return 0;
}
