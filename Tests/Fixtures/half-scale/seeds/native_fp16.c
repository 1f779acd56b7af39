/* A correct candidate: the compiler's own fp16 type (round to nearest even, as Kiln's), bf16 by hand. */
#include "kiln_task.h"
#include "scale16.h"

void scale16(const uint16_t *x, uint16_t *y, float alpha, int64_t n, int is_bf16) {
    if (is_bf16) {
        for (int64_t i = 0; i < n; i++) y[i] = kiln_f32_to_bf16(alpha * kiln_bf16_to_f32(x[i]));
        return;
    }
    const _Float16 *xh = (const _Float16 *)x;
    _Float16 *yh = (_Float16 *)y;
    for (int64_t i = 0; i < n; i++) yh[i] = (_Float16)(alpha * (float)xh[i]);
}
