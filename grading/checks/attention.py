"""Exercise 4 (attention): what the trusted checker runs, the classic mistakes, and the rules it reads.

Every check draws its numbers from SEED (shapes, heads, lengths and masks are fixed per check, as in the hidden
tests) and compares the student's (output, weights) with the solution's on the same inputs. Masks are built with
plain torch ops (True = may attend), not with names of the student's kernel. Part 2b runs the student's
multi_head_attention with part 1's name replaced by the course's attention, as the tests'
`using_reference_attention()` does, so that a mistake in part 1 costs no points there; that block patches the
globals of the setup cell, which in the reference run are not the answers' globals, so the checks patch the
globals of `multi_head_attention` itself (the same dict in a kernel).
"""

from classgrade.table import Check, Forbid, Mistake, Table, close, equal

ATOL = 1e-5  # the hidden tests' tolerance


def masked_close(atol: float = ATOL):
    """close(), and where the solution's weights (the result's second item) are exactly 0 (keys the mask
    forbids), the student's must be exactly 0 too, as the hidden tests assert."""
    near = close(atol=atol)

    def compare(got, want):
        why = near(got, want)
        if why or not isinstance(want, tuple):  # a wrong result, or both raised the same error
            return why
        forbidden = want[1] == 0
        if bool((got[1][forbidden] != 0).any()):
            return ("[1]: a key the mask forbids got weight (it must be exactly 0: give its score -inf before the "
                    "softmax)")
        return None

    return compare


