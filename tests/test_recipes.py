"""course_lib.recipes: stable checkpoint keys, one store, one registry, its command line, no hidden global state."""

import dataclasses
import random
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.checkpoints import read_metadata
from course_lib.recipes import AutoencoderRecipe, CLIPRecipe, Source, Store, TransformerRecipe, UNetRecipe
from course_lib.recipes.__main__ import main
from course_lib.recipes.base import Recipe
from course_lib.recipes.registry import ENTRIES, REGISTRY, entry, shipped_name, stale_files
from course_lib.recipes.store import default_cache_dir, shipped_dir

TINY = TransformerRecipe("reversal", length=4, n_train=64, d_model=8, n_heads=1, n_layers=1, epochs=1)  # < 1 s


def with_a_new_defaulted_field(cls):
    """`cls` as it would be after someone adds `dropout: float = 0.0` to it (same family, same model)."""
    return dataclasses.make_dataclass(cls.__name__, [("dropout", float, dataclasses.field(default=0.0))],
                                      bases=(cls,), frozen=True)


def same_recipe_in(cls, recipe):
    return cls(**{f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe)})


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_adding_a_defaulted_field_changes_no_existing_key(name):
    recipe = entry(name).recipe
    grown = same_recipe_in(with_a_new_defaulted_field(type(recipe)), recipe)
    assert grown.key() == recipe.key() and grown.filename == recipe.filename
    assert dataclasses.replace(grown, dropout=0.1).key() != recipe.key()  # a value that differs does count


def test_a_nested_recipe_enters_the_key_by_its_own_key():
    grown_clip = same_recipe_in(with_a_new_defaulted_field(CLIPRecipe), CLIPRecipe())
    assert UNetRecipe(clip=grown_clip).key() == UNetRecipe().key()  # the U-Nets, LoRA, LLaVA keep their files
    assert UNetRecipe(clip=CLIPRecipe(epochs=3)).key() != UNetRecipe().key()  # a change deep inside reaches it
    assert UNetRecipe().identity()["changed"] == {}
    assert UNetRecipe(epochs=3).identity()["changed"] == {"epochs": 3}


def test_the_key_holds_the_family_version_and_model_class():
    recipe = AutoencoderRecipe.default("mlp", 8)
    identity = recipe.identity()
    assert (identity["family"], identity["model"], identity["version"]) == ("autoencoder", "Autoencoder", 1)
    bumped = type("Bumped", (AutoencoderRecipe,), {"version": 2})
    assert same_recipe_in(dataclasses.dataclass(frozen=True)(bumped), recipe).key() != recipe.key()
    assert recipe.filename == f"digits_mlp_ae_k8-{recipe.key()}.safetensors"


def test_the_registry_names_every_shipped_file_and_each_loads_from_it(shipped_store):
    shipped = [e for e in ENTRIES if e.shipped]
    assert {e.recipe.filename for e in shipped} == {p.name for p in shipped_dir().glob("*.safetensors")}
    assert stale_files(shipped_dir()) == []
    for e in shipped:
        trained = shipped_store.load(e.recipe)  # never trains: a missing file fails
        assert trained.source == Source.SHIPPED, e.name
        assert read_metadata(shipped_dir() / e.recipe.filename)["config"] == e.recipe.identity(), e.name
        assert shipped_name(e.recipe) == e.name
    assert len({e.recipe.filename for e in ENTRIES}) == len(ENTRIES)  # no two entries share a file
    with pytest.raises(KeyError, match="No recipe called 'vit'"):
        entry("vit")


def test_a_store_trains_once_then_loads_and_keeps_files_apart(tmp_store, tmp_path):
    first, again = tmp_store.load(TINY), tmp_store.load(TINY)
    assert first.source == Source.TRAINED and again.source == Source.CACHED and str(again.source) == "cached checkpoint"
    assert all(torch.equal(p, q) for p, q in zip(first.model.parameters(), again.model.parameters()))
    assert again.history == first.history and not again.model.training
    other = tmp_store.load(dataclasses.replace(TINY, lr=1e-2))
    assert other.source == Source.TRAINED
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([TINY.filename, other_filename(TINY)])
    with pytest.raises(TypeError, match="recipe must be a course_lib recipe"):
        tmp_store.load("reversal")


def other_filename(recipe):
    return dataclasses.replace(recipe, lr=1e-2).filename


