/*
 * kiln_driver.c: the evaluation driver Kiln links with a task's instance file and ONE implementation
 * of the task's entry point (the oracle, the baseline or a candidate) to make a worker process.
 *
 * A worker is driven over its standard input by the harness, one command a line, and answers on a
 * private copy of its original standard output ("the protocol fd"); the implementation's own
 * prints go to standard error. Commands:
 *
 *   setup SEED [P]  build a fresh problem instance from (shape, SEED), in the previous instance's
 *                buffers when their sizes match; with P, then scale a few inputs chosen by P
 *                -> ok inputs=HASH outputs=BYTES flops=F bytes=B
 *   call         fill outputs with NaN, call the entry point once, timed (CLOCK_MONOTONIC)
 *                -> start t=T0   (before the call)
 *                -> ok ns=NANOSECONDS start=T0 end=T1
 *   post         after a call: idle 30 ms and report the CPU the process burned meanwhile, whether
 *                the outputs changed meanwhile, and the hash of the inputs
 *                -> ok inputs=HASH idle_cpu_ns=N outputs_changed=0|1
 *   out          -> ok bytes=N, then N raw bytes: every output buffer as it was the moment the call
 *                returned (a copy taken then), in allocation order
 *   check N      then N raw bytes (another worker's outputs): compare them with this worker's
 *                -> ok max_abs=E rel_l2=E nonfinite=N worst=NAME[INDEX] expected=X got=Y
 *   quit
 *
 * Failures the task is responsible for answer "task-error MESSAGE" and exit 3. Before it reads any
 * command the worker limits its own memory, CPU time and file sizes, starts a thread that ends it
 * when Kiln goes away, and installs a seccomp filter: no new processes, no exec, no files opened, no sockets, no
 * debugging of other processes. Nothing a candidate does can make the worker trusted: the harness
 * checks outputs in the oracle's process and bounds the reported times by its own clock.
 */
#define _GNU_SOURCE
#include "kiln_task.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#endif

/* ---------------------------------------------------------------------------------------------
 * Protocol I/O
 */

static int protocol_fd = -1;

static void write_all(int fd, const void *data, size_t size) {
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            _exit(4);
        }
        p += n;
        size -= (size_t)n;
    }
}

static void reply(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *format, ...) {
    char line[1024];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(line, sizeof line - 1, format, args);
    va_end(args);
    if (n < 0) n = 0;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    write_all(protocol_fd, line, (size_t)n);
}

void kiln_fail(const char *format, ...) {
    char message[800];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    for (char *c = message; *c; c++)
        if (*c == '\n') *c = ' ';
    if (protocol_fd >= 0) reply("task-error %s", message);
    fprintf(stderr, "kiln task error: %s\n", message);
    _exit(3);
}

static char in_buffer[1 << 16];
static size_t in_start = 0, in_end = 0;

static int read_more(void) {
    if (in_start > 0) {
        memmove(in_buffer, in_buffer + in_start, in_end - in_start);
        in_end -= in_start;
        in_start = 0;
    }
    if (in_end == sizeof in_buffer) return 0;
    for (;;) {
        ssize_t n = read(0, in_buffer + in_end, sizeof in_buffer - in_end);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        in_end += (size_t)n;
        return 1;
    }
}

/* Reads one command line (without its newline) into `line`; returns 0 at end of input. */
static int read_line(char *line, size_t capacity) {
    for (;;) {
        for (size_t i = in_start; i < in_end; i++) {
            if (in_buffer[i] == '\n') {
                size_t length = i - in_start;
                if (length >= capacity) length = capacity - 1;
                memcpy(line, in_buffer + in_start, length);
                line[length] = 0;
                in_start = i + 1;
                return 1;
            }
        }
        if (!read_more()) return 0;
    }
}

