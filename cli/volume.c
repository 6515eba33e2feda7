/* volume.c: `buse volume ls|inspect|create|snapshot|rm` — the block volumes of a running
 * `buse serve`, through its VolumeDriver API on the plugin socket (the daemon owns the
 * volume store and its mounts, so this is safe beside it; dockerd's own records are not
 * touched: a volume made here shows in `docker volume ls` once dockerd asks List). */
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"

struct args {
  const char *sock;
  struct opt_list opts; /* create: -o KEY=VALUE */
};

static const struct opt volume_opts[] = {
  { "socket", 0, OPT_STRING, offsetof (struct args, sock), "PATH",
    .help = "buse serve's plugin socket (default " CLI_DEFAULT_SOCKET ")" },
  { "opt", 'o', OPT_LIST, offsetof (struct args, opts), "KEY=VALUE",
    .help = "create: a volume option (size=, from=, ro, fs=ext4), repeatable" },
  { NULL },
};

static void
volume_epilog (FILE *fp)
{
  fprintf (fp, "\ncommands:\n"
               "  ls                    the volumes: name, size, bytes held, mounts\n"
               "  inspect NAME          one volume as JSON\n"
               "  create NAME [-o K=V]  a new volume (as docker volume create -d buse)\n"
               "  snapshot VOL NAME     NAME: an O(1) copy of VOL's content now (VOL may be in "
               "use)\n"
               "  rm NAME               remove a volume and its data\n");
}

static const struct opt_cmd volume_cmd = {
  .name = "buse volume",
  .synopsis = "ls | inspect NAME | create NAME [-o K=V]... | snapshot VOL NAME | rm NAME "
              "[--socket PATH]",
  .about = "Manage the block volumes of a running buse serve (through its plugin socket).",
  .opts = volume_opts,
  .epilog = volume_epilog,
};

/* POST BODY to METHOD (/VolumeDriver.X) on SOCK; the reply's JSON, NULL + err.  A reply
 * whose "Err" is set becomes that error. */
