/*
 * kiln_monitor.c: Kiln's monitor, the trusted side of every measurement. Linked with the task's instance
 * file (and never with an implementation), one monitor serves one implementation (the oracle, the baseline
 * or a candidate) on one shape. It builds each problem instance itself, in an arena it shares with a
 * sandboxed worker (kiln_runner.c, started through kiln_jail.c) that runs the implementation, and it
 * alone decides what a call took and what it produced:
 *
 *   - the worker is frozen (SIGSTOP, confirmed by the sandbox's init) whenever it is not being timed:
 *     while inputs are made, while another implementation runs, while outputs are read;
 *   - a call starts when the monitor reads its clock and thaws the worker, and ends when the worker's
 *     'D' arrives; the monitor then freezes the worker and only then copies the outputs and hashes the
 *     inputs, so nothing the worker does afterwards can change them;
 *   - the worker's CPU time comes from the kernel's accounting (its process CPU clock) over the whole
 *     interval between calls; a frozen worker burns none.
 *
 * Kiln drives a monitor over its standard input, one command a line; the monitor answers on its original
 * standard output (the task's own prints go to the log):
 *
 *   setup SEED [P]   build a fresh instance from (shape, SEED) in the previous instance's buffers (same
 *                    shape, same sizes, same addresses); with P, then scale a few inputs chosen by P. The
 *                    first setup starts the worker.
 *                    -> ok inputs=HASH outputs=BYTES flops=F bytes=B threads=T sandbox=0|1
 *   call MS          fill outputs with NaN, call the entry point once with a deadline of MS milliseconds
 *                    -> ok ns=WALL cpu_ns=CPU after_ns=CPU_AFTER_D frozen_cpu_ns=CPU_WHILE_FROZEN inputs=HASH
 *                    -> timeout ns=WALL     (the worker and its sandbox were killed)
 *   out              -> ok bytes=N, then N raw bytes: the outputs as the call left them, in allocation order
 *   check N          then N raw bytes (another implementation's outputs), compared with this one's
 *                    -> ok max_abs=E rel_l2=E nonfinite=N worst=NAME[INDEX] expected=X got=Y
 *   quit
 *
 * A worker that died answers every later command with
 *   dead phase=start-up|call|freeze status=exit:N|signal:N [syscall=NR]
 * Failures of the task's own code answer "task-error MESSAGE" and the monitor exits 3; Kiln's own
 * failures (no sandbox could be made, the worker could not map its arena) answer "error MESSAGE".
 */
#define _GNU_SOURCE
#include "kiln_arena.h"
#include "kiln_jail.h"
#include "kiln_task.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Protocol I/O
 */

static int protocol_fd = -1;

static void stop_worker_for_good(void);

static void write_all(int fd, const void *data, size_t size) {
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            /* Kiln went away (a broken pipe): nobody will read a reply; the worker and its sandbox go too,
             * or a frozen worker would outlive everything that could end it. */
            stop_worker_for_good();
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
    for (int i = 0; i < n; i++)
        if (line[i] == '\n') line[i] = ' ';
    line[n++] = '\n';
    write_all(protocol_fd, line, (size_t)n);
}

