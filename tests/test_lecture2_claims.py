"""Every claim lecture 2 makes: the denoisers trained from scratch with the lecture's own recipes, the colouriser and
the super-resolver of section 8 as shipped (the lecture loads those)."""

import nbformat
import pytest
import torch

from course_lib.data import load_faces
from course_lib.data.photos import load_photos
from course_lib.metrics import psnr
from course_lib.noise import denoising_psnr
from course_lib.recipes import ColouriserRecipe, DenoiserRecipe, Source, Store, SuperResolutionRecipe
from course_lib.recipes.autoencoders import LECTURE2_NOISE_LEVELS
from course_lib.recipes.registry import entry
from course_lib.restoration import bicubic, mean_chroma, rgb_to_yuv, shrink, to_grey, with_chroma

LECTURE = "lectures/02_denoising_autoencoders.ipynb"
SIGMA = LECTURE2_NOISE_LEVELS["gaussian"]  # the level the lecture highlights


def lecture_parameters() -> dict:
    nb = nbformat.read(LECTURE, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params = {}
    exec(cell.source, params)
    return params


def from_scratch(recipe):
    trained = Store(torch.device("cpu"), progress=False).load(recipe)  # no folders: trained here
    assert trained.source == Source.TRAINED
    return trained.model.reconstruct


def do_nothing(noisy):
    return noisy


@pytest.fixture(scope="module")
def models(digits):
    epochs = lecture_parameters()["EPOCHS"]
    trained = {"plain": from_scratch(DenoiserRecipe("none", epochs=epochs))}
    for kind, level in LECTURE2_NOISE_LEVELS.items():
        trained[kind] = from_scratch(DenoiserRecipe(kind, level, epochs=epochs))
    return trained


def test_lecture_defaults_are_the_recipes_tested_here():
    params = lecture_parameters()
    assert params["SMOKE"] is False and params["NOISE_LEVELS"] == LECTURE2_NOISE_LEVELS
    assert params["EPOCHS"] == DenoiserRecipe("gaussian").epochs
    assert SIGMA in params["CURVE_LEVELS"]


def test_dae_beats_doing_nothing_and_a_plain_autoencoder_at_the_highlighted_level(models, digits):
    scores = {name: denoising_psnr(f, digits.x_test, "gaussian", SIGMA, seed=0)
              for name, f in (("nothing", do_nothing), ("plain", models["plain"]), ("dae", models["gaussian"]))}
    assert scores["dae"] > scores["plain"] > scores["nothing"]
    assert scores["dae"] > scores["plain"] + 1.0  # dB: a clear margin, not noise in the measurement


def test_dae_wins_at_and_above_its_training_level_but_does_harm_at_low_noise(models, digits):
    def gain(model, sigma):  # dB a model adds over doing nothing
        return (denoising_psnr(model, digits.x_test, "gaussian", sigma)
                - denoising_psnr(do_nothing, digits.x_test, "gaussian", sigma))
    assert all(gain(models["gaussian"], s) > 0 for s in (SIGMA, 0.4, 0.5, 0.6))
    assert gain(models["gaussian"], 0.05) < 0
    assert all(0 < gain(models["plain"], s) < gain(models["gaussian"], s) for s in (0.4, 0.5, 0.6))  # 'helps a little'


@pytest.mark.parametrize("kind", ["salt_and_pepper", "block"])
def test_dae_beats_both_baselines_on_salt_and_pepper_and_removes_blocks(models, digits, kind):
    level = LECTURE2_NOISE_LEVELS[kind]
    nothing, plain, dae = (denoising_psnr(f, digits.x_test, kind, level)
                           for f in (do_nothing, models["plain"], models[kind]))
    assert dae > plain > nothing


def test_face_dae_beats_doing_nothing():
    params = lecture_parameters()
    faces = load_faces()
    recipe = DenoiserRecipe("gaussian", SIGMA, epochs=params["FACE_EPOCHS"], batch_size=params["FACE_BATCH_SIZE"],
                            dataset="faces")
    dae = from_scratch(recipe)
    nothing = denoising_psnr(do_nothing, faces.x_test, "gaussian", SIGMA)
    assert denoising_psnr(dae, faces.x_test, "gaussian", SIGMA) > nothing + 3.0  # dB


# --- Section 8: colourisation and super-resolution, with the shipped models on the held-out photo tiles -------------

@pytest.fixture(scope="module")
def photo_tiles():
    return load_photos()


def lecture_code() -> str:
    nb = nbformat.read(LECTURE, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_the_lecture_loads_the_shipped_restoration_recipes_tested_here():
    code = lecture_code()
    assert "store.load(ColouriserRecipe())" in code and "store.load(SuperResolutionRecipe())" in code
    assert entry("colouriser").recipe == ColouriserRecipe() and entry("colouriser").shipped
    assert entry("super-resolution-x2").recipe == SuperResolutionRecipe() and entry("super-resolution-x2").shipped


def test_colouriser_beats_the_mean_colour_which_beats_the_grey_photo(shipped_store, photo_tiles):
    colouriser = shipped_store.load(ColouriserRecipe()).model
    tiles = photo_tiles.test
    grey = to_grey(tiles)
    coloured = colouriser.colourise(grey)
    mean_colour = with_chroma(grey, mean_chroma(photo_tiles.train))
    scores = {"grey": psnr(tiles, with_chroma(grey, torch.zeros(2))), "mean": psnr(tiles, mean_colour),
              "model": psnr(tiles, coloured)}
    assert scores["model"] - scores["mean"] > 1.5  # dB: 'by more than 1.5 dB'
    assert scores["mean"] - scores["grey"] > 1.0  # 'the mean colour beats the grey photo by more than 1 dB'
    wins = (psnr(tiles, coloured, per_image=True) > psnr(tiles, mean_colour, per_image=True)).double().mean()
    assert 0.5 < wins < 1.0  # 'it wins on most tiles, not all'
    strength = lambda images: rgb_to_yuv(images)[:, 1:].norm(dim=1).mean()  # noqa: E731
    assert strength(coloured) < strength(tiles)  # 'paler than the original's'


def test_super_resolver_beats_bicubic_which_beats_nearest_neighbour(shipped_store, photo_tiles):
    upscaler = shipped_store.load(SuperResolutionRecipe()).model
    tiles = photo_tiles.test
    small = shrink(tiles)
    enlarged, smooth = upscaler.upscale(small), bicubic(small)
    nearest = torch.nn.functional.interpolate(small, scale_factor=2)
    assert psnr(tiles, enlarged) - psnr(tiles, smooth) > 1.0  # dB: 'by more than 1 dB'
    assert psnr(tiles, smooth) > psnr(tiles, nearest)
    wins = (psnr(tiles, enlarged, per_image=True) > psnr(tiles, smooth, per_image=True)).double().mean()
    assert 0.75 <= wins <= 0.85  # 'on about four tiles in five'


def test_the_lecture_points_to_lecture_6_for_the_vae_instead_of_promising_lectures():
    nb = nbformat.read(LECTURE, as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "lectures on VAEs" not in prose
    assert "lecture 6" in prose and '"The autoencoder, and why a *variational* one"' in prose
    lecture6 = nbformat.read("lectures/06_stable_diffusion.ipynb", as_version=4)
    assert any(c.source.startswith("## 4. The autoencoder, and why a *variational* one") for c in lecture6.cells)


def test_colourisation_stays_far_below_super_resolution(shipped_store, photo_tiles):
    tiles = photo_tiles.test
    coloured = shipped_store.load(ColouriserRecipe()).model.colourise(to_grey(tiles))
    enlarged = shipped_store.load(SuperResolutionRecipe()).model.upscale(shrink(tiles))
    assert psnr(tiles, enlarged) - psnr(tiles, coloured) > 5.0  # dB: the question's 'more than 5 dB'
