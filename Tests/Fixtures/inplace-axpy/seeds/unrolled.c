/* A correct in-place candidate: four at a time. */
#include "axpy.h"

// kiln:tunable UNROLL 4 1 2 8
#ifndef UNROLL
#define UNROLL 4
#endif

void axpy(float alpha, const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + UNROLL <= n; i += UNROLL)
        for (int u = 0; u < UNROLL; u++) y[i + u] += alpha * x[i + u];
    for (; i < n; i++) y[i] += alpha * x[i];
}
