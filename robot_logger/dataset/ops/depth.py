"""Depth images -> (H, W) arrays without loss: uint16 millimetres or float32 metres.

    depth_encoding(msg)            # "16UC1" | "32FC1" | None (a colour image)
    pixels = decode_depth(msg, msgtype)
    small = resize_nearest(pixels, (240, 320))
    k, p = scale_intrinsics(k, p, (480, 640), (240, 320))

Raw `sensor_msgs/Image` 16UC1 / mono16 are uint16 (mm, as ROS depth drivers publish them),
32FC1 float32 (m); big-endian data is byte-swapped. `CompressedImage` is decoded losslessly:
a 16-bit png (format "16UC1; png compressed", "mono16; png", ...) keeps all 16 bits (Pillow's
"I;16" mode; never converted to 8-bit), and image_transport's "compressedDepth" (a 12-byte
header, then a png) gives uint16 for 16UC1, or for 32FC1 the metres its inverse-depth
quantisation encodes (depth = a / (v - b), v = 0 is no return -> NaN).
Depth is resized by nearest neighbour only: averaging depths across an edge invents surfaces.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np
from PIL import Image as PILImage

from robot_logger.core.messages import COMPRESSED_IMAGE, IMAGE
from robot_logger.errors import DatasetError

__all__ = ["DEPTH_ENCODINGS", "depth_encoding", "decode_depth", "resize_nearest",
           "scale_intrinsics"]

# encoding -> numpy dtype of one pixel (little endian)
DEPTH_ENCODINGS = {"16uc1": "<u2", "mono16": "<u2", "32fc1": "<f4"}
_CANONICAL = {"16uc1": "16UC1", "mono16": "16UC1", "32fc1": "32FC1"}
COMPRESSED_DEPTH_HEADER = 12   # image_transport's ConfigHeader: int32 format, float32 a, b
_HEADER = struct.Struct("<iff")


def depth_encoding(msg: Any) -> str | None:
    """"16UC1" or "32FC1" for a depth Image/CompressedImage message, None for colour."""
    encoding = getattr(msg, "encoding", None)
    if encoding is not None:
        return _CANONICAL.get(str(encoding).lower())
    fmt = str(getattr(msg, "format", "")).lower()
    first = fmt.split(";")[0].strip()
    if first in _CANONICAL:
        return _CANONICAL[first]
    if "compresseddepth" in fmt:
        return "32FC1" if "32fc1" in fmt else "16UC1"
    return None


def decode_depth(msg: Any, msgtype: str) -> np.ndarray:
    """(H, W) uint16 mm or float32 m of a depth message; DatasetError names what is wrong."""
    if msgtype == IMAGE:
        return _decode_raw(msg)
    if msgtype == COMPRESSED_IMAGE:
        return _decode_compressed(msg)
    raise DatasetError(f"not an image message type: {msgtype}")


def _decode_raw(msg: Any) -> np.ndarray:
    encoding = str(msg.encoding).lower()
    if encoding not in DEPTH_ENCODINGS:
        raise DatasetError(f"depth image encoding {msg.encoding!r} is not 16UC1, mono16 or 32FC1")
    dtype = np.dtype(DEPTH_ENCODINGS[encoding])
    if msg.is_bigendian:
        dtype = dtype.newbyteorder(">")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(msg.data, np.uint8)
    if step < width * dtype.itemsize or data.size != height * step:
        raise DatasetError(f"{encoding} depth image data is {data.size} bytes, expected height "
                           f"{height} x step {step} with step >= {width * dtype.itemsize}")
    rows = data.reshape(height, step)[:, : width * dtype.itemsize]
    pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
    return pixels.astype(dtype.newbyteorder("="))


def _png(data: bytes, what: str) -> np.ndarray:
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            img.load()
            mode = img.mode
            pixels = np.asarray(img)
    except (OSError, ValueError, SyntaxError) as err:
        raise DatasetError(f"cannot decode {what}: {err}") from err
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 0xFFFF:
            raise DatasetError(f"{what}: values outside 0..65535")
        return pixels.astype(np.uint16)
    if mode == "L":
        return pixels.astype(np.uint16)
    raise DatasetError(f"{what}: a {mode} image is not a single-channel depth image")


def _decode_compressed(msg: Any) -> np.ndarray:
    fmt = str(msg.format)
    data = np.frombuffer(msg.data, np.uint8).tobytes()
    encoding = depth_encoding(msg) or "16UC1"
    if "compresseddepth" not in fmt.lower():
        return _png(data, f"depth image (format {fmt!r})")
    if len(data) < COMPRESSED_DEPTH_HEADER:
        raise DatasetError(f"compressedDepth data is {len(data)} bytes, shorter than its header")
    _format, quant_a, quant_b = _HEADER.unpack_from(data)
    pixels = _png(data[COMPRESSED_DEPTH_HEADER:], f"compressedDepth image (format {fmt!r})")
    if encoding == "16UC1":
        return pixels
    inverse = pixels.astype(np.float32)
    with np.errstate(divide="ignore"):
        metres = np.float32(quant_a) / (inverse - np.float32(quant_b))
    out: np.ndarray = np.where(pixels == 0, np.float32(np.nan), metres).astype(np.float32)
    return out


def resize_nearest(depth: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) array: output pixel (i, j) takes the source pixel
    under its centre, floor((i + 0.5) * H / h); values are never mixed."""
    height, width = (int(v) for v in size_hw)
    if height <= 0 or width <= 0:
        raise DatasetError(f"resize size must be two positive integers [H, W], not {size_hw}")
    if depth.shape[:2] == (height, width):
        return depth
    src_h, src_w = depth.shape[:2]
    rows = ((np.arange(height) * 2 + 1) * src_h) // (2 * height)
    cols = ((np.arange(width) * 2 + 1) * src_w) // (2 * width)
    return np.ascontiguousarray(depth[rows[:, None], cols[None, :]])


def scale_intrinsics(k: np.ndarray, p: np.ndarray, from_hw: tuple[int, int],
                     to_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """K (3,3) and P (3,4) of an image resized from `from_hw` to `to_hw`.

    With sx = W'/W, sy = H'/H and pixel centres at integer coordinates (ROS/OpenCV): fx' = sx fx,
    fy' = sy fy, cx' = sx (cx + 0.5) - 0.5, cy' = sy (cy + 0.5) - 0.5, and P's Tx, Ty terms
    (P[0,3], P[1,3]) scale with sx, sy; the rest is unchanged. A point that projects to (u, v)
    in the original projects to the same place in the resized image.
    """
    sy, sx = to_hw[0] / from_hw[0], to_hw[1] / from_hw[1]
    scale = np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])
    shift = np.array([[1.0, 0.0, 0.5 * sx - 0.5], [0.0, 1.0, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    # u' = sx u + 0.5 sx - 0.5 for homogeneous pixel rows: new = shift @ scale @ old
    transform: np.ndarray = shift @ scale
    new_k: np.ndarray = transform @ np.asarray(k, np.float64)
    new_p: np.ndarray = transform @ np.asarray(p, np.float64)
    return new_k, new_p