def _size(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


# -- part 1: scaled dot-product attention --------------------------------------------------------------------

def sdpa_inputs(lead: tuple, l_q: int, l_k: int, d_k: int, d_v: int, spread: float = 1.0) -> str:
    lead = ", ".join(str(n) for n in lead) + (", " if lead else "")
    return (f"gen = torch.Generator().manual_seed(SEED)\n"
            f"q = {spread} * torch.randn({lead}{l_q}, {d_k}, generator=gen)\n"
            f"k = {spread} * torch.randn({lead}{l_k}, {d_k}, generator=gen)\n"
            f"v = torch.randn({lead}{l_k}, {d_v}, generator=gen)\n")


SDPA = [  # (leading dimensions, L_q, L_k, d_k, d_v, spread, what it is about)
    ((2,), 3, 5, 4, 6, 1.0, "a batch"),
    ((2, 4), 3, 7, 8, 5, 1.0, "batch and heads"),
    ((3, 5), 7, 11, 8, 5, 1.0, "batch and heads, L_q != L_k, d_v != d_k"),
    ((2, 3, 1), 4, 6, 16, 9, 1.0, "three leading dimensions"),
    ((), 6, 6, 32, 3, 1.0, "no leading dimension"),
    ((4,), 2, 9, 64, 64, 1.5, "large d_k: the scaling matters"),
    ((1, 1), 1, 1, 2, 1, 1.0, "a single key"),
    ((5,), 9, 3, 4, 4, 0.3, "more queries than keys"),
]


def sdpa_checks() -> list[Check]:
    checks = []
    for lead, l_q, l_k, d_k, d_v, spread, about in SDPA:
        what = (f"scaled_dot_product_attention, {about}: q {_size((*lead, l_q, d_k))}, k {_size((*lead, l_k, d_k))}, "
                f"v {_size((*lead, l_k, d_v))}" + (f", entries x{spread}" if spread != 1.0 else ""))
        checks.append(Check("test_sdpa", what, "scaled_dot_product_attention(q, k, v)",
                            sdpa_inputs(lead, l_q, l_k, d_k, d_v, spread), close(atol=ATOL)))
    return checks


def padding(lengths: list[int], l_k: int) -> str:
    """(B, L_k) bool, True on the first lengths[b] keys of item b."""
    return f"(torch.arange({l_k}) < torch.tensor({lengths})[:, None])"


def causal(n: int) -> str:
    return f"torch.ones({n}, {n}, dtype=torch.bool).tril()"


MASKED = [  # (leading dimensions, L_q, L_k, d_k, d_v, spread, mask expression, what the mask is)
    ((2, 4), 4, 4, 8, 3, 1.0, causal(4), "causal mask (L, L)"),
    ((2, 4), 4, 4, 8, 3, 1.0, f"{padding([4, 2], 4)}[:, None, None, :]", "padding mask (B, 1, 1, L_k), lengths [4, 2]"),
    ((3, 2), 7, 7, 16, 16, 1.0, causal(7), "causal mask (L, L)"),
    ((3, 2), 7, 7, 16, 16, 1.0, f"{padding([7, 3, 1], 7)}[:, None, None, :]",
     "padding mask (B, 1, 1, L_k), lengths [7, 3, 1]"),
    ((3, 2), 7, 7, 16, 16, 1.0, f"{causal(7)} & {padding([7, 3, 1], 7)}[:, None, None, :]",
     "causal and padding (B, 1, L, L), lengths [7, 3, 1]"),
    ((3, 2), 7, 7, 16, 16, 1.0, "torch.ones(7, 7, dtype=torch.bool)", "a mask that allows everything"),
    ((3, 2), 7, 5, 16, 4, 3.0, None, "a random mask (B, H, L_q, L_k), every query keeping at least one key"),
    ((4,), 2, 6, 8, 5, 1.0, f"{padding([6, 1, 4, 2], 6)}[:, None, :]",
     "3-D inputs, padding mask (B, 1, L_k), lengths [6, 1, 4, 2]"),
]
RANDOM_MASK = """\
mask = torch.rand(3, 2, 7, 5, generator=gen) < 0.4
mask.scatter_(-1, torch.randint(0, 5, (3, 2, 7, 1), generator=gen), True)
"""


def masked_checks() -> list[Check]:
    checks = []
    for lead, l_q, l_k, d_k, d_v, spread, mask, about in MASKED:
        given = sdpa_inputs(lead, l_q, l_k, d_k, d_v, spread) + (RANDOM_MASK if mask is None else f"mask = {mask}\n")
        what = (f"scaled_dot_product_attention with a {about}: q {_size((*lead, l_q, d_k))}, "
                f"k {_size((*lead, l_k, d_k))}, v {_size((*lead, l_k, d_v))}" +
                (f", entries x{spread}" if spread != 1.0 else ""))
        checks.append(Check("test_sdpa_mask", what, "scaled_dot_product_attention(q, k, v, mask)", given,
                            masked_close()))
    return checks


# -- part 2a: split and merge heads --------------------------------------------------------------------------

HEADS = [((2, 3, 12), 4), ((2, 5, 24), 3), ((1, 7, 16), 8), ((3, 4, 6), 1), ((2, 3, 10), 10), ((4, 1, 12), 2)]
NOT_DIVISIBLE = [(10, 3), (12, 5), (7, 2)]  # (d_model, heads)


def heads_checks() -> list[Check]:
    checks = []
    for (b, length, d), h in HEADS:
        x = f"x = torch.randn({b}, {length}, {d}, generator=torch.Generator().manual_seed(SEED))"
        checks.append(Check("test_heads", f"split_heads(x, {h}) on x {_size((b, length, d))}", f"split_heads(x, {h})",
                            x, equal))
        y = f"y = torch.randn({b}, {h}, {length}, {d // h}, generator=torch.Generator().manual_seed(SEED))"
        checks.append(Check("test_heads", f"merge_heads(y) on y {_size((b, h, length, d // h))}", "merge_heads(y)",
                            y, equal))
    for (b, length, d), h in HEADS[:3]:
        x = f"x = torch.randn({b}, {length}, {d}, generator=torch.Generator().manual_seed(SEED))"
        checks.append(Check("test_heads", f"merge_heads(split_heads(x, {h})) gives x {_size((b, length, d))} back",
                            f"merge_heads(split_heads(x, {h}))", x, equal))
    for d, h in NOT_DIVISIBLE:
        x = f"x = torch.randn(1, 2, {d}, generator=torch.Generator().manual_seed(SEED))"
        checks.append(Check("test_heads", f"split_heads(x, {h}) with d_model = {d} (not divisible)",
                            f"split_heads(x, {h})", x, equal))
    return checks


# -- part 2b: multi-head attention with the weights of an nn.MultiheadAttention -------------------------------

MHA_CALL = """\
from course_lib.models.attention import scaled_dot_product_attention as course_attention


def attend_like_the_tests(query, key, value, mha, mask):
    # multi_head_attention with part 1's name meaning the course's attention (as using_reference_attention() does
    # in the tests), mha's own forward and PyTorch's attention refused, no gradients
    space = getattr(multi_head_attention, "__globals__", None)
    space = space if type(space) is dict else {}
    had, saved = "scaled_dot_product_attention" in space, space.get("scaled_dot_product_attention")
    forward, torch_attention = nn.MultiheadAttention.forward, F.scaled_dot_product_attention

    def refuse(*args, **kwargs):
        raise AssertionError("write the forward pass from your pieces: do not call mha(...) or PyTorch's attention")

    space["scaled_dot_product_attention"] = course_attention
    nn.MultiheadAttention.forward, F.scaled_dot_product_attention = refuse, refuse
    try:
        with torch.no_grad():
            return multi_head_attention(query, key, value, mha, mask=mask)
    finally:
        nn.MultiheadAttention.forward, F.scaled_dot_product_attention = forward, torch_attention
        if had:
            space["scaled_dot_product_attention"] = saved
        else:
            space.pop("scaled_dot_product_attention", None)


"""
MHA_MODULE = """\
gen = torch.Generator().manual_seed(SEED)
mha = nn.MultiheadAttention({d}, {h}, batch_first=True).eval()
with torch.no_grad():  # every weight and bias from SEED: non-zero biases, so forgetting one shows
    mha.in_proj_weight.copy_(torch.randn(3 * {d}, {d}, generator=gen) / math.sqrt({d}))
    mha.in_proj_bias.copy_(torch.randn(3 * {d}, generator=gen))
    mha.out_proj.weight.copy_(torch.randn({d}, {d}, generator=gen) / math.sqrt({d}))
    mha.out_proj.bias.copy_(torch.randn({d}, generator=gen))
"""
MHA = [  # (d_model, heads, L_q, L_k, key lengths or None, causal, self-attention on one x)
    (16, 4, 5, 5, None, True, True),
    (24, 3, 6, 6, [6, 4], True, False),
    (16, 8, 3, 7, [7, 2, 5], False, False),
    (12, 1, 4, 5, [5], False, False),
    (20, 4, 1, 9, [9, 1], False, False),
]


def mha_checks() -> list[Check]:
    checks = []
    for d, h, l_q, l_k, lengths, is_causal, self_attention in MHA:
        given = MHA_CALL + MHA_MODULE.format(d=d, h=h)
        b = len(lengths) if lengths else 2
        if self_attention:
            given += f"x = torch.randn({b}, {l_q}, {d}, generator=gen)\n"
            args = "x, x, x"
        else:
            given += (f"query = torch.randn({b}, {l_q}, {d}, generator=gen)\n"
                      f"key = torch.randn({b}, {l_k}, {d}, generator=gen)\n"
                      f"value = torch.randn({b}, {l_k}, {d}, generator=gen)\n")
            args = "query, key, value"
        masks = [causal(l_q)] if is_causal else []
        masks += [f"{padding(lengths, l_k)}[:, None, None, :]"] if lengths else []
        given += f"mask = {' & '.join(masks)}\n"
        shape = "(L, L)" if not lengths else "(B, 1, L, L)" if is_causal else "(B, 1, 1, L_k)"
        what = (f"multi_head_attention, d_model={d}, {h} head{'s' if h > 1 else ''}, "
                f"{'self-attention' if self_attention else 'query'} {_size((b, l_q, d))}" +
                ("" if self_attention else f", key and value {_size((b, l_k, d))}") +
                f", {'causal' if is_causal else ''}{' and ' if is_causal and lengths else ''}"
                f"{'padding' if lengths else ''} mask {shape}" + (f", lengths {lengths}" if lengths else ""))
        checks.append(Check("test_multi_head", what, f"attend_like_the_tests({args}, mha, mask)", given,
                            masked_close()))
    return checks


# -- part 3: Bahdanau's additive score -----------------------------------------------------------------------

ADDITIVE_INPUTS = """\
gen = torch.Generator().manual_seed(SEED)
query = {spread} * torch.randn({b}, {dq}, generator=gen)
keys = {spread} * torch.randn({b}, {s}, {dk}, generator=gen)
W_q, W_k = torch.randn({h}, {dq}, generator=gen), torch.randn({h}, {dk}, generator=gen)
v = torch.randn({h}, generator=gen)
"""
SCORES = [(2, 4, 3, 5, 6, 1.0), (3, 7, 4, 6, 5, 1.0), (1, 1, 2, 3, 8, 1.0), (5, 9, 8, 2, 3, 2.0), (2, 5, 6, 6, 6, 0.5)]
ADDITIVE = [([5, 2], 5, 3, 4, 2, 6), ([7, 3, 1], 7, 4, 6, 5, 3), ([4], 4, 2, 3, 1, 8), ([2, 6, 6, 5], 6, 5, 2, 3, 4)]


def additive_checks() -> list[Check]:
    checks = []
    for b, s, dq, dk, h, spread in SCORES:
        given = ADDITIVE_INPUTS.format(b=b, s=s, dq=dq, dk=dk, h=h, spread=spread)
        what = (f"additive_score, B={b}, S={s}, d_q={dq}, d_k={dk}, h={h}" +
                (f", query and keys x{spread}" if spread != 1.0 else ""))
        checks.append(Check("test_additive_score", what, "additive_score(query, keys, W_q, W_k, v)", given,
                            close(atol=ATOL)))
    for lengths, s, dq, dk, dv, h in ADDITIVE:
        b = len(lengths)
        given = ADDITIVE_INPUTS.format(b=b, s=s, dq=dq, dk=dk, h=h, spread=1.0) + \
            f"values = torch.randn({b}, {s}, {dv}, generator=gen)\nmask = {padding(lengths, s)}\n"
        shapes = f"B={b}, S={s}, d_q={dq}, d_k={dk}, d_v={dv}, h={h}"
        checks.append(Check("test_additive_attention", f"additive_attention, {shapes}, padding mask, lengths {lengths}",
                            "additive_attention(query, keys, values, W_q, W_k, v, mask)", given, masked_close()))
        checks.append(Check("test_additive_attention", f"additive_attention, {shapes}, mask=None",
                            "additive_attention(query, keys, values, W_q, W_k, v, None)", given, close(atol=ATOL)))
    return checks


# -- the rules: no attention that is already written ---------------------------------------------------------

TORCH_ATTENTION = ("scaled_dot_product_attention", "multi_head_attention_forward", "_scaled_dot_product_attention_math",
                   "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
                   "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
                   "_native_multi_head_attention", "_triton_multi_head_attention", "_triton_scaled_dot_attention")
COURSE = ("masked_softmax", "attend", "AdditiveAttention", "MultiplicativeAttention", "MultiHeadAttention",
          "split_heads", "merge_heads",  # course_lib.models.attention, apart from causal_mask and padding_mask
          "content_score", "additive_score", "location_score", "general_score", "dot_score", "scaled_dot_score",
          "score_table")  # course_lib.models.scores (attention.py imports it as score_table)
# Part 2b reaches the sdpa and heads cells (it calls them by name). It is graded with the course's attention in
# place of part 1's (as the tests do), so what part 1 may not call is part 1's business, not part 2b's.
MHA_FORBIDDEN = ("multi_head_attention_forward", "_native_multi_head_attention", "_triton_multi_head_attention",
                 "MultiHeadAttention", "split_heads", "merge_heads", "forward")
NO_ATTENTION = (
    "write it yourself: no PyTorch attention (F.scaled_dot_product_attention), course_lib.models.attention or .scores")

SDPA_MASK_BEFORE = """\
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # before the softmax: forbidden keys get exactly 0
    weights = torch.softmax(scores, dim=-1)  # over the keys: each row (one query) sums to 1"""
SDPA_MASK_AFTER = """\
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)"""
PART_1 = frozenset({"test_sdpa", "test_sdpa_mask"})
PART_2 = frozenset({"test_heads", "test_multi_head"})
PART_3 = frozenset({"test_additive_score", "test_additive_attention"})

TABLE = Table(
    assignment="attention",
    checks=[*sdpa_checks(), *masked_checks(), *heads_checks(), *mha_checks(), *additive_checks()],
    mistakes={
        "no-scaling": Mistake(
            "sdpa", ((" / math.sqrt(d_k)", ""),), PART_1,
            "You did not divide the scores q·kᵀ by √d_k, so they grow with d_k and the softmax saturates: use "
            "q @ k.transpose(-2, -1) / math.sqrt(d_k)."),
        "scaled-by-d_k": Mistake(
            "sdpa", (("/ math.sqrt(d_k)", "/ d_k"),), PART_1,
            "You divided the scores by d_k: divide by its square root, math.sqrt(d_k) (d_k = q.shape[-1]), which "
            "keeps their variance at 1."),
        "softmax-over-queries": Mistake(
            "sdpa", (("torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)"),), PART_1,
            "Your softmax runs over the queries (dim=-2): each query shares its attention among the keys, so take the "
            "softmax over the last dimension (dim=-1) and every row of weights sums to 1."),
        "mask-after-softmax": Mistake(
            "sdpa", ((SDPA_MASK_BEFORE, SDPA_MASK_AFTER),), frozenset({"test_sdpa_mask"}),
            "You applied the mask after the softmax: masked keys must get -inf before it, so the remaining weights "
            "still sum to 1."),
        "mask-fills-zero": Mistake(
            "sdpa", (('masked_fill(~mask, float("-inf"))', "masked_fill(~mask, 0.0)"),), frozenset({"test_sdpa_mask"}),
            "You gave the masked scores 0, and a score of 0 still gets weight after the softmax: fill them with "
            "float(\"-inf\") so that those keys get exactly 0."),
        "mask-inverted": Mistake(
            "sdpa", (("masked_fill(~mask,", "masked_fill(mask,"),), frozenset({"test_sdpa_mask"}),
            "You masked the keys where the mask is True, but True means the query may attend to that key: fill the "
            "scores where the mask is False, masked_fill(~mask, float(\"-inf\"))."),
        "merge-without-transpose": Mistake(
            "heads", (("x.transpose(1, 2).reshape(batch, length, n_heads * d_head)",
                       "x.reshape(batch, length, n_heads * d_head)"),), PART_2,
            "merge_heads reshapes (B, heads, L, d_head) straight to (B, L, d_model): the shape fits, but heads and "
            "positions get mixed up. Move the head dimension back first (x.transpose(1, 2)), then reshape."),
        "split-without-transpose": Mistake(
            "heads", (("x.view(batch, length, n_heads, d_model // n_heads).transpose(1, 2)",
                       "x.reshape(batch, n_heads, length, d_model // n_heads)"),), PART_2,
            "split_heads reshapes (B, L, d_model) straight to (B, heads, L, d_head): the shape fits, but the features "
            "land in the wrong heads and positions. View it as (B, L, heads, d_head), then transpose(1, 2)."),
        "no-output-projection": Mistake(
            "multi_head", (("F.linear(merge_heads(out), mha.out_proj.weight, mha.out_proj.bias)", "merge_heads(out)"),),
            frozenset({"test_multi_head"}),
            "You returned the merged heads without the output projection: apply mha.out_proj to them "
            "(F.linear(merged, mha.out_proj.weight, mha.out_proj.bias))."),
        "additive-without-tanh": Mistake(
            "additive", (("torch.tanh(", "("),), PART_3,
            "Your score has no tanh: then vᵀW_q q is the same for every key and cancels in the softmax. Compute "
            "v · tanh(W_q q + W_k k)."),
        "additive-padding-inverted": Mistake(
            "additive", (("masked_fill(~mask,", "masked_fill(mask,"),), frozenset({"test_additive_attention"}),
            "You masked the real tokens instead of the padding: the mask is True on real tokens, so give -inf to the "
            "scores where it is False, masked_fill(~mask, float(\"-inf\"))."),
        "additive-softmax-over-batch": Mistake(
            "additive", (("torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=0)"),),
            frozenset({"test_additive_attention"}),
            "Your softmax runs over the batch (dim=0): each item shares its attention among its own keys, so take the "
            "softmax over the keys (dim=-1)."),
    },
    forbid=[
        Forbid("test_sdpa", TORCH_ATTENTION + COURSE, "sdpa", NO_ATTENTION),
        Forbid("test_sdpa_mask", TORCH_ATTENTION + COURSE, "sdpa", NO_ATTENTION),
        Forbid("test_heads", TORCH_ATTENTION + COURSE, "heads", "write the reshapes yourself, not the course's"),
        Forbid("test_multi_head", MHA_FORBIDDEN, "multi_head",
               "the forward pass from your pieces: no mha(...) or .forward, F.multi_head_attention_forward or the "
               "course's MultiHeadAttention, split_heads, merge_heads"),
        Forbid("test_additive_score", TORCH_ATTENTION + COURSE, "additive", NO_ATTENTION),
        Forbid("test_additive_attention", TORCH_ATTENTION + COURSE, "additive", NO_ATTENTION),
    ],
)
