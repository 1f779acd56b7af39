/* The extend-attention baseline: the straightforward fp32 kernel on one thread.
 *
 * For each sequence, query head and extend token: the scores against the whole prefix (gathered through
 * kv_indices) and the causal part of the extend, scaled, capped when logit_cap > 0, a softmax with the
 * maximum subtracted, and the softmax-weighted sum of the values.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "extend_attention.h"

void extend_attention(const float *q_extend, const float *k_extend, const float *v_extend, float *o_extend,
                      const float *k_buffer, const float *v_buffer, const int32_t *qo_indptr,
                      const int32_t *kv_indptr, const int32_t *kv_indices, int32_t batch_size, int32_t num_q_heads,
                      int32_t num_kv_heads, int32_t head_dim, float sm_scale, float logit_cap) {
    const int group = num_q_heads / num_kv_heads;
    const size_t d = (size_t)head_dim;
    const size_t q_stride = (size_t)num_q_heads * d, kv_stride = (size_t)num_kv_heads * d;

    int32_t max_keys = 0;
    for (int32_t b = 0; b < batch_size; b++) {
        int32_t keys = (kv_indptr[b + 1] - kv_indptr[b]) + (qo_indptr[b + 1] - qo_indptr[b]);
        if (keys > max_keys) max_keys = keys;
    }
    float *scores = malloc(((size_t)max_keys + 1) * sizeof *scores);
    if (scores == NULL) abort();

    for (int32_t b = 0; b < batch_size; b++) {
        const int32_t q0 = qo_indptr[b], extend = qo_indptr[b + 1] - qo_indptr[b];
        const int32_t p0 = kv_indptr[b], prefix = kv_indptr[b + 1] - kv_indptr[b];
        for (int32_t h = 0; h < num_q_heads; h++) {
            const int32_t g = h / group;
            for (int32_t i = 0; i < extend; i++) {
                const float *q = q_extend + (size_t)(q0 + i) * q_stride + (size_t)h * d;
                float *o = o_extend + (size_t)(q0 + i) * q_stride + (size_t)h * d;
                const int32_t keys = prefix + i + 1;

                float max_score = -FLT_MAX;
                for (int32_t j = 0; j < keys; j++) {
                    const float *k = j < prefix ? k_buffer + (size_t)kv_indices[p0 + j] * kv_stride + (size_t)g * d
                                                : k_extend + (size_t)(q0 + j - prefix) * kv_stride + (size_t)g * d;
                    float dot = 0.0f;
                    for (size_t t = 0; t < d; t++) dot += q[t] * k[t];
                    float s = dot * sm_scale;
                    if (logit_cap > 0.0f) s = logit_cap * tanhf(s / logit_cap);
                    scores[j] = s;
                    if (s > max_score) max_score = s;
                }

                float sum = 0.0f;
                for (int32_t j = 0; j < keys; j++) {
                    scores[j] = expf(scores[j] - max_score);
                    sum += scores[j];
                }

                for (size_t t = 0; t < d; t++) o[t] = 0.0f;
                for (int32_t j = 0; j < keys; j++) {
                    const float *v = j < prefix ? v_buffer + (size_t)kv_indices[p0 + j] * kv_stride + (size_t)g * d
                                                : v_extend + (size_t)(q0 + j - prefix) * kv_stride + (size_t)g * d;
                    const float p = scores[j];
                    for (size_t t = 0; t < d; t++) o[t] += p * v[t];
                }
                const float inv = 1.0f / sum;
                for (size_t t = 0; t < d; t++) o[t] *= inv;
            }
        }
    }
    free(scores);
}
