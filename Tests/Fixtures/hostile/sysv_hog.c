/* Attack (memory outside limits): five 1 GiB SysV shared-memory segments, which outlive the worker and are not
 * counted by its address-space limit. */
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int i = 0; i < 5; i++) {
        int segment = shmget(IPC_PRIVATE, (size_t)1 << 30, IPC_CREAT | 0600);
        char *memory = segment >= 0 ? shmat(segment, NULL, 0) : (void *)-1;
        if (memory != (void *)-1) memset(memory, 1, (size_t)1 << 30);
    }
    (void)a, (void)b, (void)k;
    memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
}
