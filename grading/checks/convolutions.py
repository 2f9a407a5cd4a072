"""Exercise 3 (convolutions): what the trusted checker runs, the classic mistakes, and the rules it reads."""

from classgrade.table import Check, Forbid, Mistake, Table, close, equal


def per_setting(function: str):
    """Compare [(setting, outcome), ...] one setting at a time, naming the first wrong one."""

    def compare(got, want):
        if not isinstance(got, tuple) or len(got) != len(want):
            return f"expected {len(want)} results"
        for g, (setting, expected) in zip(got, want):
            why = equal(g[1] if isinstance(g, tuple) and len(g) == 2 else g, expected)
            if why:
                return f"{function}{setting}: {why}"
        return None

    return compare


SETTINGS = """\
import random
rng = random.Random(SEED)
settings = [(rng.randint(1, 12), rng.randint(1, 5), rng.randint(1, 4), rng.randint(0, 3), rng.randint(1, 3))
            for _ in range(120)]"""

IMAGES = """\
gen = torch.Generator().manual_seed(SEED)
x = torch.randn({batch}, {c_in}, {h}, {w}, generator=gen)
weight = torch.randn({c_out}, {c_in}, {k_h}, {k_w}, generator=gen)
bias = torch.randn({c_out}, generator=gen)"""

CONV = [  # (batch, c_in, h, w, c_out, k_h, k_w, stride, padding, with bias)
    (2, 3, 7, 9, 4, 3, 3, 1, 0, True), (2, 3, 7, 9, 4, 3, 3, 1, 1, False), (2, 3, 7, 9, 4, 2, 4, 2, 1, True),
    (1, 2, 6, 6, 3, 3, 3, 2, 0, True), (3, 1, 4, 11, 2, 3, 5, 2, 2, True), (2, 3, 9, 7, 5, 4, 1, 3, 2, False),
    (1, 3, 5, 5, 2, 1, 1, 1, 0, True),
]
POOL = [(2, 3, 9, 7, 2, 2), (2, 3, 9, 7, 3, 1), (1, 2, 8, 8, 3, 2), (2, 1, 7, 10, 2, 3), (1, 1, 6, 9, 4, 3),
        (2, 2, 9, 6, 3, None)]  # (batch, channels, h, w, k, s)


def conv_checks(function: str, part: str) -> list[Check]:
    checks = []
    for n, c_in, h, w, c_out, k_h, k_w, s, p, with_bias in CONV:
        given = IMAGES.format(batch=n, c_in=c_in, h=h, w=w, c_out=c_out, k_h=k_h, k_w=k_w)
        what = f"{function} on x {(n, c_in, h, w)}, kernels {(c_out, c_in, k_h, k_w)}, stride {s}, padding {p}" + \
               ("" if with_bias else ", bias=None")
        call = f"{function}(x, weight, {'bias' if with_bias else 'None'}, stride={s}, padding={p})"
        checks.append(Check(part, what, call, given, close(atol=1e-4)))
    return checks


def pool_checks() -> list[Check]:
    checks = []
    for n, c, h, w, k, s in POOL:
        given = f"x = torch.randn({n}, {c}, {h}, {w}, generator=torch.Generator().manual_seed(SEED))"
        call = f"maxpool2d_forward(x, {k})" if s is None else f"maxpool2d_forward(x, {k}, {s})"
        checks.append(Check("test_maxpool2d_forward", f"{call} on x {(n, c, h, w)}", call, given, close(atol=0)))
    return checks


def backward_checks() -> list[Check]:
    checks = []
    for n, c, h, w, k, s in POOL[:-1]:
        given = (f"gen = torch.Generator().manual_seed(SEED)\nx = torch.randn({n}, {c}, {h}, {w}, generator=gen)\n"
                 f"pooled, argmax = F.max_pool2d(x, {k}, {s}, return_indices=True)\n"
                 "grad_out = torch.randn(pooled.shape, generator=gen)")
        checks.append(Check("test_maxpool2d_backward", f"maxpool2d_backward after {k}x{k} windows, stride {s}, "
                            f"on x {(n, c, h, w)}", "maxpool2d_backward(grad_out, argmax, x.shape)", given,
                            close(atol=1e-5)))
    peak = ("x = torch.zeros(1, 1, 5, 5)\nx[0, 0, 2, 2] = 1.0\npooled, argmax = F.max_pool2d(x, 3, 1, return_indices=True)\n"
            "grad_out = torch.ones(1, 1, 3, 3)")
    checks.append(Check("test_maxpool2d_backward", "a pixel that is the maximum of all 9 overlapping windows",
                        "maxpool2d_backward(grad_out, argmax, (1, 1, 5, 5))", peak, close(atol=1e-6)))
    return checks


