/* Blocked, register-tiled extend attention with an online softmax and OpenMP (a flash-attention design).
 *
 * Work items are (sequence, kv head, block of BLOCK_Q extend tokens); each item handles ALL the query heads
 * of its kv head together, so one item has M = tokens x group query rows sharing every key and value row.
 * The items are sorted by cost, largest first, and shared out dynamically.
 *
 * For an item, the scaled queries are packed once, transposed, into Qt[head_dim][M]. The keys the item's
 * last token sees (the prefix, gathered through kv_indices, then the causal part of the extend) are walked
 * in blocks of BLOCK_K:
 *  - S^T = K_block Q^T by a register-tiled micro-kernel: KMR keys x two vectors of query rows, each key
 *    element read straight from its pool row and broadcast, so keys are never copied;
 *  - logit cap (a rational tanh), causal mask (only on blocks past the first token's last key), and the
 *    online softmax, all vectorised across query rows (running max and sum per row, a polynomial exp);
 *  - O = alpha * O + P V by a second micro-kernel: PMR query rows x two vectors of head_dim, over the value
 *    rows of the block copied into a contiguous zero-padded buffer.
 * The next block's key and value rows are prefetched while the current one is computed.
 *
 * GCC vector extensions keep it portable: 16-float vectors and 8 x 2-vector tiles where AVX-512 is enabled,
 * 8-float vectors and 6 x 2-vector tiles otherwise. Any head_dim, group size, prefix 0 and extend 1 work.
 * Where it stands (2 threads, fast-math): about 230-280 GFLOP/s on the compute-bound shapes of a 2-core
 * AVX-512 VM; the decode-like shape (extend 1) is bound by gathering scattered KV rows (about 11 GB/s).
 */
// kiln:tunable BLOCK_Q 32 16 64
// kiln:tunable BLOCK_K 64 32 128
// kiln:tunable THREADS 2 1
// kiln:flags -O3 -march=native -ffast-math | -O3 -march=native
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extend_attention.h"

#ifndef BLOCK_Q
#define BLOCK_Q 32
#endif
#ifndef BLOCK_K
#define BLOCK_K 64
#endif
#ifndef THREADS
#define THREADS 2
#endif

#if defined(__AVX512F__)
#define VBYTES 64
#define KMR 8 /* keys per QK^T register tile */
#define PMR 8 /* query rows per PV register tile */
#else
#define VBYTES 32
#define KMR 6
#define PMR 6
#endif
#define VL (VBYTES / 4) /* floats per vector */

typedef float vf __attribute__((vector_size(VBYTES), aligned(VBYTES)));
typedef int32_t vi __attribute__((vector_size(VBYTES), aligned(VBYTES)));

#define ROUND_UP(x, m) (((x) + (m)-1) / (m) * (m))
#define NEG_BIG (-1.0e30f) /* "minus infinity" that stays finite under -ffast-math */

static inline vf vsplat(float x) { return x - (vf){0}; }
static inline vf vselect(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }
static inline vf vmax(vf a, vf b) { return vselect(a > b, a, b); }
static inline vf vmin(vf a, vf b) { return vselect(a < b, a, b); }

/* exp(x) for a vector: Cody-Waite reduction by ln 2 and a degree-6 polynomial (Cephes expf), about 2 ulp.
 * Inputs are clamped to [-87, 88], so very negative inputs give about 1.6e-38, not 0. */
static inline vf vexp(vf x) {
    x = vmin(vmax(x, vsplat(-87.0f)), vsplat(88.0f));
    /* n = round(x / ln 2): x / ln 2 + 128.5 is positive, so truncation is floor. */
    vi n = __builtin_convertvector(x * 1.44269504088896341f + 128.5f, vi) - 128;
    vf nf = __builtin_convertvector(n, vf);
    vf r = x - nf * 0.693359375f;
    r = r + nf * 2.12194440e-4f;
    vf p = vsplat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    vf scale = (vf)((n + 127) << 23);
    return p * scale;
}

/* tanh(x) for a vector: a [13/6] rational approximation on [-7.9, 7.9] (as in Eigen), a few ulp. */
static inline vf vtanh(vf x) {
    x = vmin(vmax(x, vsplat(-7.90531110763549805f)), vsplat(7.90531110763549805f));
    vf x2 = x * x;
    vf p = vsplat(-2.76076847742355e-16f);
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * x;
    vf q = vsplat(1.19825839466702e-06f);
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return p / q;
}

