/*
 * kiln_runner.c: the main of a worker, the sandboxed process that runs ONE implementation (the oracle,
 * the baseline or a candidate), linked with the task's instance file and that implementation.
 *
 * It holds nothing that decides a verdict. It maps the arena its monitor shares with it (kiln_arena.h),
 * starts OpenMP, drops into a system-call allowlist (below), says 'R', and then, each time the monitor
 * writes 'G', calls kiln_task_call() on the problem the monitor built in the arena and writes 'D'. The
 * monitor, in another process, owns the clock, freezes this process between calls (SIGSTOP), reads the
 * outputs and the inputs while it is frozen, and counts its CPU time from the kernel.
 *
 * The allowlist: memory without PROT_EXEC, threads, futexes, clocks, sleeping, yielding, signals to
 * itself, reads and writes on the descriptors it was given, and harmless queries. Opens fail with
 * EACCES and ioctls with ENOTTY (libraries probe with them); everything else (new processes, exec,
 * sockets, io_uring, SysV IPC, memfd, links, mknod, chmod, truncate, signals to others, ptrace, mount,
 * namespaces, personality, pidfds, handles, reboot, new filters, executable memory) ends the process:
 * its SIGSYS handler writes the call's number into the arena header and the worker kills itself.
 */
#define _GNU_SOURCE
#include "kiln_arena.h"
#include "kiln_task.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

struct kiln_problem {
    struct kiln_arena_header header;
};

static struct kiln_arena_header *header;

static void runner_fail(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));
static void runner_fail(const char *format, ...) {
    char message[256];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    if (header) memcpy(header->error, message, sizeof header->error);
    fprintf(stderr, "kiln worker: %s\n", message);
    _exit(KILN_RUNNER_FAILED);
}

/* ---------------------------------------------------------------------------------------------
 * The instance file's view. kiln_task_call() runs here; everything else runs in the monitor.
 */

void *kiln_state(const kiln_problem *problem) { return (void *)(uintptr_t)problem->header.state; }

static void misuse(const char *what) __attribute__((noreturn));
static void misuse(const char *what) {
    fprintf(stderr, "kiln worker: the instance file called %s() from kiln_task_call(); only setup may\n", what);
    _exit(3);
}

void *kiln_buffer(kiln_problem *p, const char *n, enum kiln_role r, enum kiln_dtype d, size_t c) {
    (void)p, (void)n, (void)r, (void)d, (void)c;
    misuse("kiln_buffer");
}
void *kiln_alloc(kiln_problem *p, size_t b) {
    (void)p, (void)b;
    misuse("kiln_alloc");
}
void kiln_set_work(kiln_problem *p, double f, double b) {
    (void)p, (void)f, (void)b;
    misuse("kiln_set_work");
}
void kiln_buffer_axes(kiln_problem *p, const void *buffer, const char *axes, const size_t *dims, int count) {
    (void)p, (void)buffer, (void)axes, (void)dims, (void)count;
    misuse("kiln_buffer_axes");
}
void kiln_set_state(kiln_problem *p, void *s) {
    (void)p, (void)s;
    misuse("kiln_set_state");
}
void kiln_fail(const char *format, ...) {
    (void)format;
    misuse("kiln_fail");
}
long long kiln_shape_int(const kiln_shape *s, const char *k) {
    (void)s, (void)k;
    misuse("kiln_shape_int");
}
long long kiln_shape_int_or(const kiln_shape *s, const char *k, long long f) {
    (void)s, (void)k, (void)f;
    misuse("kiln_shape_int_or");
}
double kiln_shape_float(const kiln_shape *s, const char *k) {
    (void)s, (void)k;
    misuse("kiln_shape_float");
}
double kiln_shape_float_or(const kiln_shape *s, const char *k, double f) {
    (void)s, (void)k, (void)f;
    misuse("kiln_shape_float_or");
}
int kiln_shape_ints(const kiln_shape *s, const char *k, long long *o, int m) {
    (void)s, (void)k, (void)o, (void)m;
    misuse("kiln_shape_ints");
}
const char *kiln_shape_name(const kiln_shape *s) {
    (void)s;
    misuse("kiln_shape_name");
}
void kiln_rng_seed(kiln_rng *r, uint64_t s) {
    (void)r, (void)s;
    misuse("kiln_rng_seed");
}
uint64_t kiln_rng_next(kiln_rng *r) {
    (void)r;
    misuse("kiln_rng_next");
}
double kiln_rng_uniform(kiln_rng *r) {
    (void)r;
    misuse("kiln_rng_uniform");
}
double kiln_rng_normal(kiln_rng *r) {
    (void)r;
    misuse("kiln_rng_normal");
}
uint64_t kiln_rng_below(kiln_rng *r, uint64_t b) {
    (void)r, (void)b;
    misuse("kiln_rng_below");
}
void kiln_fill_normal_f32(kiln_rng *r, float *o, size_t c, float s) {
    (void)r, (void)o, (void)c, (void)s;
    misuse("kiln_fill_normal_f32");
}
void kiln_fill_normal_f16(kiln_rng *r, uint16_t *o, size_t c, float s) {
    (void)r, (void)o, (void)c, (void)s;
    misuse("kiln_fill_normal_f16");
}
void kiln_fill_normal_bf16(kiln_rng *r, uint16_t *o, size_t c, float s) {
    (void)r, (void)o, (void)c, (void)s;
    misuse("kiln_fill_normal_bf16");
}

