/* Attack (new executable memory): map executable memory without mmap or mprotect, through SysV shared memory
 * attached with SHM_EXEC. */
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    int segment = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    void *code = segment >= 0 ? shmat(segment, NULL, SHM_EXEC) : (void *)-1;
    (void)code, (void)a, (void)b, (void)k;
    memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
}
