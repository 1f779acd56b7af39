/* Cache-blocked, register-tiled fp32 matmul with OpenMP (a Goto-style design).
 *
 * C is split into BM x BN tiles that the threads share out. For each tile and each BK-deep slice of
 * the inner dimension, the slice of A is packed into MR-row panels and the slice of B into NR-column
 * panels (zero-padded at the edges, so any m, n, k works), then an MR x NR micro-kernel keeps its
 * whole tile of C in vector registers while it streams through the panels.
 */
// kiln:tunable BM 64 32 128 256
// kiln:tunable BN 256 64 128 512
// kiln:tunable BK 256 32 64 128
// kiln:tunable THREADS 2 1
// kiln:flags -O3 -march=native | -O3 -march=native -funroll-loops
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef BM
#define BM 64
#endif
#ifndef BN
#define BN 256
#endif
#ifndef BK
#define BK 256
#endif
#ifndef THREADS
#define THREADS 2
#endif

#if defined(__AVX512F__)
#define VBYTES 64
#else
#define VBYTES 32
#endif
#define VL (VBYTES / 4) /* floats per vector */
#define MR 6            /* rows of the register tile */
#define NR (2 * VL)     /* columns of the register tile: two vectors */

/* Round the blocks up to whole panels so the packed buffers are always full panels. */
#define BM_PANELS ((BM + MR - 1) / MR)
#define BN_PANELS ((BN + NR - 1) / NR)

typedef float vf __attribute__((vector_size(VBYTES), aligned(VBYTES)));
typedef float vfu __attribute__((vector_size(VBYTES), aligned(4)));

/* Packs rows [0, mc) and depth [0, kc) of A (leading dimension lda) into MR-row panels: panel r
 * holds, for each p, the MR values A[r*MR + 0..MR-1][p] one after another, zeros past mc. */
static void pack_a(const float *a, size_t lda, int mc, int kc, float *restrict ap) {
    for (int r = 0; r < mc; r += MR) {
        int rows = mc - r < MR ? mc - r : MR;
        for (int p = 0; p < kc; p++) {
            for (int i = 0; i < rows; i++) ap[i] = a[(size_t)(r + i) * lda + (size_t)p];
            for (int i = rows; i < MR; i++) ap[i] = 0.0f;
            ap += MR;
        }
    }
}

/* Packs depth [0, kc) and columns [0, nc) of B (leading dimension ldb) into NR-column panels:
 * panel s holds, for each p, the NR values B[p][s*NR + 0..NR-1], zeros past nc. */
static void pack_b(const float *b, size_t ldb, int kc, int nc, float *restrict bp) {
    for (int s = 0; s < nc; s += NR) {
        int cols = nc - s < NR ? nc - s : NR;
        for (int p = 0; p < kc; p++) {
            const float *row = b + (size_t)p * ldb + (size_t)s;
            if (cols == NR) {
                memcpy(bp, row, NR * sizeof(float));
            } else {
                for (int j = 0; j < cols; j++) bp[j] = row[j];
                for (int j = cols; j < NR; j++) bp[j] = 0.0f;
            }
            bp += NR;
        }
    }
}

/* C[0..rows)[0..cols) (+)= Ap-panel * Bp-panel over kc steps; `first` overwrites instead of adding. */
static void micro_kernel(int kc, const float *restrict ap, const float *restrict bp, float *c, size_t ldc, int rows,
                         int cols, int first) {
    vf c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    vf c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
    for (int p = 0; p < kc; p++) {
        const vf b0 = *(const vf *)(bp + (size_t)p * NR);
        const vf b1 = *(const vf *)(bp + (size_t)p * NR + VL);
        const float *ar = ap + (size_t)p * MR;
        vf av;
        av = (vf){0} + ar[0];
        c00 += av * b0;
        c01 += av * b1;
        av = (vf){0} + ar[1];
        c10 += av * b0;
        c11 += av * b1;
        av = (vf){0} + ar[2];
        c20 += av * b0;
        c21 += av * b1;
        av = (vf){0} + ar[3];
        c30 += av * b0;
        c31 += av * b1;
        av = (vf){0} + ar[4];
        c40 += av * b0;
        c41 += av * b1;
        av = (vf){0} + ar[5];
        c50 += av * b0;
        c51 += av * b1;
    }
    vf acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    if (rows == MR && cols == NR) {
        for (int i = 0; i < MR; i++) {
            vfu *row = (vfu *)(c + (size_t)i * ldc);
            if (first) {
                row[0] = acc[i][0];
                row[1] = acc[i][1];
            } else {
                row[0] += acc[i][0];
                row[1] += acc[i][1];
            }
        }
        return;
    }
    float tile[MR][NR] __attribute__((aligned(VBYTES)));
    for (int i = 0; i < MR; i++) {
        *(vf *)&tile[i][0] = acc[i][0];
        *(vf *)&tile[i][VL] = acc[i][1];
    }
    for (int i = 0; i < rows; i++) {
        float *row = c + (size_t)i * ldc;
        if (first)
            for (int j = 0; j < cols; j++) row[j] = tile[i][j];
        else
            for (int j = 0; j < cols; j++) row[j] += tile[i][j];
    }
}

void matmul(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
        return;
    }
    const int tiles_m = (m + BM - 1) / BM, tiles_n = (n + BN - 1) / BN;
    const int tiles = tiles_m * tiles_n;
    const int threads = THREADS < tiles ? THREADS : tiles;
#pragma omp parallel num_threads(threads)
    {
        float *ap = aligned_alloc(64, (size_t)BM_PANELS * MR * BK * sizeof(float));
        float *bp = aligned_alloc(64, (size_t)BN_PANELS * NR * BK * sizeof(float));
        if (ap == NULL || bp == NULL) abort();
#pragma omp for schedule(static)
        for (int t = 0; t < tiles; t++) {
            const int ic = (t / tiles_n) * BM, jc = (t % tiles_n) * BN;
            const int mc = m - ic < BM ? m - ic : BM;
            const int nc = n - jc < BN ? n - jc : BN;
            for (int pc = 0; pc < k; pc += BK) {
                const int kc = k - pc < BK ? k - pc : BK;
                pack_a(a + (size_t)ic * (size_t)k + (size_t)pc, (size_t)k, mc, kc, ap);
                pack_b(b + (size_t)pc * (size_t)n + (size_t)jc, (size_t)n, kc, nc, bp);
                for (int jr = 0; jr < nc; jr += NR) {
                    const int cols = nc - jr < NR ? nc - jr : NR;
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int rows = mc - ir < MR ? mc - ir : MR;
                        micro_kernel(kc, ap + (size_t)ir * kc, bp + (size_t)jr * kc,
                                     c + (size_t)(ic + ir) * (size_t)n + (size_t)(jc + jr), (size_t)n, rows, cols,
                                     pc == 0);
                    }
                }
            }
        }
        free(ap);
        free(bp);
    }
}
