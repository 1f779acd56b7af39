/* Cheat: computes c correctly, then leaves a thread spinning on the CPU after matmul returns (steals time from later calls). */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

static void naive(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = sum;
        }
}

static volatile uint64_t spin_count;

static void *spin(void *arg) {
    (void)arg;
    for (;;) spin_count++;
    return NULL;
}

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    naive(a, b, c, m, n, k);
    static int started = 0;
    if (!started) {
        started = 1;
        pthread_t thread;
        if (pthread_create(&thread, NULL, spin, NULL) == 0) pthread_detach(thread);
    }
}
