/* Honest: large arrays on the stack: 2 MiB on the calling thread, 1 MiB on each OpenMP thread. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void rows(const float *a, const float *b, float *c, int32_t from, int32_t to, int32_t n, int32_t k) {
    float row[262144]; /* 1 MiB */
    if (n > 262144) return;
    for (int32_t i = from; i < to; i++) {
        memset(row, 0, (size_t)n * sizeof(float));
        for (int32_t p = 0; p < k; p++)
            for (int32_t j = 0; j < n; j++) row[j] += a[(size_t)i * k + p] * b[(size_t)p * n + j];
        memcpy(c + (size_t)i * n, row, (size_t)n * sizeof(float));
    }
}

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    volatile float big[524288]; /* 2 MiB on this thread's stack */
    big[0] = 1.0f;
    big[524287] = big[0];
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < m; i++) rows(a, b, c, i, i + 1, n, k);
}