/* ---------------------------------------------------------------------------------------------
 * The system-call allowlist
 */

#if defined(__x86_64__)
#define KILN_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define KILN_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "Kiln's worker knows the system calls of x86-64 and AArch64 only"
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#else
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#define ARG_HI(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#endif

#define RET(action) BPF_STMT(BPF_RET | BPF_K, (action))
#define LOAD(offset) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (offset))
#define ALLOW_NR(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RET(SECCOMP_RET_ALLOW)
#define ERRNO_NR(nr, e) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RET(SECCOMP_RET_ERRNO | (e))
/* Allowed only when the argument's low word has none of `bits` (4 instructions after the test). */
#define ALLOW_WITHOUT_BITS(nr, arg, bits)                                                                   \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4), LOAD(ARG_LO(arg)),                                     \
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (bits), 0, 1), RET(SECCOMP_RET_TRAP), RET(SECCOMP_RET_ALLOW)
/* Allowed only when the argument's low word has all of `bits`. */
#define ALLOW_WITH_BITS(nr, arg, bits)                                                                      \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4), LOAD(ARG_LO(arg)),                                     \
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (bits), 1, 0), RET(SECCOMP_RET_TRAP), RET(SECCOMP_RET_ALLOW)
/* Trapped when the argument's low word equals `value`; else allowed. */
#define TRAP_IF_EQUAL(nr, arg, value)                                                                       \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4), LOAD(ARG_LO(arg)),                                     \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (value), 0, 1), RET(SECCOMP_RET_TRAP), RET(SECCOMP_RET_ALLOW)
/* Allowed only when the argument's low word equals `value`; else `otherwise`. */
#define ALLOW_IF_EQUAL(nr, arg, value, otherwise)                                                           \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4), LOAD(ARG_LO(arg)),                                     \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (value), 0, 1), RET(SECCOMP_RET_ALLOW), RET(otherwise)

