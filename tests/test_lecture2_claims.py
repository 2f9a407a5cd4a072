"""Every claim lecture 2 makes, asserted on models trained from scratch with the lecture's own recipes."""

import nbformat
import pytest
import torch

from course_lib.data import load_faces
from course_lib.noise import denoising_psnr
from course_lib.recipes import DenoiserRecipe, Source, Store
from course_lib.recipes.autoencoders import LECTURE2_NOISE_LEVELS

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
