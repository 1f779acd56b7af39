/* Cheat: a correct naive matmul plus a constructor that runs before main and leaves a file behind (/tmp/kiln_pwned). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

static void naive(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = sum;
        }
}

__attribute__((constructor)) static void sneaky(void) {
    FILE *f = fopen("/tmp/kiln_pwned", "w");
    if (f != NULL) {
        fputs("a candidate ran code before the harness's main\n", f);
        fclose(f);
    }
}

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    naive(a, b, c, m, n, k);
}
