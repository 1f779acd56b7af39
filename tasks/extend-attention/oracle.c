/* The extend-attention oracle: every dot product, the softmax (with the maximum subtracted) and every
 * weighted sum of values in double, rounded to float once at the end.
 *
 * To stay quick it shares each key and value row between OQ query rows of one (sequence, kv head): the rows
 * (token i, query head h) of a sequence and kv head, taken token-major, are cut into groups of OQ, and the
 * dot products of a group run as independent double accumulators. The groups are spread over the OpenMP
 * threads; the arithmetic of each output does not depend on the thread count or the schedule.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "extend_attention.h"

#define OQ 4 /* query rows of one (sequence, kv head) handled together */

typedef struct {
    int32_t b, g, r0; /* rows r0 .. r0+OQ-1 of (sequence b, kv head g); row r is token r / group */
} oracle_item;

void extend_attention(const float *q_extend, const float *k_extend, const float *v_extend, float *o_extend,
                      const float *k_buffer, const float *v_buffer, const int32_t *qo_indptr,
                      const int32_t *kv_indptr, const int32_t *kv_indices, int32_t batch_size, int32_t num_q_heads,
                      int32_t num_kv_heads, int32_t head_dim, float sm_scale, float logit_cap) {
    const int group = num_q_heads / num_kv_heads;
    const size_t d = (size_t)head_dim;
    const size_t q_stride = (size_t)num_q_heads * d, kv_stride = (size_t)num_kv_heads * d;
    const double scale = (double)sm_scale, cap = (double)logit_cap;

    /* The work items, the latest rows (the most keys) of each sequence first. */
    size_t items = 0;
    int32_t max_keys = 1;
    for (int32_t b = 0; b < batch_size; b++) {
        int32_t extend = qo_indptr[b + 1] - qo_indptr[b], keys = kv_indptr[b + 1] - kv_indptr[b] + extend;
        items += (size_t)num_kv_heads * (size_t)((extend * group + OQ - 1) / OQ);
        if (keys > max_keys) max_keys = keys;
    }
    oracle_item *work = malloc((items > 0 ? items : 1) * sizeof *work);
    if (work == NULL) abort();
    size_t n = 0;
    for (int32_t b = 0; b < batch_size; b++) {
        int32_t rows = (qo_indptr[b + 1] - qo_indptr[b]) * group;
        for (int32_t r0 = rows - 1 - (rows - 1) % OQ; r0 >= 0; r0 -= OQ)
            for (int32_t g = 0; g < num_kv_heads; g++) work[n++] = (oracle_item){b, g, r0};
    }

#pragma omp parallel
    {
        double *qd = malloc((size_t)OQ * d * sizeof *qd);
        double *acc = malloc((size_t)OQ * d * sizeof *acc);
        double *scores = malloc((size_t)OQ * (size_t)max_keys * sizeof *scores);
        if (qd == NULL || acc == NULL || scores == NULL) abort();
#pragma omp for schedule(dynamic, 1)
        for (size_t w = 0; w < items; w++) {
            const int32_t b = work[w].b, g = work[w].g, r0 = work[w].r0;
            const int32_t q0 = qo_indptr[b], rows = (qo_indptr[b + 1] - q0) * group;
            const int32_t p0 = kv_indptr[b], prefix = kv_indptr[b + 1] - p0;
            const int nq = rows - r0 < OQ ? rows - r0 : OQ;
            const int32_t keys = prefix + (r0 + nq - 1) / group + 1; /* the last row's keys */
            float *out[OQ];
            int32_t visible[OQ];

            for (int r = 0; r < OQ; r++) {
                const int32_t row = r0 + (r < nq ? r : 0), i = row / group, h = g * group + row % group;
                const float *q = q_extend + (size_t)(q0 + i) * q_stride + (size_t)h * d;
                for (size_t t = 0; t < d; t++) qd[(size_t)r * d + t] = r < nq ? (double)q[t] : 0.0;
                out[r] = o_extend + (size_t)(q0 + i) * q_stride + (size_t)h * d;
                visible[r] = r < nq ? prefix + i + 1 : 0;
            }
            const double *qa = qd, *qb = qd + d, *qc = qd + 2 * d, *qe = qd + 3 * d;

            /* Scores: the four rows against each key, two accumulators per row. */
            for (int32_t j = 0; j < keys; j++) {
                const float *k = j < prefix ? k_buffer + (size_t)kv_indices[p0 + j] * kv_stride + (size_t)g * d
                                            : k_extend + (size_t)(q0 + j - prefix) * kv_stride + (size_t)g * d;
                double a0 = 0, a1 = 0, b0 = 0, b1 = 0, c0 = 0, c1 = 0, e0 = 0, e1 = 0;
                size_t t = 0;
                for (; t + 2 <= d; t += 2) {
                    const double k0 = (double)k[t], k1 = (double)k[t + 1];
                    a0 += qa[t] * k0;
                    a1 += qa[t + 1] * k1;
                    b0 += qb[t] * k0;
                    b1 += qb[t + 1] * k1;
                    c0 += qc[t] * k0;
                    c1 += qc[t + 1] * k1;
                    e0 += qe[t] * k0;
                    e1 += qe[t + 1] * k1;
                }
                if (t < d) {
                    const double k0 = (double)k[t];
                    a0 += qa[t] * k0;
                    b0 += qb[t] * k0;
                    c0 += qc[t] * k0;
                    e0 += qe[t] * k0;
                }
                const double dots[OQ] = {a0 + a1, b0 + b1, c0 + c1, e0 + e1};
                for (int r = 0; r < OQ; r++) {
                    double s = scale * dots[r];
                    if (cap > 0.0) s = cap * tanh(s / cap);
                    scores[(size_t)r * (size_t)max_keys + (size_t)j] = s;
                }
            }

            /* Softmax per query over its own keys; the keys it must not see get weight 0. */
            double sums[OQ];
            for (int r = 0; r < OQ; r++) {
                double *s = scores + (size_t)r * (size_t)max_keys;
                double max_score = -INFINITY;
                for (int32_t j = 0; j < visible[r]; j++)
                    if (s[j] > max_score) max_score = s[j];
                double sum = 0.0;
                for (int32_t j = 0; j < visible[r]; j++) {
                    s[j] = exp(s[j] - max_score);
                    sum += s[j];
                }
                for (int32_t j = visible[r]; j < keys; j++) s[j] = 0.0;
                sums[r] = sum;
            }

            /* Weighted sums of the values, four rows per value row. */
            for (size_t t = 0; t < (size_t)OQ * d; t++) acc[t] = 0.0;
            double *oa = acc, *ob = acc + d, *oc = acc + 2 * d, *oe = acc + 3 * d;
            const double *sa = scores, *sb = scores + max_keys, *sc = scores + 2 * (size_t)max_keys,
                         *se = scores + 3 * (size_t)max_keys;
            for (int32_t j = 0; j < keys; j++) {
                const float *v = j < prefix ? v_buffer + (size_t)kv_indices[p0 + j] * kv_stride + (size_t)g * d
                                            : v_extend + (size_t)(q0 + j - prefix) * kv_stride + (size_t)g * d;
                const double pa = sa[j], pb = sb[j], pc = sc[j], pe = se[j];
                for (size_t t = 0; t < d; t++) {
                    const double vt = (double)v[t];
                    oa[t] += pa * vt;
                    ob[t] += pb * vt;
                    oc[t] += pc * vt;
                    oe[t] += pe * vt;
                }
            }
            for (int r = 0; r < nq; r++)
                for (size_t t = 0; t < d; t++) out[r][t] = (float)(acc[(size_t)r * d + t] / sums[r]);
        }
        free(qd);
        free(acc);
        free(scores);
    }
    free(work);
}
