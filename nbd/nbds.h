/* nbds.h: the public interface of nbd/ — buse's NBD protocol server (nbds_*): handshake,
 * requests, replies, listeners, splice, and the client side of the handshake.
 * nbd/ depends on common/ only: it sees data through struct nbds_backend. */
#ifndef BUSE_NBDS_H
#define BUSE_NBDS_H

#include <stdbool.h>
#include <stdint.h>

/* ---- backends ----------------------------------------------------------------------- */

/* Extent flags, as in NBD base:allocation. */
#define NBDS_EXTENT_HOLE 1u /* not allocated */
#define NBDS_EXTENT_ZERO 2u /* reads as zeroes */

typedef int (*nbds_extent_fn) (void *cbdata, uint64_t offset, uint64_t length, uint32_t flags);
/* One run of a read: LEN bytes at OFF of file FD (-1: zeros), DIRECT if FD is opened
 * O_DIRECT.  0 go on, -1 stop (errno). */
typedef int (*nbds_run_fn) (void *cbdata, int fd, uint64_t off, uint64_t len, bool direct);

/* A backend is a table of callbacks over an opaque handle.  Every call returns 0 on success
 * or -1 with errno set (and err_set for the log); the server maps errno to NBD_E* in one place.
 * Calls may come from several worker threads at once: a backend is thread-safe.
 * NULL callbacks mean "not supported" and the matching flag is not advertised
 * (trim, zero, extents, cache); flush NULL means writes are always durable. */
struct nbds_backend {
  const char *name; /* for logs: "file", "layer" */
  int64_t (*get_size) (void *h);
  int (*pread) (void *h, void *buf, uint32_t count, uint64_t offset);
  int (*pwrite) (void *h, const void *buf, uint32_t count, uint64_t offset, bool fua);
  int (*flush) (void *h);
  int (*trim) (void *h, uint32_t count, uint64_t offset, bool fua);
  /* may_trim: the backend may punch a hole (NO_HOLE not set).  fast: FAST_ZERO was asked —
   * fail with ENOTSUP rather than write zeroes slowly. */
  int (*zero) (void *h, uint32_t count, uint64_t offset, bool may_trim, bool fast, bool fua);
  /* Report extents covering at least [offset, offset+count) in order, calling fn per extent;
   * stop early (return 0) when fn returns non-zero. */
  int (*extents) (void *h, uint32_t count, uint64_t offset, nbds_extent_fn fn, void *cbdata);
  int (*cache) (void *h, uint32_t count, uint64_t offset);
  /* Called when the export is removed from the server and no connection uses it any more. */
  void (*close) (void *h);
  /* Optional: pread that fails with EAGAIN instead of blocking (data not in the page cache;
   * RWF_NOWAIT).  The connection's reader thread then answers cached reads itself, without
   * a hand-off to a worker thread; anything else still goes to the workers. */
  int (*pread_nowait) (void *h, void *buf, uint32_t count, uint64_t offset);
  /* Optional: the files [offset, offset+count) is read from, run by run in order, fn called
   * while the runs stay valid; what fn returns -1 for stops it (-1).  The server then splices
   * the data from those files into the socket instead of copying it through a buffer.  probe:
   * the server only looks at the runs (it reads them in a second call), not a read to count. */
  int (*read_runs) (void *h, uint32_t count, uint64_t offset, bool probe, nbds_run_fn fn,
                    void *cbdata);
};

/* ---- server ------------------------------------------------------------------------- */

struct nbds_server;

struct nbds_opts {
  unsigned workers;      /* worker threads per connection, default 8 */
  unsigned max_requests; /* in flight per connection, default 64 */
  uint32_t max_payload;  /* largest READ/WRITE, default 32 MiB */
  /* A client gets this long, in total, to finish negotiating, default 60 s (cli/ sets it
   * from BUSE_NBD_HANDSHAKE_TIMEOUT, for tests). */
  unsigned handshake_timeout_ms;
};

/* Exports can also be found on demand (graphdriver: every committed layer is an export).
 * open: called on OPT_GO/EXPORT_NAME for a name not added with nbds_add_export; fill
 * *backend, *handle, *read_only and return 0, or -1 (unknown name → NBD_REP_ERR_UNKNOWN).
 * The server calls backend->close (handle) when that connection ends.
 * list: call fn for every name (OPT_LIST). */
struct nbds_resolver {
  int (*open) (void *ctx, const char *name, const struct nbds_backend **backend, void **handle,
               bool *read_only);
  int (*list) (void *ctx, int (*fn) (void *cbdata, const char *name), void *cbdata);
  void *ctx;
};

struct nbds_server *nbds_new (const struct nbds_opts *opts); /* opts may be NULL */
/* Stops listeners, disconnects every client, closes exports, frees.  Accepts NULL. */
void nbds_free (struct nbds_server *srv);
void nbds_set_resolver (struct nbds_server *srv, const struct nbds_resolver *r);
/* Add a named export.  The server owns HANDLE from now on and calls backend->close on it
 * when the export is removed (after its last connection ended). */
int nbds_add_export (struct nbds_server *srv, const char *name, const char *description,
                     const struct nbds_backend *backend, void *handle, bool read_only);
/* Remove an export: refuses new connections to it and disconnects the open ones. */
int nbds_remove_export (struct nbds_server *srv, const char *name);
/* Listeners run on their own threads.  A unix socket is created mode 0600. */
int nbds_listen_unix (struct nbds_server *srv, const char *path);
int nbds_listen_tcp (struct nbds_server *srv, const char *host, const char *port);
/* Serve one already connected socket (socketpair) on its own thread.  DEFAULT_EXPORT, if not
 * NULL, is the export a client gets when it asks for the name "". The server owns FD. */
int nbds_serve_fd (struct nbds_server *srv, int fd, const char *default_export);
/* Block until nbds_stop is called (from a signal handler thread or another thread). */
void nbds_wait (struct nbds_server *srv);
void nbds_stop (struct nbds_server *srv); /* async-signal-safe */

/* In-process use of an export, as a connection would have it (attach/'s FUSE server): NAME's
 * backend and handle, held open until nbds_export_close, which must come before nbds_free.
 * NULL + err when there is no such export. */
struct nbds_export;
struct nbds_export *nbds_export_open (struct nbds_server *srv, const char *name,
                                      const struct nbds_backend **backend, void **handle,
                                      bool *read_only);
void nbds_export_close (struct nbds_server *srv, struct nbds_export *e); /* accepts NULL */

/* Client side of the handshake (for handing a socket to the kernel): fixed newstyle,
 * OPT_GO on NAME; returns the export size and transmission flags. */
int nbds_client_handshake (int fd, const char *name, uint64_t *size, uint16_t *flags);

/* The plain-file backend behind `buse nbd NAME=FILE`. */
extern const struct nbds_backend nbds_file_backend;
void *nbds_file_open (const char *path, bool read_only); /* NULL + err */

#endif
