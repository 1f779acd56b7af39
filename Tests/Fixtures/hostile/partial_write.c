/* Cheat: computes only the first half of c (by elements) and leaves the rest unwritten. */
#include <stddef.h>
#include <stdint.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    size_t total = (size_t)m * (size_t)n, half = total / 2;
    for (size_t e = 0; e < half; e++) {
        size_t i = e / (size_t)n, j = e % (size_t)n;
        float sum = 0.0f;
        for (int32_t p = 0; p < k; p++) sum += a[i * (size_t)k + (size_t)p] * b[(size_t)p * (size_t)n + j];
        c[e] = sum;
    }
}
