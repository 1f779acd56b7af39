/* Attack (the compiler): quote the task's oracle back in the build log (the task folder used to be on -I). */
#include <stdint.h>
#include "oracle.c"
void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) { (void)a, (void)b, (void)c, (void)m, (void)n, (void)k; }