CONVOLUTION = ("conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "LazyConv2d", "conv_tbc")
POOLING = ("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "MaxPool2d", "max_unpool2d",
           "MaxUnpool2d", "adaptive_max_pool2d", "AdaptiveMaxPool2d", "fractional_max_pool2d")
AUTOGRAD = ("backward", "grad", "autograd", "requires_grad_", "requires_grad", "vjp", "jacobian")

TABLE = Table(
    assignment="convolutions",
    checks=[
        Check("test_conv_output_size", "conv_output_size(w_in, k, s, p, d) on 120 random settings",
              "tuple((s, outcome(conv_output_size, *s)) for s in settings)", SETTINGS, per_setting("conv_output_size")),
        *conv_checks("conv2d", "test_conv2d"),
        *conv_checks("conv2d_unfold", "test_conv2d_unfold")[:4],
        *pool_checks(),
        *backward_checks(),
        Check("test_quiz", "the quiz", "quiz_answer", "", equal),
    ],
    mistakes={
        "size-without-dilation": Mistake(
            "conv_output_size", (("span = d * (k - 1) + 1", "span = k"),), frozenset({"test_conv_output_size"}),
            "A kernel of k pixels dilated by d spans d·(k − 1) + 1 input pixels, not k: use that span in the formula."),
        "size-true-division": Mistake(
            "conv_output_size", (("// s + 1", "/ s + 1"),), frozenset({"test_conv_output_size"}),
            "The output size is a whole number of steps: floor the division (`//`), then add 1, and return an int."),
        "conv-ignores-stride": Mistake(
            "conv2d", (("i * stride : i * stride + k_h, j * stride : j * stride + k_w", "i : i + k_h, j : j + k_w"),),
            frozenset({"test_conv2d"}),
            "Output pixel (i, j) reads the block that starts at row i·stride and column j·stride of the padded "
            "input: multiply by the stride when you slice."),
        "conv-forgets-bias": Mistake(
            "conv2d", (("        out += bias[None, :, None, None]", "        pass"),), frozenset({"test_conv2d"}),
            "When a bias is given, add bias[o] to every pixel of output channel o."),
        "conv-flips-kernel": Mistake(
            "conv2d", (('"ncuv,ocuv->no", block, weight', '"ncuv,ocuv->no", block, weight.flip(-1, -2)'),),
            frozenset({"test_conv2d"}),
            "PyTorch's conv2d (like every deep-learning library's) is a cross-correlation: use the kernel as it "
            "is, without flipping it."),
        "unfold-forgets-bias": Mistake(
            "conv2d_unfold", (("out = out + bias[:, None]", "out = out"),), frozenset({"test_conv2d_unfold"}),
            "When a bias is given, add bias[o] to every position of output channel o (after the matrix product)."),
        "pool-index-in-window": Mistake(
            "maxpool2d_forward", (("(i * s + position // k) * w + (j * s + position % k)", "position"),),
            frozenset({"test_maxpool2d_forward"}),
            "argmax is the flat index row·W + column of the maximum in the whole input, not its position inside "
            "the window."),
        "pool-default-stride-1": Mistake(
            "maxpool2d_forward", (("s = k if s is None else s", "s = 1 if s is None else s"),),
            frozenset({"test_maxpool2d_forward"}),
            "When s is None the windows do not overlap: the stride equals the window size k."),
        "backward-overwrites": Mistake(
            "maxpool2d_backward", (("grad_in.scatter_add_(", "grad_in.scatter_("),), frozenset({"test_maxpool2d_backward"}),
            "A pixel that is the maximum of several overlapping windows receives the gradient of each of them: "
            "add them up (scatter_add_), don't overwrite."),
    },
    forbid=[
        Forbid("test_conv2d", CONVOLUTION + ("unfold", "fold", "Unfold") + AUTOGRAD, "conv2d",
               "part 2 is the loop version: no PyTorch convolution, F.unfold or autograd"),
        Forbid("test_conv2d_unfold", CONVOLUTION + AUTOGRAD, "conv2d_unfold",
               "the bonus may use F.unfold, not PyTorch's convolution"),
        Forbid("test_maxpool2d_forward", POOLING + AUTOGRAD, "maxpool2d_forward", "no PyTorch pooling functions"),
        Forbid("test_maxpool2d_backward", POOLING + AUTOGRAD, "maxpool2d_backward",
               "the gradient by hand: no PyTorch pooling functions or autograd"),
    ],
)
