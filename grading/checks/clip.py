"""Exercise 5 (clip): what the trusted checker runs, the classic mistakes (the mutants of tests/test_grading_clip.py).

Every check calls one of the student's five functions on embeddings, logits or similarities made from SEED (random
lengths, as the hidden tests use), or on the toy text encoder of the set-up cell; gradients are taken with
torch.autograd.grad inside the call. The rules forbid course_lib.contrastive in the answers (the
course's own versions, which the hidden tests compare with): read from the source, as Forbid rules, including the
modules that re-export its functions (course_lib.clip_metrics, course_lib.models.clip) and star imports, which the
reader cannot follow.
"""

from classgrade.table import Check, Forbid, Mistake, Table, close


def each(*compares):
    """Compare a tuple of results one element at a time, each with its own comparison."""

    def compare(got, want):
        if not isinstance(got, tuple) or len(got) != len(want):
            return close()(got, want)  # says what came instead (an exception, another kind of result)
        for g, w, c in zip(got, want, compares):
            why = c(g, w)
            if why:
                return why
        return None

    return compare


def recalls(ks, atol: float = 1e-6):
    """recall_at_k for each k: a Python float (as the tests ask), within atol of the solution's."""

    def compare(got, want):
        if not isinstance(got, tuple) or len(got) != len(want):
            return close()(got, want)  # says what came instead (an exception, another kind of result)
        for k, g, w in zip(ks, got, want):
            if type(w) is not float:  # the solution raised: the same exception is right
                why = close()(g, w)
            elif type(g) is not float:
                why = (close()(g, w) or f"returned a {type(g).__name__}") + ": return a Python float (use .item())"
            else:
                why = f"recall {g:.4f}, expected {w:.4f}" if abs(g - w) > atol else None
            if why:
                return f"k = {k}: {why}"
        return None

    return compare


def plural(count: int, one: str, many: str = "") -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


# --- 1a: clip_logits ---------------------------------------------------------------------------------------------

EMBEDDINGS = """\
gen = torch.Generator().manual_seed(SEED)
images = torch.randn({n}, {d}, generator=gen) * (0.1 + 9 * torch.rand({n}, 1, generator=gen))  # lengths 0.1 to 9
texts = torch.randn({m}, {d}, generator=gen) * (0.1 + 9 * torch.rand({m}, 1, generator=gen))
t = {t}"""

SCALES = (("math.log(1 / 0.07)", "e^t = 1/0.07"), ("math.log(100.0)", "e^t = 100"), ("0.7", "t = 0.7"),
          ("-1.0", "t = -1"), ("torch.tensor(2.0)", "t = torch.tensor(2.0)"), ("0.0", "t = 0"))

LOGIT_GRADS = """\
gen = torch.Generator().manual_seed(SEED)
leaves = [torch.randn(5, 6, generator=gen) * 3, torch.randn(5, 6, generator=gen), torch.tensor(1.3)]
weights = torch.randn(5, 5, generator=gen)


def gradients():
    x = [nn.Parameter(leaf.clone()) for leaf in leaves]  # a learnable t, as in training
    logits = clip_logits(*x)
    return torch.autograd.grad((logits * weights).sum(), x)"""


def logits_checks() -> list[Check]:
    checks = []
    for (n, m, d), (t, what) in zip([(7, 3, 5), (2, 9, 12), (6, 6, 4), (4, 5, 8), (7, 3, 5), (2, 9, 12)], SCALES):
        checks.append(Check("test_clip_logits", f"clip_logits: {n} images, {m} texts of lengths 0.1 to 9, d = {d}, "
                            f"{what}", "clip_logits(images, texts, t)", EMBEDDINGS.format(n=n, m=m, d=d, t=t),
                            close(atol=1e-5, rtol=1e-4)))
    checks.append(Check("test_clip_logits", "clip_logits on float64 embeddings, t = 1.5",
                        "clip_logits(images, texts, 1.5)",
                        "gen = torch.Generator().manual_seed(SEED)\n"
                        "images = torch.randn(3, 4, generator=gen, dtype=torch.float64) * 5\n"
                        "texts = torch.randn(5, 4, generator=gen, dtype=torch.float64) / 5",
                        close(atol=1e-8, rtol=1e-5)))
    checks.append(Check("test_clip_logits", "the gradients of a weighted sum of the logits with respect to the image "
                        "embeddings, the text embeddings and a learnable t (nn.Parameter)", "gradients()", LOGIT_GRADS,
                        close(atol=1e-5, rtol=1e-4)))
    checks.append(Check("test_clip_logits", "clip_logits with a learnable t = 0 (a tensor with requires_grad): "
                        "plain cosines, and the gradient of their sum reaches t",
                        "(lambda logits: (logits, torch.autograd.grad(logits.sum(), t)[0]))"
                        "(clip_logits(images, texts, t))",
                        EMBEDDINGS.format(n=4, m=5, d=8, t="torch.tensor(0.0, requires_grad=True)"),
                        close(atol=1e-5, rtol=1e-4)))
    return checks


