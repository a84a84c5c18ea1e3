"""A small 16-bit PNG codec for the cases Pillow truncates to 8 bits.

Pillow keeps 16-bit greyscale PNGs but reduces 16-bit RGB/RGBA/LA to 8 bits on reading and
cannot write them at all, so srkit decodes and encodes those itself (PNG spec, ISO/IEC
15948: zlib stream of filtered scanlines, big-endian samples). Interlaced files are not
supported by this reader; the caller falls back to Pillow's 8-bit decoding for them. The
writer stores an ICC profile (``iCCP``) and EXIF (``eXIf``) when given; the reader gives back
the ICC profile (:func:`read_icc_profile`).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
# Rows the wavefront decodes at once: its two skewed int16 copies take
# 2 × 2 bytes × rows × (rows + width) × bytes per pixel (≈ 100 MB for 6000 RGBA16 columns).
_BAND_ROWS = 512


def _header(path: Path) -> tuple[int, int, int, int, int] | None:
    with open(path, "rb") as handle:
        head = handle.read(33)
    if len(head) < 33 or head[:8] != _SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return width, height, depth, colour, interlace


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` from a PNG's IHDR, without decoding; ValueError if not a PNG."""
    header = _header(Path(path))
    if header is None:
        raise ValueError("not a PNG file")
    return header[0], header[1]


def is_16bit_colour_png(path: str | Path) -> bool:
    """True for a non-interlaced 16-bit PNG this module should decode."""
    header = _header(Path(path))
    return header is not None and header[2] == 16 and header[3] in _CHANNELS and header[4] == 0


