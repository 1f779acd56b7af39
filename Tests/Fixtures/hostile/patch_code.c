/* Tries to make code writable and executable at run time (to patch the driver's timer or generate code). */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t here = (uintptr_t)&matmul & ~(uintptr_t)(page - 1);
    int refused = mprotect((void *)here, (size_t)page, PROT_READ | PROT_WRITE | PROT_EXEC) != 0;
    void *jit = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    refused = refused && jit == MAP_FAILED;
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0;
            for (int32_t p = 0; p < k; p++) sum += a[(int64_t)i * k + p] * b[(int64_t)p * n + j];
            /* Correct only if the sandbox refused both: a run that could patch code is wrong. */
            c[(int64_t)i * n + j] = refused ? sum : 0.0f;
        }
}
