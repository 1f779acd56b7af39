/* Attack (forge the reply): put a pipe in place of its protocol descriptor with dup2, to relay (and rewrite)
 * what its driver says to Kiln. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    int saved = dup(1);
    int relay[2];
    if (saved >= 0 && pipe(relay) == 0) dup2(relay[1], 1);
    (void)a, (void)b, (void)k;
    memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
}
