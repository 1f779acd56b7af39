/* y[i] += alpha * x[i] for i in 0..n-1: y is updated in place. */
#include <stdint.h>

void axpy(float alpha, const float *x, float *y, int64_t n);
