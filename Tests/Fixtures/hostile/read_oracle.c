/* Attack (read or overwrite the oracle): open the oracle's memory through io_uring, where seccomp never sees
 * the open, and copy its finished reference (or overwrite it). */
#include <linux/io_uring.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    long ring = syscall(__NR_io_uring_setup, 8, &params);
    (void)ring, (void)a, (void)b, (void)k;
    memset(c, 0, (size_t)m * (size_t)n * sizeof(float)); /* a real attack would now copy the reference */
}
