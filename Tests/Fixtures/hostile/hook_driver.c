/* Attack (hook the driver): return at once, and do the work inside the driver after the call: make the
 * worker's GOT writable and point its `write` (which the driver calls to say the call is done) at a hook that
 * computes first. The clock must still count the work. Correct, and no faster than the same loop done inline. */
// kiln:flags -O3 -march=native -D_GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
static write_fn real_write;
static struct {
    const float *a, *b;
    float *c;
    int32_t m, n, k;
    int pending;
} job;

static void naive(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < k; p++) sum += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = sum;
        }
}

static ssize_t hooked_write(int fd, const void *data, size_t size) {
    if (job.pending) {
        job.pending = 0;
        naive(job.a, job.b, job.c, job.m, job.n, job.k);
    }
    return real_write(fd, data, size);
}

/* Finds the main program's GOT slot for `write` and points it at the hook. */
static int patch(struct dl_phdr_info *info, size_t size, void *unused) {
    (void)size, (void)unused;
    if (info->dlpi_name && info->dlpi_name[0]) return 0;
    const ElfW(Dyn) *dynamic = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) dynamic = (const void *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (!dynamic) return 1;
    const ElfW(Sym) *symbols = NULL;
    const char *strings = NULL;
    const ElfW(Rela) *relocations[2] = {NULL, NULL};
    size_t sizes[2] = {0, 0};
    for (const ElfW(Dyn) *d = dynamic; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_SYMTAB) symbols = (const void *)d->d_un.d_ptr;
        if (d->d_tag == DT_STRTAB) strings = (const void *)d->d_un.d_ptr;
        if (d->d_tag == DT_JMPREL) relocations[0] = (const void *)d->d_un.d_ptr;
        if (d->d_tag == DT_PLTRELSZ) sizes[0] = d->d_un.d_val;
        if (d->d_tag == DT_RELA) relocations[1] = (const void *)d->d_un.d_ptr;
        if (d->d_tag == DT_RELASZ) sizes[1] = d->d_un.d_val;
    }
    if (!symbols || !strings) return 1;
    for (int t = 0; t < 2; t++) {
        if (!relocations[t]) continue;
        for (size_t r = 0; r < sizes[t] / sizeof(ElfW(Rela)); r++) {
            const ElfW(Rela) *rela = &relocations[t][r];
            const char *name = strings + symbols[ELF64_R_SYM(rela->r_info)].st_name;
            if (strcmp(name, "write") != 0) continue;
            void **slot = (void **)(info->dlpi_addr + rela->r_offset);
            uintptr_t page = (uintptr_t)slot & ~(uintptr_t)4095;
            if (mprotect((void *)page, 4096, PROT_READ | PROT_WRITE) != 0) return 1;
            real_write = (write_fn)*slot;
            *slot = (void *)hooked_write;
            return 1;
        }
    }
    return 1;
}

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    if (!real_write) dl_iterate_phdr(patch, NULL);
    if (!real_write) {
        naive(a, b, c, m, n, k);
        return;
    }
    job.a = a, job.b = b, job.c = c, job.m = m, job.n = n, job.k = k;
    job.pending = 1; /* returns at once: the hook does the work when the driver writes "done" */
}