/* S^T[KMR keys][NV vectors of query rows] = K rows (k[r][0..d)) x Qt[0..d)[cols]; Qt has row stride ldq.
 * The dot products are summed in chunks of QK_CHUNK terms (each chunk in registers, the chunks added in
 * memory): this costs a few percent and cuts the fp32 rounding error about 2.5x against one long chain. */
#define QK_CHUNK 32
#define DEFINE_QK_TILE(NAME, NV)                                                                               \
    static inline void NAME(const float *const *k, const float *qt, size_t ldq, int d, float *s, size_t lds) { \
        const float *kr[KMR];                                                                                  \
        _Pragma("GCC unroll 16") for (int r = 0; r < KMR; r++) kr[r] = k[r];                                   \
        for (int t0 = 0; t0 < d; t0 += QK_CHUNK) {                                                             \
            const int t1 = d - t0 < QK_CHUNK ? d : t0 + QK_CHUNK;                                              \
            vf acc[KMR][NV];                                                                                   \
            _Pragma("GCC unroll 16") for (int r = 0; r < KMR; r++)                                             \
                _Pragma("GCC unroll 2") for (int j = 0; j < NV; j++) acc[r][j] = (vf){0};                     \
            for (int t = t0; t < t1; t++) {                                                                    \
                vf b[NV];                                                                                      \
                _Pragma("GCC unroll 2") for (int j = 0; j < NV; j++) b[j] = *(const vf *)(qt + (size_t)t * ldq + j * VL); \
                _Pragma("GCC unroll 16") for (int r = 0; r < KMR; r++) {                                       \
                    const float a = kr[r][t];                                                                  \
                    _Pragma("GCC unroll 2") for (int j = 0; j < NV; j++) acc[r][j] += a * b[j];               \
                }                                                                                              \
            }                                                                                                  \
            _Pragma("GCC unroll 16") for (int r = 0; r < KMR; r++) {                                           \
                vf *out = (vf *)(s + (size_t)r * lds);                                                         \
                _Pragma("GCC unroll 2") for (int j = 0; j < NV; j++) out[j] = t0 == 0 ? acc[r][j] : out[j] + acc[r][j]; \
            }                                                                                                  \
        }                                                                                                      \
    }
DEFINE_QK_TILE(qk_tile2, 2)
DEFINE_QK_TILE(qk_tile1, 1)

/* O[PMR rows][NV vectors of head_dim] = alpha[row] * O + sum_n P^T[n][row] * V[n][cols]. */
#define DEFINE_PV_TILE(NAME, NV)                                                                               \
    static inline void NAME(const float *p, size_t ldp, int nk, const float *v, size_t ldv, float *o,         \
                            size_t ldo, const float *alpha) {                                                  \
        vf acc[PMR][NV];                                                                                       \
        _Pragma("GCC unroll 16") for (int r = 0; r < PMR; r++)                                                 \
            _Pragma("GCC unroll 2") for (int j = 0; j < NV; j++) acc[r][j] = *(const vf *)(o + (size_t)r * ldo + j * VL) * alpha[r]; \
        for (int n = 0; n < nk; n++) {                                                                         \
            vf b[NV];                                                                                          \
            _Pragma("GCC unroll 2") for (int j = 0; j < NV; j++) b[j] = *(const vf *)(v + (size_t)n * ldv + j * VL); \
            const float *pn = p + (size_t)n * ldp;                                                             \
            _Pragma("GCC unroll 16") for (int r = 0; r < PMR; r++) {                                           \
                const float a = pn[r];                                                                         \
                _Pragma("GCC unroll 2") for (int j = 0; j < NV; j++) acc[r][j] += a * b[j];                    \
            }                                                                                                  \
        }                                                                                                      \
        _Pragma("GCC unroll 16") for (int r = 0; r < PMR; r++)                                                 \
            _Pragma("GCC unroll 2") for (int j = 0; j < NV; j++) *(vf *)(o + (size_t)r * ldo + j * VL) = acc[r][j]; \
    }
DEFINE_PV_TILE(pv_tile2, 2)
DEFINE_PV_TILE(pv_tile1, 1)

typedef struct {
    int32_t b, g, i0, nq;
    double cost;
} work_item;

