/* The in-place axpy task's instance file: x is an input, y an in-place buffer (filled here, updated by the call). */
#include <stdint.h>

#include "axpy.h"
#include "kiln_task.h"

typedef struct {
    const float *x;
    float *y;
    float alpha;
    int64_t n;
} axpy_state;

void kiln_task_setup(kiln_problem *problem, const kiln_shape *shape, uint64_t seed) {
    long long n = kiln_shape_int(shape, "n");
    if (n <= 0 || n > (1LL << 24)) kiln_fail("axpy shape '%s': n = %lld must be in 1..2^24", kiln_shape_name(shape), n);
    float *x = kiln_buffer(problem, "x", KILN_INPUT, KILN_F32, (size_t)n);
    float *y = kiln_buffer(problem, "y", KILN_INOUT, KILN_F32, (size_t)n);
    kiln_rng rng;
    kiln_rng_seed(&rng, seed);
    kiln_fill_normal_f32(&rng, x, (size_t)n, 1.0f);
    kiln_fill_normal_f32(&rng, y, (size_t)n, 1.0f);
    kiln_set_work(problem, 2.0 * (double)n, 12.0 * (double)n);
    axpy_state *state = kiln_alloc(problem, sizeof *state);
    *state = (axpy_state){.x = x, .y = y, .alpha = 0.75f + (float)kiln_rng_uniform(&rng), .n = n};
    kiln_set_state(problem, state);
}

void kiln_task_call(kiln_problem *problem) {
    const axpy_state *s = kiln_state(problem);
    axpy(s->alpha, s->x, s->y, s->n);
}

void kiln_task_teardown(kiln_problem *problem) { (void)problem; }
