/* The rmsnorm-bf16 task's instance file: input and residual are in-place bf16 buffers, weight a bf16 input.
 *
 * Shape parameters: tokens, hidden, eps (default 1e-6). Inputs make every part of the semantics matter:
 * input and residual are normal with deviations 1 and 2 (dropping either changes the answer); weight is
 * 1 + 0.5 * normal; one row in eight is quiet (both scaled by 1e-3, so that mean(r^2) is a few times eps)
 * and as many are loud (input scaled by 30). */
#include <stdint.h>

#include "fused_add_rmsnorm.h"
#include "kiln_task.h"

typedef struct {
    uint16_t *input, *residual;
    const uint16_t *weight;
    int64_t tokens, hidden;
    float eps;
} rmsnorm_state;

static void scale_row(uint16_t *row, int64_t hidden, float factor) {
    for (int64_t j = 0; j < hidden; j++) row[j] = kiln_f32_to_bf16(kiln_bf16_to_f32(row[j]) * factor);
}

void kiln_task_setup(kiln_problem *problem, const kiln_shape *shape, uint64_t seed) {
    long long tokens = kiln_shape_int(shape, "tokens"), hidden = kiln_shape_int(shape, "hidden");
    double eps = kiln_shape_float_or(shape, "eps", 1e-6);
    if (tokens < 1 || hidden < 1 || hidden > (1 << 20) || tokens * hidden > (1LL << 26))
        kiln_fail("rmsnorm-bf16 shape '%s': tokens = %lld and hidden = %lld must be positive, hidden at most 2^20 "
                  "and tokens x hidden at most 2^26", kiln_shape_name(shape), tokens, hidden);
    if (!(eps > 0)) kiln_fail("rmsnorm-bf16 shape '%s': eps = %g must be positive", kiln_shape_name(shape), eps);
    size_t count = (size_t)tokens * (size_t)hidden;
    size_t dims[2] = {(size_t)tokens, (size_t)hidden};
    uint16_t *input = kiln_buffer(problem, "input", KILN_INOUT, KILN_BF16, count);
    uint16_t *residual = kiln_buffer(problem, "residual", KILN_INOUT, KILN_BF16, count);
    uint16_t *weight = kiln_buffer(problem, "weight", KILN_INPUT, KILN_BF16, (size_t)hidden);
    kiln_buffer_axes(problem, input, "token,dim", dims, 2);
    kiln_buffer_axes(problem, residual, "token,dim", dims, 2);

    kiln_rng rng;
    kiln_rng_seed(&rng, seed);
    kiln_fill_normal_bf16(&rng, input, count, 1.0f);
    kiln_fill_normal_bf16(&rng, residual, count, 2.0f);
    kiln_fill_normal_bf16(&rng, weight, (size_t)hidden, 0.5f);
    for (long long j = 0; j < hidden; j++) weight[j] = kiln_f32_to_bf16(1.0f + kiln_bf16_to_f32(weight[j]));
    if (tokens >= 2) {
        long long special = tokens / 8 > 0 ? tokens / 8 : 1;
        for (long long s = 0; s < 2 * special; s++) {
            long long t = (long long)kiln_rng_below(&rng, (uint64_t)tokens);
            if (s < special) {
                scale_row(input + t * hidden, hidden, 1e-3f);
                scale_row(residual + t * hidden, hidden, 1e-3f);
            } else {
                scale_row(input + t * hidden, hidden, 30.0f);
            }
        }
    }
    kiln_set_work(problem, 5.0 * (double)count, 2.0 * (4.0 * (double)count + (double)hidden));

    rmsnorm_state *state = kiln_alloc(problem, sizeof *state);
    *state = (rmsnorm_state){.input = input, .residual = residual, .weight = weight, .tokens = tokens,
                             .hidden = hidden, .eps = (float)eps};
    kiln_set_state(problem, state);
}

void kiln_task_call(kiln_problem *problem) {
    const rmsnorm_state *s = kiln_state(problem);
    fused_add_rmsnorm(s->input, s->residual, s->weight, s->tokens, s->hidden, s->eps);
}

void kiln_task_teardown(kiln_problem *problem) { (void)problem; }