static int by_cost_descending(const void *x, const void *y) {
    const work_item *a = x, *b = y;
    if (a->cost != b->cost) return a->cost < b->cost ? 1 : -1;
    if (a->b != b->b) return a->b < b->b ? -1 : 1;
    if (a->i0 != b->i0) return a->i0 < b->i0 ? -1 : 1;
    return a->g < b->g ? -1 : (a->g > b->g);
}

/* Everything one thread needs, sized for the largest item. */
typedef struct {
    float *qt;    /* [d][mp]: scaled queries, transposed */
    float *s;     /* [BLOCK_K rounded up to KMR][lds]: scores, then probabilities, keys by rows */
    float *o;     /* [orows][dp]: unnormalised outputs */
    float *vb;    /* [BLOCK_K][dp]: the block's value rows, zero-padded to dp */
    float *m;     /* [lds]: running maximum per query row */
    float *l;     /* [lds]: running sum per query row */
    float *alpha; /* [lds]: rescaling of the block per query row */
    int32_t *lim; /* [lds]: the last key index each query row may see */
    const float *kp[ROUND_UP(BLOCK_K, KMR)];
} scratch;

typedef struct {
    const float *q_extend, *k_extend, *v_extend;
    float *o_extend;
    const float *k_buffer, *v_buffer;
    const int32_t *qo_indptr, *kv_indptr, *kv_indices;
    int group, d, dp, mp, lds;
    size_t q_stride, kv_stride;
    float sm_scale, logit_cap;
} problem;

/* The key (or value) row of key index j of sequence b, kv head g: prefix slot or extend row. */
static inline const float *kv_row(const float *pool, const float *extend, const problem *pr, int32_t b, int32_t g,
                                  int32_t prefix, int32_t j) {
    size_t row = j < prefix ? (size_t)pr->kv_indices[pr->kv_indptr[b] + j] : (size_t)(pr->qo_indptr[b] + j - prefix);
    return (j < prefix ? pool : extend) + row * pr->kv_stride + (size_t)g * (size_t)pr->d;
}

static void prefetch_block(const problem *pr, int32_t b, int32_t g, int32_t prefix, int32_t k0, int32_t nk) {
    const size_t bytes = (size_t)pr->d * sizeof(float);
    for (int32_t n = 0; n < nk; n++) {
        const char *k = (const char *)kv_row(pr->k_buffer, pr->k_extend, pr, b, g, prefix, k0 + n);
        const char *v = (const char *)kv_row(pr->v_buffer, pr->v_extend, pr, b, g, prefix, k0 + n);
        for (size_t off = 0; off < bytes; off += 64) {
            __builtin_prefetch(k + off, 0, 2);
            __builtin_prefetch(v + off, 0, 2);
        }
    }
}

