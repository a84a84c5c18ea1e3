"""A small 16-bit PNG codec for the cases Pillow truncates to 8 bits.

Pillow keeps 16-bit greyscale PNGs but reduces 16-bit RGB/RGBA/LA to 8 bits on reading and
cannot write them at all, so srkit decodes and encodes those itself (PNG spec, ISO/IEC
15948: zlib stream of filtered scanlines, big-endian samples). Interlaced files are not
supported by this reader; the caller falls back to Pillow's 8-bit decoding for them.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def _header(path: Path) -> tuple[int, int, int, int, int] | None:
    with open(path, "rb") as handle:
        head = handle.read(33)
    if len(head) < 33 or head[:8] != _SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return width, height, depth, colour, interlace


def is_16bit_colour_png(path: str | Path) -> bool:
    """True for a non-interlaced 16-bit PNG this module should decode."""
    header = _header(Path(path))
    return header is not None and header[2] == 16 and header[3] in _CHANNELS and header[4] == 0


def _paeth(left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    p = left + up - up_left
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - up_left)
    return np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    data = np.frombuffer(raw, dtype=np.uint8)
    if data.size < height * (stride + 1):
        raise ValueError("truncated image data")
    rows = data[: height * (stride + 1)].reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: running sum per byte position within a pixel
            cur = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1) & 0xFF
        elif kind == 2:  # Up
            cur = (line + prev) & 0xFF
        elif kind in (3, 4):  # Average, Paeth: depend on the left pixel, one pixel at a time
            cur = np.zeros(stride, dtype=np.int32)
            pixels = line.reshape(-1, bpp)
            ups = prev.reshape(-1, bpp)
            left = np.zeros(bpp, dtype=np.int32)
            up_left = np.zeros(bpp, dtype=np.int32)
            result = cur.reshape(-1, bpp)
            for x in range(pixels.shape[0]):
                up = ups[x]
                pred = (left + up) >> 1 if kind == 3 else _paeth(left, up, up_left)
                left = (pixels[x] + pred) & 0xFF
                result[x] = left
                up_left = up
        else:
            raise ValueError(f"bad filter type {kind} in row {y}")
        out[y] = cur
        prev = cur
    return out


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
    pos = 8
    while pos + 8 <= len(blob):
        length, kind = struct.unpack(">I4s", blob[pos:pos + 8])
        idat += blob[pos + 8:pos + 8 + length] if kind == b"IDAT" else b""
        pos += 12 + length
        if kind == b"IEND":
            break
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


def write_png16(path: str | Path, samples: np.ndarray) -> None:
    """Encode uint16 ``(H, W, C)`` (C = 1..4) as a 16-bit PNG, Up-filtered scanlines."""
    samples = np.asarray(samples)
    if samples.dtype != np.uint16 or samples.ndim != 3 or samples.shape[2] not in (1, 2, 3, 4):
        raise ValueError("samples must be uint16 of shape (H, W, 1..4)")
    height, width, channels = samples.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    # ascontiguousarray: a network's output is often a transposed view, which .view() refuses
    rows = np.ascontiguousarray(samples, dtype=">u2").view(np.uint8).reshape(
        height, width * channels * 2)
    up = rows.astype(np.int16) - np.vstack([np.zeros_like(rows[:1]), rows[:-1]])
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2
    filtered[:, 1:] = (up & 0xFF).astype(np.uint8)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    with open(path, "wb") as handle:
        handle.write(_SIGNATURE)
        handle.write(_chunk(b"IHDR", ihdr))
        handle.write(_chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6)))
        handle.write(_chunk(b"IEND", b""))
