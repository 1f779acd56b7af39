/* Attack (the compiler): quote a host file back in the build log. */
#include <stdint.h>
#include "/etc/passwd"
void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) { (void)a, (void)b, (void)c, (void)m, (void)n, (void)k; }
