/* Attack (escape the file system, harm the host): one forbidden operation per ESCAPE value. Each must be
 * stopped, and none may leave a trace (the target is /tmp/kiln-hostile-escape). */
// kiln:tunable ESCAPE 0 1 2 3 4 5 6 7 8 9 10
// kiln:flags -O2 -D_GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    const char *target = "/tmp/kiln-hostile-escape";
    switch (ESCAPE) {
    case 0: mknod(target, S_IFCHR | 0666, makedev(1, 3)); break;
    case 1: symlink("/etc/passwd", target); break;
    case 2: link("/proc/self/fd/2", target); break;
    case 3: truncate("/proc/self/fd/2", 0); break;
    case 4: chmod("/proc/self/fd/2", 0777); break;
    case 5: { struct file_handle handle = {0}; open_by_handle_at(AT_FDCWD, &handle, O_RDONLY); } break;
    case 6: { long fd = syscall(SYS_pidfd_open, getppid(), 0); syscall(SYS_pidfd_getfd, (int)fd, 0, 0); } break;
    case 7: reboot(RB_POWER_OFF); break;
    case 8: sethostname("owned", 5); break;
    case 9: kill(1, 0); break;
    case 10: { int fd = open(target, O_WRONLY | O_CREAT, 0644); if (fd >= 0) (void)!write(fd, "x", 1); } break;
    }
    (void)a, (void)b, (void)k;
    memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
}
