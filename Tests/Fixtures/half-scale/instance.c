/* The half-scale task's instance file: x and y are fp16 or bf16 buffers, as the shape's bf16 says. */
#include <stdint.h>

#include "kiln_task.h"
#include "scale16.h"

typedef struct {
    const uint16_t *x;
    uint16_t *y;
    float alpha;
    int64_t n;
    int is_bf16;
} scale16_state;

void kiln_task_setup(kiln_problem *problem, const kiln_shape *shape, uint64_t seed) {
    long long n = kiln_shape_int(shape, "n");
    long long bf16 = kiln_shape_int(shape, "bf16");
    if (n <= 0 || n > (1LL << 24)) kiln_fail("half-scale shape '%s': n = %lld must be in 1..2^24", kiln_shape_name(shape), n);
    if (bf16 != 0 && bf16 != 1) kiln_fail("half-scale shape '%s': bf16 = %lld must be 0 or 1", kiln_shape_name(shape), bf16);
    enum kiln_dtype dtype = bf16 ? KILN_BF16 : KILN_F16;
    uint16_t *x = kiln_buffer(problem, "x", KILN_INPUT, dtype, (size_t)n);
    uint16_t *y = kiln_buffer(problem, "y", KILN_OUTPUT, dtype, (size_t)n);
    kiln_rng rng;
    kiln_rng_seed(&rng, seed);
    if (bf16) kiln_fill_normal_bf16(&rng, x, (size_t)n, 2.0f);
    else kiln_fill_normal_f16(&rng, x, (size_t)n, 2.0f);
    kiln_set_work(problem, (double)n, 4.0 * (double)n);
    scale16_state *state = kiln_alloc(problem, sizeof *state);
    *state = (scale16_state){.x = x, .y = y, .alpha = 1.25f + (float)kiln_rng_uniform(&rng), .n = n, .is_bf16 = (int)bf16};
    kiln_set_state(problem, state);
}

void kiln_task_call(kiln_problem *problem) {
    const scale16_state *s = kiln_state(problem);
    scale16(s->x, s->y, s->alpha, s->n, s->is_bf16);
}

void kiln_task_teardown(kiln_problem *problem) { (void)problem; }