static void run_item(const problem *pr, const work_item *it, scratch *sc) {
    const int32_t b = it->b, g = it->g, i0 = it->i0, nq = it->nq;
    const int group = pr->group, d = pr->d, dp = pr->dp;
    const size_t mp = (size_t)pr->mp, lds = (size_t)pr->lds;
    const int32_t prefix = pr->kv_indptr[b + 1] - pr->kv_indptr[b];
    const int32_t q0 = pr->qo_indptr[b];
    const int m_rows = nq * group;                 /* query rows: token-major, then head */
    const int m_cols = ROUND_UP(m_rows, VL);        /* query rows the QK^T and softmax vectors cover */
    const int m_pv = ROUND_UP(m_rows, PMR);         /* query rows the PV tiles cover */
    const int32_t keys = prefix + i0 + nq;         /* the keys the item's last token sees */
    const int32_t first_lim = prefix + i0;         /* the last key its first token sees */

    /* Pack the scaled queries, transposed; padding rows are zero and see every key. */
    for (int m = 0; m < m_cols; m++) {
        if (m < m_rows) {
            const int ii = m / group, h = g * group + m % group;
            const float *q = pr->q_extend + (size_t)(q0 + i0 + ii) * pr->q_stride + (size_t)h * (size_t)d;
            for (int t = 0; t < d; t++) sc->qt[(size_t)t * mp + (size_t)m] = q[t] * pr->sm_scale;
            sc->lim[m] = prefix + i0 + ii;
        } else {
            for (int t = 0; t < d; t++) sc->qt[(size_t)t * mp + (size_t)m] = 0.0f;
            sc->lim[m] = keys - 1;
        }
        sc->m[m] = NEG_BIG;
        sc->l[m] = 0.0f;
    }
    memset(sc->o, 0, (size_t)m_pv * (size_t)dp * sizeof(float));

    const int cap = pr->logit_cap > 0.0f;
    const vf capv = vsplat(pr->logit_cap), inv_capv = vsplat(1.0f / pr->logit_cap);
    prefetch_block(pr, b, g, prefix, 0, keys < BLOCK_K ? keys : BLOCK_K);

    for (int32_t k0 = 0; k0 < keys; k0 += BLOCK_K) {
        const int nk = keys - k0 < BLOCK_K ? keys - k0 : BLOCK_K;
        if (k0 + BLOCK_K < keys) {
            const int32_t next = k0 + BLOCK_K;
            prefetch_block(pr, b, g, prefix, next, keys - next < BLOCK_K ? keys - next : BLOCK_K);
        }
        /* Key row pointers (the tile padding repeats the last key) and the value rows, packed. */
        for (int n = 0; n < nk; n++) {
            sc->kp[n] = kv_row(pr->k_buffer, pr->k_extend, pr, b, g, prefix, k0 + n);
            memcpy(sc->vb + (size_t)n * (size_t)dp, kv_row(pr->v_buffer, pr->v_extend, pr, b, g, prefix, k0 + n),
                   (size_t)d * sizeof(float));
        }
        const int nk_tiles = ROUND_UP(nk, KMR);
        for (int n = nk; n < nk_tiles; n++) sc->kp[n] = sc->kp[nk - 1];

        /* S^T = K Q^T. */
        for (int n0 = 0; n0 < nk_tiles; n0 += KMR) {
            float *srow = sc->s + (size_t)n0 * lds;
            int c = 0;
            for (; c + 2 * VL <= m_cols; c += 2 * VL) qk_tile2(sc->kp + n0, sc->qt + c, mp, d, srow + c, lds);
            if (c < m_cols) qk_tile1(sc->kp + n0, sc->qt + c, mp, d, srow + c, lds);
        }

        /* Cap, mask and online softmax, a vector of query rows at a time. */
        const int masked = k0 + nk - 1 > first_lim;
        for (int c = 0; c < m_cols; c += VL) {
            const vi lim = *(const vi *)(sc->lim + c);
            const vf m_old = *(const vf *)(sc->m + c);
            vf mx = m_old;
            for (int n = 0; n < nk; n++) {
                vf *sp = (vf *)(sc->s + (size_t)n * lds + c);
                vf s = *sp;
                if (cap) s = capv * vtanh(s * inv_capv);
                if (masked) s = vselect((vi){0} + (k0 + n) <= lim, s, vsplat(NEG_BIG));
                *sp = s;
                mx = vmax(mx, s);
            }
            const vf alpha = vexp(m_old - mx);
            vf sum = (vf){0};
            for (int n = 0; n < nk; n++) {
                vf *sp = (vf *)(sc->s + (size_t)n * lds + c);
                vf p = vexp(*sp - mx);
                if (masked) p = vselect((vi){0} + (k0 + n) <= lim, p, (vf){0});
                *sp = p;
                sum += p;
            }
            *(vf *)(sc->m + c) = mx;
            *(vf *)(sc->l + c) = *(const vf *)(sc->l + c) * alpha + sum;
            *(vf *)(sc->alpha + c) = alpha;
        }

        /* O = alpha O + P V. */
        for (int r0 = 0; r0 < m_pv; r0 += PMR) {
            float *orow = sc->o + (size_t)r0 * (size_t)dp;
            int c = 0;
            for (; c + 2 * VL <= dp; c += 2 * VL)
                pv_tile2(sc->s + r0, lds, nk, sc->vb + c, (size_t)dp, orow + c, (size_t)dp, sc->alpha + r0);
            if (c < dp) pv_tile1(sc->s + r0, lds, nk, sc->vb + c, (size_t)dp, orow + c, (size_t)dp, sc->alpha + r0);
        }
    }

    for (int m = 0; m < m_rows; m++) {
        const int ii = m / group, h = g * group + m % group;
        float *out = pr->o_extend + (size_t)(q0 + i0 + ii) * pr->q_stride + (size_t)h * (size_t)d;
        const float *orow = sc->o + (size_t)m * (size_t)dp;
        const float inv = 1.0f / sc->l[m];
        for (int t = 0; t < d; t++) out[t] = orow[t] * inv;
    }
}

