/* The rmsnorm-bf16 baseline: one row at a time on one thread, in float, as a straightforward CPU kernel
 * does: the sum stored rounded as the residual, the mean taken from the rounded residual. */
#include <math.h>

#include "fused_add_rmsnorm.h"
#include "kiln_task.h"

void fused_add_rmsnorm(uint16_t *input, uint16_t *residual, const uint16_t *weight, int64_t tokens, int64_t hidden,
                       float eps) {
    for (int64_t t = 0; t < tokens; t++) {
        uint16_t *x = input + t * hidden, *res = residual + t * hidden;
        float squares = 0.0f;
        for (int64_t j = 0; j < hidden; j++) {
            res[j] = kiln_f32_to_bf16(kiln_bf16_to_f32(x[j]) + kiln_bf16_to_f32(res[j]));
            float r = kiln_bf16_to_f32(res[j]);
            squares += r * r;
        }
        float scale = 1.0f / sqrtf(squares / (float)hidden + eps);
        for (int64_t j = 0; j < hidden; j++)
            x[j] = kiln_f32_to_bf16(kiln_bf16_to_f32(res[j]) * scale * kiln_bf16_to_f32(weight[j]));
    }
}