static int read_exact(void *data, size_t size) {
    char *p = data;
    while (size > 0) {
        if (in_start == in_end && !read_more()) return 0;
        size_t take = in_end - in_start;
        if (take > size) take = size;
        memcpy(p, in_buffer + in_start, take);
        in_start += take;
        p += take;
        size -= take;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Shapes: "key=value;key=v1,v2,..." from the command line
 */

#define MAX_PARAMS 64
struct kiln_shape {
    int count;
    char *keys[MAX_PARAMS];
    char *values[MAX_PARAMS];
    const char *name;
};

static struct kiln_shape the_shape;

static void parse_shape(char *spec) {
    the_shape.name = "";
    for (char *item = strtok(spec, ";"); item; item = strtok(NULL, ";")) {
        char *eq = strchr(item, '=');
        if (!eq) kiln_fail("shape parameter '%s' has no '='", item);
        if (the_shape.count == MAX_PARAMS) kiln_fail("a shape may have at most %d parameters", MAX_PARAMS);
        *eq = 0;
        the_shape.keys[the_shape.count] = item;
        the_shape.values[the_shape.count] = eq + 1;
        if (strcmp(item, "name") == 0) the_shape.name = eq + 1;
        the_shape.count++;
    }
}

static const char *shape_value(const kiln_shape *shape, const char *key) {
    for (int i = 0; i < shape->count; i++)
        if (strcmp(shape->keys[i], key) == 0) return shape->values[i];
    return NULL;
}

const char *kiln_shape_name(const kiln_shape *shape) { return shape->name; }

static long long parse_int(const char *key, const char *text) {
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || *end) kiln_fail("shape parameter '%s' = '%s' is not an integer", key, text);
    return value;
}

long long kiln_shape_int(const kiln_shape *shape, const char *key) {
    const char *text = shape_value(shape, key);
    if (!text) kiln_fail("shape '%s' lacks the integer parameter '%s'", shape->name, key);
    return parse_int(key, text);
}

long long kiln_shape_int_or(const kiln_shape *shape, const char *key, long long fallback) {
    const char *text = shape_value(shape, key);
    return text ? parse_int(key, text) : fallback;
}

static double parse_float(const char *key, const char *text) {
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || *end) kiln_fail("shape parameter '%s' = '%s' is not a number", key, text);
    return value;
}

double kiln_shape_float(const kiln_shape *shape, const char *key) {
    const char *text = shape_value(shape, key);
    if (!text) kiln_fail("shape '%s' lacks the number parameter '%s'", shape->name, key);
    return parse_float(key, text);
}

double kiln_shape_float_or(const kiln_shape *shape, const char *key, double fallback) {
    const char *text = shape_value(shape, key);
    return text ? parse_float(key, text) : fallback;
}

int kiln_shape_ints(const kiln_shape *shape, const char *key, long long *out, int max) {
    const char *text = shape_value(shape, key);
    if (!text) kiln_fail("shape '%s' lacks the integer list parameter '%s'", shape->name, key);
    int count = 0;
    const char *p = text;
    while (*p) {
        char *end = NULL;
        errno = 0;
        long long value = strtoll(p, &end, 10);
        if (errno || end == p || (*end && *end != ','))
            kiln_fail("shape parameter '%s' = '%s' is not a list of integers", key, text);
        if (count < max) out[count] = value;
        count++;
        p = *end ? end + 1 : end;
    }
    return count;
}