# --- 1b: clip_loss -----------------------------------------------------------------------------------------------

LOSS_AND_GRAD = """\
logits = 5 * torch.randn({n}, {n}, generator=torch.Generator().manual_seed(SEED))


def loss_and_gradient():
    x = logits.clone().requires_grad_()
    loss = clip_loss(x)
    return loss, torch.autograd.grad(loss, x)[0]"""

COLUMN_ZERO = """\
logits = 3 * torch.eye(5)
logits[:, 0] = 2.5
logits[0, 0] = 3.0
logits = logits + 0.1 * torch.rand(5, 5, generator=torch.Generator().manual_seed(SEED))"""


def loss_checks() -> list[Check]:
    checks = [Check("test_clip_loss", f"clip_loss of 5 * randn({n}, {n}) logits, and its gradient",
                    "loss_and_gradient()",
                    LOSS_AND_GRAD.format(n=n), each(close(atol=1e-5), close(atol=1e-6))) for n in (1, 3, 8, 17)]
    checks += [
        Check("test_clip_loss", "clip_loss(torch.zeros(6, 6)): log 6, the loss of guessing",
              "clip_loss(torch.zeros(6, 6))",
              "", close(atol=1e-5)),
        Check("test_clip_loss", "clip_loss(50 * torch.eye(6)): a confident, perfect matching",
              "clip_loss(50 * torch.eye(6))",
              "", close(atol=1e-5)),
        Check("test_clip_loss", "clip_loss of logits whose rows all pick their own caption, while caption 0 is nearly "
              "as close to every image (only the columns see it)", "clip_loss(logits)", COLUMN_ZERO, close(atol=1e-5)),
        Check("test_clip_loss", "clip_loss of float64 logits, and of their transpose",
              "(clip_loss(logits), clip_loss(logits.T))",
              "logits = torch.randn(7, 7, generator=torch.Generator().manual_seed(SEED), dtype=torch.float64)",
              close(atol=1e-8, rtol=1e-5)),
    ]
    return checks


# --- 2a: class_embeddings ----------------------------------------------------------------------------------------

NAMES = ("circle", "square", "triangle", "star", "heart", "moon", "arrow")
TEMPLATES = ("a photo of a {}.", "a {} shape.", "a drawing of a {} on black.", "{}", "a small {}.")

PROMPTS = """\
import random
rng = random.Random(SEED)
names = rng.sample({names!r}, {c})
templates = rng.sample({templates!r}, {t})
encode = toy_text_encoder([t.format(n) for t in templates for n in names], dim=12, seed=SEED % 2**31)"""

HAND_DRAWN = """\
table = {"a cat.": [1.0, 0.0], "one cat.": [0.0, 5.0], "a dog.": [0.0, -2.0], "one dog.": [0.0, -0.5]}
encode = lambda prompts: torch.tensor([table[p] for p in prompts])"""


def class_checks() -> list[Check]:
    checks = [Check("test_class_embeddings", "two classes, two templates, hand-made 2-d prompt embeddings of "
                    "different lengths", 'class_embeddings(encode, ["cat", "dog"], ["a {}.", "one {}."])', HAND_DRAWN,
                    close(atol=1e-5))]
    for c, t in ((5, 3), (4, 1), (1, 4), (2, 2), (3, 4), (7, 5)):
        checks.append(Check("test_class_embeddings", f"class_embeddings with the toy text encoder (prompts of random "
                            f"lengths), {plural(c, 'class', 'classes')}, {plural(t, 'template')}",
                            "class_embeddings(encode, names, templates)",
                            PROMPTS.format(names=list(NAMES), templates=list(TEMPLATES), c=c, t=t), close(atol=1e-5)))
    return checks


# --- 2b: zero_shot_predict ---------------------------------------------------------------------------------------

ZERO_SHOT = """\
gen = torch.Generator().manual_seed(SEED)
images = torch.randn({n}, 8, generator=gen) * (0.1 + 9 * torch.rand({n}, 1, generator=gen))
classes = torch.randn({c}, 8, generator=gen) * (0.05 + 10 * torch.rand({c}, 1, generator=gen))  # lengths 0.05 to 10"""