def test_a_missing_shipped_checkpoint_is_loud_not_a_silent_retrain(tmp_path):
    empty, cache = tmp_path / "shipped", tmp_path / "cache"
    empty.mkdir()
    store = Store(torch.device("cpu"), False, empty, cache)
    with pytest.warns(UserWarning, match=r"recipe 'linear-ae-k2'.*python -m course_lib\.recipes train linear-ae-k2"):
        assert store.load(AutoencoderRecipe.default("linear", 2)).source == Source.TRAINED
    asked_to_train = Store(torch.device("cpu"), False, None, tmp_path / "fresh")  # USE_CHECKPOINTS = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked to train: no warning
        assert asked_to_train.load(TINY).source == Source.TRAINED
    with pytest.raises(FileNotFoundError, match=TINY.filename):
        Store(torch.device("cpu"), False, empty, None, train_missing=False).load(TINY)


def test_the_notebook_store_uses_checkpoints_or_trains_into_a_fresh_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    store = Store.for_notebook(True, "cpu")
    assert (store.shipped, store.cache, store.device) == (shipped_dir(), tmp_path / "cache", torch.device("cpu"))
    assert default_cache_dir() == tmp_path / "cache"  # read when a store is made, not at import time
    fresh = Store.for_notebook(False, "cpu", progress=False)
    assert fresh.shipped is None and fresh.cache != store.cache and list(fresh.cache.iterdir()) == []
    trained = fresh.load(AutoencoderRecipe.default("mlp", 2, epochs=1))
    assert trained.source == Source.TRAINED and fresh.load(AutoencoderRecipe.default("mlp", 2, epochs=1)).source \
        == Source.CACHED
    assert not (tmp_path / "cache").exists()  # nothing shipped or cached was read or written
    with pytest.raises(TypeError, match="use_checkpoints must be True or False"):
        Store.for_notebook("yes")
    monkeypatch.delenv("COURSE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "course_lib"


def draws():
    return torch.rand(1).item(), torch.randn(2).tolist(), random.random(), np.random.random()


@pytest.mark.parametrize("name", sorted(e.name for e in ENTRIES if e.shipped))
def test_loading_any_model_leaves_the_callers_generators_alone(name, shipped_store):
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    expected = draws()
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    shipped_store.load(entry(name).recipe)
    assert draws() == expected
    assert torch.initial_seed() == 7


def test_training_a_model_leaves_the_callers_generators_alone(tmp_store):
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    expected = draws()
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    tmp_store.load(TINY)
    tmp_store.load(dataclasses.replace(TINY, seed=3))
    assert draws() == expected


def test_list_shows_every_recipe_and_its_checkpoint_state(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "lecture", "ships", "checkpoint", "file"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(REGISTRY)
    assert all("shipped" in rows[e.name] for e in ENTRIES if e.shipped)
    assert "missing (trained on first use)" in rows["conv-ae"]


def test_train_rebuilds_a_shipped_checkpoint_bit_for_bit(capsys, tmp_path):
    """One thread, as the shipped files were made: the command reproduces the committed weights exactly."""
    threads = torch.get_num_threads()
    try:
        assert main(["train", "linear-ae-k2", "--to", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    recipe = entry("linear-ae-k2").recipe
    ours, shipped = read_state(tmp_path / recipe.filename), read_state(shipped_dir() / recipe.filename)
    assert ours.keys() == shipped.keys() and all(torch.equal(ours[k], shipped[k]) for k in ours)
    out = capsys.readouterr().out
    assert "linear-ae-k2" in out and "total" in out
    assert main(["train", "nope", "--to", str(tmp_path)]) == 2
    assert "No recipe called 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train"])  # neither names nor --all


def read_state(path):
    from safetensors.torch import load_file
    return load_file(str(path))


def test_a_recipe_without_build_or_fit_says_so():
    @dataclasses.dataclass(frozen=True)
    class Half(Recipe):
        family = "half"
        model_class = nn.Linear
        seed: int = 0

    with pytest.raises(NotImplementedError):
        Store(torch.device("cpu"), progress=False).load(Half())


def test_every_lecture_makes_its_store_with_the_same_line():
    """One meaning of USE_CHECKPOINTS everywhere: the lectures build their store one way, and load through it."""
    import json
    from pathlib import Path

    line = "store = Store.for_notebook(USE_CHECKPOINTS, DEVICE)"
    using = []
    for path in sorted(Path("lectures").glob("*.ipynb")):
        code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        if "USE_CHECKPOINTS" in code:
            using.append(path.name)
            assert code.count(line) == 1, path.name
            assert "directories=" not in code and "save_to=" not in code, path.name
    assert len(using) == 7  # every lecture but 3 (convolutions), which trains nothing it would keep