void kiln_fail(const char *format, ...) {
    char message[800];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    if (protocol_fd >= 0) reply("task-error %s", message);
    fprintf(stderr, "kiln task error: %s\n", message);
    stop_worker_for_good();
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

/* Reads one command line (without its newline) into `line`; returns 0 at end of input. Each byte is
 * searched for a newline once. */
static int read_line(char *line, size_t capacity) {
    size_t checked = 0; /* bytes after in_start already searched */
    for (;;) {
        for (size_t i = in_start + checked; i < in_end; i++) {
            if (in_buffer[i] == '\n') {
                size_t length = i - in_start;
                if (length >= capacity) length = capacity - 1;
                memcpy(line, in_buffer + in_start, length);
                line[length] = 0;
                in_start = i + 1;
                return 1;
            }
        }
        checked = in_end - in_start;
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

static void fill_normal_16(kiln_rng *rng, uint16_t *out, size_t count, float scale, uint16_t (*round16)(float)) {
    float chunk[256];
    for (size_t i = 0; i < count; i += 256) {
        size_t n = count - i < 256 ? count - i : 256;
        kiln_fill_normal_f32(rng, chunk, n, scale);
        for (size_t j = 0; j < n; j++) out[i + j] = round16(chunk[j]);
    }
}

void kiln_fill_normal_f16(kiln_rng *rng, uint16_t *out, size_t count, float scale) {
    fill_normal_16(rng, out, count, scale, kiln_f32_to_f16);
}

void kiln_fill_normal_bf16(kiln_rng *rng, uint16_t *out, size_t count, float scale) {
    fill_normal_16(rng, out, count, scale, kiln_f32_to_bf16);
}

/* ---------------------------------------------------------------------------------------------
 * The arena: one sealed memfd, mapped at the same address here and in the worker
 */

static unsigned char *arena = NULL;
static size_t arena_reserved = 0; /* bytes mapped here */
static size_t arena_size = 0;     /* bytes the worker maps: fixed by the first setup */
static size_t arena_used = KILN_ARENA_HEADER_BYTES;
static int arena_fd = -1;

static struct kiln_arena_header *arena_header(void) { return (struct kiln_arena_header *)arena; }

static void make_arena(size_t bytes) {
    arena_fd = memfd_create("kiln-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (arena_fd < 0 || ftruncate(arena_fd, (off_t)bytes) != 0) {
        reply("error cannot create the shared arena of %zu MiB: %s", bytes >> 20, strerror(errno));
        _exit(4);
    }
    /* A fixed address far from where either process's libraries, heap and stacks go, so that the
     * worker can map the arena at the same address and every pointer the instance stored stays valid. */
    static const uintptr_t bases[] = {0x3e0000000000ull, 0x2e0000000000ull, 0x1e0000000000ull, 0x5e00000000ull};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0] && !arena; i++) {
        void *p = mmap((void *)bases[i], bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, arena_fd, 0);
        if (p == MAP_FAILED) continue;
        if ((uintptr_t)p != bases[i]) {
            munmap(p, bytes);
            continue;
        }
        arena = p;
    }
    if (!arena) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, arena_fd, 0);
        if (p == MAP_FAILED) {
            reply("error cannot map the shared arena of %zu MiB: %s", bytes >> 20, strerror(errno));
            _exit(4);
        }
        arena = p;
    }
    arena_reserved = bytes;
    memset(arena, 0, KILN_ARENA_HEADER_BYTES);
    arena_header()->magic = KILN_ARENA_MAGIC;
}

static void *arena_take(size_t bytes, const char *what) {
    size_t start = (arena_used + 63) / 64 * 64;
    size_t padded = (bytes + 63) / 64 * 64;
    if (padded == 0) padded = 64;
    size_t limit = arena_size ? arena_size : arena_reserved;
    if (start + padded > limit || start + padded < start) {
        if (arena_size)
            kiln_fail("the instance needs more memory on this setup than on the first of the same shape (%s); "
                      "its buffer sizes must depend only on the shape",
                      what);
        kiln_fail("the instance's buffers (%s) exceed the task's memory limit of %zu MiB", what, arena_reserved >> 20);
    }
    arena_used = start + padded;
    memset(arena + start, 0, padded);
    return arena + start;
}

/* ---------------------------------------------------------------------------------------------
 * Problems and buffers (the monitor's own record: never read back from the arena)
 */

#define MAX_BUFFERS 32
#define MAX_AXES 8

struct buffer {
    const char *name;
    enum kiln_role role;
    enum kiln_dtype dtype;
    size_t count;
    size_t bytes;
    unsigned char *data; /* in the arena */
    int axis_count;      /* 0: a flat index names an element */
    size_t dims[MAX_AXES];
    char axes[MAX_AXES][32];
};

struct kiln_problem {
    int buffer_count;
    struct buffer buffers[MAX_BUFFERS];
    double flops, bytes;
    void *state;
    int live;
};

static struct kiln_problem problem;
static unsigned char *snapshot = NULL; /* the outputs as the last call left them */
static size_t snapshot_size = 0;
static unsigned char *pristine = NULL; /* the in-place buffers as the setup left them (the monitor's own memory) */
static size_t pristine_size = 0;
static int called_since_setup = 0; /* whether the in-place buffers may differ from their pristine copy */

/* Whether the call's result is read from a buffer: outputs and in-place buffers. */
static int is_result(const struct buffer *b) { return b->role == KILN_OUTPUT || b->role == KILN_INOUT; }

static size_t dtype_size(enum kiln_dtype dtype) {
    switch (dtype) {
    case KILN_F32: return 4;
    case KILN_F64: return 8;
    case KILN_I32: return 4;
    case KILN_I64: return 8;
    case KILN_F16: return 2;
    case KILN_BF16: return 2;
    }
    kiln_fail("unknown buffer dtype %d", (int)dtype);
}