def zero_shot_checks() -> list[Check]:
    checks = [Check("test_zero_shot_predict", "five images, three classes (right, up, left) in 2-d",
                    "zero_shot_predict(images, classes)",
                    "classes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])\n"
                    "images = torch.tensor([[2.0, 0.1], [0.1, 9.0], [-0.3, 0.1], [0.5, 0.6], [-4.0, 3.0]])",
                    close(atol=0.0))]
    checks += [Check("test_zero_shot_predict", f"zero_shot_predict: {plural(n, 'image')}, "
                     f"{plural(c, 'class', 'classes')}, embeddings of lengths 0.05 to 10",
                     "zero_shot_predict(images, classes)", ZERO_SHOT.format(n=n, c=c), close(atol=0.0))
               for n, c in ((40, 6), (3, 7), (1, 4), (12, 1), (25, 3))]
    return checks


# --- 3: recall_at_k ----------------------------------------------------------------------------------------------

SIMILARITY = """\
gen = torch.Generator().manual_seed(SEED)
similarity = torch.randn({n}, {n}, generator=gen) + {signal} * torch.eye({n})"""

TRIANGLE = """\
diagonal = torch.tensor([4.0, 3.0, 2.0, 1.0]) + torch.rand(4, generator=torch.Generator().manual_seed(SEED)) / 10
similarity = torch.triu((diagonal - 0.5)[:, None].expand(4, 4), diagonal=1) + torch.diag(diagonal)"""


