/* bmap.c: the 2-bit block map of a diff (0 absent, 1 present, 2 zero).  In memory it is an
 * array of 64-bit words, 32 blocks a word, updated with atomic compare-and-swap so writers of
 * neighbouring blocks never need a lock.  On disk it is the same bytes (little-endian), written
 * back page by page: a page is marked dirty after its bits change and only dirty pages are
 * written at flush. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layers/internal.h"

/* The words live in their own anonymous mapping: pages never written stay unbacked (the map
 * of a 10 GiB layer is 640 KiB, mostly zeros, and a daemon holds one per mounted layer). */
static uint64_t *
words_alloc (size_t nwords)
{
  void *p = mmap (NULL, (nwords ? nwords : 1) * 8, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

size_t
bmap_file_size (uint64_t nblocks)
{
  uint64_t bytes = (nblocks + 3) / 4;
  return (bytes + BMAP_PAGE - 1) / BMAP_PAGE * BMAP_PAGE;
}

struct bmap *
bmap_new (uint64_t nblocks)
{
  struct bmap *m = calloc (1, sizeof *m);

  if (!m) {
    err_set (errno, "calloc");
    return NULL;
  }
  m->nblocks = nblocks;
  m->npages = bmap_file_size (nblocks) / BMAP_PAGE;
  m->nwords = m->npages * BMAP_PAGE_WORDS;
  m->w = words_alloc (m->nwords);
  m->dirty = calloc ((m->npages + 63) / 64 + 1, sizeof *m->dirty);
  if (!m->w || !m->dirty) {
    err_set (ENOMEM, "bmap of %" PRIu64 " blocks", nblocks);
    bmap_free (m);
    return NULL;
  }
  return m;
}

void
bmap_free (struct bmap *m)
{
  if (!m)
    return;
  if (m->w)
    munmap (m->w, (m->nwords ? m->nwords : 1) * 8);
  free (m->dirty);
  free (m);
}

unsigned
bmap_get (const struct bmap *m, uint64_t b)
{
  if (b >= m->nblocks)
    return BMAP_ABSENT;
  uint64_t w = __atomic_load_n (&m->w[b / 32], __ATOMIC_ACQUIRE);
  return (w >> (2 * (b % 32))) & 3;
}

static void
mark_page (struct bmap *m, size_t page)
{
  __atomic_fetch_or (&m->dirty[page / 64], 1ull << (page % 64), __ATOMIC_RELEASE);
}

/* Set the blocks selected by MASK in word I to VAL (already shifted). */
static bool
set_word (struct bmap *m, size_t i, uint64_t mask, uint64_t val)
{
  uint64_t old = __atomic_load_n (&m->w[i], __ATOMIC_RELAXED), nw;
  do {
    nw = (old & ~mask) | (val & mask);
    if (nw == old)
      return false;
  } while (
      !__atomic_compare_exchange_n (&m->w[i], &old, nw, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
  return true;
}

void
bmap_set_range (struct bmap *m, uint64_t b, uint64_t n, unsigned state)
{
  const uint64_t pattern = 0x5555555555555555ull * state;
  uint64_t end = MIN (b + n, m->nblocks);

  while (b < end) {
    size_t i = b / 32;
    unsigned first = b % 32;
    unsigned last = (end - (uint64_t)i * 32) >= 32 ? 32 : end - (uint64_t)i * 32;
    uint64_t mask =
        last - first == 32 ? ~0ull : ((1ull << (2 * (last - first))) - 1) << (2 * first);
    if (set_word (m, i, mask, pattern))
      mark_page (m, i / BMAP_PAGE_WORDS);
    b = (uint64_t)i * 32 + last;
  }
}

uint64_t
bmap_run_end (const struct bmap *m, uint64_t b, uint64_t end)
{
  unsigned s = bmap_get (m, b);
  const uint64_t pattern = 0x5555555555555555ull * s;

  end = MIN (end, m->nblocks);
  for (b++; b < end;) {
    if (b % 32 == 0 && end - b >= 32) {
      if (__atomic_load_n (&m->w[b / 32], __ATOMIC_ACQUIRE) == pattern) {
        b += 32;
        continue;
      }
    }
    if (bmap_get (m, b) != s)
      return b;
    b++;
  }
  return end;
}

uint64_t
bmap_count_owned (const struct bmap *m)
{
  uint64_t n = 0;
  for (size_t i = 0; i < m->nwords; i++) {
    uint64_t w = __atomic_load_n (&m->w[i], __ATOMIC_RELAXED);
    /* a block is owned when either of its two bits is set */
    n += __builtin_popcountll ((w | (w >> 1)) & 0x5555555555555555ull);
  }
  return n;
}

int
bmap_load (struct bmap *m, int fd)
{
  off_t end = (off_t)m->nwords * 8, pos = 0;

  /* Only the file's data: its holes read as zeros, which the fresh mapping already is. */
  while (pos < end) {
    off_t d = lseek (fd, pos, SEEK_DATA), h;
    if (d == -1 && errno == ENXIO)
      break;
    if (d == -1 || (h = lseek (fd, d, SEEK_HOLE)) == -1) { /* no SEEK_DATA: read it all */
      d = pos;
      h = end;
    }
    if (d >= end)
      break;
    h = h > end ? end : h;
    if (pread_full (fd, (char *)m->w + d, (size_t)(h - d), d) == -1) {
      err_set (errno, "read map");
      return -1;
    }
    pos = h;
  }
  /* bits past nblocks must be absent (a damaged tail must not own anything) */
  if (m->nblocks % 32)
    m->w[m->nblocks / 32] &= (1ull << (2 * (m->nblocks % 32))) - 1;
  for (size_t i = (m->nblocks + 31) / 32; i < m->nwords; i++)
    m->w[i] = 0;
  return 0;
}

int
bmap_save_all (struct bmap *m, int fd)
{
  if (pwrite_full (fd, m->w, m->nwords * 8, 0) == -1) {
    err_set (errno, "write map");
    return -1;
  }
  memset (m->dirty, 0, ((m->npages + 63) / 64) * 8);
  return 0;
}

uint8_t *
bmap_take_dirty (struct bmap *m, size_t **pages, size_t *n)
{
  size_t cnt = 0, k = 0;
  uint8_t *buf;

  *n = 0, *pages = NULL;
  for (size_t i = 0; i < (m->npages + 63) / 64; i++)
    cnt += __builtin_popcountll (__atomic_load_n (&m->dirty[i], __ATOMIC_ACQUIRE));
  if (cnt == 0)
    return NULL;
  buf = malloc (cnt * BMAP_PAGE);
  *pages = malloc (cnt * sizeof **pages);
  if (!buf || !*pages) {
    free (buf), free (*pages), *pages = NULL;
    err_set (ENOMEM, "map flush buffer");
    return NULL;
  }
  for (size_t i = 0; i < (m->npages + 63) / 64 && k < cnt; i++) {
    uint64_t bits = __atomic_exchange_n (&m->dirty[i], 0, __ATOMIC_ACQ_REL);
    /* pages dirtied after the count above are left for the next flush */
    while (bits) {
      unsigned j = __builtin_ctzll (bits);
      size_t p = i * 64 + j;
      bits &= bits - 1;
      if (k == cnt) {
        mark_page (m, p);
        continue;
      }
      uint64_t *dst = (uint64_t *)(buf + k * BMAP_PAGE);
      for (size_t x = 0; x < BMAP_PAGE_WORDS; x++)
        dst[x] = __atomic_load_n (&m->w[p * BMAP_PAGE_WORDS + x], __ATOMIC_ACQUIRE);
      (*pages)[k++] = p;
    }
  }
  *n = k;
  return buf;
}

void
bmap_mark_dirty (struct bmap *m, const size_t *pages, size_t n)
{
  for (size_t i = 0; i < n; i++)
    mark_page (m, pages[i]);
}
