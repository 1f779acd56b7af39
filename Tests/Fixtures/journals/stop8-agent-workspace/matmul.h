/* matmul: C = A * B in fp32, row-major and contiguous.
 * A is m x k, B is k x n, C is m x n: C[i][j] = sum_p A[i][p] * B[p][j]. */
#ifndef KILN_TASK_MATMUL_H
#define KILN_TASK_MATMUL_H

#include <stdint.h>

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k);

#endif