def recall_checks() -> list[Check]:
    checks = [Check("test_recall_at_k", "recall@1, @2, @3 of a 3 x 3 similarity whose matches come 1st, 2nd and 3rd",
                    "tuple(recall_at_k(similarity, k) for k in (1, 2, 3))",
                    "similarity = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.7, 0.1], [0.5, 0.6, 0.2]])",
                    recalls((1, 2, 3)))]
    for n, signal in ((25, 1.0), (40, 2.0), (8, 0.5)):
        ks = tuple(sorted({1, 2, 3, 5, n // 2, n - 1, n}))
        checks.append(Check("test_recall_at_k", f"recall@k of a random {n} x {n} similarity (diagonal + {signal}), "
                            f"k in {ks}", f"tuple(recall_at_k(similarity, k) for k in {ks})",
                            SIMILARITY.format(n=n, signal=signal), recalls(ks)))
    checks.append(Check("test_recall_at_k", "recall@1 and recall@2 where every row (query) ranks its match first, "
                        "but most columns do not", "tuple(recall_at_k(similarity, k) for k in (1, 2))", TRIANGLE,
                        recalls((1, 2))))
    return checks


COURSE = ("contrastive", "clip_metrics", "clip_logits", "clip_loss", "class_embeddings", "zero_shot_predict", "recall_at_k",
          "CLIP_TEMPLATES", "*")  # course_lib.contrastive, what re-exports it, and `import *` (hides what it binds)
RULE = "the rules: don't use course_lib.contrastive (the course's own versions) in your answers"
ANSWERS = {"test_clip_logits": "clip_logits", "test_clip_loss": "clip_loss",
           "test_class_embeddings": "class_embeddings",
           "test_zero_shot_predict": "zero_shot_predict", "test_recall_at_k": "recall_at_k"}

TABLE = Table(
    assignment="clip",
    checks=[*logits_checks(), *loss_checks(), *class_checks(), *zero_shot_checks(), *recall_checks()],
    mistakes={
        "logits-not-normalised": Mistake(
            "clip_logits", (("F.normalize(image_embeddings, dim=-1)", "image_embeddings"),
                            ("F.normalize(text_embeddings, dim=-1)", "text_embeddings")),
            frozenset({"test_clip_logits"}),
            "Your logits are dot products, so long embeddings win everything: L2-normalise the image and the text "
            "embeddings (F.normalize(..., dim=-1)) before multiplying them."),
        "logits-divided-by-the-scale": Mistake(
            "clip_logits", (("scale * images @ texts.T", "images @ texts.T / scale"),), frozenset({"test_clip_logits"}),
            "You divided the cosines by e^t: e^t is the scale (1/temperature), so multiply the cosines by it."),
        "logits-times-t-not-exp-t": Mistake(
            "clip_logits", (("dtype=images.dtype).exp()", "dtype=images.dtype)"),), frozenset({"test_clip_logits"}),
            "logit_scale is t, the logarithm of the scale: multiply the cosines by e^t (torch.exp), not by t."),
        "logits-math-exp": Mistake(
            "clip_logits", (("torch.as_tensor(logit_scale, dtype=images.dtype).exp()", "math.exp(logit_scale)"),),
            frozenset({"test_clip_logits"}),
            "math.exp turns a learnable t into a plain number, so no gradient reaches it: compute e^t with torch "
            "(torch.as_tensor(logit_scale).exp()) from the tensor itself."),
        "loss-rows-only": Mistake(
            "clip_loss", (("return (loss_images + loss_texts) / 2", "return loss_images"),),
            frozenset({"test_clip_loss"}),
            "Your loss only lets images choose captions (the rows): add the cross-entropy of logits.T (captions "
            "choosing images) and return the mean of the two."),
        "loss-labels-zero": Mistake(
            "clip_loss", (("torch.arange(logits.shape[0], device=logits.device)",
                           "torch.zeros(logits.shape[0], dtype=torch.long)"),), frozenset({"test_clip_loss"}),
            "The right answer of row i is column i (the diagonal): the labels are torch.arange(N), not all zeros."),
        "loss-not-halved": Mistake(
            "clip_loss", (("return (loss_images + loss_texts) / 2", "return loss_images + loss_texts"),),
            frozenset({"test_clip_loss"}),
            "You returned the sum of the two cross-entropies: CLIP's loss is their mean, "
            "(loss_images + loss_texts) / 2."),
        "prompts-not-normalised": Mistake(
            "class_embeddings", (("F.normalize(encode_text(prompts), dim=-1)", "encode_text(prompts)"),),
            frozenset({"test_class_embeddings"}),
            "You averaged the raw prompt embeddings, so a long vector outvotes the others: L2-normalise each prompt's "
            "embedding before taking the mean."),
        "class-mean-not-renormalised": Mistake(
            "class_embeddings", (("return F.normalize(per_class, dim=-1)", "return per_class"),),
            frozenset({"test_class_embeddings"}),
            "The mean of unit vectors is shorter than 1: L2-normalise each class's average before returning it."),
        "prompts-template-major": Mistake(
            "class_embeddings", (("for name in class_names for template in templates",
                                  "for template in templates for name in class_names"),),
            frozenset({"test_class_embeddings"}),
            "You built the prompts template by template but grouped them class by class, so each class averages "
            "other classes' prompts: build them class by class (for name in class_names for template in templates) "
            "before the reshape to (C, T, d)."),
        "zero-shot-dot-product": Mistake(
            "zero_shot_predict", (("F.normalize(class_embeddings, dim=-1).T", "class_embeddings.T"),),
            frozenset({"test_zero_shot_predict"}),
            "You ranked the classes by dot products, so a long class vector wins every image: normalise the class "
            "embeddings too and compare cosines."),
        "zero-shot-wrong-axis": Mistake(
            "zero_shot_predict", (("similarity.argmax(dim=1)", "similarity.argmax(dim=0)"),),
            frozenset({"test_zero_shot_predict"}),
            "argmax(dim=0) picks an image for each class: take the argmax along the classes (dim=1) to get one class "
            "per image."),
        "zero-shot-scores-not-classes": Mistake(
            "zero_shot_predict", (("similarity.argmax(dim=1)", "similarity.max(dim=1).values"),),
            frozenset({"test_zero_shot_predict"}),
            "You returned the best similarity of each image, not its class: return the index of the best class "
            "(argmax(dim=1)), an integer tensor."),
        "recall-off-by-one": Mistake(
            "recall_at_k", ((
                "    top_k = similarity.topk(k, dim=1).indices",
                "    ranks = (similarity > similarity.diagonal()[:, None]).sum(dim=1)  # 0: the match comes first\n"
                "    return (ranks <= k).float().mean().item()\n"
                "    top_k = similarity.topk(k, dim=1).indices"),),
            frozenset({"test_recall_at_k"}),
            "You counted one place too many: a match ranked (k+1)-th is not in the top k. With ranks counted from 0 "
            "(the number of candidates above the match), the match is found when rank < k."),
        "recall-columns": Mistake(
            "recall_at_k", (("similarity.topk(k, dim=1).indices", "similarity.topk(k, dim=0).indices.T"),),
            frozenset({"test_recall_at_k"}),
            "You ranked each column (caption-to-image retrieval): the queries are the rows, so take topk along dim=1."),
        "recall-count-not-fraction": Mistake(
            "recall_at_k", ((".float().mean().item()", ".float().sum().item()"),), frozenset({"test_recall_at_k"}),
            "You returned how many matches were found: recall is the fraction of queries, so take the mean, "
            "not the sum."),
    },
    forbid=[Forbid(part, COURSE, cell, RULE) for part, cell in ANSWERS.items()],
)
