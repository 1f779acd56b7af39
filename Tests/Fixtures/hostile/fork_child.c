/* Cheat: forks a child that stays alive after the call (a process the harness must reap), computes c in the parent. */
#define _DEFAULT_SOURCE
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
    static int forked = 0;
    if (!forked) {
        forked = 1;
        pid_t child = fork();
        if (child == 0) {
            for (;;) sleep(1); /* lingers for ever */
        }
    }
    naive(a, b, c, m, n, k);
}
