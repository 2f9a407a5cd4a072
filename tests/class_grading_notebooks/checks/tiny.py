"""The tiny test assignment's check table (copied to <course>/grading/checks/ by tests/classgrade_students.py)."""

from classgrade.table import Check, Mistake, Table, equal

NUMBERS = "import random\nrng = random.Random(SEED)\nxs = [rng.randint(-50, 50) for _ in range(8)]"

TABLE = Table(
    assignment="tiny",
    checks=[
        Check("test_square", "square on 8 random integers", "[square(x) for x in xs]", NUMBERS, equal),
        Check("test_cube", "cube on 8 random integers", "[cube(x) for x in xs]", NUMBERS, equal),
        Check("test_add", "add on pairs of random integers", "[add(x, 7 - x * 2) for x in xs]", NUMBERS, equal),
    ],
    mistakes={
        "square-doubles": Mistake("square", (("x * x", "x * 2"),), frozenset({"test_square"}),
                                  "You doubled x: squaring is x times itself, x * x."),
        "cube-squares": Mistake("cube", (("x ** 3", "x ** 2"),), frozenset({"test_cube"}),
                                "You squared x: the cube is x ** 3."),
        "add-subtracts": Mistake("add", (("a + b", "a - b"),), frozenset({"test_add"}), "You subtracted b: add it."),
    },
)
