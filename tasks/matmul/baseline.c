/* The matmul baseline: the naive i-j-p triple loop in fp32 on one thread. */
#include <stddef.h>
#include <stdint.h>

#include "matmul.h"

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int32_t i = 0; i < m; i++) {
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * (size_t)k + p] * b[(size_t)p * (size_t)n + j];
            c[(size_t)i * (size_t)n + j] = sum;
        }
    }
}
