/* Rows shared out among threads; within a row, LANES independent float accumulators (so the compiler
 * vectorises the sum of squares) and the bf16 conversions inlined from kiln_task.h. */
// kiln:tunable THREADS 2 1
// kiln:tunable LANES 16 8 32
// kiln:flags -O3 -march=native | -O3 -march=native -funroll-loops
#include <math.h>

#include "fused_add_rmsnorm.h"
#include "kiln_task.h"

#ifndef THREADS
#define THREADS 2
#endif
#ifndef LANES
#define LANES 16
#endif

void fused_add_rmsnorm(uint16_t *input, uint16_t *residual, const uint16_t *weight, int64_t tokens, int64_t hidden,
                       float eps) {
#pragma omp parallel for num_threads(THREADS) schedule(static)
    for (int64_t t = 0; t < tokens; t++) {
        uint16_t *x = input + t * hidden, *res = residual + t * hidden;
        float acc[LANES] = {0};
        int64_t j = 0;
        for (; j + LANES <= hidden; j += LANES) {
            for (int l = 0; l < LANES; l++) {
                uint16_t rounded = kiln_f32_to_bf16(kiln_bf16_to_f32(x[j + l]) + kiln_bf16_to_f32(res[j + l]));
                res[j + l] = rounded;
                float r = kiln_bf16_to_f32(rounded);
                acc[l] += r * r;
            }
        }
        float squares = 0.0f;
        for (; j < hidden; j++) {
            res[j] = kiln_f32_to_bf16(kiln_bf16_to_f32(x[j]) + kiln_bf16_to_f32(res[j]));
            float r = kiln_bf16_to_f32(res[j]);
            squares += r * r;
        }
        for (int l = 0; l < LANES; l++) squares += acc[l];
        float scale = 1.0f / sqrtf(squares / (float)hidden + eps);
        for (j = 0; j < hidden; j++)
            x[j] = kiln_f32_to_bf16(kiln_bf16_to_f32(res[j]) * scale * kiln_bf16_to_f32(weight[j]));
    }
}
