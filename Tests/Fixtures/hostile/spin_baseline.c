/* Attack (late work): burn every other core from a thread that never stops, so that the baseline, timed
 * between this candidate's calls, runs slower. Correct, and it must measure no gain. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/prctl.h>
#include <stddef.h>
#include <stdint.h>

static volatile uint64_t burned;

static void *burn(void *unused) {
    (void)unused;
    prctl(PR_SET_NAME, "hostile-spin", 0, 0, 0); /* so a test can see that no such thread outlives the run */
    for (;;) burned++;
    return NULL;
}

static void naive(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = sum;
        }
}

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    static int started = 0;
    if (!started) {
        started = 1;
        for (int t = 0; t < 4; t++) {
            pthread_t thread;
            if (pthread_create(&thread, NULL, burn, NULL) == 0) pthread_detach(thread);
        }
    }
    naive(a, b, c, m, n, k);
}
