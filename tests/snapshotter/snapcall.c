/* snapcall: one raw gRPC call for the snapshotter tests — any method, any request bytes
 * (well-formed or not), on the gRPC C core, so the tests need no Go or Python gRPC.
 *
 *   snapcall SOCKET METHOD [HEX | @FILE | zeros:N | none]
 *
 * Sends the bytes as the one request message ("none": no message at all), then prints each
 * reply message as "msg HEX" and last "status CODE MESSAGE".  Exit 0 when the call got a
 * status (whatever it is), 1 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

static grpc_completion_queue *cq;

static int
wait_tag (void *tag)
{
  grpc_event ev = grpc_completion_queue_pluck (cq, tag, gpr_inf_future (GPR_CLOCK_REALTIME), NULL);
  return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static unsigned char *
request_bytes (const char *arg, size_t *len)
{
  unsigned char *buf;
  size_t n = strlen (arg);

  if (strncmp (arg, "zeros:", 6) == 0) {
    *len = strtoull (arg + 6, NULL, 0);
    return calloc (1, *len ? *len : 1);
  }
  if (arg[0] == '@') {
    FILE *fp = fopen (arg + 1, "rb");
    if (!fp)
      return NULL;
    buf = malloc (64 << 20);
    *len = buf ? fread (buf, 1, 64 << 20, fp) : 0;
    fclose (fp);
    return buf;
  }
  buf = malloc (n / 2 + 1);
  for (size_t i = 0; buf && i + 1 < n + 1 && i / 2 < n / 2; i += 2) {
    unsigned v;
    if (sscanf (arg + i, "%2x", &v) != 1) {
      free (buf);
      return NULL;
    }
    buf[i / 2] = (unsigned char)v;
  }
  *len = n / 2;
  return buf;
}

static void
print_message (grpc_byte_buffer *bb)
{
  grpc_byte_buffer_reader rd;
  grpc_slice s;

  grpc_byte_buffer_reader_init (&rd, bb);
  s = grpc_byte_buffer_reader_readall (&rd);
  grpc_byte_buffer_reader_destroy (&rd);
  printf ("msg ");
  for (size_t i = 0; i < GRPC_SLICE_LENGTH (s); i++)
    printf ("%02x", GRPC_SLICE_START_PTR (s)[i]);
  printf ("\n");
  grpc_slice_unref (s);
}

int
main (int argc, char **argv)
{
  grpc_metadata_array md_in, md_trailing;
  grpc_byte_buffer *req = NULL, *resp = NULL;
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  grpc_slice details, method;
  grpc_op ops[4];
  size_t n = 0, len = 0;
  char *target, *msg;
  grpc_channel_credentials *creds;
  grpc_channel *ch;
  grpc_call *call;
  int ok;

  if (argc < 3) {
    fprintf (stderr, "usage: snapcall SOCKET METHOD [HEX|@FILE|zeros:N|none]\n");
    return 2;
  }
  grpc_init ();
  cq = grpc_completion_queue_create_for_pluck (NULL);
  if (asprintf (&target, "unix:%s", argv[1]) == -1)
    return 2;
  creds = grpc_insecure_credentials_create ();
  ch = grpc_channel_create (target, creds, NULL);
  method = grpc_slice_from_copied_string (argv[2]);
  call = grpc_channel_create_call (
      ch, NULL, 0, cq, method, NULL,
      gpr_time_add (gpr_now (GPR_CLOCK_REALTIME), gpr_time_from_seconds (60, GPR_TIMESPAN)), NULL);
  if (argc < 4 || strcmp (argv[3], "none") != 0) {
    unsigned char *bytes = request_bytes (argc > 3 ? argv[3] : "", &len);
    grpc_slice s;
    if (!bytes) {
      fprintf (stderr, "snapcall: bad request bytes\n");
      return 2;
    }
    s = grpc_slice_from_copied_buffer ((const char *)bytes, len);
    req = grpc_raw_byte_buffer_create (&s, 1);
    grpc_slice_unref (s);
    free (bytes);
  }
  grpc_metadata_array_init (&md_in);
  grpc_metadata_array_init (&md_trailing);
  memset (ops, 0, sizeof ops);
  ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (req) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = req;
  }
  ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[n++].data.recv_initial_metadata.recv_initial_metadata = &md_in;
  grpc_call_start_batch (call, ops, n, (void *)1, NULL);
  wait_tag ((void *)1); /* may fail: the status says why */
  for (;;) {
    memset (ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_MESSAGE;
    ops[0].data.recv_message.recv_message = &resp;
    resp = NULL;
    grpc_call_start_batch (call, ops, 1, (void *)2, NULL);
    if (!wait_tag ((void *)2) || !resp)
      break;
    print_message (resp);
    grpc_byte_buffer_destroy (resp);
  }
  memset (ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[0].data.recv_status_on_client.trailing_metadata = &md_trailing;
  ops[0].data.recv_status_on_client.status = &status;
  ops[0].data.recv_status_on_client.status_details = &details;
  grpc_call_start_batch (call, ops, 1, (void *)3, NULL);
  ok = wait_tag ((void *)3);
  msg = ok ? grpc_slice_to_c_string (details) : NULL;
  printf ("status %d %s\n", (int)status, msg ? msg : "");
  fflush (stdout);
  return ok ? 0 : 1;
}
