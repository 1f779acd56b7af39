/* Mistake: a C syntax error; the build must fail and the compiler's message must reach the report. */
#include <stdint.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int32_t i = 0; i < m; i++ {
        c[i] = a[i] * b[i] + (float)(n + k)
    }
}
