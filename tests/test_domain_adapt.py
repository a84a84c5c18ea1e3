"""train-sr --recipe domain-adapt: the alignment losses, the da-sr network, each term's sign and
effect, the data, resume, the saved model and the errors."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from typer.testing import CliRunner

from srkit.cli import app
from srkit.data import prepare_training_data
from srkit.errors import SrkitError
from srkit.io.images import write_image
from srkit.models import build_model
from srkit.ops.tiling import upscale_tiled
from srkit.stages.train_sr import train_sr
from srkit.training.domain_adapt import (
    DOMAIN_ADAPT_DEFAULTS,
    DomainAdaptTrainer,
    alignment_losses,
    feature_statistics_distance,
)
from srkit.training.recipes import RECIPES, Recipe, resolve_recipe
from srkit.training.state import load_state
from tests.interrupting import Killed, kill_at

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TERMS = ("align_weight", "target_rec_weight", "style_weight", "identity_weight",
         "cycle_weight")
OFF = dict.fromkeys(TERMS, 0.0)
NET = {"num_feat": 8, "num_block": 2, "decoder_block": 1, "scale": 2}


# --- the alignment loss -------------------------------------------------------------------

def test_feature_discriminator_targets_are_0_half_and_1():
    zeros, ones, halves = torch.zeros(2, 1, 3, 3), torch.ones(2, 1, 3, 3), torch.full((4,), .5)
    d_loss, e_loss = alignment_losses(zeros, ones)  # D_f perfect: source 0, target 1
    assert d_loss.item() == 0.0 and e_loss.item() == pytest.approx(0.5)
    d_loss, e_loss = alignment_losses(halves, halves)  # aligned: both look ½
    assert e_loss.item() == 0.0 and d_loss.item() == pytest.approx(0.5)
    d_loss, _ = alignment_losses(ones, zeros)  # the wrong way round costs most
    assert d_loss.item() == pytest.approx(2.0)
    # gradient directions at 0.3: D_f pulls source down (to 0), target up (to 1); E pulls
    # both up to ½
    d_source = torch.full((3,), 0.3, requires_grad=True)
    d_target = torch.full((3,), 0.3, requires_grad=True)
    d_loss, e_loss = alignment_losses(d_source, d_target)
    grads = torch.autograd.grad(d_loss, [d_source, d_target])
    assert (grads[0] > 0).all() and (grads[1] < 0).all()
    grads = torch.autograd.grad(e_loss, [d_source, d_target])
    assert (grads[0] < 0).all() and (grads[1] < 0).all()


# --- recipe and network -------------------------------------------------------------------

def test_recipe_is_the_documented_set_up_and_its_weights_belong_to_it():
    recipe = RECIPES["domain-adapt"]
    assert {k: getattr(recipe, k) for k in DOMAIN_ADAPT_DEFAULTS} == DOMAIN_ADAPT_DEFAULTS
    assert recipe.is_domain_adapt and not RECIPES["dasr"].is_domain_adapt
    assert all(getattr(RECIPES[name], k) == 0 for name in RECIPES if name != "domain-adapt"
               for k in TERMS)
    with pytest.raises(SrkitError, match="domain-adapt recipe"):
        resolve_recipe("psnr", overrides={"cycle_weight": 1.0})
    with pytest.raises(SrkitError, match="0 or more"):
        resolve_recipe("domain-adapt", overrides={"align_weight": -1.0})


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_da_sr_tiles_exactly_with_its_receptive_radius(scale):
    torch.manual_seed(0)
    model = build_model("da-sr", num_feat=8, num_block=2, decoder_block=1, scale=scale).eval()
    for module in model.modules():  # larger weights than the 0.1-scaled init: a clear field
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight)
    image = torch.rand(1, 3, 23, 26, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = upscale_tiled(model, image, scale, 0, 0)
        tiled = upscale_tiled(model, image, scale, 6, model.receptive_radius)
        too_little = upscale_tiled(model, image, scale, 6, model.receptive_radius // 3)
    assert whole.shape == (1, 3, 23 * scale, 26 * scale)
    torch.testing.assert_close(tiled, whole, atol=1e-5 * whole.abs().max().item(), rtol=0)
    assert (too_little - whole).abs().max() > 1e-3 * whole.abs().max()


# --- the step: each term's sign and effect -------------------------------------------------

def _recipe(**changes) -> Recipe:
    base = replace(RECIPES["domain-adapt"], perceptual_weight=0.0, discriminator_num_feat=8,
                   batch_size=4, patch_size=32, ema_decay=0.0, learning_rate=1e-3,
                   discriminator_learning_rate=1e-3)
    return replace(base, **changes)


def _trainer(recipe: Recipe) -> DomainAdaptTrainer:
    torch.manual_seed(0)
    return DomainAdaptTrainer(build_model("da-sr", **NET), recipe, torch.device("cpu"),
                              patch_size=recipe.patch_size)


def _source(generator: torch.Generator, count: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth HR crops 32² and their ×2 box-downscaled LR."""
    noise = torch.rand(count, 3, 36, 36, generator=generator)
    gt = F.avg_pool2d(noise, 5, 1)
    return F.avg_pool2d(gt, 2), gt