def _paeth(left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    """The PNG Paeth predictor; with p = left + up - up_left, |p - left| = |up - up_left| etc."""
    pa, pb = np.abs(up - up_left), np.abs(left - up_left)
    pc = np.abs(left + up - 2 * up_left)
    take_left = (pa <= pb) & (pa <= pc)
    take_up = ~take_left & (pb <= pc)
    return up_left + take_left * (left - up_left) + take_up * (up - up_left)


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    """Undo the per-row PNG filters: ``(height, stride)`` uint8 scanlines."""
    data = np.frombuffer(raw, dtype=np.uint8)
    if data.size < height * (stride + 1):
        raise ValueError("truncated image data")
    rows = data[: height * (stride + 1)].reshape(height, stride + 1)
    kinds, lines = rows[:, 0], rows[:, 1:]
    bad = np.flatnonzero(kinds > 4)
    if bad.size:
        raise ValueError(f"bad filter type {kinds[bad[0]]} in row {bad[0]}")
    if not np.isin(kinds, (3, 4)).any():
        return _unfilter_rows(kinds, lines, bpp)
    out = np.empty((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for start in range(0, height, _BAND_ROWS):
        stop = min(height, start + _BAND_ROWS)
        out[start:stop] = _unfilter_wavefront(kinds[start:stop], lines[start:stop], prev, bpp)
        prev = out[stop - 1]
    return out


def _unfilter_rows(kinds: np.ndarray, lines: np.ndarray, bpp: int) -> np.ndarray:
    """None, Sub and Up rows only: each row is one vectorised step from the row above."""
    out = np.empty(lines.shape, dtype=np.uint8)
    prev = np.zeros(lines.shape[1], dtype=np.uint8)
    for y, kind in enumerate(kinds):
        line = lines[y]
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: running sum per byte position within a pixel (mod 256)
            cur = np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        else:  # Up
            cur = line + prev
        out[y] = cur
        prev = out[y]
    return out


def _unfilter_wavefront(kinds: np.ndarray, lines: np.ndarray, prev: np.ndarray,
                        bpp: int) -> np.ndarray:
    """Any filters, Average and Paeth included, below the decoded row ``prev``.

    Pixel (y, x) needs (y, x-1), (y-1, x) and (y-1, x-1), so every pixel on one anti-diagonal
    y + x = d can be decoded at once from diagonals d-1 and d-2: H + W numpy steps instead of
    H × W Python ones. The band is held skewed, ``skew[y + x + 2, y + 1] = pixel (y, x)``, so
    that a diagonal is one contiguous slice; ``skew[:, 0]`` is ``prev``.
    """
    height, stride = lines.shape
    width = stride // bpp
    ys, xs = np.arange(height)[:, None], np.arange(width)[None, :]
    filtered = np.zeros((height + width, height, bpp), dtype=np.int16)
    filtered[ys + xs, ys] = lines.reshape(height, width, bpp)
    skew = np.zeros((height + width + 2, height + 1, bpp), dtype=np.int16)
    skew[1:width + 1, 0] = prev.reshape(width, bpp)
    # Pixels off the image need no masking: those left of it (x < 0) see only zeros and so
    # decode to zero, and those right of it are never a neighbour of one on it.
    # 0/1 multipliers select each row's predictor (np.where is several times slower here).
    sub, up_only, average, paeth = (np.repeat((kinds == k).astype(np.int16)[:, None], bpp, 1)
                                    for k in (1, 2, 3, 4))
    any_average, any_paeth = average.any(), paeth.any()
    for d in range(height + width - 1):
        left, up, up_left = skew[d + 1, 1:], skew[d + 1, :-1], skew[d, :-1]
        pred = sub * left + up_only * up + filtered[d]
        if any_average:
            pred += average * ((left + up) >> 1)
        if any_paeth:
            pred += paeth * _paeth(left, up, up_left)
        pred &= 0xFF
        skew[d + 2, 1:] = pred
    return skew[ys + xs + 2, ys + 1].astype(np.uint8).reshape(height, stride)


def _chunks(blob: bytes):
    """``(kind, payload)`` of each chunk up to IEND (a truncated tail is ignored)."""
    pos = 8
    while pos + 8 <= len(blob):
        length, kind = struct.unpack(">I4s", blob[pos:pos + 8])
        yield kind, blob[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IEND":
            break


def read_icc_profile(path: str | Path) -> bytes | None:
    """The ICC profile of a PNG's ``iCCP`` chunk (name, 0, method 0, zlib data), or None."""
    blob = Path(path).read_bytes()
    for kind, payload in _chunks(blob):
        if kind == b"IDAT":
            return None  # iCCP must come before the image data
        if kind == b"iCCP":
            _, _, rest = payload.partition(b"\0")
            try:
                return zlib.decompress(rest[1:]) if rest[:1] == b"\0" else None
            except zlib.error:
                return None
    return None


def read_png16(path: str | Path) -> np.ndarray:
    """Decode a 16-bit PNG into uint16 ``(H, W, C)`` with C = 1, 2, 3 or 4."""
    path = Path(path)
    header = _header(path)
    if header is None:
        raise ValueError("not a PNG file")
    width, height, depth, colour, interlace = header
    if depth != 16 or colour not in _CHANNELS or interlace != 0:
        raise ValueError("not a non-interlaced 16-bit PNG")
    blob = path.read_bytes()
    idat = bytearray()
    for kind, payload in _chunks(blob):
        idat += payload if kind == b"IDAT" else b""
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error as error:
        raise ValueError(f"corrupt image data ({error})") from None
    channels = _CHANNELS[colour]
    bpp = 2 * channels
    rows = _unfilter(raw, height, width * bpp, bpp)
    return rows.view(">u2").reshape(height, width, channels).astype(np.uint16)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def write_png16(path: str | Path, samples: np.ndarray, *, icc_profile: bytes | None = None,
                exif: bytes | None = None) -> None:
    """Encode uint16 ``(H, W, C)`` (C = 1..4) as a 16-bit PNG (:func:`write_png`)."""
    samples = np.asarray(samples)
    if samples.dtype != np.uint16 or samples.ndim != 3 or samples.shape[2] not in (1, 2, 3, 4):
        raise ValueError("samples must be uint16 of shape (H, W, 1..4)")
    write_png(path, samples, icc_profile=icc_profile, exif=exif)


def write_png(path: str | Path, samples: np.ndarray, *, icc_profile: bytes | None = None,
              exif: bytes | None = None, level: int = 6) -> None:
    """Encode uint8 or uint16 ``(H, W, C)`` (C = 1..4) as an 8- or 16-bit PNG, in bands.

    Each scanline gets the PNG filter (None, Sub, Up, Average, Paeth) with the smallest sum
    of absolute signed bytes, libpng's heuristic; bands of about 256 KiB are filtered and
    fed to one zlib stream, so memory beyond ``samples`` stays a few megabytes for any
    image size. ``icc_profile`` goes in an ``iCCP`` chunk and ``exif`` (TIFF data, with or
    without the JPEG ``Exif\\0\\0`` header) in an ``eXIf`` chunk when given.
    """
    samples = np.asarray(samples)
    if samples.dtype not in (np.uint8, np.uint16) or samples.ndim != 3 \
            or samples.shape[2] not in (1, 2, 3, 4):
        raise ValueError("samples must be uint8 or uint16 of shape (H, W, 1..4)")
    height, width, channels = samples.shape
    depth = 8 * samples.dtype.itemsize
    bpp = channels * samples.dtype.itemsize
    stride = width * bpp
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    band_rows = max(1, (1 << 18) // max(1, stride))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    compressor = zlib.compressobj(level)
    prev = np.zeros(stride, dtype=np.uint8)
    with open(path, "wb") as handle:
        handle.write(_SIGNATURE)
        handle.write(_chunk(b"IHDR", ihdr))
        if icc_profile:
            handle.write(_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc_profile)))
        if exif:
            handle.write(_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")))
        for start in range(0, height, band_rows):
            band = samples[start:start + band_rows]
            if depth == 16:
                band = band.astype(">u2")
            rows = np.ascontiguousarray(band).view(np.uint8).reshape(len(band), stride)
            data = compressor.compress(_filter_rows(rows, prev, bpp).tobytes())
            if data:
                handle.write(_chunk(b"IDAT", data))
            prev = rows[-1].copy()
        handle.write(_chunk(b"IDAT", compressor.flush()))
        handle.write(_chunk(b"IEND", b""))


def _filter_rows(rows: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    """``(n, stride)`` scanlines (``prev``: the row above the first) → ``(n, 1 + stride)``
    filtered lines, each with its filter type byte, chosen by the minimum-sum heuristic
    (ties: the lower type)."""
    current = rows.astype(np.int16)
    up = np.vstack([prev[None], rows[:-1]]).astype(np.int16)
    left = np.zeros_like(current)
    left[:, bpp:] = current[:, :-bpp]
    up_left = np.zeros_like(current)
    up_left[:, bpp:] = up[:, :-bpp]
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    best = np.full(rows.shape[0], np.iinfo(np.int64).max)
    predictors = (None, left, up, (left + up) >> 1, None)
    for kind, predictor in enumerate(predictors):
        if kind == 4:
            predictor = _paeth(left, up, up_left)
        filtered = rows if predictor is None else (current - predictor).astype(np.uint8)
        cost = _ABS_SIGNED[filtered].sum(axis=1, dtype=np.int64)
        better = cost < best
        best[better] = cost[better]
        out[better, 0] = kind
        out[better, 1:] = filtered[better]
    return out


# |signed value| of each byte: the cost of a filtered byte in the minimum-sum heuristic
_ABS_SIGNED = np.abs(np.arange(256, dtype=np.uint8).view(np.int8).astype(np.int16))
