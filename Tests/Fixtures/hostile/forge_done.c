/* Attack (forge the reply): announce the end of the call at once on every descriptor it holds (the worker's
 * 'done' pipe among them), then do the work, hoping the clock stopped at the forged end. */
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

static void naive(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = sum;
        }
}

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int fd = 0; fd < 16; fd++) (void)!write(fd, "D", 1);
    naive(a, b, c, m, n, k);
}