def _target(generator: torch.Generator, count: int = 4) -> torch.Tensor:
    """The target camera: other LR content, duller, brighter and noisy."""
    lq, _ = _source(generator, count)
    noise = 0.08 * torch.randn(lq.shape, generator=generator)
    return (0.7 * lq + 0.25 + noise).clamp(0, 1)


def _train(recipe: Recipe, steps: int) -> tuple[DomainAdaptTrainer, list[dict]]:
    trainer, generator, logs = _trainer(recipe), torch.Generator().manual_seed(1), []
    for _ in range(steps):
        lq, gt = _source(generator)
        logs.append(trainer.step((lq, gt, _target(generator))))
    return trainer, logs


def _held_out() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(99)
    return _source(generator, 16)[0], _target(generator, 16)


def test_alignment_brings_the_feature_statistics_together():
    """After 60 steps E's features of source and target LR are closer (per-channel mean and
    std) with the alignment term than in the same run with its weight 0; the other terms
    fall meanwhile (each is trained towards its goal)."""
    source, target = _held_out()
    distances = {}
    for weight in (0.0, 1.0):
        trainer, logs = _train(_recipe(align_weight=weight), 60)
        encoder = trainer.generator
        with torch.no_grad():
            distances[weight] = feature_statistics_distance(encoder.encode(source),
                                                            encoder.encode(target))
        if weight > 0:
            for term in ("pixel", "target_rec", "identity", "cycle"):
                assert logs[-1][term] < 0.5 * logs[0][term], term
    assert distances[1.0] < 0.8 * distances[0.0]


def test_target_restoration_is_what_trains_g_t_to_restore_target_photos():
    _, target = _held_out()
    errors = {}
    for weight in (0.0, 1.0):
        trainer, _ = _train(_recipe(**{**OFF, "target_rec_weight": weight}), 40)
        with torch.no_grad():
            restored = trainer.target_decoder(trainer.generator.encode(target))
        errors[weight] = (restored - target).abs().mean().item()
    assert errors[1.0] < 0.4 * errors[0.0]


def test_each_term_is_its_weight_times_a_non_negative_loss():
    """The first step's logged terms scale with their weights (the networks start the same
    whatever the weights) and sum to the total."""
    generator = torch.Generator().manual_seed(1)
    lq, gt = _source(generator)
    batch = (lq, gt, _target(generator))
    first = _trainer(_recipe()).step(batch)
    doubled = _trainer(_recipe(**{k: 2 * getattr(_recipe(), k) for k in TERMS})).step(batch)
    for term in ("align", "target_rec", "style", "identity", "cycle"):
        assert first[term] > 0
        torch.testing.assert_close(doubled[term], 2 * first[term])
    parts = ("pixel", "gan", "align", "target_rec", "style", "identity", "cycle")
    torch.testing.assert_close(first["total"], sum(first[p] for p in parts))
    off = _trainer(_recipe(**OFF)).step(batch)
    assert not {"align", "target_rec", "style", "identity", "cycle", "d_feature",
                "d_style"} & set(off)