/* ---------------------------------------------------------------------------------------------
 * Random numbers (xoshiro256**, seeded through splitmix64)
 */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void kiln_rng_seed(kiln_rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t kiln_rng_next(kiln_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double kiln_rng_uniform(kiln_rng *rng) { return (double)(kiln_rng_next(rng) >> 11) * 0x1.0p-53; }

double kiln_rng_normal(kiln_rng *rng) {
    double u = kiln_rng_uniform(rng), v = kiln_rng_uniform(rng);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

uint64_t kiln_rng_below(kiln_rng *rng, uint64_t bound) {
    if (bound == 0) return 0;
    return (uint64_t)(((__uint128_t)kiln_rng_next(rng) * bound) >> 64);
}

void kiln_fill_normal_f32(kiln_rng *rng, float *out, size_t count, float scale) {
    /* Irwin-Hall with four uniforms per value: cheap, bounded, close enough to normal. */
    const float norm = scale * 1.7320508f; /* sqrt(12/4) */
    for (size_t i = 0; i < count; i++) {
        uint64_t r = kiln_rng_next(rng);
        float sum = (float)(r & 0xFFFF) + (float)((r >> 16) & 0xFFFF) + (float)((r >> 32) & 0xFFFF) +
                    (float)(r >> 48);
        out[i] = (sum * (1.0f / 65536.0f) - 2.0f) * norm;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Problems and buffers
 */

#define MAX_BUFFERS 32
struct buffer {
    const char *name;
    enum kiln_role role;
    enum kiln_dtype dtype;
    size_t count;
    size_t bytes;
    void *data;
    void *snapshot; /* outputs only: a copy taken the moment the call returned */
};

struct kiln_problem {
    int buffer_count;
    struct buffer buffers[MAX_BUFFERS];
    double flops, bytes;
    void *state;
    int live;
};

static struct kiln_problem problem;
/* The previous problem's buffers, reused by the next setup when sizes match: a candidate that caches
 * results keyed on pointers then sees the same pointers with new values, and fails. */
static struct buffer pool[MAX_BUFFERS];
static int pool_count = 0;

static size_t dtype_size(enum kiln_dtype dtype) {
    switch (dtype) {
    case KILN_F32: return 4;
    case KILN_F64: return 8;
    case KILN_I32: return 4;
    case KILN_I64: return 8;
    }
    kiln_fail("unknown buffer dtype %d", (int)dtype);
}

void *kiln_buffer(kiln_problem *p, const char *name, enum kiln_role role, enum kiln_dtype dtype, size_t count) {
    if (p->buffer_count == MAX_BUFFERS) kiln_fail("a problem may have at most %d buffers", MAX_BUFFERS);
    if (role != KILN_INPUT && role != KILN_OUTPUT) kiln_fail("buffer '%s' has an unknown role", name);
    size_t bytes = count * dtype_size(dtype);
    size_t padded = (bytes + 63) / 64 * 64;
    int index = p->buffer_count;
    void *data = NULL, *snapshot = NULL;
    if (index < pool_count && pool[index].data && pool[index].bytes == bytes && pool[index].role == role) {
        data = pool[index].data;
        snapshot = pool[index].snapshot;
        pool[index].data = pool[index].snapshot = NULL;
    } else {
        data = aligned_alloc(64, padded ? padded : 64);
        if (!data) kiln_fail("could not allocate %zu bytes for buffer '%s'", bytes, name);
    }
    memset(data, 0, padded ? padded : 64);
    struct buffer *b = &p->buffers[p->buffer_count++];
    b->name = name;
    b->role = role;
    b->dtype = dtype;
    b->count = count;
    b->bytes = bytes;
    b->data = data;
    b->snapshot = snapshot;
    if (role == KILN_OUTPUT && !snapshot) {
        b->snapshot = aligned_alloc(64, padded ? padded : 64);
        if (!b->snapshot) kiln_fail("could not allocate %zu bytes for buffer '%s'", bytes, name);
        memset(b->snapshot, 0, padded ? padded : 64);
    }
    return data;
}

void kiln_set_work(kiln_problem *p, double flops, double bytes) {
    p->flops = flops;
    p->bytes = bytes;
}

void kiln_set_state(kiln_problem *p, void *state) { p->state = state; }
void *kiln_state(const kiln_problem *p) { return p->state; }

static void free_pool(void) {
    for (int i = 0; i < pool_count; i++) {
        free(pool[i].data);
        free(pool[i].snapshot);
    }
    memset(pool, 0, sizeof pool);
    pool_count = 0;
}

/* Ends the current problem; its buffers wait in the pool for the next setup. */
static void release_problem(void) {
    if (problem.live) kiln_task_teardown(&problem);
    free_pool();
    memcpy(pool, problem.buffers, sizeof pool);
    pool_count = problem.buffer_count;
    memset(&problem, 0, sizeof problem);
}

/* Scales a few input values by random factors in [0.5, 1.5) (signs kept): inputs nearly equal to the
 * last ones, so that a candidate caching results keyed on a sample of its inputs returns stale answers. */
static void perturb_inputs(uint64_t seed) {
    kiln_rng rng;
    kiln_rng_seed(&rng, seed ^ 0x7065727475726221ull);
    for (int i = 0; i < problem.buffer_count; i++) {
        struct buffer *b = &problem.buffers[i];
        if (b->role != KILN_INPUT || b->count == 0 || (b->dtype != KILN_F32 && b->dtype != KILN_F64)) continue;
        size_t changes = b->count / 64 + 1;
        for (size_t c = 0; c < changes; c++) {
            size_t j = (size_t)kiln_rng_below(&rng, b->count);
            double factor = 0.5 + kiln_rng_uniform(&rng);
            if (b->dtype == KILN_F32) ((float *)b->data)[j] *= (float)factor;
            else ((double *)b->data)[j] *= factor;
        }
    }
}

static uint64_t hash_bytes(uint64_t h, const void *data, size_t size) {
    const unsigned char *p = data;
    uint64_t lanes[4] = {h ^ 0x243F6A8885A308D3ull, h ^ 0x13198A2E03707344ull, h ^ 0xA4093822299F31D0ull,
                         h ^ 0x082EFA98EC4E6C89ull};
    size_t i = 0;
    for (; i + 32 <= size; i += 32) {
        for (int l = 0; l < 4; l++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * l, 8);
            lanes[l] = rotl(lanes[l] ^ w, 29) * 0x9E3779B97F4A7C15ull;
        }
    }
    uint64_t tail = 0;
    for (; i < size; i++) tail = (tail << 8) | p[i];
    uint64_t out = lanes[0] ^ rotl(lanes[1], 17) ^ rotl(lanes[2], 31) ^ rotl(lanes[3], 47) ^ tail ^ size;
    return splitmix64(&out);
}

static uint64_t hash_role(enum kiln_role role, int snapshots) {
    uint64_t h = 0x6B696C6E;
    for (int i = 0; i < problem.buffer_count; i++) {
        struct buffer *b = &problem.buffers[i];
        if (b->role == role) h = hash_bytes(h, snapshots ? b->snapshot : b->data, b->bytes);
    }
    return h;
}

static void take_snapshot(void) {
    for (int i = 0; i < problem.buffer_count; i++)
        if (problem.buffers[i].role == KILN_OUTPUT)
            memcpy(problem.buffers[i].snapshot, problem.buffers[i].data, problem.buffers[i].bytes);
}

static size_t output_bytes(void) {
    size_t total = 0;
    for (int i = 0; i < problem.buffer_count; i++)
        if (problem.buffers[i].role == KILN_OUTPUT) total += problem.buffers[i].bytes;
    return total;
}

static void poison_outputs(void) {
    for (int i = 0; i < problem.buffer_count; i++) {
        struct buffer *b = &problem.buffers[i];
        if (b->role != KILN_OUTPUT) continue;
        if (b->dtype == KILN_F32) {
            float *f = b->data;
            for (size_t j = 0; j < b->count; j++) f[j] = NAN;
        } else if (b->dtype == KILN_F64) {
            double *d = b->data;
            for (size_t j = 0; j < b->count; j++) d[j] = NAN;
        } else {
            memset(b->data, 0xFF, b->bytes);
        }
    }
}

static int64_t now_ns(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

/* CLOCK_MONOTONIC straight from the kernel: no vDSO and no GOT entry a candidate could redirect. */
static int64_t kernel_monotonic_ns(void) {
    struct timespec t = {0, 0};
#if defined(__x86_64__)
    long result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "0"((long)SYS_clock_gettime), "D"((long)CLOCK_MONOTONIC), "S"(&t)
                     : "rcx", "r11", "memory");
    (void)result;
#else
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t);
#endif
    return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

/* ---------------------------------------------------------------------------------------------
 * Comparison (run in the oracle's worker: the reference never leaves this process)
 */

static void compare(const unsigned char *other, size_t size) {
    if (size != output_bytes()) {
        reply("error outputs of %zu bytes, expected %zu", size, output_bytes());
        return;
    }
    double max_abs = 0, err2 = 0, ref2 = 0, worst_expected = 0, worst_got = 0;
    size_t nonfinite = 0, worst_index = 0, offset = 0;
    const char *worst_name = "-";
    for (int i = 0; i < problem.buffer_count; i++) {
        struct buffer *b = &problem.buffers[i];
        if (b->role != KILN_OUTPUT) continue;
        const unsigned char *theirs = other + offset;
        offset += b->bytes;
        for (size_t j = 0; j < b->count; j++) {
            double expected, got;
            switch (b->dtype) {
            case KILN_F32: {
                float e, g;
                memcpy(&e, (const char *)b->data + 4 * j, 4);
                memcpy(&g, theirs + 4 * j, 4);
                expected = e;
                got = g;
                break;
            }
            case KILN_F64:
                memcpy(&expected, (const char *)b->data + 8 * j, 8);
                memcpy(&got, theirs + 8 * j, 8);
                break;
            case KILN_I32: {
                int32_t e, g;
                memcpy(&e, (const char *)b->data + 4 * j, 4);
                memcpy(&g, theirs + 4 * j, 4);
                expected = e;
                got = g;
                break;
            }
            default: {
                int64_t e, g;
                memcpy(&e, (const char *)b->data + 8 * j, 8);
                memcpy(&g, theirs + 8 * j, 8);
                expected = (double)e;
                got = (double)g;
                break;
            }
            }
            if (!isfinite(expected)) kiln_fail("the oracle produced a non-finite %s[%zu]", b->name, j);
            double diff;
            if (!isfinite(got)) {
                nonfinite++;
                diff = INFINITY;
            } else {
                diff = fabs(got - expected);
                err2 += diff * diff;
            }
            ref2 += expected * expected;
            if (diff > max_abs || (nonfinite == 1 && !isfinite(got) && worst_name[0] == '-')) {
                if (diff > max_abs) max_abs = diff;
                worst_index = j;
                worst_name = b->name;
                worst_expected = expected;
                worst_got = got;
            }
        }
    }
    double rel_l2 = nonfinite ? INFINITY : sqrt(err2 / (ref2 > 1e-300 ? ref2 : 1e-300));
    reply("ok max_abs=%.6g rel_l2=%.6g nonfinite=%zu worst=%s[%zu] expected=%.9g got=%.9g", max_abs, rel_l2, nonfinite,
          worst_name, worst_index, worst_expected, worst_got);
}

/* ---------------------------------------------------------------------------------------------
 * The sandbox
 */

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#if defined(__x86_64__)
#define KILN_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define KILN_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif
#define KILL_IF(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)
#define ERRNO_IF(nr, e) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (e))

static int install_sandbox(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KILN_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1), /* the x32 ABI */
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        KILL_IF(__NR_fork),
        KILL_IF(__NR_vfork),
        ERRNO_IF(__NR_open, EACCES),
        ERRNO_IF(__NR_creat, EACCES),
        ERRNO_IF(__NR_unlink, EACCES),
        ERRNO_IF(__NR_rename, EACCES),
        ERRNO_IF(__NR_mkdir, EACCES),
#endif
        KILL_IF(__NR_execve),
        KILL_IF(__NR_execveat),
        KILL_IF(__NR_ptrace),
        KILL_IF(__NR_process_vm_readv),
        KILL_IF(__NR_process_vm_writev),
        KILL_IF(__NR_socket),
        KILL_IF(__NR_socketpair),
        KILL_IF(__NR_setns),
        KILL_IF(__NR_unshare),
        KILL_IF(__NR_mount),
        KILL_IF(__NR_bpf),
        KILL_IF(__NR_perf_event_open),
        ERRNO_IF(__NR_openat, EACCES),
#ifdef __NR_openat2
        ERRNO_IF(__NR_openat2, EACCES),
#endif
        ERRNO_IF(__NR_unlinkat, EACCES),
        ERRNO_IF(__NR_renameat, EACCES),
#ifdef __NR_renameat2
        ERRNO_IF(__NR_renameat2, EACCES),
#endif
        ERRNO_IF(__NR_mkdirat, EACCES),
        ERRNO_IF(__NR_prctl, EPERM),
        /* No new executable memory: code cannot be patched or generated once the sandbox is on. */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __NR_pkey_mprotect
        KILL_IF(__NR_pkey_mprotect),
#endif
#ifdef __NR_clone3
        ERRNO_IF(__NR_clone3, ENOSYS), /* glibc falls back to clone(), whose flags we can see */
#endif
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x00010000 /* CLONE_THREAD */, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {.len = (unsigned short)(sizeof filter / sizeof filter[0]), .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program);
}
#else
static int install_sandbox(void) { return -1; }
#endif

/* Ends the worker when Kiln goes away. (PR_SET_PDEATHSIG would fire when the spawning *thread* exits,
 * which a thread pool may do at any time.) */
static pid_t original_parent;

static void *watch_parent(void *unused) {
    (void)unused;
    for (;;) {
        if (getppid() != original_parent) _exit(5);
        struct timespec pause = {0, 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void start_orphan_watch(void) {
    original_parent = getppid();
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, 64 * 1024);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&thread, &attributes, watch_parent, NULL) != 0) _exit(4);
    pthread_attr_destroy(&attributes);
}

static void set_limit(int resource, rlim_t value) {
    struct rlimit limit = {value, value};
    setrlimit(resource, &limit);
}

/* ---------------------------------------------------------------------------------------------
 * main
 */

int main(int argc, char **argv) {
    char *shape_spec = NULL, *log_path = NULL;
    long memory_mb = 4096, cpu_seconds = 3600, log_bytes = 1 << 20;
    int sandbox = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) shape_spec = argv[++i];
        else if (strcmp(argv[i], "--memory-mb") == 0 && i + 1 < argc) memory_mb = atol(argv[++i]);
        else if (strcmp(argv[i], "--cpu-seconds") == 0 && i + 1 < argc) cpu_seconds = atol(argv[++i]);
        else if (strcmp(argv[i], "--log-bytes") == 0 && i + 1 < argc) log_bytes = atol(argv[++i]);
        else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) log_path = argv[++i];
        else if (strcmp(argv[i], "--no-sandbox") == 0) sandbox = 0;
    }
    if (log_path) {
        int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log_fd < 0 || dup2(log_fd, 2) < 0) return 4;
        close(log_fd);
    }
    /* The protocol keeps the original standard output; everything the code prints goes to stderr. */
    protocol_fd = dup(1);
    if (protocol_fd < 0 || dup2(2, 1) < 0) return 4;
    fcntl(protocol_fd, F_SETFD, FD_CLOEXEC);
    if (!shape_spec) kiln_fail("the driver was started without --shape");
    parse_shape(shape_spec);

    start_orphan_watch();
    signal(SIGXFSZ, SIG_IGN); /* prints past the log limit are dropped, not fatal */
    set_limit(RLIMIT_CORE, 0);
    set_limit(RLIMIT_FSIZE, (rlim_t)log_bytes);
    set_limit(RLIMIT_CPU, (rlim_t)cpu_seconds);
    set_limit(RLIMIT_AS, (rlim_t)memory_mb << 20);

    /* Start the OpenMP runtime (and its threads) before the sandbox closes the file system. */
    volatile int threads = 0;
