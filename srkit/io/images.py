"""Reading and writing images.

Inside srkit an image is float32 RGB in [0, 1], shape ``(H, W, 3)``, with an optional alpha
plane ``(H, W)`` in [0, 1] kept beside it. :class:`LoadedImage` remembers what the file was
(bit depth, grey or colour) so that outputs can be written back the same way, with the
file's ICC profile and EXIF (orientation reset, since the pixels are rotated on reading).
"""

from __future__ import annotations

import glob
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from srkit.errors import SrkitError
from srkit.io import png16
from srkit.io.atomic import atomic_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")

# Pillow's decompression-bomb guard; srkit raises its own error past this many pixels.
DEFAULT_MAX_PIXELS = 200_000_000


@dataclass(frozen=True)
class LoadedImage:
    """An image as srkit holds it.

    Attributes:
        rgb: float32 ``(H, W, 3)`` in [0, 1].
        alpha: float32 ``(H, W)`` in [0, 1], or None when the file had no transparency.
        bit_depth: 8 or 16, the precision of the source file's samples.
        grey: True when the source had a single colour channel.
        path: where it was read from, if anywhere.
        icc_profile: the file's ICC profile (bytes) when it describes these pixels; None for
            none, and for CMYK files (converted to sRGB on reading).
        exif: the file's EXIF block as Pillow's ``Exif.tobytes()`` gives it, as read (its
            orientation tag still says how the file was stored); None when it had none. Not
            read from 16-bit PNG and TIFF files.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8
    grey: bool = False
    path: Path | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    def with_pixels(self, rgb: np.ndarray, alpha: np.ndarray | None = None) -> LoadedImage:
        """The same kind of image (bit depth, grey) with new pixels, e.g. after upscaling."""
        return replace(self, rgb=rgb, alpha=alpha, path=None)


def set_max_pixels(max_pixels: int | None) -> None:
    """Change the decompression-bomb limit (None disables it)."""
    Image.MAX_IMAGE_PIXELS = max_pixels


set_max_pixels(DEFAULT_MAX_PIXELS)


def read_image(path: str | Path) -> LoadedImage:
    """Read an image file into a :class:`LoadedImage`.

    EXIF orientation is applied; 1-, 8- and 16-bit, grey, palette, RGB(A), LA and CMYK
    images are handled. Raises :class:`SrkitError` naming the file when it cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise SrkitError(f"{path}: no such file")
    if path.is_dir():
        raise SrkitError(f"{path}: is a folder, not an image")
    if path.suffix.lower() == ".png" and png16.is_16bit_colour_png(path):
        return _read_png16(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        deep = _read_tiff16(path)
        if deep is not None:
            return deep
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as pil:
                pil.load()
                icc = pil.info.get("icc_profile") if pil.mode != "CMYK" else None
                exif = _exif_block(pil)
                pil = ImageOps.exif_transpose(pil)
                return replace(_from_pil(pil, path), icc_profile=icc or None, exif=exif)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(path) from None
    except UnidentifiedImageError:
        raise SrkitError(f"{path}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise SrkitError(f"{path}: cannot read image ({error})") from None


# Tags of a TIFF file's own layout (Pillow's getexif() of a TIFF holds them): never EXIF to copy.
_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317,
                          322, 323, 324, 325, 338, 339, 340, 341, 34675})
_ORIENTATION, _EXIF_IFD = 0x0112, 0x8769
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003  # in the Exif IFD: the image's width and height


def _exif_block(pil: Image.Image) -> bytes | None:
    """The EXIF a file carries, as bytes for :func:`write_image`; None when it has none."""
    try:
        exif = pil.getexif()
        for tag in _LAYOUT_TAGS & set(exif):
            del exif[tag]
        return exif.tobytes() if len(exif) else None
    except Exception:  # noqa: BLE001 - a malformed EXIF block is dropped, not an error
        return None


def _exif_for_output(exif: bytes, width: int, height: int) -> bytes | None:
    """The EXIF to store with a written image: orientation 1 (the pixels were rotated on
    reading), the Exif IFD's pixel size set to the written size."""
    try:
        block = Image.Exif()
        block.load(exif)
        for tag in _LAYOUT_TAGS & set(block):
            del block[tag]
        if _ORIENTATION in block:
            block[_ORIENTATION] = 1
        if _EXIF_IFD in block:
            sub = block.get_ifd(_EXIF_IFD)
            if _PIXEL_X in sub or _PIXEL_Y in sub:
                sub[_PIXEL_X], sub[_PIXEL_Y] = width, height
        return block.tobytes() if len(block) else None
    except Exception:  # noqa: BLE001 - EXIF is kept when it can be, never a reason to fail
        return None