@pytest.mark.parametrize("term", ["align_weight", "style_weight"])
def test_adversarial_terms_move_the_generator_towards_their_targets(term):
    """With the discriminator as it was before the step, one generator step on the term alone
    moves D_f's scores towards ½ (alignment) or D_lr's score of G_t(E(x_s)) towards 1
    (style); the discriminator's own step lowers its loss (D_f: source → 0, target → 1;
    D_lr: x_st → 0, x_t → 1)."""
    recipe = _recipe(**{**OFF, term: 1.0}, pixel_weight=0.0, gan_weight=0.0,
                     learning_rate=1e-2, discriminator_learning_rate=1e-2)
    trainer = _trainer(recipe)
    generator = torch.Generator().manual_seed(1)
    lq, gt = _source(generator)
    target = _target(generator)
    encoder = trainer.generator
    d_before = copy.deepcopy(trainer.feature_discriminator if term == "align_weight"
                             else trainer.style_discriminator)

    def generator_cost(discriminator) -> float:
        with torch.no_grad():
            if term == "align_weight":
                return alignment_losses(discriminator(encoder.encode(lq)),
                                        discriminator(encoder.encode(target)))[1].item()
            fake = trainer.target_decoder(encoder.encode(lq))
            return (discriminator(fake) - 1).square().mean().item()

    def discriminator_cost(discriminator, inputs) -> float:
        with torch.no_grad():
            if term == "align_weight":
                return alignment_losses(*map(discriminator, inputs))[0].item()
            fake, real = map(discriminator, inputs)
            return (real - 1).square().mean().item() + fake.square().mean().item()

    with torch.no_grad():  # what the discriminator step sees (the step's own forward pass)
        inputs = ((encoder.encode(lq), encoder.encode(target)) if term == "align_weight"
                  else (trainer.target_decoder(encoder.encode(lq)), target))
    before = generator_cost(d_before)
    trainer.step((lq, gt, target))
    assert generator_cost(d_before) < before  # E / G_t moved towards the target
    d_after = (trainer.feature_discriminator if term == "align_weight"
               else trainer.style_discriminator)
    # D_f: source → 0, target → 1; D_lr: x_st → 0, x_t → 1
    assert discriminator_cost(d_after, inputs) < discriminator_cost(d_before, inputs)


# --- data, the stage, resume, the saved model ----------------------------------------------