static void *alloc_floats(size_t count) {
    void *p = aligned_alloc(VBYTES, ROUND_UP(count * sizeof(float), VBYTES));
    if (p == NULL) abort();
    memset(p, 0, ROUND_UP(count * sizeof(float), VBYTES));
    return p;
}

void extend_attention(const float *q_extend, const float *k_extend, const float *v_extend, float *o_extend,
                      const float *k_buffer, const float *v_buffer, const int32_t *qo_indptr,
                      const int32_t *kv_indptr, const int32_t *kv_indices, int32_t batch_size, int32_t num_q_heads,
                      int32_t num_kv_heads, int32_t head_dim, float sm_scale, float logit_cap) {
    if (batch_size <= 0 || num_q_heads <= 0 || num_kv_heads <= 0 || head_dim <= 0) return;
    problem pr = {.q_extend = q_extend,
                  .k_extend = k_extend,
                  .v_extend = v_extend,
                  .o_extend = o_extend,
                  .k_buffer = k_buffer,
                  .v_buffer = v_buffer,
                  .qo_indptr = qo_indptr,
                  .kv_indptr = kv_indptr,
                  .kv_indices = kv_indices,
                  .group = num_q_heads / num_kv_heads,
                  .d = head_dim,
                  .dp = ROUND_UP(head_dim, VL),
                  .q_stride = (size_t)num_q_heads * (size_t)head_dim,
                  .kv_stride = (size_t)num_kv_heads * (size_t)head_dim,
                  .sm_scale = sm_scale,
                  .logit_cap = logit_cap};
    pr.mp = ROUND_UP(BLOCK_Q * pr.group, VL);
    pr.lds = pr.mp + VL; /* room for the PV tiles' padding rows */

    size_t items = 0;
    for (int32_t b = 0; b < batch_size; b++)
        items += (size_t)num_kv_heads * (size_t)((qo_indptr[b + 1] - qo_indptr[b] + BLOCK_Q - 1) / BLOCK_Q);
    if (items == 0) return;
    work_item *work = malloc(items * sizeof *work);
    if (work == NULL) abort();
    size_t n = 0;
    for (int32_t b = 0; b < batch_size; b++) {
        const int32_t extend = qo_indptr[b + 1] - qo_indptr[b], prefix = kv_indptr[b + 1] - kv_indptr[b];
        for (int32_t i0 = 0; i0 < extend; i0 += BLOCK_Q) {
            const int32_t nq = extend - i0 < BLOCK_Q ? extend - i0 : BLOCK_Q;
            const double rows = (double)ROUND_UP(nq * pr.group, VL);
            const double cost = rows * ((double)prefix + i0 + nq + 16.0) + 4.0 * (double)(prefix + i0 + nq);
            for (int32_t g = 0; g < num_kv_heads; g++) work[n++] = (work_item){b, g, i0, nq, cost};
        }
    }
    qsort(work, items, sizeof *work, by_cost_descending);

    const int threads = (size_t)THREADS < items ? THREADS : (int)items;
#pragma omp parallel num_threads(threads)
    {
        scratch sc;
        const size_t d = (size_t)pr.d, dp = (size_t)pr.dp, lds = (size_t)pr.lds;
        sc.qt = alloc_floats(d * (size_t)pr.mp);
        sc.s = alloc_floats((size_t)ROUND_UP(BLOCK_K, KMR) * lds);
        sc.o = alloc_floats((size_t)ROUND_UP(pr.mp, PMR) * dp);
        sc.vb = alloc_floats((size_t)BLOCK_K * dp);
        sc.m = alloc_floats(lds);
        sc.l = alloc_floats(lds);
        sc.alpha = alloc_floats(lds);
        sc.lim = alloc_floats(lds);
#pragma omp for schedule(dynamic, 1)
        for (size_t w = 0; w < items; w++) run_item(&pr, &work[w], &sc);
        free(sc.qt);
        free(sc.s);
        free(sc.o);
        free(sc.vb);
        free(sc.m);
        free(sc.l);
        free(sc.alpha);
        free(sc.lim);
    }
    free(work);
}
