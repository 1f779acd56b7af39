/* Cheat: never returns (a volatile counter keeps the loop from being optimised away). */
#include <stdint.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    (void)a, (void)b, (void)c, (void)m, (void)n, (void)k;
    volatile uint64_t counter = 0;
    for (;;) counter++;
}
