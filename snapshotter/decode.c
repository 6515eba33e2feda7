/* decode.c: requests from the wire — protobuf-c's unpacker with an allocator of our own.
 *
 * protobuf-c gives strings as NUL-terminated C strings, so a key "a\0b" would arrive as "a"
 * and two snapshots would share a name.  The allocator keeps each block's size in a small
 * header; a string protobuf-c unpacked fills a block of exactly its wire length + 1, so a
 * string whose strlen is shorter held a NUL byte: the request is refused (InvalidArgument).
 * No protobuf bytes are read here; the descriptors say where the strings are. */
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "snapshotter/internal.h"

#define HDR 16 /* keeps the blocks 16-byte aligned */

static void *
hdr_alloc (void *data, size_t size)
{
  unsigned char *p = malloc (size + HDR);

  (void)data;
  if (!p)
    return NULL;
  memcpy (p, &size, sizeof size);
  return p + HDR;
}

static void
hdr_free (void *data, void *ptr)
{
  (void)data;
  if (ptr)
    free ((unsigned char *)ptr - HDR);
}

static ProtobufCAllocator allocator = { hdr_alloc, hdr_free, NULL };

static bool
string_ok (const char *s)
{
  size_t size;

  if (!s || s == protobuf_c_empty_string)
    return true;
  memcpy (&size, s - HDR, sizeof size);
  return strlen (s) + 1 == size;
}

/* Are the strings of MSG (and of the messages in it) free of NUL bytes? */
static bool
strings_ok (const ProtobufCMessage *msg, unsigned depth)
{
  const ProtobufCMessageDescriptor *d = msg->descriptor;

  if (depth > 32)
    return false;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)msg + f->offset;
    size_t n = 1;
    const void *const *items = (const void *const *)base;
    if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
      continue;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      memcpy (&n, (const char *)msg + f->quantifier_offset, sizeof n);
      memcpy (&items, base, sizeof items);
    }
    for (size_t j = 0; j < n; j++) {
      const void *item = items[j];
      if (f->type == PROTOBUF_C_TYPE_STRING && !string_ok (item))
        return false;
      if (f->type == PROTOBUF_C_TYPE_MESSAGE && item && !strings_ok (item, depth + 1))
        return false;
    }
  }
  return true;
}

void *
snap_request_unpack (const void *desc, const uint8_t *data, size_t len)
{
  ProtobufCMessage *msg = protobuf_c_message_unpack (desc, &allocator, len, data);

  if (!msg) {
    err_set (EINVAL, "the request is not a valid %s message",
             ((const ProtobufCMessageDescriptor *)desc)->name);
    return NULL;
  }
  if (!strings_ok (msg, 0)) {
    protobuf_c_message_free_unpacked (msg, &allocator);
    err_set (EINVAL, "a string of the request has a NUL byte in it");
    return NULL;
  }
  return msg;
}

void
snap_request_free (void *msg)
{
  if (msg)
    protobuf_c_message_free_unpacked (msg, &allocator);
}
