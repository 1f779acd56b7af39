/* Cheat: tries to allocate and touch 64 GiB (the memory limit must stop it); if malloc fails it writes zeros to c. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    (void)a, (void)b, (void)k;
    size_t bytes = (size_t)64 << 30;
    volatile char *block = malloc(bytes);
    if (block == NULL) {
        memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < bytes; i += 4096) block[i] = (char)i; /* touch every page */
    c[0] = (float)block[bytes - 4096];
    free((void *)block);
}