static json_t *
call (const char *sock, const char *method, json_t *body)
{
  CLEANUP_FREE char *text = json_dumps (body, JSON_COMPACT), *req = NULL, *resp = NULL;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  size_t len = 0, cap = 0;
  json_error_t je;
  json_t *j;
  int fd;

  if (!text || strlen (sock) >= sizeof sa.sun_path) {
    err_set (EINVAL, "socket path %s", sock);
    return NULL;
  }
  strcpy (sa.sun_path, sock);
  if ((fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
      connect (fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
    err_set (errno, "cannot reach buse serve on %s", sock);
    if (fd != -1)
      close (fd);
    return NULL;
  }
  req = xasprintf ("POST /VolumeDriver.%s HTTP/1.0\r\nHost: buse\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   method, strlen (text), text);
  if (!req || write_full (fd, req, strlen (req)) == -1) {
    close (fd);
    return NULL;
  }
  for (;;) {
    if (len + 4096 + 1 > cap) {
      char *n = realloc (resp, cap = cap * 2 + 8192);
      if (!n) {
        close (fd);
        err_set (ENOMEM, "reply");
        return NULL;
      }
      resp = n;
    }
    ssize_t r = read (fd, resp + len, cap - len - 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  close (fd);
  if (!resp || len == 0) {
    err_set (EPROTO, "no reply from buse serve on %s", sock);
    return NULL;
  }
  resp[len] = '\0';
  const char *b = strstr (resp, "\r\n\r\n");
  if (!b || !(j = json_loads (b + 4, 0, &je))) {
    err_set (EPROTO, "buse serve on %s: a reply that is not JSON", sock);
    return NULL;
  }
  const char *e = json_string_value (json_object_get (j, "Err"));
  if (e && *e) {
    err_set_plain (EIO, "%s", e);
    json_decref (j);
    return NULL;
  }
  return j;
}

static int
print_json (const json_t *j)
{
  char *s = json_dumps (j, JSON_INDENT (2) | JSON_SORT_KEYS);

  if (!s)
    return 1;
  puts (s);
  free (s);
  return 0;
}

static int
list (const char *sock)
{
  CLEANUP_JSON_DECREF json_t *r = call (sock, "List", json_object ());
  size_t i;
  json_t *v;

  if (!r)
    return cli_fail ("volume ls");
  printf ("%-24s %12s %12s %6s  %s\n", "NAME", "SIZE", "HELD", "MOUNTS", "OPTIONS");
  json_array_foreach (json_object_get (r, "Volumes"), i, v)
  {
    json_t *st = json_object_get (v, "Status");
    char opts[256] = "", *p = opts;
    const char *key;
    json_t *val;

    json_object_foreach (st, key, val) if (json_is_string (val) && p < opts + sizeof opts - 1) p +=
        snprintf (p, (size_t)(opts + sizeof opts - p), "%s%s=%s", p == opts ? "" : ",", key,
                  json_string_value (val));
    printf ("%-24s %12lld %12lld %6lld  %s\n", json_string_value (json_object_get (v, "Name")),
            (long long)json_integer_value (json_object_get (st, "SizeBytes")),
            (long long)json_integer_value (json_object_get (st, "DiskBytes")),
            (long long)json_integer_value (json_object_get (st, "Mounts")), opts);
  }
  return 0;
}

/* -o KEY=VALUE list → {"KEY": "VALUE"} ("ro" alone → {"ro": ""}, as dockerd sends it). */
static json_t *
opts_object (const struct opt_list *l)
{
  json_t *o = json_object ();

  for (size_t i = 0; o && i < l->n; i++) {
    const char *eq = strchr (l->v[i], '=');
    CLEANUP_FREE char *k = eq ? strndup (l->v[i], (size_t)(eq - l->v[i])) : strdup (l->v[i]);
    json_object_set_new (o, k ? k : "", json_string (eq ? eq + 1 : ""));
  }
  return o;
}

int
cmd_volume (int argc, char **argv)
{
  struct args a = { .sock = CLI_DEFAULT_SOCKET };
  CLEANUP_JSON_DECREF json_t *r = NULL;
  const char *sub;
  int first = cli_parse (&volume_cmd, &a, &argc, argv), rc = 1;

  if (first < 0)
    return first == -2 ? 0 : 2;
  sub = argc > 1 ? argv[1] : "";
  if (!strcmp (sub, "ls") && argc == 2)
    rc = list (a.sock);
  else if (!strcmp (sub, "inspect") && argc == 3) {
    if ((r = call (a.sock, "Get", json_pack ("{s:s}", "Name", argv[2]))))
      rc = print_json (json_object_get (r, "Volume"));
    else
      rc = cli_fail ("volume inspect");
  } else if (!strcmp (sub, "create") && argc == 3) {
    json_t *o = opts_object (&a.opts);
    if ((r = call (a.sock, "Create", json_pack ("{s:s, s:o}", "Name", argv[2], "Opts", o))))
      rc = printf ("%s\n", argv[2]) < 0;
    else
      rc = cli_fail ("volume create");
  } else if (!strcmp (sub, "snapshot") && argc == 4) {
    if ((r = call (a.sock, "Create",
                   json_pack ("{s:s, s:{s:s}}", "Name", argv[3], "Opts", "from", argv[2]))))
      rc = printf ("%s\n", argv[3]) < 0;
    else
      rc = cli_fail ("volume snapshot");
  } else if (!strcmp (sub, "rm") && argc == 3) {
    if ((r = call (a.sock, "Remove", json_pack ("{s:s}", "Name", argv[2]))))
      rc = printf ("%s\n", argv[2]) < 0;
    else
      rc = cli_fail ("volume rm");
  } else {
    opts_usage (&volume_cmd, stderr);
    rc = 2;
  }
  opts_free (&volume_cmd, &a);
  return rc;
}
