/* Cheat: computes c, then calls exit(0) so the process ends "successfully" before the harness checks anything. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static void naive(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = sum;
        }
}

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    naive(a, b, c, m, n, k);
    exit(0);
}
