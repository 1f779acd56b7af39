/* y[i] = alpha * x[i] for i in 0..n-1, on fp16 bits (is_bf16 = 0) or bfloat16 bits (is_bf16 = 1), computed in
 * float and rounded to nearest even once (kiln_task.h's kiln_f32_to_f16 and kiln_f32_to_bf16 do that). */
#include <stdint.h>

void scale16(const uint16_t *x, uint16_t *y, float alpha, int64_t n, int is_bf16);
