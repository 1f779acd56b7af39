/* Attack (new executable memory): an object whose stack note asks for an executable stack, which gives the
 * whole worker an RWX stack to write code into. */
#include <stdint.h>
#include <string.h>

__asm__(".section .note.GNU-stack,\"x\",@progbits\n.previous");

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    (void)a, (void)b, (void)k;
    memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
}
