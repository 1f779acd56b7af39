"""The entry point every extend-attention-triton implementation defines (this file is shown to the model;
it is not run).

Layouts: contiguous tensors on one device (a GPU; Triton's CPU interpreter in interpreter checks), row-major.
    q_extend, o_extend   [total_extend, num_q_heads, head_dim]    float16, bfloat16 or float32
    k_extend, v_extend   [total_extend, num_kv_heads, head_dim]   same dtype
    k_buffer, v_buffer   [pool_tokens, num_kv_heads, head_dim]    same dtype: the KV pool; slots not used by any
                                                                  prefix hold garbage (+-1000) that must not matter
    qo_indptr            [batch_size + 1] int32: sequence b owns extend rows qo_indptr[b] .. qo_indptr[b+1]-1
    kv_indptr            [batch_size + 1] int32, and
    kv_indices           [max(total_prefix, 1)] int32: sequence b's prefix is, in order, the pool slots
                         kv_indices[kv_indptr[b]] .. kv_indices[kv_indptr[b+1]-1] (a random permutation, not 0..n)
batch_size = qo_indptr.shape[0] - 1, num_q_heads = q_extend.shape[1], num_kv_heads = k_extend.shape[1] (a divisor
of num_q_heads), head_dim = q_extend.shape[2] (any size, 80 and 96 included).

Semantics, for sequence b, extend token i (0-based within the sequence), query head h:
    kv head g = h // (num_q_heads // num_kv_heads)
    keys and values: all prefix tokens of b (fully visible), then extend tokens 0 .. i of b (causal)
    score = sm_scale * dot(q, k); if logit_cap > 0: score = logit_cap * tanh(score / logit_cap)
    o = sum_j softmax(score)_j * v_j, accumulated in float32 or better, written to o_extend in its dtype
Prefix length 0 and extend length 1 are valid, and so are batches mixing them.

Rules: write o_extend in place and return None. torch may be used only to allocate tensors, make views and query
shapes (any other torch op at run time is a violation); the computation belongs in @triton.jit kernels. Imports:
torch, triton, triton.language, math, typing, functools, dataclasses. Tunables: declare them in comments,
`# kiln:tunable BLOCK_M 64 32 128` (the first value is the default); each is a module-level name set before the
module runs: use it as a plain name and pass it to kernels as a tl.constexpr argument.
"""

import torch


def extend_attention(
    q_extend: torch.Tensor,
    k_extend: torch.Tensor,
    v_extend: torch.Tensor,
    o_extend: torch.Tensor,
    k_buffer: torch.Tensor,
    v_buffer: torch.Tensor,
    qo_indptr: torch.Tensor,
    kv_indptr: torch.Tensor,
    kv_indices: torch.Tensor,
    sm_scale: float,
    logit_cap: float,
) -> None:
    """Writes the extend attention of q_extend over each sequence's prefix and causal extend into o_extend."""
    ...
