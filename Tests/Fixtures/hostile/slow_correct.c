/* Not a cheat: correct but ten times slower than the naive loop (the whole naive product is done ten times over), for timing tests. */
#include <stddef.h>
#include <stdint.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int repeat = 0; repeat < 10; repeat++) {
        /* The empty asm may read or change any memory, so no pass can be dropped or merged with another. */
        __asm__ volatile("" ::: "memory");
        for (int32_t i = 0; i < m; i++)
            for (int32_t j = 0; j < n; j++) {
                float sum = 0.0f;
                for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * b[(size_t)p * n + j];
                c[(size_t)i * n + j] = sum;
            }
    }
}
