"""Depth decoding is lossless (16-bit png, compressedDepth, 16UC1/32FC1, big endian), resize is
nearest-neighbour, and intrinsics scale so a point projects to the same place."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image as PILImage

from robot_logger.core import messages
from robot_logger.dataset.ops.depth import (
    decode_depth,
    depth_encoding,
    resize_nearest,
    scale_intrinsics,
)
from robot_logger.errors import DatasetError

TYPES = messages.typestore().types
RNG = np.random.default_rng(0)
DEPTH = RNG.integers(0, 65535, (6, 8), dtype=np.uint16)


def png16(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="png")
    return out.getvalue()


def compressed(fmt: str, data: bytes) -> object:
    return TYPES[messages.COMPRESSED_IMAGE](header=messages.header(1, "cam"), format=fmt,
                                            data=np.frombuffer(data, np.uint8))


def test_a_16_bit_png_is_exact_beyond_255() -> None:
    msg = compressed("16UC1; png compressed", png16(DEPTH))
    assert depth_encoding(msg) == "16UC1"
    out = decode_depth(msg, messages.COMPRESSED_IMAGE)
    assert out.dtype == np.uint16 and DEPTH.max() > 255
    np.testing.assert_array_equal(out, DEPTH)


def test_compressed_depth_16uc1_and_32fc1() -> None:
    header = struct.pack("<iff", 0, 0.0, 0.0)
    msg = compressed("16UC1; compressedDepth png", header + png16(DEPTH))
    np.testing.assert_array_equal(decode_depth(msg, messages.COMPRESSED_IMAGE), DEPTH)
    # 32FC1: image_transport stores quantised inverse depth v = a / d + b (0: no return)
    a, b = 100.0, -10.0
    metres = np.array([[0.5, 1.0], [2.0, 0.0]], np.float32)
    inverse = np.where(metres > 0, a / np.where(metres > 0, metres, 1) + b, 0).astype(np.uint16)
    msg = compressed("32FC1; compressedDepth png", struct.pack("<iff", 0, a, b) + png16(inverse))
    out = decode_depth(msg, messages.COMPRESSED_IMAGE)
    assert out.dtype == np.float32 and np.isnan(out[1, 1])
    np.testing.assert_allclose(out[metres > 0], metres[metres > 0], rtol=1e-6)


@pytest.mark.parametrize("encoding, dtype, bigendian", [
    ("16UC1", "<u2", 0), ("mono16", "<u2", 0), ("16UC1", ">u2", 1), ("32FC1", "<f4", 0)])
def test_raw_depth_images(encoding: str, dtype: str, bigendian: int) -> None:
    values = DEPTH.astype(dtype) if dtype[1] == "u" else (DEPTH / 1000).astype(dtype)
    step = values.shape[1] * values.itemsize + 4          # row padding
    rows = np.zeros((values.shape[0], step), np.uint8)
    rows[:, : values.shape[1] * values.itemsize] = values.view(np.uint8).reshape(6, -1)
    msg = TYPES[messages.IMAGE](header=messages.header(1, "cam"), height=6, width=8,
                                encoding=encoding, is_bigendian=bigendian, step=step,
                                data=rows.reshape(-1))
    assert depth_encoding(msg) in ("16UC1", "32FC1")
    np.testing.assert_array_equal(decode_depth(msg, messages.IMAGE), values.astype(values.dtype
                                                                                   .newbyteorder("=")))


def test_colour_is_not_depth_and_bad_depth_is_an_error() -> None:
    assert depth_encoding(messages.image(1, np.zeros((2, 2, 3), np.uint8))) is None
    assert depth_encoding(compressed("rgb8; jpeg compressed bgr8", b"")) is None
    rgb = io.BytesIO()
    PILImage.fromarray(np.zeros((2, 2, 3), np.uint8)).save(rgb, format="png")
    with pytest.raises(DatasetError, match="not a single-channel depth image"):
        decode_depth(compressed("16UC1; png", rgb.getvalue()), messages.COMPRESSED_IMAGE)


def test_resize_nearest_takes_the_pixel_under_each_centre() -> None:
    small = resize_nearest(DEPTH, (3, 4))
    np.testing.assert_array_equal(small, DEPTH[1::2, 1::2])
    assert set(np.unique(resize_nearest(DEPTH, (7, 13)))) <= set(np.unique(DEPTH))


def test_scaled_intrinsics_project_a_point_to_the_same_place() -> None:
    k = np.array([[500.0, 0, 319.5], [0, 480.0, 239.5], [0, 0, 1]])
    p = np.hstack([k, np.array([[-30.0], [0.0], [0.0]])])
    new_k, new_p = scale_intrinsics(k, p, (480, 640), (240, 320))
    point = np.array([0.3, -0.2, 2.0, 1.0])
    u, v, w = p @ point
    u2, v2, w2 = new_p @ point
    # pixel centres: u' = (u + 0.5) * 320/640 - 0.5
    np.testing.assert_allclose([u2 / w2, v2 / w2], [(u / w + 0.5) / 2 - 0.5,
                                                    (v / w + 0.5) / 2 - 0.5], atol=1e-12)
    np.testing.assert_array_equal(new_k, new_p[:, :3])
    assert new_k[0, 2] == 159.5 and new_k[0, 0] == 250.0