@pytest.fixture
def da_data(tmp_path: Path, astronaut, coffee) -> dict[str, Path]:
    """Two ×2 pairs (box-downscaled) and two target LR photos (noisy, brighter)."""
    rng = np.random.default_rng(0)
    for name, image in (("a.png", astronaut[:64, :80]), ("b.png", coffee[:48, :64])):
        write_image(tmp_path / "pairs" / "hr" / name, image)
        low = image.reshape(image.shape[0] // 2, 2, image.shape[1] // 2, 2, 3).mean((1, 3))
        write_image(tmp_path / "pairs" / "lr" / name, low.round().astype(np.uint8))
    for name, image in (("r1.png", coffee[250:280, 100:140]),
                        ("r2.png", astronaut[100:130, 100:140])):
        noisy = np.clip(image * 0.7 + 30 + rng.normal(0, 10, image.shape), 0, 255)
        write_image(tmp_path / "real" / name, noisy.astype(np.uint8))
    return {"pairs": tmp_path / "pairs", "real": tmp_path / "real"}


def test_samples_add_a_reproducible_target_crop_to_any_source(da_data, photo_dir):
    common = {"scale": 2, "patch_size": 32, "seed": 3, "real_lr": da_data["real"],
              "domain_adapt": True}
    data = prepare_training_data(pairs=da_data["pairs"], **common)
    again = prepare_training_data(pairs=da_data["pairs"], **common)
    plain = prepare_training_data(pairs=da_data["pairs"], scale=2, patch_size=32, seed=3)
    for index in (0, 5):
        lq, gt, target = data.dataset[index]
        assert lq.shape == target.shape == (3, 16, 16) and gt.shape == (3, 32, 32)
        assert all(torch.equal(a, b) for a, b in zip(data.dataset[index], again.dataset[index],
                                                     strict=True))
        source_lq, source_gt = plain.dataset[index]  # the source sample is unchanged
        assert torch.equal(lq, source_lq) and torch.equal(gt, source_gt)
    assert not torch.equal(data.dataset[0][2], data.dataset[1][2])
    synthetic = prepare_training_data(hr=photo_dir, synthetic=True, **common)
    assert [t.shape[-1] for t in synthetic.dataset[0]] == [16, 32, 16]
    assert "target LR photos" in synthetic.description
    with pytest.raises(SrkitError, match="--real-lr"):
        prepare_training_data(pairs=da_data["pairs"], scale=2, patch_size=32, seed=3,
                              domain_adapt=True)


def _run(da_data, output: Path, iters: int, **kwargs):
    return train_sr(da_data["pairs"], output, 2, recipe="domain-adapt", real_lr=da_data["real"],
                    arch_args={k: v for k, v in NET.items() if k != "scale"}, iters=iters,
                    batch_size=2, patch_size=32, workers=0, device="cpu", log_every=2,
                    save_every=2, overrides={"perceptual_weight": 0.0,
                                             "discriminator_num_feat": 8}, **kwargs)


def test_resume_equals_an_uninterrupted_run_and_the_model_upscales(tmp_path, da_data):
    from safetensors.torch import load_file

    from srkit.io.checkpoints import load_model
    from srkit.stages.upscale import run_model

    whole = _run(da_data, tmp_path / "whole.safetensors", 6)
    with pytest.raises(Killed):  # dies at 5: the step after the save at 4 is lost
        _run(da_data, tmp_path / "split.safetensors", 6, callback=kill_at(5))
    split = _run(da_data, tmp_path / "split.safetensors", 6, resume=True)
    assert split.start_iteration == 4 and split.iterations == 6 and whole.arch == "da-sr"
    states = [load_state(r.resume_state)["trainer"] for r in (whole, split)]

    def flat(tree, prefix=""):
        if isinstance(tree, dict):
            for key, value in tree.items():
                yield from flat(value, f"{prefix}{key}.")
        elif isinstance(tree, (list, tuple)):
            for index, value in enumerate(tree):
                yield from flat(value, f"{prefix}{index}.")
        else:
            yield prefix, tree

    first, second = dict(flat(states[0])), dict(flat(states[1]))
    assert first.keys() == second.keys()
    for key, value in first.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, second[key]), key
        else:
            assert value == second[key], key
    own = states[0]["domain_adapt"]
    assert {"target_decoder", "feature_discriminator", "style_discriminator"} <= set(own)
    assert "discriminator" in states[0]  # the SR discriminator, SRTrainer's
    saved = [load_file(tmp_path / f"{name}.safetensors") for name in ("whole", "split")]
    assert saved[0].keys() == saved[1].keys()
    assert all(torch.equal(saved[0][key], saved[1][key]) for key in saved[0])

    loaded = load_model(tmp_path / "whole.safetensors")
    assert loaded.arch == "da-sr" and loaded.metadata["recipe"] == "domain-adapt"
    assert not any(k.startswith(("target_decoder", "feature_")) for k in
                   loaded.model.state_dict())
    image = np.random.default_rng(0).random((13, 17, 3), dtype=np.float32)
    out = run_model(loaded.model, image, tile=8)
    assert out.shape == (26, 34, 3) and np.isfinite(out).all()
    header = (tmp_path / "whole.train.csv").read_text().splitlines()[0].split(",")
    assert {"loss_align", "loss_target_rec", "loss_cycle", "d_feature"} <= set(header)


def test_cli_trains_and_upscales_and_names_what_is_missing(tmp_path, da_data):
    runner = CliRunner()
    common = ["-x", "2", "--num-feat", "8", "--num-block", "1", "--batch-size", "2",
              "--patch-size", "32", "--workers", "0", "--device", "cpu", "-q"]
    model = tmp_path / "m.safetensors"
    result = runner.invoke(app, ["train-sr", str(da_data["pairs"]), "-o", str(model),
                                 "--recipe", "domain-adapt", "--real-lr", str(da_data["real"]),
                                 "--iters", "2", "--set", "cycle_weight=0.5", "--json",
                                 *common])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["arch"] == "da-sr" and summary["recipe"] == "domain-adapt"
    recorded = load_state(tmp_path / "m.resume.pt")["settings"]["recipe"]
    assert recorded["cycle_weight"] == 0.5 and recorded["perceptual_weight"] == 0.0  # no VGG
    result = runner.invoke(app, ["upscale", str(da_data["real"] / "r1.png"), "-m", str(model),
                                 "-o", str(tmp_path / "up.png"), "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "up.png").is_file()
    for extra, message in ((["--real-lr", str(da_data["real"]), "--arch", "compact"], "da-sr"),
                           ([], "--real-lr"),
                           (["--real-lr", str(da_data["real"]), "--patch-size", "16"], "12")):
        result = runner.invoke(app, ["train-sr", str(da_data["pairs"]), "-o",
                                     str(tmp_path / "n.safetensors"), "--recipe",
                                     "domain-adapt", "--iters", "1", *common, *extra])
        assert result.exit_code == 1 and message in str(result.exception), result.output
