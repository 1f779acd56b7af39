/* The matmul task's instance file: builds A (m x k), B (k x n) and C (m x n) from a shape and a seed. */
#include <stdint.h>
#include <stdlib.h>

#include "kiln_task.h"
#include "matmul.h"

/* All three matrices together hold at most 2^26 floats (256 MiB), so that several instances (the
 * driver rotates among input sets) fit well inside the task's memory limit. */
#define MATMUL_MAX_DIM 65536LL
#define MATMUL_MAX_ELEMENTS (1LL << 26)

typedef struct {
    const float *a;
    const float *b;
    float *c;
    int32_t m, n, k;
} matmul_state;

static int32_t matmul_dim(const kiln_shape *shape, const char *key) {
    long long value = kiln_shape_int(shape, key);
    if (value <= 0 || value > MATMUL_MAX_DIM)
        kiln_fail("matmul shape '%s': %s = %lld must be in 1..%lld", kiln_shape_name(shape), key, value,
                  MATMUL_MAX_DIM);
    return (int32_t)value;
}

static void matmul_check_elements(const kiln_shape *shape, long long m, long long n, long long k) {
    long long total = m * k + k * n + m * n;
    if (total > MATMUL_MAX_ELEMENTS)
        kiln_fail("matmul shape '%s': m = %lld, n = %lld, k = %lld need %lld floats for A, B and C together, "
                  "more than the limit of %lld",
                  kiln_shape_name(shape), m, n, k, total, MATMUL_MAX_ELEMENTS);
}

void kiln_task_setup(kiln_problem *problem, const kiln_shape *shape, uint64_t seed) {
    int32_t m = matmul_dim(shape, "m");
    int32_t n = matmul_dim(shape, "n");
    int32_t k = matmul_dim(shape, "k");
    matmul_check_elements(shape, m, n, k);

    size_t mk = (size_t)m * (size_t)k, kn = (size_t)k * (size_t)n, mn = (size_t)m * (size_t)n;
    float *a = kiln_buffer(problem, "a", KILN_INPUT, KILN_F32, mk);
    float *b = kiln_buffer(problem, "b", KILN_INPUT, KILN_F32, kn);
    float *c = kiln_buffer(problem, "c", KILN_OUTPUT, KILN_F32, mn);
    kiln_buffer_axes(problem, c, "row,col", (size_t[]){(size_t)m, (size_t)n}, 2);

    kiln_rng rng;
    kiln_rng_seed(&rng, seed);
    kiln_fill_normal_f32(&rng, a, mk, 1.0f);
    kiln_fill_normal_f32(&rng, b, kn, 1.0f);

    kiln_set_work(problem, 2.0 * (double)m * (double)n * (double)k, 4.0 * ((double)mk + (double)kn + (double)mn));

    matmul_state *state = kiln_alloc(problem, sizeof *state);
    if (state == NULL) kiln_fail("matmul: out of memory for the instance state");
    *state = (matmul_state){.a = a, .b = b, .c = c, .m = m, .n = n, .k = k};
    kiln_set_state(problem, state);
}

void kiln_task_call(kiln_problem *problem) {
    const matmul_state *s = kiln_state(problem);
    matmul(s->a, s->b, s->c, s->m, s->n, s->k);
}

/* The state is kiln_alloc() memory, freed with the problem: nothing to do. */
void kiln_task_teardown(kiln_problem *problem) { (void)problem; }
