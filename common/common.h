/* common.h: what every module of buse shares — logging, the thread-local error state,
 * cleanup attributes, size/bool parsing, config tables, file and process helpers.
 * libc only, except the JSON helpers at the end (jansson). */
#ifndef BUSE_COMMON_H
#define BUSE_COMMON_H

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define BUSE_VERSION "0.1.0"

#define ATTR_PRINTF(f, a) __attribute__ ((format (printf, f, a)))
#define ARRAY_SIZE(a)     (sizeof (a) / sizeof ((a)[0]))
#define MIN(a, b)         ((a) < (b) ? (a) : (b))
#define MAX(a, b)         ((a) > (b) ? (a) : (b))

/* log.c */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
void log_set_level (enum log_level level);
/* Comma-separated debug areas ("nbd,layers,gd,kdev" or "all"); -1 on an unknown area. */
int log_set_debug (const char *areas);
bool log_debug_on (const char *area);
void log_msg (enum log_level level, const char *fmt, ...) ATTR_PRINTF (2, 3);
#define log_error(...) log_msg (LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg (LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg (LOG_LEVEL_INFO, __VA_ARGS__)
/* log_debug ("nbd", "fmt", ...): printed only when the area is switched on. */
#define log_debug(area, ...)                                                                       \
  do {                                                                                             \
    if (log_debug_on (area))                                                                       \
      log_msg (LOG_LEVEL_DEBUG, __VA_ARGS__);                                                      \
  } while (0)

/* err.c — a thread-local last error: a message and an errno.
 * err_set (errno, "pwrite %s", path) records "pwrite /x: No space left on device"
 * (errnum 0 leaves out the strerror part) and sets errno to errnum. */
void err_set (int errnum, const char *fmt, ...) ATTR_PRINTF (2, 3);
/* The same without the strerror part, for a message that says it all ("no such volume: x");
 * err_errno still answers ERRNUM. */
void err_set_plain (int errnum, const char *fmt, ...) ATTR_PRINTF (2, 3);
/* Prepend context to the current message: "layer abc: <old message>". Keeps errno. */
void err_prefix (const char *fmt, ...) ATTR_PRINTF (1, 2);
const char *err_get (void); /* "" when none */
int err_errno (void);       /* 0 when none */
void err_clear (void);

/* cleanup.h-style attributes */
void cleanup_free (void *ptr);
void cleanup_close (int *fd);
void cleanup_fclose (void *fp);
#define CLEANUP_FREE   __attribute__ ((cleanup (cleanup_free)))
#define CLEANUP_CLOSE  __attribute__ ((cleanup (cleanup_close)))
#define CLEANUP_FCLOSE __attribute__ ((cleanup (cleanup_fclose)))

/* parse.c */
/* "4096", "4k", "10G", "1.5M", "64MiB", "1GB" (binary units always); -1 + err on junk/overflow. */
int parse_size (const char *s, uint64_t *out);
/* "1/0", "true/false", "yes/no", "on/off"; -1 + err otherwise. */
int parse_bool (const char *s, bool *out);
/* Format a size as "10.0 GiB" into buf. */
const char *fmt_size (uint64_t n, char *buf, size_t len);
/* Layer/export ids: [A-Za-z0-9][A-Za-z0-9_.-]{0,127}. -1 + err naming the id otherwise. */
int check_id (const char *id);

/* config.c — options as tables.  A table ends with {NULL}. */
enum cfg_type { CFG_STRING, CFG_SIZE, CFG_BOOL, CFG_INT };
struct cfg_opt {
  const char *key; /* "basesize" (the "buse." prefix is stripped by cfg_set) */
  enum cfg_type type;
  size_t offset;   /* offsetof (struct X, field): char *, uint64_t, bool, int */
  const char *def; /* default as text, or NULL */
  const char *help;
};
/* Fill every field of OBJ from the defaults. */
int cfg_defaults (const struct cfg_opt *table, void *obj);
/* "key=value" or "buse.key=value"; -1 + err naming the key when unknown or invalid. */
int cfg_set (const struct cfg_opt *table, void *obj, const char *kv);
int cfg_set_kv (const struct cfg_opt *table, void *obj, const char *key, const char *value);
void cfg_free (const struct cfg_opt *table, void *obj); /* frees CFG_STRING fields */
void cfg_print_help (const struct cfg_opt *table, const char *prefix, FILE *fp);

/* opts.c — command-line options as tables, the way config.c does Init options.  One table
 * per command; opts_parse fills a struct from argv like getopt_long (options and operands in
 * any order, "--" ends options, "-" is an operand, --long=VALUE or --long VALUE, -x VALUE,
 * bundled short flags, unique prefixes of long names) and prints --help from the table.  */
