/* test-common.c: unit tests of common/ — sizes, booleans, ids, config tables, errors,
 * atomic files and run_cmd. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

#include "tests/unit/check.h"

struct conf {
  uint64_t size;
  bool flag;
  char *name;
  int n;
};
static const struct cfg_opt table[] = {
  { "basesize", CFG_SIZE, offsetof (struct conf, size), "10G", "base size" },
  { "flag", CFG_BOOL, offsetof (struct conf, flag), "false", "a flag" },
  { "name", CFG_STRING, offsetof (struct conf, name), "ext4", "a name" },
  { "n", CFG_INT, offsetof (struct conf, n), NULL, "a number" },
  { NULL },
};

static void
test_parse (void)
{
  uint64_t v;
  bool b;
  CHECK (parse_size ("4096", &v) == 0 && v == 4096);
  CHECK (parse_size ("4k", &v) == 0 && v == 4096);
  CHECK (parse_size ("10G", &v) == 0 && v == 10ull << 30);
  CHECK (parse_size ("64MiB", &v) == 0 && v == 64ull << 20);
  CHECK (parse_size ("1.5M", &v) == 0 && v == 3ull << 19);
  CHECK (parse_size ("", &v) == -1);
  CHECK (parse_size ("-1", &v) == -1);
  CHECK (parse_size ("12Q", &v) == -1 && strstr (err_get (), "12Q"));
  CHECK (parse_size ("99E", &v) == -1);
  CHECK (parse_bool ("yes", &b) == 0 && b);
  CHECK (parse_bool ("off", &b) == 0 && !b);
  CHECK (parse_bool ("maybe", &b) == -1);
  CHECK (check_id ("abc123") == 0);
  CHECK (check_id ("0123abcdef-init") == 0);
  CHECK (check_id ("../etc") == -1 && strstr (err_get (), "../etc"));
  CHECK (check_id ("a/b") == -1);
  CHECK (check_id ("") == -1);
  CHECK (check_id (".hidden") == -1);
}

static void
test_config (void)
{
  struct conf c = { 0 };
  CHECK (cfg_defaults (table, &c) == 0);
  CHECK (c.size == 10ull << 30 && !c.flag && strcmp (c.name, "ext4") == 0);
  CHECK (cfg_set (table, &c, "buse.basesize=20G") == 0 && c.size == 20ull << 30);
  CHECK (cfg_set (table, &c, "flag=true") == 0 && c.flag);
  CHECK (cfg_set (table, &c, "name=xfs") == 0 && strcmp (c.name, "xfs") == 0);
  CHECK (cfg_set (table, &c, "n=7") == 0 && c.n == 7);
  CHECK (cfg_set (table, &c, "buse.bogus=1") == -1 && strstr (err_get (), "bogus"));
  CHECK (cfg_set (table, &c, "basesize=huge") == -1 && strstr (err_get (), "basesize"));
  CHECK (cfg_set (table, &c, "noequals") == -1);
  cfg_free (table, &c);
  CHECK (c.name == NULL);
}

static void
test_files (void)
{
  char dir[] = "/tmp/buse-unit.XXXXXX";
  CHECK (mkdtemp (dir) != NULL);
  CLEANUP_FREE char *sub = xasprintf ("%s/a/b/c", dir);
  CLEANUP_FREE char *file = xasprintf ("%s/a/f.json", dir);
  CHECK (mkdir_p (sub, 0755) == 0);
  CHECK (write_file_atomic (file, "{}", 2) == 0);
  size_t len;
  CLEANUP_FREE char *text = read_file (file, &len);
  CHECK (text && len == 2 && strcmp (text, "{}") == 0);
  CHECK (read_file ("/nonexistent/x", NULL) == NULL && err_errno () == ENOENT);

  /* a batch: new files written, not synced, then made durable together */
  struct fsync_batch b = { .n = 0 };
  CLEANUP_FREE char *nf = xasprintf ("%s/a/b/new.json", dir);
  CLEANUP_FREE char *nf_tmp = xasprintf ("%s.tmp", nf);
  CHECK (write_file_new (nf, "[1]", 3, &b) == 0);
  CHECK (access (nf_tmp, F_OK) == -1);
  CLEANUP_FREE char *nf_dir = xasprintf ("%s/a/b", dir);
  CHECK (b.n == 2 && strcmp (b.paths[0], nf) == 0 && strcmp (b.paths[1], nf_dir) == 0);
  CHECK (fsync_batch_add (&b, nf) == 0 && b.n == 2);         /* once per path */
  CHECK (fsync_batch_add_dir_of (&b, sub) == 0 && b.n == 2); /* a/b again */
  CHECK (fsync_batch_add (&b, sub) == 0 && b.n == 3);
  CHECK (fsync_batch_run (&b) == 0 && b.n == 0);
  CLEANUP_FREE char *ntext = read_file (nf, &len);
  CHECK (ntext && len == 3 && strcmp (ntext, "[1]") == 0);
  for (int i = 0; i < FSYNC_BATCH_MAX; i++) {
    char p[32];
    snprintf (p, sizeof p, "/x%d", i);
    CHECK (fsync_batch_add (&b, p) == 0);
  }
  CHECK (fsync_batch_add (&b, "/one-too-many") == -1 && err_errno () == E2BIG);
  fsync_batch_clear (&b);
  CHECK (b.n == 0);
  CHECK (fsync_batch_add (&b, "/nonexistent/y") == 0);
  CHECK (fsync_batch_run (&b) == -1 && err_errno () == ENOENT &&
         strstr (err_get (), "/nonexistent/y"));
  CHECK (b.n == 0);
  CHECK (write_file_new ("/nonexistent/z.json", "{}", 2, &b) == -1 && b.n == 0);

  CHECK (remove_tree (dir) == 0);
  CHECK (access (dir, F_OK) == -1);
  CHECK (remove_tree (dir) == 0);
}

static void
test_run_cmd (void)
{
  char *out = NULL;
  char *echo[] = { "sh", "-c", "echo hello; echo oops >&2", NULL };
  char *bad[] = { "sh", "-c", "echo first >&2; echo 'it broke' >&2; exit 3", NULL };
  char *missing[] = { "buse-no-such-tool", NULL };
  CHECK (run_cmd (echo, &out) == 0 && strcmp (out, "hello\n") == 0);
  free (out);
  CHECK (run_cmd (bad, NULL) == 3 && strstr (err_get (), "it broke"));
  CHECK (run_cmd (missing, NULL) != 0 && strstr (err_get (), "buse-no-such-tool"));
}

static void
test_err (void)
{
  err_set (ENOSPC, "pwrite %s", "/x");
  CHECK (strcmp (err_get (), "pwrite /x: No space left on device") == 0);
  CHECK (err_errno () == ENOSPC && errno == ENOSPC);
  err_prefix ("layer %s", "abc");
  CHECK (strcmp (err_get (), "layer abc: pwrite /x: No space left on device") == 0);
  err_clear ();
  CHECK (err_get ()[0] == '\0' && err_errno () == 0);
}

int
main (void)
{
  test_parse ();
  test_config ();
  test_files ();
  test_run_cmd ();
  test_err ();
  printf ("test-common: %s\n", failures ? "FAILED" : "ok");
  return CHECK_RESULT ();
}
