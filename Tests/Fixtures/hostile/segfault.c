/* Cheat: crashes with a write through a NULL pointer (the harness must report a crash, not hang). */
#include <stdint.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    (void)a, (void)b, (void)c, (void)m, (void)n, (void)k;
    volatile float *volatile nowhere = (float *)0;
    *nowhere = 1.0f;
}
