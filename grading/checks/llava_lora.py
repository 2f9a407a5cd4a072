"""Exercise 7 (llava_lora): what the trusted checker runs, the classic mistakes (the mutants of
tests/test_grading_llava_lora.py), and the rules it reads.

Every check builds its inputs from SEED in `given`: features and (weight, bias) pairs for `connect`; a base
nn.Linear (torch.manual_seed(SEED) first, so both sides get the same weights), A, B, x and an output gradient for
`LoRALinear`; random question and answer lengths for `assemble_prompt`. A LoRA layer is a module, so the checks
return what describes it: the outputs and gradients, A and B, the scale, which parameters train, the merged weight.
The LoRA checks build the layer inside the call: `__init__` is the student's (part 2a), and parts 2b and 2c put A
and B in with the set-up's `set_lora_weights` first, as the hidden tests do, so that a mistake in `__init__` costs
no points there. A new layer's A is random: its values depend on the student's order of initialisation, so part 2a
compares what the hidden test asks of it (random, within nn.Linear's bound, nn.Linear's spread), on this side.
"""

import math

import torch

from classgrade.table import Check, Forbid, Mistake, Table, close, equal


def per_key(default, special: dict):
    """Compare dicts key by key: the keys of `special` with their own comparison, the others with `default`."""

    def compare(got, want):
        if not isinstance(got, dict) or not isinstance(want, dict) or set(got) != set(want):
            return default(got, want)
        for key in sorted(want):
            why = special.get(key, default)(got[key], want[key], f"[{key!r}]")
            if why:
                return why
        return None

    return compare


# --- 1: connect --------------------------------------------------------------------------------------------------

CONNECT = """\
gen = torch.Generator().manual_seed(SEED)
features = 2 * torch.randn({shape}, generator=gen)
# 3 times nn.Linear's init (values that reach GELU's curved part), and biases that are not zero
layers = [(3 * (2 * torch.rand({out}, {d_in}, generator=gen) - 1) / math.sqrt({d_in}),
           torch.randn({out}, generator=gen))]
if {mlp}:  # the second layer is square: d_model -> d_model
    layers.append((3 * (2 * torch.rand({out}, {out}, generator=gen) - 1) / math.sqrt({out}),
                   torch.randn({out}, generator=gen)))"""

BY_HAND = """\
features = torch.tensor([[[1.0, 2.0]]])
layers = [(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), torch.tensor([0.0, 0.0, 10.0]))]"""

CONNECT_SHAPES = (((3, 16, 66), 64), ((2, 5, 12), 12), ((1, 1, 7), 7), ((4, 3, 8), 20), ((2, 4, 20), 6))


def connect_checks() -> list[Check]:
    checks = [Check("test_connect", "connect(features, 'linear', [(W, b)]) by hand: (1, 2) -> (1, 2, 1 + 2 + 10)",
                    "connect(features, 'linear', layers)", BY_HAND, close(atol=1e-5))]
    for kind in ("linear", "mlp"):
        for shape, out in CONNECT_SHAPES:
            given = CONNECT.format(shape=shape, out=out, d_in=shape[-1], mlp=kind == "mlp")
            what = f"connect(features, {kind!r}, layers): features {shape} -> d_model {out}" + \
                   (" (second weight square)" if kind == "mlp" else "")
            checks.append(Check("test_connect", what, f"connect(features, {kind!r}, layers)", given,
                                close(atol=1e-5, rtol=1e-5)))
    return checks


# --- 2a: LoRALinear.__init__ -------------------------------------------------------------------------------------

NEW_LAYER = """\
torch.manual_seed(SEED)
base = nn.Linear({d_in}, {out}, bias={bias})


def new_layer():
    layer = LoRALinear(base, {r}, {alpha})
    return {{
        "lora_A and lora_B are nn.Linear layers": all(isinstance(m, nn.Linear) for m in (layer.lora_A, layer.lora_B)),
        "lora_A and lora_B have no bias": layer.lora_A.bias is None and layer.lora_B.bias is None,
        "A": layer.lora_A.weight.detach().clone(),
        "B": layer.lora_B.weight.detach().clone(),
        "scale": float(layer.scale),
        "the parameters that require grad": tuple(sorted(n for n, p in layer.named_parameters() if p.requires_grad)),
        "self.base is the base layer itself": layer.base is base,
        "the base weight": base.weight.detach().clone(),
        "the base bias": None if base.bias is None else base.bias.detach().clone(),
        "merged is False": layer.merged is False,
    }}"""