def _icc_fits(icc: bytes, grey: bool) -> bool:
    """Whether an ICC profile's colour space (header bytes 16-20) is the output's."""
    return len(icc) >= 128 and icc[16:20] == (b"GRAY" if grey else b"RGB ")


def _too_large(path: Path) -> SrkitError:
    return SrkitError(f"{path}: image is larger than the limit of {Image.MAX_IMAGE_PIXELS} "
                      "pixels (raise it with --max-pixels)")


def _check_size(path: Path, width: int, height: int) -> None:
    """Refuse, from the header and before decoding, an image past the pixel limit.

    Pillow's own check covers what it decodes (it warns past the limit; srkit makes that an
    error); the 16-bit PNG and TIFF readers call this with the header's size.
    """
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        raise _too_large(path)


def _read_png16(path: Path) -> LoadedImage:
    width, height = png16.image_size(path)
    _check_size(path, width, height)
    try:
        samples = png16.read_png16(path)
        icc = png16.read_icc_profile(path)
    except (OSError, ValueError) as error:
        raise SrkitError(f"{path}: cannot read 16-bit PNG ({error})") from None
    return replace(_from_uint16(samples, path), icc_profile=icc)


def _from_uint16(samples: np.ndarray, path: Path) -> LoadedImage:
    """uint16 ``(H, W, C)`` with C = 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA)."""
    values = samples.astype(np.float32) / 65535.0
    channels = values.shape[2]
    grey = channels in (1, 2)
    rgb = np.repeat(values[..., :1], 3, axis=2) if grey else values[..., :3]
    alpha = values[..., -1] if channels in (2, 4) else None
    return LoadedImage(np.ascontiguousarray(rgb), alpha, 16, grey, path)


def _read_tiff16(path: Path) -> LoadedImage | None:
    """16-bit TIFFs through tifffile (Pillow reduces colour ones to 8 bits); else None."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if page.dtype != np.uint16 or page.samplesperpixel not in (1, 2, 3, 4):
                return None
            _check_size(path, int(page.imagewidth), int(page.imagelength))
            samples = page.asarray()
            icc_tag = page.tags.get(34675)
            icc = bytes(icc_tag.value) if icc_tag is not None else None
    except SrkitError:
        raise
    except Exception:  # noqa: BLE001 - anything odd: let Pillow try and report
        return None
    image = _from_uint16(samples if samples.ndim == 3 else samples[..., None], path)
    return replace(image, icc_profile=icc or None)


def _from_pil(pil: Image.Image, path: Path | None) -> LoadedImage:
    mode = pil.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(pil, dtype=np.float64)
        bit_depth = 16 if mode.startswith("I;16") or values.max(initial=0) > 255 else 8
        scale = 65535.0 if bit_depth == 16 else 255.0
        grey = np.clip(values / scale, 0.0, 1.0).astype(np.float32)
        return LoadedImage(np.repeat(grey[..., None], 3, axis=2), None, bit_depth, True, path)
    if mode == "CMYK":
        pil = _cmyk_to_rgb(pil)
        mode = pil.mode
    if mode == "P":
        has_alpha = "transparency" in pil.info
        pil = pil.convert("RGBA" if has_alpha else "RGB")
        mode = pil.mode
    if mode == "PA":
        pil = pil.convert("RGBA")
        mode = "RGBA"
    grey = mode in ("1", "L", "LA")
    has_alpha = mode in ("RGBA", "LA", "RGBa", "La")
    target = ("LA" if has_alpha else "L") if grey else ("RGBA" if has_alpha else "RGB")
    array = np.asarray(pil.convert(target), dtype=np.float32) / 255.0
    if grey:
        lum = array if array.ndim == 2 else array[..., 0]
        rgb = np.repeat(lum[..., None], 3, axis=2)
    else:
        rgb = array[..., :3]
    alpha = array[..., -1] if has_alpha else None
    if alpha is not None and np.all(alpha >= 1.0):
        alpha = None  # an opaque alpha plane carries nothing
    return LoadedImage(np.ascontiguousarray(rgb), alpha, 8, grey, path)


def _cmyk_to_rgb(pil: Image.Image) -> Image.Image:
    """CMYK through its embedded ICC profile when there is one, else the naive formula."""
    icc = pil.info.get("icc_profile")
    if icc:
        try:
            import io

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(pil, source, ImageCms.createProfile("sRGB"),
                                             outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass
    return pil.convert("RGB")


def to_uint(values: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float [0, 1] → uint8/uint16 with rounding (values outside are clipped)."""
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    peak = 255.0 if bit_depth == 8 else 65535.0
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    return np.round(np.clip(values, 0.0, 1.0) * peak).astype(dtype)


