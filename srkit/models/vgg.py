"""VGG19 convolutional features for perceptual losses, loading torchvision's weight file.

The layers are numbered exactly as torchvision's ``vgg19().features`` (``features.0`` is
conv1_1, ``features.34`` conv5_4, ``features.35`` its ReLU), so the state dict of
``vgg19-dcbb9e9d.pth`` loads without torchvision. Only the layers up to the deepest one
asked for are built. ReLUs are not in-place, so a conv's output can be taken *before*
activation (ESRGAN §3.3: features before activation are denser and keep brightness).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from srkit.errors import SrkitError
from srkit.io.torch_files import load_weights_only

# torchvision's vgg19 configuration "E": channels per conv, "M" for 2×2 max pooling.
_VGG19_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                     512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILE}"


def _layer_names() -> list[str]:
    names: list[str] = []
    block, index = 1, 1
    for item in _VGG19_CFG:
        if item == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


VGG19_LAYERS: list[str] = _layer_names()  # position = index in torchvision's features


def default_vgg19_path() -> Path:
    """Where torchvision caches its VGG19 weights: ``$TORCH_HOME/hub/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


class VGG19FeatureExtractor(nn.Module):
    """Named VGG19 feature maps of ``(B, 3, H, W)`` RGB in [0, 1].

    Args:
        layers: names such as ``conv5_4`` or ``relu2_2`` (see :data:`VGG19_LAYERS`).
        use_input_norm: subtract the ImageNet mean and divide by its std first (the weights
            were trained on such inputs).

    The parameters are frozen (``requires_grad=False``); gradients still reach the input.
    """

    def __init__(self, layers: Sequence[str], use_input_norm: bool = True) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in VGG19_LAYERS]
        if unknown or not layers:
            raise SrkitError(f"unknown VGG19 layer(s) {', '.join(unknown) or '(none given)'} "
                             f"(use names like conv5_4, relu2_2)")
        self.layers = list(dict.fromkeys(layers))
        last = max(VGG19_LAYERS.index(name) for name in self.layers)
        modules: list[nn.Module] = []
        in_channels = 3
        for item in _VGG19_CFG:
            if item == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                modules += [nn.Conv2d(in_channels, int(item), 3, padding=1), nn.ReLU()]
                in_channels = int(item)
        self.features = nn.Sequential(*modules[: last + 1])
        self.use_input_norm = use_input_norm
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def load_torchvision_weights(self, path: str | Path) -> None:
        """Load ``features.N.*`` from a torchvision VGG19 state-dict file (weights_only)."""
        path = Path(path)
        if not path.is_file():
            raise SrkitError(f"VGG19 weights not found at {path}: download torchvision's "
                             f"{VGG19_FILE} ({VGG19_URL}) to that path or give its location")
        try:
            state = load_weights_only(path)
        except Exception as error:  # noqa: BLE001 - any unreadable file is a user error
            raise SrkitError(f"{path}: not a VGG19 weight file torch can read "
                             f"({type(error).__name__})") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        wanted = {k: v for k, v in self.features.state_dict().items()}
        found = {}
        for key in wanted:
            source = f"features.{key}"
            if not isinstance(state, dict) or source not in state:
                raise SrkitError(f"{path}: no {source} (expected torchvision's VGG19 layout)")
            if tuple(state[source].shape) != tuple(wanted[key].shape):
                raise SrkitError(f"{path}: {source} has shape {tuple(state[source].shape)}, "
                                 f"VGG19 expects {tuple(wanted[key].shape)}")
            found[key] = state[source]
        self.features.load_state_dict(found)

    def train(self, mode: bool = True) -> VGG19FeatureExtractor:
        """Always stays in eval mode: it is a fixed feature extractor."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        outputs: dict[str, torch.Tensor] = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            name = VGG19_LAYERS[index]
            if name in self.layers:
                outputs[name] = x
        return outputs
