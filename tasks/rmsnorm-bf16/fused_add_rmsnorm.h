/* SGLang's fused_add_rmsnorm on the CPU, in bf16 and in place (its CPU backend's signature, with plain
 * pointers). input and residual are [tokens, hidden], row-major; weight is [hidden]; all hold bfloat16 bits.
 * For each row t, in float arithmetic or better:
 *     r = input[t] + residual[t]
 *     residual[t] = r                                          (rounded to bf16)
 *     input[t] = r / sqrt(mean(r * r) + eps) * weight           (rounded to bf16)
 * The mean may be taken from r before or after its rounding. kiln_task.h has the conversions
 * (kiln_bf16_to_f32, kiln_f32_to_bf16: round to nearest even). Some rows are tiny (eps matters) and
 * some large. */
#include <stdint.h>

void fused_add_rmsnorm(uint16_t *input, uint16_t *residual, const uint16_t *weight, int64_t tokens, int64_t hidden,
                       float eps);
