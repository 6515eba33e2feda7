/* http.h: what http.c and http_stream.c share — the routing table's entries, the state of one
 * request, and the two streaming paths (tar upload into a handler, tar download out of one). */
#ifndef BUSE_GD_HTTP_H
#define BUSE_GD_HTTP_H

#include <microhttpd.h>

#include "graphdriver/api.h"

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

/* http_stream.c */
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
