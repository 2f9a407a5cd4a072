"""Exercise 8 (vit): what the trusted checker runs, the classic mistakes, and the rules it reads.

Every check draws its numbers from SEED (shapes, patch sizes, layers and heads are fixed per check, as in the hidden
tests) and compares the student's result with the solution's on the same inputs. Part 1b runs the student's
patch_embed with part 1a's name replaced by a reference patchify (F.unfold), as the tests'
`using_reference_patchify()` does, so that a mistake in part 1a costs no points there; that block patches the
globals of the setup cell, which in the reference run are not the answers' globals, so the check patches the
globals of `patch_embed` itself (the same dict in a kernel). The Squeeze-and-Excitation checks build the student's
module inside the call and copy weights drawn from SEED into its `reduce` and `expand` layers.
"""

from classgrade.table import Check, Forbid, Mistake, Table, close, equal


def _size(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


# -- part 1a: patchify ---------------------------------------------------------------------------------------

PATCHIFY = [  # (image shape (B, C, H, W), patch size, what it is about)
    ((2, 3, 4, 6), 2, "RGB, a 2 x 3 grid"),
    ((2, 3, 8, 12), 4, "RGB, wider than tall"),
    ((3, 3, 12, 8), 4, "RGB, taller than wide"),
    ((1, 1, 6, 10), 2, "one channel"),
    ((2, 3, 15, 9), 3, "an odd patch size"),
    ((2, 1, 7, 7), 7, "a single patch"),
    ((1, 3, 4, 6), 1, "1x1 patches, one token per pixel"),
    ((2, 2, 16, 32), 8, "two channels, a 2 x 4 grid"),
]
NOT_DIVISIBLE = [((1, 3, 6, 8), 4), ((1, 1, 7, 6), 3), ((1, 3, 8, 9), 4)]
IMAGES = "x = torch.randn({shape}, generator=torch.Generator().manual_seed(SEED))"
CONV_WEIGHTS = """\
gen = torch.Generator().manual_seed(SEED + 1)
weight, bias = torch.randn(5, {c}, {p}, {p}, generator=gen), torch.randn(5, generator=gen)"""


def patchify_checks() -> list[Check]:
    checks = []
    for shape, p, about in PATCHIFY:
        given = IMAGES.format(shape=", ".join(map(str, shape)))
        checks.append(Check("test_patchify", f"patchify of x {_size(shape)} into {p}x{p} patches ({about})",
                            f"patchify(x, {p})", given, close(atol=0.0)))
    for shape, p, _ in PATCHIFY[1:5:3]:  # a linear layer on the patches: the stride-P convolution
        given = IMAGES.format(shape=", ".join(map(str, shape))) + "\n" + CONV_WEIGHTS.format(c=shape[1], p=p)
        checks.append(Check("test_patchify", f"a linear layer on patchify(x, {p}), x {_size(shape)}: the convolution "
                            f"with kernel = stride = {p}", f"F.linear(patchify(x, {p}), weight.reshape(5, -1), bias)",
                            given, close(atol=1e-4)))
    for shape, p in NOT_DIVISIBLE:
        given = f"x = torch.zeros{_size(shape)}"
        checks.append(Check("test_patchify", f"patchify of x {_size(shape)} into {p}x{p} patches (not divisible)",
                            f"patchify(x, {p})", given, equal))
    return checks


# -- part 1b: the patch embedding, with part 1a's name meaning the reference -----------------------------------

EMBED_CALL = """\
def reference_patchify_for_checks(images, patch_size):
    return F.unfold(images, patch_size, stride=patch_size).transpose(1, 2)


def embed_like_the_tests(images, weight, bias):
    # patch_embed with part 1a's name meaning a reference patchify (as using_reference_patchify() does in the tests)
    space = getattr(patch_embed, "__globals__", None)
    space = space if type(space) is dict else {}
    had, saved = "patchify" in space, space.get("patchify")
    space["patchify"] = reference_patchify_for_checks
    try:
        with torch.no_grad():
            return patch_embed(images, weight, bias)
    finally:
        if had:
            space["patchify"] = saved
        else:
            space.pop("patchify", None)


"""
EMBED_INPUTS = """\
gen = torch.Generator().manual_seed(SEED)
x = torch.randn({shape}, generator=gen)
weight = torch.randn({d}, {c}, {p}, {p}, generator=gen) / {p}
bias = {bias}
"""
EMBED = [  # (image shape, patch size, D, with a bias)
    ((2, 3, 8, 12), 4, 8, True),
    ((2, 3, 8, 8), 4, 5, True),
    ((3, 3, 12, 8), 4, 6, True),
    ((1, 1, 6, 10), 2, 3, True),
    ((2, 3, 15, 9), 3, 7, False),
    ((2, 3, 16, 16), 8, 32, True),
    ((1, 2, 5, 5), 5, 4, True),
]


def embed_checks() -> list[Check]:
    checks = []
    for shape, p, d, with_bias in EMBED:
        given = EMBED_CALL + EMBED_INPUTS.format(shape=", ".join(map(str, shape)), d=d, c=shape[1], p=p,
                                                 bias="torch.randn(%d, generator=gen)" % d if with_bias else "None")
        what = (f"patch_embed of x {_size(shape)}, weight {_size((d, shape[1], p, p))}, "
                f"{'with a bias' if with_bias else 'bias=None'} (patchify: the reference's)")
        checks.append(Check("test_patch_embed", what, "embed_like_the_tests(x, weight, bias)", given, close(atol=1e-4)))
    return checks


# -- part 2: the sinusoidal table ------------------------------------------------------------------------------

SINUSOIDAL = [(6, 8), (10, 16), (50, 64), (197, 768), (1, 2), (33, 10), (7, 4), (100, 6)]


def sinusoidal_checks() -> list[Check]:
    return [Check("test_sinusoidal", f"sinusoidal_encoding({length}, {d}), float32",
                  f"sinusoidal_encoding({length}, {d})", "", close(atol=1e-4, exact_dtype=True))
            for length, d in SINUSOIDAL]


# -- part 3: attention rollout ---------------------------------------------------------------------------------

MAPS = """\
gen = torch.Generator().manual_seed(SEED)
maps = [torch.softmax({sharp} * torch.randn({b}, {h}, {n}, {n}, generator=gen), dim=-1) for _ in range({layers})]"""
ROLLOUT = [  # (B, heads, N, layers, sharpness of the attention)
    (2, 4, 5, 3, 1.0), (1, 1, 3, 1, 1.0), (2, 4, 5, 2, 1.0), (3, 2, 7, 4, 3.0), (2, 8, 10, 6, 1.0),
    (1, 3, 17, 12, 3.0), (4, 12, 5, 2, 0.5),
]


def rollout_checks() -> list[Check]:
    checks = []
    for b, h, n, layers, sharp in ROLLOUT:
        what = (f"attention_rollout of {layers} layer{'s' if layers > 1 else ''} of maps {_size((b, h, n, n))}" +
                (f", softmax of scores x{sharp}" if sharp != 1.0 else ""))
        checks.append(Check("test_rollout", what, "attention_rollout(maps)",
                            MAPS.format(b=b, h=h, n=n, layers=layers, sharp=sharp), close(atol=1e-5)))
    return checks


# -- part 4: Squeeze-and-Excitation ----------------------------------------------------------------------------

SE_INPUTS = """\
gen = torch.Generator().manual_seed(SEED)
hidden = max(1, {c} // {r})
W1, b1 = torch.randn(hidden, {c}, generator=gen) / math.sqrt({c}), torch.randn(hidden, generator=gen)
W2, b2 = torch.randn({c}, hidden, generator=gen) / math.sqrt(hidden), torch.randn({c}, generator=gen)
x = torch.randn({b}, {c}, {h}, {w}, generator=gen) + 2 * torch.randn({b}, {c}, 1, 1, generator=gen)


def excite():
    se = SqueezeExcitation({c}, {r})
    with torch.no_grad():
        se.reduce.weight.copy_(W1), se.reduce.bias.copy_(b1), se.expand.weight.copy_(W2), se.expand.bias.copy_(b2)
        return se(x), se(x[-1:])  # the batch, and its last image alone
"""
SE = [(2, 8, 5, 6, 4), (2, 8, 5, 5, 4), (1, 16, 7, 3, 4), (3, 6, 4, 9, 2), (2, 12, 1, 1, 3), (1, 32, 6, 6, 8),
      (4, 4, 3, 5, 1)]  # (B, C, H, W, reduction)


def se_checks() -> list[Check]:
    return [Check("test_se_block", f"SqueezeExcitation({c}, reduction={r}) with weights from the checker, on x "
                  f"{_size((b, c, h, w))} and on its last image alone", "excite()",
                  SE_INPUTS.format(b=b, c=c, h=h, w=w, r=r), close(atol=1e-4)) for b, c, h, w, r in SE]


# -- the classic mistakes --------------------------------------------------------------------------------------

PERMUTE = "grid.permute(0, 2, 4, 1, 3, 5)"
GRID_AND_TOKENS = """\
    rows, cols = height // patch_size, width // patch_size
    grid = images.reshape(batch, channels, rows, patch_size, cols, patch_size)  # (B, C, rows, P, cols, P)
    grid = grid.permute(0, 2, 4, 1, 3, 5)  # (B, rows, cols, C, P, P): the patch grid first, row by row
    return grid.reshape(batch, rows * cols, channels * patch_size * patch_size)  # (B, N, C*P*P)"""
SLIDING_WINDOWS = """\
    windows = [images[:, :, i : i + patch_size, j : j + patch_size].reshape(batch, -1)
               for i in range(height - patch_size + 1) for j in range(width - patch_size + 1)]
    return torch.stack(windows, dim=1)"""
EXCITE = "torch.sigmoid(self.expand(torch.relu(self.reduce(squeezed))))"

MISTAKES = {
    "patchify-channels-last": Mistake(
        "patchify", ((PERMUTE, "grid.permute(0, 2, 4, 3, 5, 1)"),), frozenset({"test_patchify"}),
        "You flattened each patch in (P, P, C) order, the channels of a pixel together: flatten it channel by "
        "channel, (C, P, P), as F.unfold and a convolution's kernels (D, C, P, P) do. Permute to "
        "(B, rows, cols, C, P, P) before the last reshape."),
    "patchify-column-major": Mistake(
        "patchify", ((PERMUTE, "grid.permute(0, 4, 2, 1, 3, 5)"),), frozenset({"test_patchify"}),
        "Your patches come column by column (the grid is transposed): number them row by row, left to right, then "
        "top to bottom, so that token k is the patch in grid row k // (W/P) and column k % (W/P)."),
    "patchify-reshape-without-permute": Mistake(
        "patchify", ((f"grid = {PERMUTE}", "grid = grid"),), frozenset({"test_patchify"}),
        "You reshaped the image straight into (B, N, C*P*P): the shape fits, but each 'patch' is then a run of "
        "consecutive pixels, not a P x P square. Split H and W into (rows, P) and (cols, P), permute the grid axes "
        "to the front, then reshape."),
    "patchify-overlapping": Mistake(
        "patchify", ((GRID_AND_TOKENS, SLIDING_WINDOWS),), frozenset({"test_patchify"}),
        "Your windows overlap (they move by 1 pixel): patches move by P pixels, so an H x W image gives "
        "(H/P)·(W/P) tokens and every pixel belongs to exactly one of them."),
    "embed-kernels-channels-last": Mistake(
        "patch_embed", (("weight.reshape(weight.shape[0], -1)",
                         "weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1)"),), frozenset({"test_patch_embed"}),
        "You flattened the kernels in (P, P, C) order, but patchify flattens each patch in (C, P, P) order: "
        "flatten the weight (D, C, P, P) as it is, weight.reshape(D, -1), so that each weight meets its own pixel."),
    "embed-forgets-bias": Mistake(
        "patch_embed", (("F.linear(patches, kernels, bias)", "F.linear(patches, kernels)"),),
        frozenset({"test_patch_embed"}),
        "When a bias is given, add it to every token (F.linear(patches, kernels, bias)): the convolution adds "
        "bias[d] at every position."),
    "pe-sin-cos-halves": Mistake(
        "sinusoidal", (("    table[:, 0::2] = torch.sin(angle)  # even columns\n"
                        "    table[:, 1::2] = torch.cos(angle)  # odd columns, the same frequency",
                        "    table = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)"),),
        frozenset({"test_sinusoidal"}),
        "You put all the sines in the first half of the columns and all the cosines in the second half: interleave "
        "them, the sines in the even columns (0, 2, 4, ...) and the cosines in the odd ones, each pair at one "
        "frequency."),
    "pe-exponent-i-over-d": Mistake(
        "sinusoidal", (("torch.arange(0, d_model, 2, dtype=torch.float32)",
                        "torch.arange(d_model // 2, dtype=torch.float32)"),), frozenset({"test_sinusoidal"}),
        "Your frequencies fall too slowly from one pair of columns to the next: the exponent is 2i/d_model, with 2i "
        "the even column index (0, 2, 4, ...), not i/d_model."),
    "pe-sin-cos-swapped": Mistake(
        "sinusoidal", (("table[:, 0::2] = torch.sin(angle)", "table[:, 0::2] = torch.cos(angle)"),
                       ("table[:, 1::2] = torch.cos(angle)", "table[:, 1::2] = torch.sin(angle)")),
        frozenset({"test_sinusoidal"}),
        "You put the cosines in the even columns and the sines in the odd ones: PE[p, 2i] is a sine and "
        "PE[p, 2i+1] a cosine, so that position 0 is (0, 1, 0, 1, ...)."),
    "rollout-without-residual": Mistake(
        "rollout", (("mixing = fused + eye", "mixing = fused"),), frozenset({"test_rollout"}),
        "You multiplied the bare attention maps: every layer also passes its input on through the residual "
        "connection, so each layer's mixing is 0.5 W + 0.5 I (add the identity, then renormalise the rows)."),
    "rollout-not-renormalised": Mistake(
        "rollout", (("mixing = mixing / mixing.sum(dim=-1, keepdim=True)", "mixing = mixing"),),
        frozenset({"test_rollout"}),
        "You added the identity but did not renormalise: the rows of W + I sum to 2, and those of a product of L "
        "layers to 2^L. Divide each row by its sum, which gives 0.5 W + 0.5 I."),
    "rollout-wrong-order": Mistake(
        "rollout", (("mixing @ rollout", "rollout @ mixing"),), frozenset({"test_rollout"}),
        "You multiplied the layers in the wrong order (A_1 @ ... @ A_L): the first layer acts first, so it stands on "
        "the right, R = A_L @ ... @ A_2 @ A_1 (rollout = A @ rollout for each new layer)."),
    "se-squeeze-over-channels": Mistake(
        "se_block", (("x.mean(dim=(2, 3))", "x.mean(dim=1)"),), frozenset({"test_se_block"}),
        "You averaged over the channels: the squeeze averages each channel over its H x W places, "
        "x.mean(dim=(2, 3)), one number per channel, (B, C)."),
    "se-without-sigmoid": Mistake(
        "se_block", ((EXCITE, "self.expand(torch.relu(self.reduce(squeezed)))"),), frozenset({"test_se_block"}),
        "Your gates have no sigmoid: each must lie between 0 and 1, to turn its channel down or keep it. Apply "
        "torch.sigmoid after the second linear layer."),
    "se-softmax-gates": Mistake(
        "se_block", ((EXCITE, "torch.softmax(self.expand(torch.relu(self.reduce(squeezed))), dim=-1)"),),
        frozenset({"test_se_block"}),
        "You used a softmax over the channels: the gates of SE are independent sigmoids, each in (0, 1), not shares "
        "that sum to 1 (several channels may all matter)."),
    "se-without-relu": Mistake(
        "se_block", (("torch.relu(self.reduce(squeezed))", "self.reduce(squeezed)"),), frozenset({"test_se_block"}),
        "You left out the ReLU between the two linear layers: excite = Linear(C, C/r), ReLU, Linear(C/r, C), "
        "sigmoid (without it, the two layers are one linear map)."),
}


# -- the rules -------------------------------------------------------------------------------------------------

CONVOLUTION = ("conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose2d", "Conv1d", "Conv2d",
               "Conv3d", "ConvTranspose2d", "LazyConv2d", "conv_tbc")
UNFOLD = ("unfold", "Unfold", "fold", "Fold", "im2col")
REFERENCES = ("reference_patchify", "using_reference_patchify")  # the setup cell's F.unfold version
COURSE = ("course_lib", "sinusoidal_positions")  # course_lib has its own patchify, PatchEmbedding, rollout, SE
EMBEDDINGS = ("PatchEmbedding", "PatchEmbed", "patch_embedding", "conv_proj")  # course_lib's, timm's, torchvision's

TABLE = Table(
    assignment="vit",
    checks=[*patchify_checks(), *embed_checks(), *sinusoidal_checks(), *rollout_checks(), *se_checks(),
            Check("test_quiz", "the quiz", "quiz_answer", "", equal)],
    mistakes=MISTAKES,
    forbid=[
        Forbid("test_patchify", CONVOLUTION + UNFOLD + REFERENCES + COURSE, "patchify",
               "cut the patches with reshape and permute: no F.unfold or Tensor.unfold, convolution or course_lib"),
        # Part 1b reaches the patchify cell (it calls it by name). It is graded with a reference patchify in its
        # place (as the tests do), so what part 1a may not use (unfold, the setup's reference, course_lib's patchify)
        # is part 1a's business, not part 1b's; a convolution in patchify would cost both (none is needed there).
        Forbid("test_patch_embed", CONVOLUTION + EMBEDDINGS, "patch_embed",
               "patchify and a linear layer: no convolution or ready-made patch embedding"),
        Forbid("test_sinusoidal", COURSE, "sinusoidal", "write the table yourself, not with course_lib"),
        Forbid("test_rollout", COURSE, "rollout", "multiply the layers yourself, not with course_lib"),
        Forbid("test_se_block", COURSE, "se_block", "write the block yourself, not with course_lib"),
    ],
)
