/* Attack (the compiler): a flag set that makes no object, to make Kiln blame its own tools. */
// kiln:flags -fsyntax-only
#include <stdint.h>
void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) { (void)a, (void)b, (void)c, (void)m, (void)n, (void)k; }
