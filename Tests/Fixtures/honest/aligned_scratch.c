/* Honest: aligned_alloc'd scratch of a few MiB on every call, freed before returning. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    size_t bytes = ((size_t)m * (size_t)n * sizeof(float) + 63) / 64 * 64;
    float *scratch = aligned_alloc(64, bytes + (8 << 20));
    if (!scratch) return;
    memset(scratch, 0, bytes);
    for (int32_t i = 0; i < m; i++)
        for (int32_t p = 0; p < k; p++) {
            float x = a[(size_t)i * k + p];
            for (int32_t j = 0; j < n; j++) scratch[(size_t)i * n + j] += x * b[(size_t)p * n + j];
        }
    memcpy(c, scratch, (size_t)m * (size_t)n * sizeof(float));
    free(scratch);
}