enum opt_kind {
  OPT_FLAG,   /* bool = true; takes no argument */
  OPT_STRING, /* const char * = the argument (points into argv) */
  OPT_SIZE,   /* uint64_t via parse_size, within [min, max] when max != 0 */
  OPT_UINT,   /* unsigned, decimal, within [min, max] when max != 0 */
  OPT_LIST,   /* repeatable: appends the argument to a struct opt_list */
  OPT_CALL,   /* set (field, argument) validates and stores; -1 + err on a bad value */
};
struct opt_list {
  const char **v; /* arguments in the order given (point into argv); free with opts_free */
  size_t n;
};
struct opt {
  const char *name; /* long name without "--", e.g. "mount-opts" */
  char letter;      /* short option letter, or 0 */
  enum opt_kind kind;
  size_t offset;                             /* offsetof (struct X, field) */
  const char *metavar;                       /* "DIR" in "--home DIR"; NULL for flags */
  const char *help;                          /* one line */
  uint64_t min, max;                         /* OPT_SIZE, OPT_UINT bounds; max 0 = none */
  int (*set) (void *field, const char *arg); /* OPT_CALL */
};
struct opt_cmd {
  const char *name;          /* "buse attach": starts every error message and the usage line */
  const char *synopsis;      /* "[OPTIONS] ID..." after the name on the usage line */
  const char *about;         /* text after the usage line, or NULL */
  const struct opt *opts;    /* ends with { NULL } */
  bool stop_at_operand;      /* options only before the first operand (like getopt's "+") */
  void (*epilog) (FILE *fp); /* more help after the option lines, or NULL */
};
#define OPTS_HELP (-2)
/* Parse ARGV[1..ARGC-1] (argv[0] is the command) into OBJ: returns the number of operands,
 * moved in their order to argv[1..n]; OPTS_HELP after printing --help/-h to stdout; -1 + err
 * ("buse attach: --mode: expected ...", "buse attach: unknown option '--x'").  */
int opts_parse (const struct opt_cmd *cmd, void *obj, int argc, char **argv);
/* The exit status for a negative opts_parse result: 0 after help, else the error and a hint
 * on stderr, then 2. */
int opts_exit (const struct opt_cmd *cmd, int r);
void opts_usage (const struct opt_cmd *cmd, FILE *fp);
void opts_free (const struct opt_cmd *cmd, void *obj); /* frees OPT_LIST arrays */

/* util.c */
ssize_t read_full (int fd, void *buf, size_t len);         /* -1 on error, short only at EOF */
int write_full (int fd, const void *buf, size_t len);      /* 0 or -1 */
int pread_full (int fd, void *buf, size_t len, off_t off); /* short read → zero-fill */
int pwrite_full (int fd, const void *buf, size_t len, off_t off);
int mkdir_p (const char *path, mode_t mode);
/* rm -rf PATH without crossing mount points; 0 if it did not exist. */
int remove_tree (const char *path);
/* Write a file atomically: PATH.tmp, fsync, rename, fsync the directory. */
int write_file_atomic (const char *path, const void *data, size_t len);
/* Read a whole (small) file, NUL-terminated; *len_out optional. NULL + err on failure. */
char *read_file (const char *path, size_t *len_out);
int fsync_dir_of (const char *path);
/* Files and directories made durable together (fsync_batch_run).  An fsync of a file whose
 * data is not yet on disk allocates its blocks and commits the filesystem's journal on its own
 * (about 1 ms each on a journaled ext4), so N new small files cost N commits.  The batch first
 * writes every file's data out (sync_file_range, no commit), then fsyncs each path: the first
 * fsync commits all of it, the others find it committed.  Durable when run returns 0. */
#define FSYNC_BATCH_MAX 16
struct fsync_batch {
  char *paths[FSYNC_BATCH_MAX];
  size_t n;
};
int fsync_batch_add (struct fsync_batch *b, const char *path); /* once per path; -1 when full */
int fsync_batch_add_dir_of (struct fsync_batch *b, const char *path);
int fsync_batch_run (struct fsync_batch *b); /* fsyncs, then empties the batch; 0 or -1 + err */
void fsync_batch_clear (struct fsync_batch *b);
/* A file that does not exist yet, written as PATH.tmp and renamed, not synced: B gets PATH and
 * its directory.  A crash before B is run leaves it absent, whole, or empty (delayed
 * allocation), so a reader takes an empty file for an unfinished create. */
int write_file_new (const char *path, const void *data, size_t len, struct fsync_batch *b);
/* asprintf that returns NULL + err on failure. */
char *xasprintf (const char *fmt, ...) ATTR_PRINTF (1, 2);
/* Run ARGV (argv[0] looked up in PATH), wait, return its exit status (0 = success);
 * on failure err holds "cmd: <last lines of its stderr>". stdout is discarded unless
 * OUT is given (then *out gets it, NUL-terminated, caller frees). */
int run_cmd (char *const argv[], char **out);
/* Is PATH a mount point? 1 yes, 0 no, -1 error. */
int is_mountpoint (const char *path);
uint64_t now_ns (void); /* CLOCK_MONOTONIC */

/* ---- json.c: small jansson helpers (layers/ metadata, the front ends' APIs) ---------- */
void cleanup_json_decref (void *ptr);
#define CLEANUP_JSON_DECREF __attribute__ ((cleanup (cleanup_json_decref)))
/* Load a JSON object from PATH; NULL + err (naming the file) on failure. */
json_t *json_load_path (const char *path);
/* Dump OBJ to PATH atomically (write_file_atomic). */
int json_save_path (const char *path, const json_t *obj);
/* Dump OBJ to the new file PATH, durable once B is run (write_file_new). */
int json_save_new (const char *path, const json_t *obj, struct fsync_batch *b);
/* obj[key] as a string, or NULL if missing / not a string. */
const char *json_str (const json_t *obj, const char *key);

#endif