def write_image(
    path: str | Path,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    bit_depth: int = 8,
    grey: bool = False,
    quality: int = 95,
    overwrite: bool = True,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
) -> Path:
    """Write float RGB [0, 1] ``(H, W, 3)`` (plus optional alpha) atomically.

    The format follows the suffix. 16-bit output is kept for PNG and TIFF; other formats
    store 8 bits. ``grey`` writes a single channel (the mean of R, G, B). JPEG cannot hold
    alpha: it is dropped with a warning. ``quality`` (1-100) is JPEG's and WebP's.
    ``icc_profile`` is stored by every format but BMP when its colour space is the output's
    (RGB or grey); ``exif`` (:attr:`LoadedImage.exif`) by JPEG, PNG, WebP and 8-bit TIFF,
    with orientation 1 and the written size (not by 16-bit TIFF and BMP). Returns the path
    written.
    """
    path, suffix = _writable(path, overwrite)
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    if suffix in (".jpg", ".jpeg") and alpha is not None:
        warnings.warn(f"{path}: JPEG has no alpha channel; transparency dropped", stacklevel=2)
        alpha = None
    if suffix not in (".png", ".tif", ".tiff"):
        bit_depth = 8
    planes = [rgb.mean(axis=2, keepdims=True)] if grey else [rgb]
    if alpha is not None:
        planes.append(np.asarray(alpha, dtype=np.float32)[..., None])
    samples = to_uint(np.concatenate(planes, axis=2), bit_depth)
    return write_samples(path, samples, quality=quality, overwrite=True,
                         icc_profile=icc_profile, exif=exif)


def output_layout(path: str | Path, bit_depth: int, grey: bool, alpha: bool
                  ) -> tuple[int, int, bool]:
    """``(channels, bit_depth, alpha)`` of the samples :func:`write_image` stores at ``path``
    for an image of ``bit_depth`` (8/16), ``grey`` and with ``alpha``: 16 bits only for PNG
    and TIFF; JPEG drops alpha (with a warning)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jpg", ".jpeg") and alpha:
        warnings.warn(f"{path}: JPEG has no alpha channel; transparency dropped", stacklevel=2)
        alpha = False
    if suffix not in (".png", ".tif", ".tiff"):
        bit_depth = 8
    return (1 if grey else 3) + int(alpha), bit_depth, alpha


def _writable(path: str | Path, overwrite: bool) -> tuple[Path, str]:
    """(``path``, its lower-case suffix) for an image to write: a known format, and not an
    existing file unless ``overwrite``; SrkitError naming it otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise SrkitError(f"{path}: unknown image format {suffix!r} "
                         f"(use one of {', '.join(IMAGE_EXTENSIONS)})")
    if path.exists() and not overwrite:
        raise SrkitError(f"{path}: already exists (refusing to overwrite)")
    return path, suffix


def write_samples(path: str | Path, samples: np.ndarray, *, quality: int = 95,
                  overwrite: bool = True, icc_profile: bytes | None = None,
                  exif: bytes | None = None) -> Path:
    """Write uint8 / uint16 ``(H, W, C)`` samples (C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA)
    atomically, as :func:`write_image` does. PNG is encoded band by band from ``samples``
    (:func:`srkit.io.png16.write_png`), 16-bit TIFF by tifffile; the other formats go through
    a Pillow copy of the image."""
    path, suffix = _writable(path, overwrite)
    if samples.ndim != 3 or samples.shape[2] not in (1, 2, 3, 4) \
            or samples.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"samples must be uint8/uint16 (H, W, 1..4), got {samples.dtype} "
                         f"{samples.shape}")
    grey = samples.shape[2] <= 2
    bit_depth = 8 * samples.dtype.itemsize
    if icc_profile is not None and not _icc_fits(icc_profile, grey):
        icc_profile = None
    if exif is not None:
        exif = _exif_for_output(exif, width=samples.shape[1], height=samples.shape[0])
    with atomic_path(path) as tmp:
        if suffix == ".png":
            png16.write_png(tmp, samples, icc_profile=icc_profile, exif=exif)
        elif bit_depth == 16:
            import tifffile

            tifffile.imwrite(tmp, samples[..., 0] if samples.shape[2] == 1 else samples,
                             photometric="minisblack" if grey else "rgb",
                             iccprofile=icc_profile)
        else:
            mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[samples.shape[2]]
            data = samples[..., 0] if samples.shape[2] == 1 else samples
            pil = Image.fromarray(data, mode=mode)
            options: dict = {}
            if suffix in (".jpg", ".jpeg", ".webp"):
                options["quality"] = quality
            if suffix != ".bmp":
                options.update({key: value for key, value in
                                (("icc_profile", icc_profile), ("exif", exif)) if value})
            fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF",
                   ".tiff": "TIFF", ".bmp": "BMP"}[suffix]
            pil.save(tmp, format=fmt, **options)
    return path


