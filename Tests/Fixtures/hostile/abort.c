/* Cheat: calls abort() (SIGABRT) instead of computing anything. */
#include <stdint.h>
#include <stdlib.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    (void)a, (void)b, (void)c, (void)m, (void)n, (void)k;
    abort();
}
