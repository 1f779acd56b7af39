/* Honest: sizes its work from what the system says (sysconf, OpenMP, the clock) and prints a little, as real
 * kernels and their libraries do: libraries that open /sys or /proc get an error and fall back. */
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = omp_get_max_threads();
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    static int told = 0;
    if (!told) {
        told = 1;
        printf("cpus=%ld threads=%d\n", cpus, threads);
        fflush(stdout);
        fprintf(stderr, "page size %ld\n", sysconf(_SC_PAGESIZE));
    }
#pragma omp parallel for num_threads(threads > 0 ? threads : 1)
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = sum;
        }
}