void *kiln_buffer(kiln_problem *p, const char *name, enum kiln_role role, enum kiln_dtype dtype, size_t count) {
    if (p->buffer_count == MAX_BUFFERS) kiln_fail("a problem may have at most %d buffers", MAX_BUFFERS);
    if (role != KILN_INPUT && role != KILN_OUTPUT && role != KILN_INOUT)
        kiln_fail("buffer '%s' has an unknown role %d (KILN_INPUT, KILN_OUTPUT or KILN_INOUT)", name, (int)role);
    size_t size = dtype_size(dtype);
    if (count > SIZE_MAX / size) kiln_fail("buffer '%s' of %zu elements is too large", name, count);
    struct buffer *b = &p->buffers[p->buffer_count++];
    b->name = name;
    b->role = role;
    b->dtype = dtype;
    b->count = count;
    b->bytes = count * size;
    b->data = arena_take(b->bytes, name);
    return b->data;
}

void kiln_buffer_axes(kiln_problem *p, const void *buffer, const char *axes, const size_t *dims, int count) {
    struct buffer *b = NULL;
    for (int i = 0; i < p->buffer_count; i++)
        if (p->buffers[i].data == buffer) b = &p->buffers[i];
    if (!b) kiln_fail("kiln_buffer_axes: the pointer is not a buffer from kiln_buffer()");
    if (count < 1 || count > MAX_AXES) kiln_fail("kiln_buffer_axes(%s): from 1 to %d axes, not %d", b->name, MAX_AXES, count);
    size_t product = 1;
    const char *name = axes ? axes : "";
    for (int i = 0; i < count; i++) {
        size_t length = strcspn(name, ",");
        if (length == 0 || length >= sizeof b->axes[i])
            kiln_fail("kiln_buffer_axes(%s): axis %d needs a name of 1 to 31 characters in '%s'", b->name, i + 1,
                      axes ? axes : "");
        memcpy(b->axes[i], name, length);
        b->axes[i][length] = 0;
        name += length + (name[length] == ',');
        if (dims[i] && product > SIZE_MAX / dims[i]) kiln_fail("kiln_buffer_axes(%s): the dimensions overflow", b->name);
        product *= dims[i];
        b->dims[i] = dims[i];
    }
    if (*name) kiln_fail("kiln_buffer_axes(%s): more axis names than the %d dimensions in '%s'", b->name, count, axes);
    if (product != b->count)
        kiln_fail("kiln_buffer_axes(%s): the dimensions make %zu elements, the buffer has %zu", b->name, product, b->count);
    b->axis_count = count;
}

/* An element's place: `name[index]`, or `name[axis=i,axis=j,...]` when the task named the buffer's axes. */
static void element_name(const struct buffer *b, size_t index, char *out, size_t size) {
    if (!b || b->axis_count == 0) {
        snprintf(out, size, "%s[%zu]", b ? b->name : "-", index);
        return;
    }
    size_t coordinates[MAX_AXES];
    for (int i = b->axis_count - 1; i >= 0; i--) {
        coordinates[i] = b->dims[i] ? index % b->dims[i] : 0;
        index = b->dims[i] ? index / b->dims[i] : 0;
    }
    int used = snprintf(out, size, "%s[", b->name);
    for (int i = 0; i < b->axis_count && used > 0 && (size_t)used < size; i++)
        used += snprintf(out + used, size - used, "%s%s=%zu", i ? "," : "", b->axes[i], coordinates[i]);
    if (used > 0 && (size_t)used < size) snprintf(out + used, size - used, "]");
}

void *kiln_alloc(kiln_problem *p, size_t bytes) {
    (void)p;
    return arena_take(bytes, "kiln_alloc");
}

void kiln_set_work(kiln_problem *p, double flops, double bytes) {
    p->flops = flops;
    p->bytes = bytes;
}

void kiln_set_state(kiln_problem *p, void *state) { p->state = state; }
void *kiln_state(const kiln_problem *p) { return p->state; }

/* The entry point is never called in the monitor: it links the instance file without any implementation. */
void kiln_monitor_no_entry_point(void) {
    fprintf(stderr, "kiln monitor: the entry point was called in the monitor\n");
    abort();
}

static void end_problem(void) {
    if (problem.live) kiln_task_teardown(&problem);
    memset(&problem, 0, sizeof problem);
    arena_used = KILN_ARENA_HEADER_BYTES;
}

/* Scales a few input values by random factors in [0.5, 1.5) (signs kept): inputs nearly equal to the
 * last ones, so that a candidate caching results keyed on a sample of its inputs returns stale answers. */
