/* The rmsnorm-bf16 oracle: each row in double; residual rounded once, the mean taken from the exact sum. */
#include <math.h>
#include <stdlib.h>

#include "fused_add_rmsnorm.h"
#include "kiln_task.h"

void fused_add_rmsnorm(uint16_t *input, uint16_t *residual, const uint16_t *weight, int64_t tokens, int64_t hidden,
                       float eps) {
    double *r = malloc((size_t)hidden * sizeof *r);
    if (!r) abort();
    for (int64_t t = 0; t < tokens; t++) {
        uint16_t *x = input + t * hidden, *res = residual + t * hidden;
        double squares = 0.0;
        for (int64_t j = 0; j < hidden; j++) {
            r[j] = (double)kiln_bf16_to_f32(x[j]) + (double)kiln_bf16_to_f32(res[j]);
            squares += r[j] * r[j];
        }
        double scale = 1.0 / sqrt(squares / (double)hidden + (double)eps);
        for (int64_t j = 0; j < hidden; j++) {
            res[j] = kiln_f32_to_bf16((float)r[j]);
            x[j] = kiln_f32_to_bf16((float)(r[j] * scale * (double)kiln_bf16_to_f32(weight[j])));
        }
    }
    free(r);
}
