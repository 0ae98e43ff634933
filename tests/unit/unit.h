/* unit.h - tiny harness for the host unit tests (tests/unit/test_*.c).
 *
 * Each test is a function; CHECK records a failure with its line and
 * keeps going; RUN prints "PASS name" or "FAIL name: first failure" (the
 * line tests/run.py counts). A test that leaves model bugs behind fails.
 */
#ifndef UNIT_H
#define UNIT_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The build in result lines: "unit", or the Makefile's other builds
   ("unit-be": big-endian CPU; "unit-bytewise": no compiler hints). */
#ifndef UNIT_TAG
#define UNIT_TAG "unit"
#endif

/* A queue's private shadow per ring entry, as the MEMORY sections give
   it: 16 bytes, 12 on 32-bit CPUs (test_core checks the struct). */
#define SLOT (sizeof(void *) == 8 ? (size_t)16 : (size_t)12)

static int unit_fails, unit_total_fails;
static char unit_first[256];

#define CHECK(c)                                                                              \
    do {                                                                                      \
        if (!(c)) {                                                                           \
            if (!unit_fails++) snprintf(unit_first, sizeof unit_first, "%s:%d: %s", __FILE__, \
                                        __LINE__, #c);                                        \
        }                                                                                     \
    } while (0)
#define CHECK_EQ(a, b)                                                                        \
    do {                                                                                      \
        long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);                         \
        if (unit_a_ != unit_b_) {                                                             \
            if (!unit_fails++) snprintf(unit_first, sizeof unit_first, "%s:%d: %s == %lld, want %lld", \
                                        __FILE__, __LINE__, #a, unit_a_, unit_b_);            \
        }                                                                                     \
    } while (0)

#define RUN(fn, label)                                                                        \
    do {                                                                                      \
        unit_fails = 0;                                                                       \
        fn;                                                                                   \
        if (unit_fails) {                                                                     \
            printf("FAIL " UNIT_TAG " %s: %s (%d failed checks)\n", label, unit_first, unit_fails);   \
            unit_total_fails++;                                                               \
        } else {                                                                              \
            printf("PASS " UNIT_TAG " %s\n", label);                                                 \
        }                                                                                     \
        fflush(stdout);                                                                       \
    } while (0)

#define UNIT_EXIT() return unit_total_fails ? 1 : 0

/* Every byte of [p, p + n) is v. */
static inline int all_bytes(const void *p, size_t n, unsigned v)
{
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i] != v) return 0;
    return 1;
}

/* [p, p + n) still holds the 0xa5 it was filled with (memset(p, 0xa5, n)
   before the call): a call that failed wrote nothing there (README:
   out-parameters are written only on success). */
static inline int untouched(const void *p, size_t n) { return all_bytes(p, n, 0xa5); }
#endif
