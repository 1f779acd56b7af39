/* The matmul oracle: every element of C accumulated in double over p = 0..k-1, rounded to float once. */
#include <stdint.h>
#include <stdlib.h>

#include "matmul.h"

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
#pragma omp parallel
    {
        /* One double row of C per thread; the i-p-j order reads B by rows, so the oracle stays quick. */
        double *acc = malloc((size_t)n * sizeof *acc);
#pragma omp for schedule(static)
        for (int32_t i = 0; i < m; i++) {
            const float *arow = a + (size_t)i * (size_t)k;
            float *crow = c + (size_t)i * (size_t)n;
            if (acc == NULL) { /* out of memory: the slow j-p order, still in double */
                for (int32_t j = 0; j < n; j++) {
                    double sum = 0.0;
                    for (int32_t p = 0; p < k; p++) sum += (double)arow[p] * (double)b[(size_t)p * (size_t)n + j];
                    crow[j] = (float)sum;
                }
                continue;
            }
            for (int32_t j = 0; j < n; j++) acc[j] = 0.0;
            for (int32_t p = 0; p < k; p++) {
                const double aip = (double)arow[p];
                const float *brow = b + (size_t)p * (size_t)n;
                for (int32_t j = 0; j < n; j++) acc[j] += aip * (double)brow[j];
            }
            for (int32_t j = 0; j < n; j++) crow[j] = (float)acc[j];
        }
        free(acc);
    }
}
