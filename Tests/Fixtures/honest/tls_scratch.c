/* Honest: large thread-local scratch (about 720 KB per thread), as blocked kernels keep their packed tiles. */
#include <stddef.h>
#include <stdint.h>

static __thread float panel[180000];

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < m; i++) {
        float *row = panel;
        for (int32_t j = 0; j < n; j++) row[j] = 0.0f;
        for (int32_t p = 0; p < k; p++) {
            float x = a[(size_t)i * k + p];
            for (int32_t j = 0; j < n; j++) row[j] += x * b[(size_t)p * n + j];
        }
        for (int32_t j = 0; j < n; j++) c[(size_t)i * n + j] = row[j];
    }
}