#pragma omp parallel
    {
#pragma omp atomic
        threads++;
    }
    if (sandbox && install_sandbox() != 0) {
        reply("error could not install the seccomp sandbox (errno %d); pass --no-sandbox only for trusted code", errno);
        return 4;
    }
    reply("ready threads=%d sandbox=%d", threads, sandbox);

    char line[256];
    uint64_t output_hash_after_call = 0;
    while (read_line(line, sizeof line)) {
        if (strncmp(line, "setup ", 6) == 0) {
            release_problem();
            char *rest = NULL;
            uint64_t seed = strtoull(line + 6, &rest, 10);
            uint64_t perturbation = rest && *rest ? strtoull(rest, NULL, 10) : 0;
            kiln_task_setup(&problem, &the_shape, seed);
            problem.live = 1;
            free_pool();
            if (perturbation) perturb_inputs(perturbation);
            int outputs = 0;
            for (int i = 0; i < problem.buffer_count; i++) outputs += problem.buffers[i].role == KILN_OUTPUT;
            if (outputs == 0) kiln_fail("the instance declared no output buffer");
            reply("ok inputs=%016llx outputs=%zu flops=%.17g bytes=%.17g", (unsigned long long)hash_role(KILN_INPUT, 0),
                  output_bytes(), problem.flops, problem.bytes);
        } else if (strcmp(line, "call") == 0) {
            if (!problem.live) {
                reply("error call before setup");
                continue;
            }
            poison_outputs();
            /* The start time leaves the process before any candidate code runs, so the candidate
             * cannot change it; Kiln checks it against its own clock, and the end against the moment
             * the reply arrives. */
            int64_t start = kernel_monotonic_ns();
            reply("start t=%lld", (long long)start);
            kiln_task_call(&problem);
            int64_t end = kernel_monotonic_ns();
            reply("ok ns=%lld start=%lld end=%lld", (long long)(end - start), (long long)start, (long long)end);
            take_snapshot();
            output_hash_after_call = hash_role(KILN_OUTPUT, 1);
        } else if (strcmp(line, "post") == 0) {
            int64_t cpu_before = now_ns(CLOCK_PROCESS_CPUTIME_ID);
            struct timespec idle = {0, 30 * 1000 * 1000};
            while (nanosleep(&idle, &idle) != 0 && errno == EINTR) {
            }
            int64_t cpu_after = now_ns(CLOCK_PROCESS_CPUTIME_ID);
            int changed = hash_role(KILN_OUTPUT, 0) != output_hash_after_call;
            reply("ok inputs=%016llx idle_cpu_ns=%lld outputs_changed=%d", (unsigned long long)hash_role(KILN_INPUT, 0),
                  (long long)(cpu_after - cpu_before), changed);
        } else if (strcmp(line, "out") == 0) {
            reply("ok bytes=%zu", output_bytes());
            for (int i = 0; i < problem.buffer_count; i++)
                if (problem.buffers[i].role == KILN_OUTPUT)
                    write_all(protocol_fd, problem.buffers[i].snapshot, problem.buffers[i].bytes);
        } else if (strncmp(line, "check ", 6) == 0) {
            size_t size = strtoull(line + 6, NULL, 10);
            unsigned char *other = malloc(size ? size : 1);
            if (!other) kiln_fail("could not allocate %zu bytes to compare outputs", size);
            if (!read_exact(other, size)) break;
            compare(other, size);
            free(other);
        } else if (strcmp(line, "quit") == 0) {
            break;
        } else {
            reply("error unknown command '%s'", line);
        }
    }
    release_problem();
    free_pool();
    return 0;
}
