/* Honest: a 64 MiB static scratch buffer (bss) holding a transposed copy of B. */
#include <stddef.h>
#include <stdint.h>

static float transposed[16 << 20];

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    if ((size_t)n * (size_t)k > sizeof transposed / sizeof transposed[0]) return;
    for (int32_t p = 0; p < k; p++)
        for (int32_t j = 0; j < n; j++) transposed[(size_t)j * k + p] = b[(size_t)p * n + j];
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * transposed[(size_t)j * k + p];
            c[(size_t)i * n + j] = sum;
        }
}
