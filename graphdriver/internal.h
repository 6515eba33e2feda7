/* internal.h: what the files of graphdriver/ share — the endpoint handlers (api-*.c), the
 * routing table's entries and the state of one request (http.c), and the two streaming paths
 * (http-stream.c: a tar upload into a handler, a tar download out of one). */
#ifndef BUSE_GD_INTERNAL_H
#define BUSE_GD_INTERNAL_H

#include <microhttpd.h>

#include "graphdriver/graphdriver.h"

/* Handlers.  A JSON handler fills REPLY and returns 0, or returns -1 with err_set. */
typedef int (*gd_json_fn) (struct gd_daemon *d, const json_t *req, json_t *reply);
/* A tar upload (ApplyDiff): runs on its own thread, pulling the body through RD. */
typedef int (*gd_tar_in_fn) (struct gd_daemon *d, const char *id, const char *parent, ar_read_fn rd,
                             void *ctx, json_t *reply);
/* A tar download (Diff): runs on its own thread, pushing the body through WR. */
typedef int (*gd_tar_out_fn) (struct gd_daemon *d, const json_t *req, ar_write_fn wr, void *ctx);

/* api-info.c */
int gd_api_activate (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_capabilities (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_status (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_metadata (struct gd_daemon *d, const json_t *req, json_t *reply);
/* api-init.c */
int gd_api_init (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_cleanup (struct gd_daemon *d, const json_t *req, json_t *reply);
/* api-layers.c */
int gd_api_create (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_create_rw (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_remove (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_exists (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_get (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_put (struct gd_daemon *d, const json_t *req, json_t *reply);
/* The request's "ID" (present, not yet checked: the store checks), or NULL + err. */
const char *gd_req_id (const json_t *req);
/* The request's "Parent": NULL when absent or empty. */
const char *gd_req_parent (const json_t *req);
/* api-diffs.c */
int gd_api_changes (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_diff_size (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_diff (struct gd_daemon *d, const json_t *req, ar_write_fn wr, void *ctx);
int gd_api_apply_diff (struct gd_daemon *d, const char *id, const char *parent, ar_read_fn rd,
                       void *ctx, json_t *reply);

/* api-volumes.c: VolumeDriver.* (errors go in the reply's "Err": these return 0) */
int gd_vol_create (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_vol_remove (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_vol_mount (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_vol_unmount (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_vol_path (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_vol_get (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_vol_list (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_vol_capabilities (struct gd_daemon *d, const json_t *req, json_t *reply);

enum gd_body {
  GD_BODY_JSON,    /* JSON in, JSON out */
  GD_BODY_TAR_IN,  /* tar upload (query ?id=&parent=), JSON out */
  GD_BODY_TAR_OUT, /* JSON in, tar stream out */
};

struct gd_route {
  const char *path;
  enum gd_body kind;
  bool needs_init;
  gd_json_fn json;
  gd_tar_in_fn tar_in;
  gd_tar_out_fn tar_out;
};

struct gd_stream_in;

/* One HTTP request in flight (MHD's con_cls). */
struct gd_request {
  const struct gd_route *route; /* NULL: unknown path */
  bool bad_method;
  char *buf; /* JSON body */
  size_t len, cap;
  bool too_big;
  struct gd_stream_in *in;
};

const struct gd_route *gd_route_find (const char *url);
enum MHD_Result gd_http_reply (struct MHD_Connection *c, unsigned status, json_t *reply);
enum MHD_Result gd_http_error (struct MHD_Connection *c, unsigned status, const char *msg);

/* http-stream.c */
/* Start the handler of a tar upload on its own thread (NULL on out of memory). */
struct gd_stream_in *gd_stream_in_start (struct gd_daemon *d, struct MHD_Connection *c,
                                         const struct gd_route *rt);
/* Feed a piece of the body (blocks while the handler is behind; dropped after it failed). */
void gd_stream_in_data (struct gd_stream_in *s, const char *data, size_t len);
/* End of the body: wait for the handler and queue its reply. */
enum MHD_Result gd_stream_in_finish (struct gd_stream_in *s, struct MHD_Connection *c);
void gd_stream_in_free (struct gd_stream_in *s); /* accepts NULL */
/* Run a tar download handler and queue its stream (or its error, if it fails at once). */
enum MHD_Result gd_stream_out (struct gd_daemon *d, struct MHD_Connection *c,
                               const struct gd_route *rt, const json_t *req);

#endif
