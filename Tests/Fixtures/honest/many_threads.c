/* Honest: more OpenMP threads than cores, created after the worker started. */
#include <stddef.h>
#include <stdint.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
#pragma omp parallel for num_threads(16) schedule(dynamic, 4)
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = sum;
        }
}