def save_like(path: str | Path, like: LoadedImage, rgb: np.ndarray,
              alpha: np.ndarray | None = None, *, overwrite: bool = True,
              quality: int = 95) -> Path:
    """Write ``rgb`` with the bit depth, greyness, ICC profile and EXIF of the image it was
    made from (``quality``: JPEG's and WebP's)."""
    return write_image(path, rgb, alpha, bit_depth=like.bit_depth, grey=like.grey,
                       overwrite=overwrite, quality=quality, icc_profile=like.icc_profile,
                       exif=like.exif)


def check_output(path: str | Path, *, overwrite: bool, inputs: Iterable[str | Path] = ()
                 ) -> Path:
    """Refuse, before any work, to write ``path`` over one of ``inputs`` (ever) or over an
    existing file (unless ``overwrite``). ``inputs`` are files, folders or globs; those that
    do not exist are ignored here (the reader reports them)."""
    path = Path(path)
    resolved = path.resolve()
    for item in inputs:
        try:
            found = list_images(item) if not Path(item).is_file() else [Path(item)]
        except SrkitError:
            continue
        if any(resolved == p.resolve() for p in found):
            raise SrkitError(f"{path}: would overwrite an input (choose another output name)")
    if path.is_dir():
        raise SrkitError(f"{path}: is a folder; give a file name")
    if path.exists() and not overwrite:
        raise SrkitError(f"{path}: already exists (use --overwrite to replace it)")
    return path


def list_images(inputs: Sequence[str | Path] | str | Path, *, recursive: bool = False
                ) -> list[Path]:
    """Expand files, folders and glob patterns into a sorted list of image paths.

    A folder contributes the images directly inside it (all below it with ``recursive``);
    a file named explicitly is kept whatever its suffix, so that a bad file is reported
    rather than silently ignored. Raises :class:`SrkitError` when an input does not exist
    or nothing is found.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(p for p in sorted(path.glob(pattern))
                         if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                         and not p.name.startswith("."))
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(str(item)):
            matches = [Path(p) for p in sorted(glob.glob(str(item), recursive=recursive))]
            found.extend(p for p in matches if p.is_file())
        else:
            raise SrkitError(f"{item}: no such file or folder")
    unique = list(dict.fromkeys(found))
    if not unique:
        names = ", ".join(str(i) for i in inputs)
        raise SrkitError(f"no images found in {names} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return unique


@dataclass
class SkipLog:
    """Collects files a folder run skipped, so the CLI can report a count at the end."""

    strict: bool = False
    skipped: list[str] | None = None

    def __post_init__(self) -> None:
        if self.skipped is None:
            self.skipped = []

    def read(self, path: Path) -> LoadedImage | None:
        """Read ``path``; on failure raise (strict) or log a warning and return None."""
        try:
            return read_image(path)
        except SrkitError as error:
            if self.strict:
                raise
            assert self.skipped is not None
            self.skipped.append(str(error))
            from srkit.console import warn

            warn(f"skipped {error}")
            return None

    @property
    def count(self) -> int:
        return len(self.skipped or [])


def nothing_readable(skipped: Sequence[str]) -> SrkitError:
    """The error for a run in which every input was skipped (exit status 1; skipping some of
    many stays a warning). ``skipped`` holds one ``"PATH: reason"`` per input."""
    more = f"; {len(skipped) - 1} more skipped" if len(skipped) > 1 else ""
    return SrkitError(f"nothing done, every input was skipped: {skipped[0]}{more}")


def iter_readable(paths: Iterable[Path], skip_log: SkipLog) -> Iterable[LoadedImage]:
    """Yield the images among ``paths`` that can be read, logging the others."""
    for path in paths:
        image = skip_log.read(path)
        if image is not None:
            yield image
