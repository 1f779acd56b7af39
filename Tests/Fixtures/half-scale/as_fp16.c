/* Wrong: reads and writes every buffer as fp16, bfloat16 ones too. */
#include "kiln_task.h"
#include "scale16.h"

void scale16(const uint16_t *x, uint16_t *y, float alpha, int64_t n, int is_bf16) {
    (void)is_bf16;
    for (int64_t i = 0; i < n; i++) y[i] = kiln_f32_to_f16(alpha * kiln_f16_to_f32(x[i]));
}
