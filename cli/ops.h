/* ops.h: what the operator commands (cmd_ops.c, ops_fsck.c) share — a scan of a layer store's
 * files read straight from disk (ops_scan.c), independent of layers/, so that `buse fsck` and
 * `buse gc` judge the store by its on-disk format rather than by the code that wrote it. */
#ifndef BUSE_GD_OPS_H
#define BUSE_GD_OPS_H

#include "graphdriver/gd.h"

struct ops_diff {
  char id[LAYER_ID_MAX + 1];
  char parent[LAYER_ID_MAX + 1]; /* "" for a diff without parent (the base) */
  char state[16];                /* "ready", "creating", "removing", "" if unreadable */
  uint64_t size;                 /* virtual size */
  bool meta_ok;                  /* meta.json parsed and complete */
  unsigned users;                /* layers whose chain contains it */
  bool reached;                  /* the base, or in some layer's chain */
};

struct ops_layer {
  char id[LAYER_ID_MAX + 1];
  char parent[LAYER_ID_MAX + 1];
  char top[LAYER_ID_MAX + 1];
  char state[16];
  bool ok; /* parsed, names a top diff */
};

struct ops_store {
  char *home;
  char base[LAYER_ID_MAX + 1];
  bool store_ok; /* store.json parsed */
  struct ops_diff *d;
  size_t nd;
  struct ops_layer *l;
  size_t nl;
  char **mnt; /* names under mnt/ */
  size_t nmnt;
};

/* Read store.json, diffs/<id>/meta.json, layers/<id>.json and list mnt/.  Unreadable
 * entries are kept with meta_ok/ok false; -1 only when HOME cannot be read at all. */
int ops_scan (const char *home, struct ops_store *s);
void ops_store_free (struct ops_store *s);
struct ops_diff *ops_find_diff (struct ops_store *s, const char *id);
struct ops_layer *ops_find_layer (struct ops_store *s, const char *id);
/* Call FN for each diff of L's chain, top first; stops at a missing diff or a loop. */
void ops_chain (struct ops_store *s, const struct ops_layer *l,
                void (*fn) (void *cbdata, struct ops_diff *d), void *cbdata);
/* Take the store's lock (<home>/lock, the flock layer_store_open takes) without waiting:
 * an fd to close later, or -1 + err (EBUSY naming the lock when a daemon holds it). */
int ops_lock (const char *home);
/* Size in bytes of the map file of a diff of SIZE bytes (2 bits a 4 KiB block, 4 KiB pages). */
uint64_t ops_map_size (uint64_t size);

#endif
