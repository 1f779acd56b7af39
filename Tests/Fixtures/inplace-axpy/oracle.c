/* The oracle: each y[i] + alpha * x[i] in double, rounded to float once. */
#include "axpy.h"

void axpy(float alpha, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)((double)y[i] + (double)alpha * (double)x[i]);
}
