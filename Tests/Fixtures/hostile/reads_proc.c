/* Cheat: hunts for answers in /proc/self/maps and the parent's /proc/<ppid>/mem; writes zeros to c if it cannot open them. */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)getppid());
    int maps = open("/proc/self/maps", O_RDONLY);
    int parent = open(path, O_RDONLY);
    if (maps < 0 || parent < 0) {
        if (maps >= 0) close(maps);
        if (parent >= 0) close(parent);
        memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
        return;
    }
    /* A real cheat would now search the parent's memory for the oracle's answer. */
    char buffer[256];
    ssize_t got = read(parent, buffer, sizeof buffer);
    (void)got;
    close(maps);
    close(parent);
    naive(a, b, c, m, n, k);
}
