/*
 * kiln_task.h: the interface between Kiln's evaluation driver and a task's instance file.
 *
 * A task folder owns one C file (named by `instance` in task.toml) that turns a shape and a seed
 * into a problem instance: it allocates every buffer through kiln_buffer() (declaring its role),
 * fills the inputs from the seed, reports the work through kiln_set_work(), keeps what the call
 * needs in a state allocated with kiln_alloc(), and calls the task's entry point in kiln_task_call().
 *
 * Two processes share the instance: Kiln's monitor (trusted) runs kiln_task_setup() with every
 * buffer and the state in memory it shares with the worker, a sandboxed process that runs the one
 * implementation and calls kiln_task_call() there. So kiln_task_call() may use only the problem's
 * buffers and its kiln_alloc() state (never memory from malloc() in setup), and may call none of
 * the functions below. The monitor fills outputs with NaN before every call, checks that inputs
 * are unchanged after it, and ships outputs to the oracle.
 *
 * Everything kernel-specific lives in the task folder; the driver knows nothing of any kernel.
 */
#ifndef KILN_TASK_H
#define KILN_TASK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_problem kiln_problem; /* one problem instance, owned by the driver */
typedef struct kiln_shape kiln_shape;     /* one shape's parameters, from task.toml */

/* What a buffer is for. Inputs must be unchanged by the call; outputs are compared with the
 * oracle's (the driver fills them with NaN, or 0xFF bytes for integers, before every call). An in-place
 * buffer (KILN_INOUT: a residual updated in place, a KV cache appended to) is filled by the setup like an
 * input, put back to exactly those contents before every call, and compared with the oracle's after it
 * like an output. */
enum kiln_role { KILN_INPUT = 0, KILN_OUTPUT = 1, KILN_INOUT = 2 };
/* KILN_F16 (IEEE binary16) and KILN_BF16 (bfloat16) buffers hold each element's 16 bits (uint16_t); the
 * conversions below (round to nearest even) make and read them, in any file. Compared in float64. */
enum kiln_dtype { KILN_F32 = 0, KILN_F64 = 1, KILN_I32 = 2, KILN_I64 = 3, KILN_F16 = 4, KILN_BF16 = 5 };

/* Shape parameters. The *_or forms return `fallback` when the key is absent; the others stop the
 * driver with a message naming the key when it is absent or of the wrong kind. */
long long kiln_shape_int(const kiln_shape *shape, const char *key);
long long kiln_shape_int_or(const kiln_shape *shape, const char *key, long long fallback);
double kiln_shape_float(const kiln_shape *shape, const char *key);
double kiln_shape_float_or(const kiln_shape *shape, const char *key, double fallback);
/* Copies up to `max` integers of a list parameter into `out`; returns the list's length. */
int kiln_shape_ints(const kiln_shape *shape, const char *key, long long *out, int max);
const char *kiln_shape_name(const kiln_shape *shape);

/* Allocates a zeroed, 64-byte aligned buffer of `count` elements, owned by the driver and freed
 * with the problem. Buffers are reported to the oracle in the order they are allocated. */
void *kiln_buffer(kiln_problem *problem, const char *name, enum kiln_role role, enum kiln_dtype dtype,
                  size_t count);
/* Names a buffer's axes and their sizes (row-major, the last varying fastest), so that a wrong element
 * is reported as o_extend[token=3,head=5,dim=17] rather than o_extend[1553]: `axes` is comma-separated
 * ("token,head,dim"), `dims` has `count` sizes whose product is the buffer's element count. Optional. */
void kiln_buffer_axes(kiln_problem *problem, const void *buffer, const char *axes, const size_t *dims, int count);
/* The useful floating-point operations and the minimum bytes moved by one call. */
void kiln_set_work(kiln_problem *problem, double flops, double bytes);
/* Allocates `bytes` of zeroed, 64-byte aligned memory that lives with the problem and is visible to
 * the implementation's process: the only place for the task's state. Freed with the problem. */
void *kiln_alloc(kiln_problem *problem, size_t bytes);
/* The task's own state (for example a struct of pointers and scalars), allocated with kiln_alloc(). */
void kiln_set_state(kiln_problem *problem, void *state);
void *kiln_state(const kiln_problem *problem);
/* Stops the driver with a task error: for shapes the instance file cannot build. */
void kiln_fail(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A small, fast, deterministic generator (xoshiro256**) for filling inputs from the seed. */
typedef struct { uint64_t s[4]; } kiln_rng;
void kiln_rng_seed(kiln_rng *rng, uint64_t seed);
uint64_t kiln_rng_next(kiln_rng *rng);
double kiln_rng_uniform(kiln_rng *rng);                /* in [0, 1) */
double kiln_rng_normal(kiln_rng *rng);                 /* mean 0, deviation 1 */
uint64_t kiln_rng_below(kiln_rng *rng, uint64_t bound); /* in [0, bound) */
/* Fills `count` floats with normal values times `scale`, quickly. */
void kiln_fill_normal_f32(kiln_rng *rng, float *out, size_t count, float scale);
/* The same values as kiln_fill_normal_f32 would make, rounded to fp16 or bf16 bits. */
void kiln_fill_normal_f16(kiln_rng *rng, uint16_t *out, size_t count, float scale);
void kiln_fill_normal_bf16(kiln_rng *rng, uint16_t *out, size_t count, float scale);

/* fp16 and bf16 bits to and from float, rounding to nearest even (NaN stays NaN, overflow goes to inf). */
static inline uint32_t kiln_float_bits(float f) {
    union { float f; uint32_t u; } v = {.f = f};
    return v.u;
}
static inline float kiln_bits_float(uint32_t u) {
    union { uint32_t u; float f; } v = {.u = u};
    return v.f;
}
static inline float kiln_bf16_to_f32(uint16_t h) { return kiln_bits_float((uint32_t)h << 16); }
static inline uint16_t kiln_f32_to_bf16(float f) {
    uint32_t u = kiln_float_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
static inline float kiln_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
    if (exponent == 0x1F) return kiln_bits_float(sign | 0x7F800000u | (mantissa << 13));
    if (exponent == 0) { /* zero or subnormal: mantissa * 2^-24 */
        float magnitude = (float)mantissa * 5.9604644775390625e-8f;
        return sign ? -magnitude : magnitude;
    }
    return kiln_bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}
static inline uint16_t kiln_f32_to_f16(float f) {
    uint32_t u = kiln_float_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu)); /* NaN */
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* rounds to 65536 or more: inf */
    if (a < 0x38800000u) { /* below 2^-14: a subnormal or zero, in units of 2^-24 */
        float magnitude = kiln_bits_float(a) * 16777216.0f; /* exact; the float rounds to nearest even */
        uint32_t m = (uint32_t)magnitude;
        float rest = magnitude - (float)m;
        if (rest > 0.5f || (rest == 0.5f && (m & 1u))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t rounded = a + 0xFFFu + ((a >> 13) & 1u);
    return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
}

/* What a task's instance file defines. kiln_task_teardown() may free what setup allocated with
 * malloc(); buffers and kiln_alloc() memory are Kiln's. */
void kiln_task_setup(kiln_problem *problem, const kiln_shape *shape, uint64_t seed);
void kiln_task_call(kiln_problem *problem);
void kiln_task_teardown(kiln_problem *problem);

#ifdef __cplusplus
}
#endif
#endif
