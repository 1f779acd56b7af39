"""The extend-attention-triton oracle: the semantics of signature.py in float64 PyTorch, one sequence at a time.

Trusted code (it may use any torch op); slow, and written to be obviously right rather than fast.
"""

import torch


def extend_attention(q_extend, k_extend, v_extend, o_extend, k_buffer, v_buffer, qo_indptr, kv_indptr, kv_indices,
                     sm_scale, logit_cap):
    num_q_heads, num_kv_heads = q_extend.shape[1], k_extend.shape[1]
    group = num_q_heads // num_kv_heads
    qo = qo_indptr.tolist()
    kv = kv_indptr.tolist()
    for b in range(len(qo) - 1):
        q0, q1, p0, p1 = qo[b], qo[b + 1], kv[b], kv[b + 1]
        extend, prefix = q1 - q0, p1 - p0
        if extend == 0:
            continue
        slots = kv_indices[p0:p1].long()
        keys = torch.cat([k_buffer[slots], k_extend[q0:q1]]).double()      # [prefix + extend, kv_heads, d]
        values = torch.cat([v_buffer[slots], v_extend[q0:q1]]).double()
        keys = keys.repeat_interleave(group, dim=1)                          # query head h reads kv head h // group
        values = values.repeat_interleave(group, dim=1)
        queries = q_extend[q0:q1].double()                                   # [extend, q_heads, d]
        scores = torch.einsum("ihd,jhd->hij", queries, keys) * sm_scale
        if logit_cap > 0:
            scores = logit_cap * torch.tanh(scores / logit_cap)
        j = torch.arange(prefix + extend, device=scores.device)
        i = torch.arange(extend, device=scores.device)
        visible = (j[None, :] < prefix) | (j[None, :] - prefix <= i[:, None])  # the prefix, then causal
        scores = scores.masked_fill(~visible[None], float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        o_extend[q0:q1] = torch.einsum("hij,jhd->ihd", weights, values).to(o_extend.dtype)
