/* Attack (poison the cache): find Kiln's result cache (through /proc/<parent>/cwd or relative paths) and
 * list it with getdents64, to rewrite a failing result as correct. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    char path[128];
    snprintf(path, sizeof path, "/proc/%d/cwd/.kiln/cache/results", (int)getppid());
    int folder = open(path, O_RDONLY | O_DIRECTORY);
    if (folder < 0) folder = open("../../cache/results", O_RDONLY | O_DIRECTORY);
    char entries[4096];
    long listed = syscall(SYS_getdents64, folder < 0 ? 0 : folder, entries, sizeof entries);
    (void)listed, (void)a, (void)b, (void)k;
    memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
}
