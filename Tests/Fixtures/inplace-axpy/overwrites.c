/* Wrong: writes alpha * x over y instead of adding to it (right only if y started at zero). */
#include "axpy.h"

void axpy(float alpha, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = alpha * x[i];
}
