/* check.h: the one assertion macro of the C unit tests.  CHECK counts a failure, prints the
 * condition with the last err_get () message and goes on, so one run reports every failure;
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

#endif
