"""What a training run starts from: the ``--init`` model (a file or a name), the shipped model
a short run starts from, the network built and its provenance in the saved file's metadata.

:func:`build_generator` writes the provenance (``init``, ``init_total_iterations``, and for a
model srkit trained from scratch its recipe, iterations and seed; ``init_stages`` for a whole
chain) that :func:`training_stages` reads back, so that a benchmark can repeat every stage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from srkit.errors import SrkitError
from srkit.training.recipes import Recipe

# A psnr run of the compact net this short starts from the shipped model of its scale, with
# smaller patches: from scratch a few hundred CPU iterations stay below bicubic upscaling
# (docs/cli/train-sr.md, "Short runs").
SHORT_RUN_ITERS = 5000
SHORT_RUN_PATCH = 64


def short_run_start(arch: str, arch_args: dict[str, Any], recipe: Recipe, scale: int,
                     patch_size: int | None, overrides: Mapping[str, Any] | None
                     ) -> tuple[Path, Recipe] | None:
    """(the shipped model to start from, the recipe with short-run patches) for a short psnr
    run of a compact net with the shipped layout; None otherwise."""
    from srkit.io.checkpoints import read_safetensors
    from srkit.models import architecture_arguments
    from srkit.modelzoo import WEIGHTS_DIR, default_model_name
    from srkit.training.recipes import RECIPES

    if arch != "compact" or recipe.name != "psnr" or recipe.iters > SHORT_RUN_ITERS:
        return None
    shipped = WEIGHTS_DIR / f"{default_model_name(scale)}.safetensors"
    if not shipped.is_file():
        return None
    meta = read_safetensors(shipped)[1]
    defaults = architecture_arguments(arch)
    if meta.get("srkit_arch") != arch or {**defaults, **json.loads(
            meta.get("srkit_arch_args", "{}"))} != {**defaults, **arch_args}:
        return None
    if patch_size is None and "patch_size" not in (overrides or {}) \
            and recipe.patch_size == RECIPES[recipe.name].patch_size:
        recipe = replace(recipe, patch_size=SHORT_RUN_PATCH)
    return shipped, recipe


def resolve_init(init: str | Path, scale: int) -> tuple[Path, tuple[str, dict[str, Any]]]:
    """``--init``'s file (a path, or a model name as ``--model`` takes: ``general_x4``) and
    its architecture and arguments, which the run takes unless told otherwise."""
    from srkit.io.checkpoints import load_model
    from srkit.modelzoo import resolve_model

    path = resolve_model(init, scale)
    loaded = load_model(path, "cpu")
    return path, (loaded.arch, dict(loaded.arch_args))



def build_generator(arch: str, arch_args: dict[str, Any], init: str | Path | None):
    """The network, and what the saved model's metadata says about ``init`` (None without).

    The provenance is the init file's name, its iterations from scratch (``total_iterations``,
    else ``iterations``; 0 for a file srkit did not train) and, for a file trained by srkit from
    scratch, its recipe settings, iterations and seed (so that a benchmark can repeat both
    stages); ``init_stages``, when every earlier stage is known, lists them all (JSON, earliest
    first; see :func:`training_stages`), so that a chain of any length can be repeated.
    """
    from srkit.models import build_model

    generator = build_model(arch, **arch_args)
    if init is None:
        return generator, None
    from srkit.io.checkpoints import load_model
    from srkit.models import architecture_arguments

    loaded = load_model(init, "cpu")
    defaults = architecture_arguments(arch) if loaded.arch == arch else {}
    if loaded.arch != arch or {**defaults, **loaded.arch_args} != {**defaults, **arch_args}:
        raise SrkitError(f"{init}: is a {loaded.arch} with {json.dumps(loaded.arch_args)}, "
                         f"but this run trains a {arch} with {json.dumps(arch_args)}")
    generator.load_state_dict(loaded.model.state_dict())
    meta = loaded.metadata
    before = meta.get("total_iterations", meta.get("iterations", "0"))
    provenance = {"init": Path(init).name,
                  "init_total_iterations": int(before) if before.isdigit() else 0}
    if "init" not in meta and {"recipe_settings", "iterations", "seed"} <= set(meta):
        provenance |= {"init_recipe_settings": meta["recipe_settings"],
                       "init_iterations": meta["iterations"], "init_seed": meta["seed"]}
    stages = training_stages(meta)
    if stages is not None:
        provenance["init_stages"] = json.dumps(stages, sort_keys=True)
    return generator, provenance


def training_stages(meta: Mapping[str, str]) -> list[dict[str, Any]] | None:
    """Every stage that trained the model of ``meta``, earliest first, as ``{"iterations",
    "seed", "recipe_settings"}`` (settings as a dict); None where a stage is unknown (a file
    srkit did not train, or one fine-tuned from such a file)."""
    if not {"recipe_settings", "iterations", "seed"} <= set(meta):
        return None
    own = {"iterations": int(meta["iterations"]), "seed": int(meta["seed"]),
           "recipe_settings": json.loads(meta["recipe_settings"])}
    if "init" not in meta:
        return [own]
    if "init_stages" in meta:
        return [*json.loads(meta["init_stages"]), own]
    if "init_recipe_settings" in meta:  # written before init_stages: the first stage alone
        return [{"iterations": int(meta["init_iterations"]), "seed": int(meta["init_seed"]),
                 "recipe_settings": json.loads(meta["init_recipe_settings"])}, own]
    return None



def init_hint(scale: int, arch: str) -> str:
    """", or start from a shipped model (--init general_xS)" when a compact model of that
    scale ships (the shipped models are compact nets)."""
    from srkit.modelzoo import WEIGHTS_DIR, default_model_name

    name = default_model_name(scale)
    if arch == "compact" and (WEIGHTS_DIR / f"{name}.safetensors").is_file():
        return f", or start from a shipped model (--init {name})"
    return ""
