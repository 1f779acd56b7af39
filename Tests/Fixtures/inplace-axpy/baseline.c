/* The baseline: the plain loop. */
#include "axpy.h"

void axpy(float alpha, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}
