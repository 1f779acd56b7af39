/* extend_attention: SGLang's extend (prefill-with-prefix) attention in fp32.
 *
 * Sequence b owns extend rows qo_indptr[b] .. qo_indptr[b+1]-1 of q_extend / k_extend / v_extend /
 * o_extend and the prefix pool slots kv_indices[kv_indptr[b]] .. kv_indices[kv_indptr[b+1]-1] of
 * k_buffer / v_buffer. Extend token i of sequence b, query head h, attends with kv head
 * h / (num_q_heads / num_kv_heads) to the whole prefix and to extend tokens 0..i (causal):
 * score = sm_scale * dot(q, k), capped to logit_cap * tanh(score / logit_cap) when logit_cap > 0,
 * o = softmax(score) . V.
 *
 * Layouts (row-major, contiguous): q_extend, o_extend [total_extend][num_q_heads][head_dim];
 * k_extend, v_extend [total_extend][num_kv_heads][head_dim];
 * k_buffer, v_buffer [pool_tokens][num_kv_heads][head_dim].
 */
#ifndef KILN_TASK_EXTEND_ATTENTION_H
#define KILN_TASK_EXTEND_ATTENTION_H

#include <stdint.h>

void extend_attention(
    const float *q_extend, const float *k_extend, const float *v_extend, float *o_extend,
    const float *k_buffer, const float *v_buffer,
    const int32_t *qo_indptr, const int32_t *kv_indptr, const int32_t *kv_indices,
    int32_t batch_size, int32_t num_q_heads, int32_t num_kv_heads, int32_t head_dim,
    float sm_scale, float logit_cap);

#endif
