/* mountmgr.h: what mountmgr.c (mounting, Get/Put) and mountmgr_life.c (start, restore,
 * session, create/remove, stop) share: the table of mounted layers and its helpers. */
#ifndef BUSE_GD_MOUNTMGR_H
#define BUSE_GD_MOUNTMGR_H

#include "graphdriver/api.h"

struct gd_mm_entry {
  char id[LAYER_ID_MAX + 1];
  unsigned count;    /* dockerd's references: saved, restored at start */
  unsigned internal; /* our own (ApplyDiff, Diff...): die with the process */
  struct kdev *dev;
  bool mounted;
};

struct gd_mounts {
  pthread_mutex_t lock;
  pthread_cond_t released; /* an internal reference was dropped */
  char *home, *state_file, *kdev_state, *mountopt;
  struct layer_store *st;
  struct nbds_server *srv;
  enum kdev_mode mode;
  bool stopping; /* starting or stopping: busy mounts are detached lazily, without waiting */
  struct gd_mm_entry *e;
  size_t n, cap;
};

/* <home>/mnt/<id>/<leaf> ("" for the directory itself); NULL + err. */
char *gd_mm_path_of (struct gd_mounts *m, const char *id, const char *leaf);
struct gd_mm_entry *gd_mm_find (struct gd_mounts *m, const char *id);
struct gd_mm_entry *gd_mm_find_or_add (struct gd_mounts *m, const char *id);
void gd_mm_drop (struct gd_mounts *m, struct gd_mm_entry *e);
/* Save dockerd's counts in <state>/mounts.json (a warning on failure). */
void gd_mm_save (struct gd_mounts *m);
/* Unmount rootfs and fs of ID (whether or not we mounted them). */
int gd_mm_umount_dirs (struct gd_mounts *m, const char *id);
int gd_mm_unmount_layer (struct gd_mounts *m, struct gd_mm_entry *e);
/* Attach ID, mount its filesystem, bind its rootfs/, apply its size limit. */
int gd_mm_mount_layer (struct gd_mounts *m, struct gd_mm_entry *e);
bool gd_mm_healthy (struct gd_mounts *m, struct gd_mm_entry *e);

#endif
