/* check.h: the one assertion macro of the C unit tests.  CHECK counts a failure, prints the
 * file, line and condition with the last err_get () message and goes on, so one run reports
 * every failure; CHECKF adds a printf-style message of the test's own (which step, which
 * seed).  Unlike assert (), neither is compiled out by -DNDEBUG with its side effects.
 * main returns CHECK_RESULT (). */
#ifndef BUSE_TEST_CHECK_H
#define BUSE_TEST_CHECK_H

#include <stdio.h>

#include "common/common.h"

static int failures;
#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf (stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #c, err_get ());      \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)
#define CHECKF(c, ...)                                                                             \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf (stderr, "%s:%d: CHECK failed: %s (%s): ", __FILE__, __LINE__, #c, err_get ());      \
      fprintf (stderr, __VA_ARGS__);                                                               \
      fputc ('\n', stderr);                                                                        \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)
#define CHECK_RESULT() (failures ? 1 : 0)

#endif