static void perturb_inputs(uint64_t seed) {
    kiln_rng rng;
    kiln_rng_seed(&rng, seed ^ 0x7065727475726221ull);
    for (int i = 0; i < problem.buffer_count; i++) {
        struct buffer *b = &problem.buffers[i];
        if (b->role == KILN_OUTPUT) continue; /* inputs and in-place buffers */
        if (b->count == 0 || b->dtype == KILN_I32 || b->dtype == KILN_I64) continue;
        size_t changes = b->count / 64 + 1;
        for (size_t c = 0; c < changes; c++) {
            size_t j = (size_t)kiln_rng_below(&rng, b->count);
            double factor = 0.5 + kiln_rng_uniform(&rng);
            uint16_t *half = (uint16_t *)b->data;
            switch (b->dtype) {
            case KILN_F32: ((float *)b->data)[j] *= (float)factor; break;
            case KILN_F64: ((double *)b->data)[j] *= factor; break;
            case KILN_F16: half[j] = kiln_f32_to_f16((float)(kiln_f16_to_f32(half[j]) * factor)); break;
            case KILN_BF16: half[j] = kiln_f32_to_bf16((float)(kiln_bf16_to_f32(half[j]) * factor)); break;
            default: break;
            }
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

static uint64_t hash_inputs(void) {
    uint64_t h = 0x6B696C6E;
    for (int i = 0; i < problem.buffer_count; i++) {
        struct buffer *b = &problem.buffers[i];
        if (b->role == KILN_INPUT) h = hash_bytes(h, b->data, b->bytes);
    }
    return h;
}

static size_t output_bytes(void) {
    size_t total = 0;
    for (int i = 0; i < problem.buffer_count; i++)
        if (is_result(&problem.buffers[i])) total += problem.buffers[i].bytes;
    return total;
}

static int is_inout(const struct buffer *b) { return b->role == KILN_INOUT; }

/* Copies every buffer `wanted` picks, in order, into `*copy` (grown to fit) in the monitor's own memory. */
static void gather(int (*wanted)(const struct buffer *), unsigned char **copy, size_t *capacity) {
    size_t size = 0;
    for (int i = 0; i < problem.buffer_count; i++)
        if (wanted(&problem.buffers[i])) size += problem.buffers[i].bytes;
    if (size > *capacity || !*copy) {
        free(*copy);
        *copy = malloc(size ? size : 1);
        if (!*copy) kiln_fail("could not allocate %zu bytes for a copy of the buffers", size);
        *capacity = size;
    }
    size_t offset = 0;
    for (int i = 0; i < problem.buffer_count; i++) {
        struct buffer *b = &problem.buffers[i];
        if (!wanted(b)) continue;
        memcpy(*copy + offset, b->data, b->bytes);
        offset += b->bytes;
    }
}

/* Before every call: outputs NaN (or 0xFF bytes), in-place buffers back to the setup's contents (only
 * when a call since the setup may have changed them: Kiln's own evaluations set up before every call). */
static void prepare_results(void) {
    size_t offset = 0;
    for (int i = 0; i < problem.buffer_count; i++) {
        struct buffer *b = &problem.buffers[i];
        if (b->role == KILN_INOUT) {
            if (called_since_setup) memcpy(b->data, pristine + offset, b->bytes);
            offset += b->bytes;
            continue;
        }
        if (b->role != KILN_OUTPUT) continue;
        if (b->dtype == KILN_F32) {
            float *f = (float *)b->data;
            for (size_t j = 0; j < b->count; j++) f[j] = NAN;
        } else if (b->dtype == KILN_F64) {
            double *d = (double *)b->data;
            for (size_t j = 0; j < b->count; j++) d[j] = NAN;
        } else if (b->dtype == KILN_F16 || b->dtype == KILN_BF16) {
            uint16_t *h = (uint16_t *)b->data, nan = b->dtype == KILN_F16 ? 0x7E00u : 0x7FC0u;
            for (size_t j = 0; j < b->count; j++) h[j] = nan;
        } else {
            memset(b->data, 0xFF, b->bytes);
        }
    }
}

static void take_snapshot(void) { gather(is_result, &snapshot, &snapshot_size); }

/* ---------------------------------------------------------------------------------------------
 * Comparison (in the oracle's monitor: the reference never leaves it)
 */

/* The least precise floating-point dtype among the results (for the task's tolerance by dtype, as the
 * Triton driver reports it), or the results' integer dtype when none is floating point. */
static const char *least_precise_dtype(void) {
    static const char *names[] = {"float32", "float64", "int32", "int64", "float16", "bfloat16"};
    static const int rank[] = {2, 3, 5, 5, 1, 0}; /* bfloat16 < float16 < float32 < float64 < integers */
    int best = -1;
    for (int i = 0; i < problem.buffer_count; i++) {
        const struct buffer *b = &problem.buffers[i];
        if (is_result(b) && (best < 0 || rank[b->dtype] < rank[best])) best = (int)b->dtype;
    }
    return best < 0 ? "float32" : names[best];
}

static void compare(const unsigned char *other, size_t size) {
    if (size != output_bytes()) {
        reply("error outputs of %zu bytes, expected %zu", size, output_bytes());
        return;
    }
    double max_abs = 0, err2 = 0, ref2 = 0, worst_expected = 0, worst_got = 0;
    size_t nonfinite = 0, worst_index = 0, offset = 0;
    const char *worst_name = "-";
    const struct buffer *worst_buffer = NULL;
    for (int i = 0; i < problem.buffer_count; i++) {
        struct buffer *b = &problem.buffers[i];
        if (!is_result(b)) continue;
        const unsigned char *mine = snapshot + offset;
        const unsigned char *theirs = other + offset;
        offset += b->bytes;
        for (size_t j = 0; j < b->count; j++) {
            double expected, got;
            switch (b->dtype) {
            case KILN_F32: {
                float e, g;
                memcpy(&e, mine + 4 * j, 4);
                memcpy(&g, theirs + 4 * j, 4);
                expected = e;
                got = g;
                break;
            }
            case KILN_F64:
                memcpy(&expected, mine + 8 * j, 8);
                memcpy(&got, theirs + 8 * j, 8);
                break;
            case KILN_F16:
            case KILN_BF16: {
                uint16_t e, g;
                memcpy(&e, mine + 2 * j, 2);
                memcpy(&g, theirs + 2 * j, 2);
                expected = b->dtype == KILN_F16 ? kiln_f16_to_f32(e) : kiln_bf16_to_f32(e);
                got = b->dtype == KILN_F16 ? kiln_f16_to_f32(g) : kiln_bf16_to_f32(g);
                break;
            }
            case KILN_I32: {
                int32_t e, g;
                memcpy(&e, mine + 4 * j, 4);
                memcpy(&g, theirs + 4 * j, 4);
                expected = e;
                got = g;
                break;
            }
            default: {
                int64_t e, g;
                memcpy(&e, mine + 8 * j, 8);
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
                worst_buffer = b;
                worst_expected = expected;
                worst_got = got;
            }
        }
    }
    double rel_l2 = nonfinite ? INFINITY : sqrt(err2 / (ref2 > 1e-300 ? ref2 : 1e-300));
    char where[400];
    element_name(worst_buffer, worst_index, where, sizeof where);
    reply("ok max_abs=%.6g rel_l2=%.6g nonfinite=%zu worst=%s expected=%.9g got=%.9g dtype=%s", max_abs, rel_l2,
          nonfinite, where, worst_expected, worst_got, least_precise_dtype());
}

/* ---------------------------------------------------------------------------------------------
 * The worker
 */

static const char *worker_path = NULL;
static long memory_mb = 4096, cpu_seconds = 3600, log_bytes = 1 << 20;
static int sandboxed = 1;
static int log_fd = -1;
#define MAX_EXTRA_MOUNTS 16
static const char *extra_ro[MAX_EXTRA_MOUNTS];
static int extra_ro_count = 0;

static pid_t init_pid = -1, worker_pid = -1;
static clockid_t worker_clock;
static int go_fd = -1, done_fd = -1, report_fd = -1;
static int worker_started = 0, worker_stopped = 0, worker_dead = 0, worker_status = 0, done_closed = 0;
static const char *death_phase = "start-up";
static int64_t last_cpu = 0;
static int worker_threads = 0;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

static int64_t worker_cpu_ns(void) {
    struct timespec t;
    if (clock_gettime(worker_clock, &t) != 0) return -1;
    return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

static void stop_worker_for_good(void) {
    if (init_pid > 0) {
        kill(init_pid, SIGKILL);
        if (worker_pid > 0 && !sandboxed) kill(worker_pid, SIGKILL);
        while (waitpid(init_pid, NULL, __WALL) < 0 && errno == EINTR) {
        }
        init_pid = -1;
    }
}

/* Kiln went away (its end of our standard input closed with nothing left to read): nobody will read a
 * result. With commands still waiting, the rest of the session runs first. */
static int kiln_closed_input = 0;

static void check_kiln(short revents) {
    if (!(revents & (POLLHUP | POLLERR))) return;
    int waiting = 0;
    if (in_end > in_start || ioctl(0, FIONREAD, &waiting) != 0 || waiting > 0) {
        kiln_closed_input = 1; /* stop watching: poll would report the hang-up at once every time */
        return;
    }
    stop_worker_for_good();
    _exit(0);
}

/* Reads the sandbox init's reports that have arrived. */
static void drain_reports(void) {
    for (;;) {
        char message[8];
        ssize_t n = recv(report_fd, message, sizeof message, MSG_DONTWAIT);
        if (n <= 0) {
            if (n == 0 && !worker_dead) { /* the init is gone: so is the worker */
                worker_dead = 1;
                worker_status = -1;
            }
            return;
        }
        if (message[0] == JAIL_REPORT_STOPPED) worker_stopped = 1;
        else if (message[0] == JAIL_REPORT_CONTINUED) worker_stopped = 0;
        else if (message[0] == JAIL_REPORT_ENDED && n == 5) {
            memcpy(&worker_status, message + 1, sizeof worker_status);
            worker_dead = 1;
        }
    }
}

enum wait_result { GOT_BYTE, GOT_STOPPED, DIED, TIMED_OUT };

/* Waits until the worker writes a byte on its done pipe (want_byte) or is confirmed stopped, dies, or the
 * deadline passes; Kiln's end of standard input is watched too. */
static enum wait_result wait_worker(int want_byte, int64_t deadline, char *byte) {
    for (;;) {
        drain_reports();
        if (worker_dead) return DIED;
        if (!want_byte && worker_stopped) return GOT_STOPPED;
        int64_t left = deadline - now_ns();
        if (left <= 0) return TIMED_OUT;
        struct pollfd fds[3] = {{.fd = report_fd, .events = POLLIN}, {.fd = kiln_closed_input ? -1 : 0, .events = 0},
                                {.fd = want_byte && !done_closed ? done_fd : -1, .events = POLLIN}};
        int timeout = (int)((left + 999999) / 1000000);
        int n = poll(fds, 3, timeout > 1000 ? 1000 : timeout);
        if (n < 0 && errno != EINTR) return DIED;
        check_kiln(fds[1].revents);
        if (want_byte && (fds[2].revents & POLLIN)) {
            ssize_t got = read(done_fd, byte, 1);
            if (got == 1) return GOT_BYTE;
        }
        /* The worker closed its end: it can no longer finish a call; wait for its end or the deadline. */
        if (want_byte && (fds[2].revents & (POLLHUP | POLLERR)) && !(fds[2].revents & POLLIN)) done_closed = 1;
    }
}

static void describe_death(char *out, size_t size) {
    int64_t syscall_number = arena_header()->forbidden_syscall;
    char status[48];
    if (worker_status < 0) snprintf(status, sizeof status, "lost");
    else if (WIFSIGNALED(worker_status)) snprintf(status, sizeof status, "signal:%d", WTERMSIG(worker_status));
    else snprintf(status, sizeof status, "exit:%d", WEXITSTATUS(worker_status));
    if (syscall_number > 0)
        snprintf(out, size, "dead phase=%s status=%s syscall=%lld", death_phase, status, (long long)(syscall_number - 1));
    else snprintf(out, size, "dead phase=%s status=%s", death_phase, status);
}

static void reply_dead(void) {
    char line[160];
    describe_death(line, sizeof line);
    reply("%s", line);
}

/* Freezes the worker and waits for the sandbox's init to confirm its whole thread group stopped. */
static int freeze(void) {
    if (kill(worker_pid, SIGSTOP) != 0) return -1;
    char unused;
    enum wait_result r = wait_worker(0, now_ns() + 5000000000ll, &unused);
    if (r == GOT_STOPPED) return 0;
    if (r == TIMED_OUT) {
        death_phase = "freeze";
        stop_worker_for_good();
        worker_dead = 1;
        worker_status = SIGKILL;
    }
    return -1;
}

static void thaw(void) {
    worker_stopped = 0;
    kill(worker_pid, SIGCONT);
}

/* Starts the worker on the arena the first setup made. 0, or -1 after a reply. */
static int start_worker(void) {
    struct kiln_arena_header *h = arena_header();
    arena_size = (arena_used + 4095) / 4096 * 4096;
    if (ftruncate(arena_fd, (off_t)arena_size) != 0) {
        reply("error cannot size the arena: %s", strerror(errno));
        return -1;
    }
    fcntl(arena_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);

    int go[2], done[2], reports[2];
    if (pipe2(go, O_CLOEXEC) != 0 || pipe2(done, O_CLOEXEC) != 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, reports) != 0) {
        reply("error cannot make the worker's pipes: %s", strerror(errno));
        return -1;
    }
    int on = 1;
    setsockopt(reports[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    fcntl(done[0], F_SETFL, O_NONBLOCK);

    struct jail_config config;
    jail_config_init(&config);
    config.isolate = sandboxed;
    config.as_nobody = 1;
    jail_add_mount(&config, JAIL_SYSTEM, NULL, NULL, 0);
    jail_add_mount(&config, JAIL_DEV_NULL, NULL, NULL, 0);
    jail_add_mount(&config, JAIL_RO_BIND, worker_path, "/kiln/worker", 0);
    for (int i = 0; i < extra_ro_count; i++) jail_add_mount(&config, JAIL_RO_BIND, extra_ro[i], extra_ro[i], 0);
    config.memory_mb = memory_mb + (long)(arena_size >> 20) + 256;
    config.cpu_seconds = cpu_seconds;
    config.file_mb = (log_bytes + (1 << 20) - 1) >> 20;
    config.max_fds = 32;
    config.stdout_fd = log_fd;
    config.stderr_fd = log_fd;
    config.extra_fd_count = 3;
    config.extra_fds[0] = arena_fd; /* 3 */
    config.extra_fds[1] = go[0];    /* 4 */
    config.extra_fds[2] = done[1];  /* 5 */
    config.report_fd = reports[1];
    config.ignore_sigxfsz = 1;
    char address[32], size[32];
    snprintf(address, sizeof address, "%#lx", (unsigned long)(uintptr_t)arena);
    snprintf(size, sizeof size, "%zu", arena_size);
    char *argv[] = {(char *)(sandboxed ? "/kiln/worker" : worker_path), "--arena-address", address, "--arena-size",
                    size, sandboxed ? "--strict" : NULL, NULL};
    char *envp[] = {"OMP_WAIT_POLICY=PASSIVE", "LC_ALL=C", NULL};
    config.argv = argv;
    config.envp = envp;

    char error[512];
    init_pid = jail_spawn(&config, error, sizeof error);
    close(go[0]);
    close(done[1]);
    close(reports[1]);
    go_fd = go[1];
    done_fd = done[0];
    report_fd = reports[0];
    worker_started = 1;
    if (init_pid < 0) {
        reply("error sandbox: %s", error);
        return -1;
    }
    worker_pid = jail_receive_pid(report_fd, 30000, error, sizeof error);
    if (worker_pid < 0) {
        reply("error sandbox: %s", error);
        stop_worker_for_good();
        return -1;
    }
    if (clock_getcpuclockid(worker_pid, &worker_clock) != 0) {
        reply("error cannot read the worker's CPU clock: %s", strerror(errno));
        stop_worker_for_good();
        return -1;
    }
    char byte = 0;
    enum wait_result r = wait_worker(1, now_ns() + 120000000000ll, &byte);
    if (r == DIED) {
        if (!WIFSIGNALED(worker_status) && WEXITSTATUS(worker_status) == KILN_RUNNER_FAILED && worker_status >= 0) {
            char message[sizeof h->error + 1];
            memcpy(message, h->error, sizeof h->error);
            message[sizeof h->error] = 0;
            reply("error worker: %s", message);
            return -1;
        }
        reply_dead();
        return -1;
    }
    if (r == TIMED_OUT || byte != 'R') {
        stop_worker_for_good();
        worker_dead = 1;
        worker_status = SIGKILL;
        reply_dead();
        return -1;
    }
    worker_threads = h->threads;
    if (sandboxed && !h->seccomp) {
        reply("error worker: the system-call allowlist is not in place");
        stop_worker_for_good();
        return -1;
    }
    if (freeze() != 0) {
        reply_dead();
        return -1;
    }
    last_cpu = worker_cpu_ns();
    death_phase = "call";
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Commands
 */

static void command_setup(const char *arguments) {
    char *rest = NULL;
    uint64_t seed = strtoull(arguments, &rest, 10);
    uint64_t perturbation = rest && *rest ? strtoull(rest, NULL, 10) : 0;
    if (worker_dead) {
        reply_dead();
        return;
    }
    end_problem();
    kiln_task_setup(&problem, &the_shape, seed);
    problem.live = 1;
    if (perturbation) perturb_inputs(perturbation);
    gather(is_inout, &pristine, &pristine_size);
    called_since_setup = 0;
    int outputs = 0;
    for (int i = 0; i < problem.buffer_count; i++) outputs += is_result(&problem.buffers[i]);
    if (outputs == 0) kiln_fail("the instance declared no output buffer (KILN_OUTPUT or KILN_INOUT)");
    uintptr_t state = (uintptr_t)problem.state;
    if (state && (state < (uintptr_t)arena + KILN_ARENA_HEADER_BYTES || state >= (uintptr_t)arena + arena_used))
        kiln_fail("the instance's state (kiln_set_state) is not memory from kiln_alloc(): kiln_task_call() runs in "
                  "the implementation's own process, which sees only the problem's buffers and kiln_alloc() memory; "
                  "see docs/TASKS.md");
    arena_header()->state = state;
    if (!worker_started && start_worker() != 0) return;
    reply("ok inputs=%016llx outputs=%zu flops=%.17g bytes=%.17g threads=%d sandbox=%d",
          (unsigned long long)hash_inputs(), output_bytes(), problem.flops, problem.bytes, worker_threads, sandboxed);
}

static void command_call(const char *arguments) {
    if (!problem.live || !worker_started) {
        reply("error call before setup");
        return;
    }
    if (worker_dead) {
        reply_dead();
        return;
    }
    long timeout_ms = strtol(arguments, NULL, 10);
    if (timeout_ms <= 0) timeout_ms = 60000;
    prepare_results();
    called_since_setup = 1;
    char stale;
    while (read(done_fd, &stale, 1) == 1) {
    } /* the done pipe is non-blocking here: whatever an earlier call left in it counts for nothing */
    arena_header()->state = (uintptr_t)problem.state;
    int64_t cpu_before = worker_cpu_ns();
    int64_t frozen_cpu = cpu_before - last_cpu;
    int64_t start = now_ns();
    thaw();
    write_all(go_fd, "G", 1);
    char byte = 0;
    enum wait_result r = wait_worker(1, start + (int64_t)timeout_ms * 1000000ll, &byte);
    int64_t end = now_ns();
    if (r == TIMED_OUT) {
        stop_worker_for_good();
        worker_dead = 1;
        worker_status = SIGKILL;
        death_phase = "call";
        reply("timeout ns=%lld", (long long)(end - start));
        return;
    }
    if (r == DIED) {
        death_phase = "call";
        reply_dead();
        return;
    }
    int64_t cpu_done = worker_cpu_ns();
    if (freeze() != 0) {
        reply_dead();
        return;
    }
    int64_t cpu_after = worker_cpu_ns();
    last_cpu = cpu_after;
    take_snapshot();
    reply("ok ns=%lld cpu_ns=%lld after_ns=%lld frozen_cpu_ns=%lld inputs=%016llx byte=%d", (long long)(end - start),
          (long long)(cpu_after - cpu_before), (long long)(cpu_after - cpu_done), (long long)frozen_cpu,
          (unsigned long long)hash_inputs(), byte == 'D');
}

int main(int argc, char **argv) {
    char *shape_spec = NULL;
    const char *log_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) shape_spec = argv[++i];
        else if (strcmp(argv[i], "--worker") == 0 && i + 1 < argc) worker_path = argv[++i];
        else if (strcmp(argv[i], "--memory-mb") == 0 && i + 1 < argc) memory_mb = atol(argv[++i]);
        else if (strcmp(argv[i], "--cpu-seconds") == 0 && i + 1 < argc) cpu_seconds = atol(argv[++i]);
        else if (strcmp(argv[i], "--log-bytes") == 0 && i + 1 < argc) log_bytes = atol(argv[++i]);
        else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) log_path = argv[++i];
        else if (strcmp(argv[i], "--ro-bind") == 0 && i + 1 < argc && extra_ro_count < MAX_EXTRA_MOUNTS)
            extra_ro[extra_ro_count++] = argv[++i];
        else if (strcmp(argv[i], "--unsafe-no-sandbox") == 0) sandboxed = 0;
    }
    if (log_path) {
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0 || dup2(log_fd, 2) < 0) return 4;
    } else {
        log_fd = 2;
    }
    /* The protocol keeps the original standard output; everything the task prints goes to the log. */
    protocol_fd = dup(1);
    if (protocol_fd < 0 || dup2(2, 1) < 0) return 4;
    fcntl(protocol_fd, F_SETFD, FD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    if (!shape_spec) kiln_fail("the monitor was started without --shape");
    if (!worker_path) {
        reply("error the monitor was started without --worker");
        return 4;
    }
    parse_shape(shape_spec);
    make_arena((size_t)(memory_mb > 0 ? memory_mb : 4096) << 20);
    reply("ready sandbox=%d", sandboxed);

    char line[256];
    while (read_line(line, sizeof line)) {
        if (strncmp(line, "setup ", 6) == 0) {
            command_setup(line + 6);
        } else if (strncmp(line, "call", 4) == 0) {
            command_call(line + 4);
        } else if (strcmp(line, "out") == 0) {
            if (!snapshot) {
                reply("error out before a call");
                continue;
            }
            size_t size = output_bytes();
            reply("ok bytes=%zu", size);
            write_all(protocol_fd, snapshot, size);
        } else if (strncmp(line, "check ", 6) == 0) {
            size_t size = strtoull(line + 6, NULL, 10);
            if (size > (size_t)1 << 34) {
                reply("error check of %zu bytes", size);
                break;
            }
            unsigned char *other = malloc(size ? size : 1);
            if (!other) kiln_fail("could not allocate %zu bytes to compare outputs", size);
            if (!read_exact(other, size)) break;
            if (!snapshot) reply("error check before a call");
            else compare(other, size);
            free(other);
        } else if (strcmp(line, "quit") == 0) {
            break;
        } else {
            reply("error unknown command '%s'", line);
        }
    }
    if (go_fd >= 0 && !worker_dead) {
        thaw();
        ssize_t ignored = write(go_fd, "Q", 1);
        (void)ignored;
    }
    stop_worker_for_good();
    end_problem();
    return 0;
}