static int install_allowlist(void) {
    const uint32_t self = (uint32_t)getpid();
    struct sock_filter filter[] = {
        LOAD(offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KILN_AUDIT_ARCH, 1, 0),
        RET(SECCOMP_RET_KILL_PROCESS),
        LOAD(offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1), /* the x32 ABI */
        RET(SECCOMP_RET_KILL_PROCESS),
#endif
        /* Memory, never executable. */
        ALLOW_WITHOUT_BITS(__NR_mmap, 2, PROT_EXEC),
        LOAD(offsetof(struct seccomp_data, nr)),
        ALLOW_WITHOUT_BITS(__NR_mprotect, 2, PROT_EXEC),
        LOAD(offsetof(struct seccomp_data, nr)),
        ALLOW_NR(__NR_munmap),
        ALLOW_NR(__NR_mremap),
        ALLOW_NR(__NR_madvise),
        ALLOW_NR(__NR_brk),
        ALLOW_NR(__NR_msync),
        ALLOW_NR(__NR_mincore),
        ALLOW_NR(__NR_mbind),
        ALLOW_NR(__NR_get_mempolicy),
        ALLOW_NR(__NR_set_mempolicy),
        /* Threads and their synchronisation. */
        ALLOW_WITH_BITS(__NR_clone, 0, CLONE_THREAD),
        LOAD(offsetof(struct seccomp_data, nr)),
#ifdef __NR_clone3
        ERRNO_NR(__NR_clone3, ENOSYS), /* glibc falls back to clone(), whose flags the filter can see */
#endif
        ALLOW_NR(__NR_futex),
#ifdef __NR_futex_waitv
        ALLOW_NR(__NR_futex_waitv),
#endif
        ALLOW_NR(__NR_set_robust_list),
        ALLOW_NR(__NR_get_robust_list),
#ifdef __NR_rseq
        ALLOW_NR(__NR_rseq),
#endif
        ALLOW_NR(__NR_set_tid_address),
        ALLOW_NR(__NR_exit),
        ALLOW_NR(__NR_exit_group),
        ALLOW_NR(__NR_sched_yield),
        ALLOW_NR(__NR_sched_getaffinity),
        ALLOW_NR(__NR_sched_setaffinity),
        ALLOW_NR(__NR_sched_getparam),
        ALLOW_NR(__NR_sched_getscheduler),
        ALLOW_NR(__NR_sched_get_priority_max),
        ALLOW_NR(__NR_sched_get_priority_min),
        ERRNO_NR(__NR_sched_setscheduler, EPERM),
        ERRNO_NR(__NR_sched_setparam, EPERM),
        ERRNO_NR(__NR_setpriority, EPERM),
        ALLOW_NR(__NR_getpriority),
        ALLOW_NR(__NR_getcpu),
        /* Clocks and sleeping. */
        ALLOW_NR(__NR_clock_gettime),
        ALLOW_NR(__NR_clock_getres),
        ALLOW_NR(__NR_gettimeofday),
#ifdef __NR_time
        ALLOW_NR(__NR_time),
#endif
        ALLOW_NR(__NR_nanosleep),
        ALLOW_NR(__NR_clock_nanosleep),
        ALLOW_NR(__NR_restart_syscall),
        /* Signals: its own handlers (never for SIGSYS), masks, and signals to itself only. */
        TRAP_IF_EQUAL(__NR_rt_sigaction, 0, SIGSYS),
        LOAD(offsetof(struct seccomp_data, nr)),
        ALLOW_NR(__NR_rt_sigprocmask),
        ALLOW_NR(__NR_rt_sigreturn),
        ALLOW_NR(__NR_rt_sigpending),
        ALLOW_NR(__NR_rt_sigsuspend),
        ALLOW_NR(__NR_rt_sigtimedwait),
        ALLOW_NR(__NR_sigaltstack),
        ALLOW_IF_EQUAL(__NR_kill, 0, self, SECCOMP_RET_TRAP),
        LOAD(offsetof(struct seccomp_data, nr)),
        ALLOW_IF_EQUAL(__NR_tgkill, 0, self, SECCOMP_RET_TRAP),
        LOAD(offsetof(struct seccomp_data, nr)),
        /* Its own descriptors. */
        ALLOW_NR(__NR_read),
        ALLOW_NR(__NR_write),
        ALLOW_NR(__NR_readv),
        ALLOW_NR(__NR_writev),
        ALLOW_NR(__NR_pread64),
        ALLOW_NR(__NR_pwrite64),
        ALLOW_NR(__NR_lseek),
        ALLOW_NR(__NR_close),
        ALLOW_NR(__NR_fstat),
        ALLOW_NR(__NR_newfstatat),
#ifdef __NR_statx
        ALLOW_NR(__NR_statx),
#endif
        ALLOW_NR(__NR_fcntl),
        ALLOW_NR(__NR_ppoll),
#ifdef __NR_poll
        ALLOW_NR(__NR_poll),
#endif
        ERRNO_NR(__NR_ioctl, ENOTTY),
        /* Opens fail (libraries probe /sys and /proc and fall back); nothing is there to open anyway. */
        ERRNO_NR(__NR_openat, EACCES),
#ifdef __NR_open
        ERRNO_NR(__NR_open, EACCES),
#endif
#ifdef __NR_creat
        ERRNO_NR(__NR_creat, EACCES),
#endif
#ifdef __NR_openat2
        ERRNO_NR(__NR_openat2, EACCES),
#endif
        ERRNO_NR(__NR_faccessat, EACCES),
#ifdef __NR_faccessat2
        ERRNO_NR(__NR_faccessat2, EACCES),
#endif
#ifdef __NR_access
        ERRNO_NR(__NR_access, EACCES),
#endif
        ERRNO_NR(__NR_readlinkat, EACCES),
#ifdef __NR_readlink
        ERRNO_NR(__NR_readlink, EACCES),
#endif
        /* Harmless questions about itself. */
        ALLOW_NR(__NR_getpid),
        ALLOW_NR(__NR_gettid),
        ALLOW_NR(__NR_getppid),
        ALLOW_NR(__NR_getuid),
        ALLOW_NR(__NR_geteuid),
        ALLOW_NR(__NR_getgid),
        ALLOW_NR(__NR_getegid),
        ALLOW_NR(__NR_getresuid),
        ALLOW_NR(__NR_getresgid),
        ALLOW_NR(__NR_getrusage),
        ALLOW_NR(__NR_times),
        ALLOW_NR(__NR_uname),
        ALLOW_NR(__NR_sysinfo),
        ALLOW_NR(__NR_getrandom),
#ifdef __NR_getrlimit
        ALLOW_NR(__NR_getrlimit),
#endif
        /* prlimit64 reads limits (new == NULL); setting one is refused. */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prlimit64, 0, 6),
        LOAD(ARG_LO(2)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
        LOAD(ARG_HI(2)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
        RET(SECCOMP_RET_ALLOW),
        RET(SECCOMP_RET_ERRNO | EPERM),
        LOAD(offsetof(struct seccomp_data, nr)),
        /* prctl: naming threads is allowed, the rest refused. */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 0, 5),
        LOAD(ARG_LO(0)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_NAME, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_GET_NAME, 1, 0),
        RET(SECCOMP_RET_ERRNO | EPERM),
        RET(SECCOMP_RET_ALLOW),
        LOAD(offsetof(struct seccomp_data, nr)),
#ifdef __NR_arch_prctl
        ERRNO_NR(__NR_arch_prctl, EPERM),
#endif
        ERRNO_NR(__NR_mlock, EPERM),
        ERRNO_NR(__NR_munlock, EPERM),
        ERRNO_NR(__NR_mlockall, EPERM),
        ERRNO_NR(__NR_munlockall, EPERM),
        ERRNO_NR(__NR_membarrier, EPERM),
        /* Everything else: named, then the process ends. */
        RET(SECCOMP_RET_TRAP),
    };
    struct sock_fprog program = {.len = (unsigned short)(sizeof filter / sizeof filter[0]), .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program);
}