INIT_CONFIGS = ((16, 8, 2, 16, True), (7, 7, 1, 3, True), (64, 32, 8, 4.0, False), (300, 5, 3, 0.5, True),
                (40, 90, 6, 12, True))


def _start_of(name: str, value):
    """What part 2a asks of A or B at the start, as plain data (A's values depend on the order of initialisation)."""
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        return {"a floating-point tensor": False}
    value = value.double()
    if name == "B":
        return {"shape": tuple(value.shape), "zero": bool(torch.count_nonzero(value) == 0)}
    bound = 1 / math.sqrt(value.shape[-1]) if value.dim() == 2 and value.shape[-1] else 0.0
    spread = bool(0.4 * bound < value.std() < 0.75 * bound) if value.numel() >= 64 else True
    return {"shape": tuple(value.shape),
            "random (no zeros, not constant)": bool(torch.count_nonzero(value) == value.numel()
                                                    and len(torch.unique(value)) > value.numel() // 2),
            "within +-1/sqrt(in)": bool(value.numel() and value.abs().max() <= bound * (1 + 1e-5)),
            "the spread of nn.Linear's init": spread}


def new_layer_compare(got, want):
    """A new layer: A as nn.Linear initialises a weight, B zero, the rest exactly the solution's."""
    if not isinstance(got, dict) or not isinstance(want, dict) or set(got) != set(want):
        return close(atol=0.0)(got, want)
    for key in sorted(want):
        if key in ("A", "B"):
            g, w = _start_of(key, got[key]), _start_of(key, want[key])
            if g != w:
                wrong = sorted(k for k in w if g.get(k) != w[k]) or sorted(g)
                return f"{key} at the start: {', '.join(f'{k}: {g.get(k)!r}, expected {w[k]!r}' for k in wrong)}"
        elif key == "scale" and type(got[key]) is float and type(want[key]) is float:
            if abs(got[key] - want[key]) > 1e-9 * abs(want[key]):
                return f"scale = {got[key]!r}, expected alpha / r = {want[key]!r}"
        else:
            why = close(atol=0.0)(got[key], want[key], f"[{key!r}]")
            if why:
                return why
    return None


def init_checks() -> list[Check]:
    return [Check("test_lora_init", f"LoRALinear(nn.Linear({d_in}, {out}, bias={bias}), r={r}, alpha={alpha}), new",
                  "new_layer()", NEW_LAYER.format(d_in=d_in, out=out, bias=bias, r=r, alpha=alpha), new_layer_compare)
            for d_in, out, r, alpha, bias in INIT_CONFIGS]


# --- 2b: LoRALinear.forward --------------------------------------------------------------------------------------

TRAINED = """\
torch.manual_seed(SEED)
base = nn.Linear({d_in}, {out}, bias={bias})
gen = torch.Generator().manual_seed(SEED)
if {bias}:
    with torch.no_grad():
        base.bias.normal_(generator=gen)
A, B = 0.5 * torch.randn({r}, {d_in}, generator=gen), 0.5 * torch.randn({out}, {r}, generator=gen)  # as if trained
"""

FORWARD = TRAINED + """\
x = torch.randn({x_shape}, generator=gen, requires_grad=True)
g = torch.randn({y_shape}, generator=gen)


def forward():
    layer = LoRALinear(base, {r}, {alpha})
    set_lora_weights(layer, A, B)
    y = layer(x)
    (y * g).sum().backward()
    found = {{"the output": y.detach().clone(), "the gradient of A": layer.lora_A.weight.grad,
             "the gradient of B": layer.lora_B.weight.grad, "the gradient of x": x.grad}}
    set_lora_weights(layer, A, torch.zeros({out}, {r}))
    found["the output with B = 0"] = layer(x).detach().clone()  # the base layer's
    return found"""

FORWARD_CONFIGS = ((16, 8, 2, 16, True, (4, 16)), (7, 7, 1, 3, True, (2, 3, 7)), (20, 30, 4, 1.0, False, (2, 2, 5, 20)),
                   (9, 5, 3, 0.5, True, (9,)), (12, 12, 6, 6, True, (3, 12)))


def forward_checks() -> list[Check]:
    return [Check("test_lora_forward", f"LoRALinear(nn.Linear({d_in}, {out}, bias={bias}), r={r}, alpha={alpha}) with "
                  f"random A and B, x {x_shape}: the output, the gradients of A, B and x, and the output with B = 0",
                  "forward()", FORWARD.format(d_in=d_in, out=out, bias=bias, r=r, alpha=alpha, x_shape=x_shape,
                                              y_shape=(*x_shape[:-1], out)),
                  per_key(close(atol=1e-4, rtol=1e-4), {"the output with B = 0": close(atol=1e-6, rtol=1e-5)}))
            for d_in, out, r, alpha, bias, x_shape in FORWARD_CONFIGS]


# --- 2c: LoRALinear.merge ----------------------------------------------------------------------------------------

MERGE = TRAINED + """\
x = torch.randn(3, 4, {d_in}, generator=gen)


def merged():
    layer = LoRALinear(base, {r}, {alpha})
    set_lora_weights(layer, A, B)
    with torch.no_grad():
        layer.merge()
        return {{"merged is True": layer.merged is True, "the merged weight": base.weight.detach().clone(),
                "the bias": None if base.bias is None else base.bias.detach().clone(),
                "the outputs after merging (the unmerged layer's)": layer(x).detach().clone()}}"""

MERGE_CONFIGS = ((16, 8, 2, 16, True), (7, 7, 1, 3, True), (20, 30, 4, 1.0, False), (10, 10, 5, 2.5, True),
                 (9, 5, 3, 0.5, True))


def merge_checks() -> list[Check]:
    return [Check("test_lora_merge", f"LoRALinear(nn.Linear({d_in}, {out}, bias={bias}), r={r}, alpha={alpha}) with "
                  "random A and B, merged: the weight, the bias, and the outputs on x (3, 4, in)",
                  "merged()", MERGE.format(d_in=d_in, out=out, bias=bias, r=r, alpha=alpha),
                  per_key(close(atol=1e-4, rtol=1e-5), {"the bias": equal}))
            for d_in, out, r, alpha, bias in MERGE_CONFIGS]


# --- 3: assemble_prompt ------------------------------------------------------------------------------------------

PROMPT = """\
gen = torch.Generator().manual_seed(SEED)
lengths = torch.randint(2, {L} + 1, ({B},), generator=gen)
lengths[0] = {L}                                                   # one row without padding
question_lengths = torch.stack([torch.randint(1, int(n), (1,), generator=gen)[0] for n in lengths])
if {edge}:                                                         # no question in the first row, no answer in the last
    question_lengths[0] = 0
    question_lengths[-1] = lengths[-1]
image_tokens = torch.randn({B}, {N}, {d}, generator=gen, requires_grad=True)
text_embeddings = torch.randn({B}, {L}, {d}, generator=gen, requires_grad=True)


def prompt():
    result = assemble_prompt(image_tokens, text_embeddings, question_lengths, lengths)
    sequence, loss_mask = result
    sequence.sum().backward()
    return {{"a tuple (sequence, loss_mask)": isinstance(result, tuple), "sequence": sequence.detach().clone(),
            "loss_mask": loss_mask, "the gradient of image_tokens": image_tokens.grad}}"""

PROMPT_SIZES = ((4, 16, 9, 8), (1, 1, 5, 3), (5, 2, 7, 6), (3, 4, 12, 2))


def _rows(mask) -> str:
    return " / ".join("".join("#" if v else "." for v in row) for row in mask.tolist())


def prompt_compare(got, want):
    """Exact; a wrong loss mask is drawn ('#' where the loss looks), with the solution's."""
    why = equal(got, want)
    if why and isinstance(got, dict) and isinstance(want, dict) and "loss_mask" in want and "loss_mask" in got:
        g, w = got["loss_mask"], want["loss_mask"]
        if why.startswith("['loss_mask']") and isinstance(g, torch.Tensor) and g.dtype == w.dtype == torch.bool \
                and g.shape == w.shape and w.dim() == 2:
            return f"the loss mask {_rows(g)}, expected {_rows(w)} ('#': True, rows separated by /)"
    return why


def prompt_checks() -> list[Check]:
    checks = []
    for B, N, L, d in PROMPT_SIZES:
        for trial, edge in enumerate((False, False, True)):
            what = f"assemble_prompt: B={B}, N={N} image tokens, L={L}, d={d}, random lengths" + \
                   (", a row without a question and one without an answer" if edge else f" ({trial + 1})")
            checks.append(Check("test_assemble_prompt", what, "prompt()",
                                PROMPT.format(B=B, N=N, L=L, d=d, edge=edge), prompt_compare))
    return checks


# --- the classic mistakes ----------------------------------------------------------------------------------------

UPDATE = "self.base(x) + self.scale * self.lora_B(self.lora_A(x))"
BA = "self.lora_B.weight @ self.lora_A.weight"  # in merge
SEQUENCE = "    sequence = torch.cat([image_tokens, text_embeddings], dim=1)"
ANSWER = "(position >= question_lengths[:, None]) & (position < lengths[:, None])"
BETWEEN = ("    sequence = torch.stack([torch.cat([text_embeddings[i, :int(question_lengths[i])], image_tokens[i],\n"
           "                                       text_embeddings[i, int(question_lengths[i]):]])\n"
           "                            for i in range(len(text_embeddings))])")


def mistake(cell: str, edits, part: str, diagnosis: str) -> Mistake:
    return Mistake(cell, tuple(edits), frozenset({part}), diagnosis)


MISTAKES = {
    "mlp-without-gelu": mistake(
        "connect", [("F.gelu(tokens) @ weight2.T", "tokens @ weight2.T")], "test_connect",
        "The MLP connector is Linear → GELU → Linear: apply F.gelu to the first layer's output before the second "
        "layer (without it the two layers collapse into one linear map)."),
    "mlp-relu": mistake(
        "connect", [("F.gelu(tokens)", "F.relu(tokens)")], "test_connect",
        "LLaVA-1.5's projector uses GELU, not ReLU, between its two layers: use F.gelu (the exact one)."),
    "mlp-gelu-after-the-last-layer": mistake(
        "connect", [("F.gelu(tokens) @ weight2.T + bias2", "F.gelu(tokens @ weight2.T + bias2)")], "test_connect",
        "The GELU goes between the two layers only: the second layer's output (the image tokens) is returned as it "
        "is, without an activation."),
    "weights-untransposed": mistake(
        "connect", [("features @ weight.T", "features @ weight"), ("@ weight2.T", "@ weight2")], "test_connect",
        "A weight is stored (out, in), one row per output: a layer computes x Wᵀ + b (`x @ W.T + b` or "
        "`F.linear(x, W, b)`), not x W."),
    "square-weight-untransposed": mistake(
        "connect", [("@ weight2.T", "@ weight2")], "test_connect",
        "The MLP's second weight is square, so `tokens @ W2` runs but computes another map: it is stored (out, in) "
        "like the first, so use `tokens @ W2.T + b2` (or F.linear)."),
    "lora-B-not-zero": mistake(
        "lora_linear", [("nn.init.zeros_(self.lora_B.weight)", "pass")], "test_lora_init",
        "B must start at zero (nn.init.zeros_(self.lora_B.weight)) so that B A = 0 and the new layer computes exactly "
        "its base layer; only A keeps nn.Linear's random initialisation."),
    "lora-A-zero-too": mistake(
        "lora_linear", [("nn.init.zeros_(self.lora_B.weight)",
                         "nn.init.zeros_(self.lora_A.weight), nn.init.zeros_(self.lora_B.weight)")], "test_lora_init",
        "Only B starts at zero: A keeps nn.Linear's random initialisation (with A and B both zero, neither ever gets a "
        "gradient)."),
    "lora-base-not-frozen": mistake(
        "lora_linear", [("self.base = base.requires_grad_(False)", "self.base = base")], "test_lora_init",
        "Freeze the base layer (`base.requires_grad_(False)`): only lora_A.weight and lora_B.weight may require "
        "gradients."),
    "lora-forward-without-scale": mistake(
        "lora_linear", [(UPDATE, "self.base(x) + self.lora_B(self.lora_A(x))")], "test_lora_forward",
        "The low-rank update is scaled: return base(x) + self.scale * B(A(x)), with scale = alpha / r."),
    "lora-base-under-no-grad": mistake(
        "lora_linear", [(f"        return {UPDATE}",
                         "        with torch.no_grad():\n            frozen = self.base(x)\n"
                         "        return frozen + self.scale * self.lora_B(self.lora_A(x))")],
        "test_lora_forward",
        "Don't compute base(x) under torch.no_grad(): the base's weights are frozen already, but the gradient must "
        "still reach x through them (the layers below need it)."),
    "lora-merge-without-scale": mistake(
        "lora_linear", [(f"self.scale * {BA}", BA)], "test_lora_merge",
        "Merging adds the same scaled update that forward adds: W ← W + (alpha / r) B A, so multiply B A by "
        "self.scale."),
    "lora-merge-transposed": mistake(
        "lora_linear", [(f"self.scale * {BA}", f"self.scale * ({BA}).T")], "test_lora_merge",
        "The update B A already has the weight's shape (out, in), B (out, r) times A (r, in): add it as it is, "
        "not transposed."),
    "lora-update-added-twice-after-merge": mistake(
        "lora_linear", [("self.merged = True", "pass")], "test_lora_merge",
        "After merging, set self.merged = True, so that forward returns base(x) alone and does not add the update a "
        "second time."),
    "prompt-image-after-text": mistake(
        "assemble_prompt", [("torch.cat([image_tokens, text_embeddings], dim=1)",
                             "torch.cat([text_embeddings, image_tokens], dim=1)"),
                            ("torch.cat([on_image, is_answer], dim=1)", "torch.cat([is_answer, on_image], dim=1)")],
        "test_assemble_prompt",
        "LLaVA puts the image tokens first: the sequence is [image tokens][question][answer][padding], and the loss "
        "mask starts with N False for the image."),
    "prompt-image-after-question": mistake(
        "assemble_prompt", [(SEQUENCE, BETWEEN)], "test_assemble_prompt",
        "The image tokens go in front of the whole text, not between the question and the answer: "
        "torch.cat([image_tokens, text_embeddings], dim=1)."),
    "mask-on-question": mistake(
        "assemble_prompt", [(ANSWER, "position < lengths[:, None]")], "test_assemble_prompt",
        "The loss looks only at the answer: the question's tokens (positions below question_lengths[i]) must be "
        "False in the mask too."),
    "mask-on-image": mistake(
        "assemble_prompt", [("on_image = torch.zeros(", "on_image = torch.ones(")], "test_assemble_prompt",
        "The image tokens are not words the model could predict: the loss mask is False on all N of them."),
    "mask-on-padding": mistake(
        "assemble_prompt", [(ANSWER, "position >= question_lengths[:, None]")], "test_assemble_prompt",
        "The answer ends at lengths[i]: the padding after it (text positions lengths[i], ..., L - 1) must be False "
        "in the mask."),
    "mask-off-by-one": mistake(
        "assemble_prompt", [(ANSWER, "(position > question_lengths[:, None]) & (position <= lengths[:, None])")],
        "test_assemble_prompt",
        "Row i's answer is text positions q_i, ..., ℓ_i − 1: use position >= question_lengths[i] and "
        "position < lengths[i] (the mask is off by one)."),
    "mask-shifted-for-next-token": mistake(
        "assemble_prompt", [(ANSWER, "(position >= question_lengths[:, None] - 1) & "
                                     "(position < lengths[:, None] - 1)")],
        "test_assemble_prompt",
        "Don't shift the mask for next-token prediction (the loss does that): it is True exactly on the answer "
        "tokens, text positions q_i, ..., ℓ_i − 1."),
}

# --- the rules: no course_lib solution, no peft or transformers in the answers -----------------------------------

COURSE = ("course_lib", "course_lib.models", "course_lib.models.llava", "course_lib.models.lora", "peft",
          "transformers", "LlavaMultiModalProjector", "LoraConfig", "get_peft_model", "LoraModel", "LoraLayer")
LLAVA = ("Connector", "assemble_prompt", "encode_text", "next_token_loss")
LORA = ("LoRALinear", "add_lora", "merge_lora", "lora_state_dict")
WHY = "the grader compares your answers with course_lib's, peft's and transformers', so they may not use them"

TABLE = Table(
    assignment="llava_lora",
    checks=[*connect_checks(), *init_checks(), *forward_checks(), *merge_checks(), *prompt_checks()],
    mistakes=MISTAKES,
    forbid=[
        Forbid("test_connect", COURSE + LLAVA + LORA, "connect", WHY),
        Forbid("test_lora_init", COURSE + LLAVA + LORA, "lora_linear", WHY),
        Forbid("test_lora_forward", COURSE + LLAVA + LORA, "lora_linear", WHY),
        Forbid("test_lora_merge", COURSE + LLAVA + LORA, "lora_linear", WHY),
        Forbid("test_assemble_prompt", COURSE + LLAVA + LORA, "assemble_prompt", WHY),
    ],
)
