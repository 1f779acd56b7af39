/* The oracle: alpha * x rounded to float, then once to 16 bits, with kiln_task.h's conversions. */
#include "kiln_task.h"
#include "scale16.h"

void scale16(const uint16_t *x, uint16_t *y, float alpha, int64_t n, int is_bf16) {
    for (int64_t i = 0; i < n; i++) {
        if (is_bf16) y[i] = kiln_f32_to_bf16(alpha * kiln_bf16_to_f32(x[i]));
        else y[i] = kiln_f32_to_f16(alpha * kiln_f16_to_f32(x[i]));
    }
}