/* A forbidden call: name it in the arena, then end (SIGKILL is always allowed to itself). */
static void on_forbidden(int signal, siginfo_t *info, void *context) {
    (void)signal, (void)context;
    if (header) header->forbidden_syscall = (int64_t)info->si_syscall + 1;
    syscall(SYS_kill, getpid(), SIGKILL);
    _exit(KILN_RUNNER_FAILED + 2);
}

/* ---------------------------------------------------------------------------------------------
 * main
 */

static int write_byte(char c) {
    for (;;) {
        ssize_t n = write(KILN_FD_DONE, &c, 1);
        if (n == 1) return 0;
        if (n < 0 && errno == EINTR) continue;
        return -1;
    }
}

int main(int argc, char **argv) {
    uintptr_t address = 0;
    size_t size = 0;
    int strict = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--arena-address") == 0 && i + 1 < argc) address = (uintptr_t)strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--arena-size") == 0 && i + 1 < argc) size = (size_t)strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--strict") == 0) strict = 1;
    }
    if (address == 0 || size < KILN_ARENA_HEADER_BYTES) runner_fail("started without --arena-address and --arena-size");
    void *mapped = mmap((void *)address, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE,
                        KILN_FD_ARENA, 0);
    if (mapped == MAP_FAILED || (uintptr_t)mapped != address)
        runner_fail("cannot map the arena at %#lx (%zu bytes): %s", (unsigned long)address, size, strerror(errno));
    close(KILN_FD_ARENA);
    header = mapped;
    if (header->magic != KILN_ARENA_MAGIC) runner_fail("the arena does not start with Kiln's header");
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    /* Start the OpenMP runtime and its threads before the allowlist closes the file system. */
    volatile int threads = 0;
#pragma omp parallel
    {
#pragma omp atomic
        threads++;
    }
    header->threads = threads;

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_forbidden;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSYS, &action, NULL) != 0) runner_fail("cannot handle SIGSYS: %s", strerror(errno));
    if (install_allowlist() == 0) header->seccomp = 1;
    else if (strict) runner_fail("cannot install the system-call allowlist: %s", strerror(errno));
    if (write_byte('R') != 0) _exit(0);

    kiln_problem *problem = (kiln_problem *)header;
    for (;;) {
        char command = 0;
        ssize_t n = read(KILN_FD_GO, &command, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n != 1 || command == 'Q') _exit(0);
        if (command != 'G') continue;
        kiln_task_call(problem);
        if (write_byte('D') != 0) _exit(KILN_RUNNER_FAILED + 1);
    }
}
