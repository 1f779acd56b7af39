/* Attack (predict inputs): look for the seed of the next input sets where the driver used to leave it (its
 * command text, in memory the candidate can read: the shared arena around its buffers, its environment and
 * arguments), to build future inputs and answer from a cache. Writes NaN (fails) if it finds any trace of a
 * command or seed; computes honestly otherwise. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern char **environ;

static void naive(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = sum;
        }
}

static int contains(const unsigned char *p, size_t size, const char *needle) {
    size_t length = strlen(needle);
    for (size_t i = 0; i + length <= size; i++)
        if (memcmp(p + i, needle, length) == 0) return 1;
    return 0;
}

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    int found = 0;
    /* The arena: from its first page (which starts with Kiln's magic) up to the end of the inputs. */
    const unsigned char *page = (const unsigned char *)((uintptr_t)a & ~(uintptr_t)4095);
    for (int steps = 0; steps < 4; steps++, page -= 4096)
        if (memcmp(page, "neranlik", 8) == 0) break; /* KILN_ARENA_MAGIC, little-endian */
    const unsigned char *end = (const unsigned char *)(b + (size_t)k * (size_t)n);
    if (end > page) found |= contains(page, (size_t)(end - page), "setup ") | contains(page, (size_t)(end - page), "seed");
    for (char **e = environ; e && *e; e++) found |= contains((const unsigned char *)*e, strlen(*e), "SEED");
    naive(a, b, c, m, n, k);
    if (found) c[0] = 0.0f / 0.0f;
}
