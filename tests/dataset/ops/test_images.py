"""Image decoding for every raw encoding and compressed format, and resizing."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from robot_logger.core import messages
from robot_logger.dataset.ops.images import decode_image, resize
from robot_logger.errors import DatasetError

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def raw_image(pixels: np.ndarray, encoding: str, pad: int = 0):
    """An Image message through CDR, with `pad` bytes of padding after every row."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    padded = np.concatenate([rows, np.full((height, pad), 0xEE, np.uint8)], axis=1)
    msg = messages.typestore().types[messages.IMAGE](
        header=messages.header(1, "cam"), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=padded.shape[1], data=padded.reshape(-1))
    return messages.deserialize(messages.serialize(msg, messages.IMAGE), messages.IMAGE)


def compressed_image(data: bytes, fmt: str):
    msg = messages.typestore().types[messages.COMPRESSED_IMAGE](
        header=messages.header(1, "cam"), format=fmt, data=np.frombuffer(data, np.uint8))
    return messages.deserialize(messages.serialize(msg, messages.COMPRESSED_IMAGE),
                                messages.COMPRESSED_IMAGE)


def encoded(pixels: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(pixels.squeeze()).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("encoding, stored", [
    ("rgb8", RGB),
    ("bgr8", RGB[..., ::-1]),
    ("rgba8", np.concatenate([RGB, np.full((5, 7, 1), 9, np.uint8)], axis=2)),
    ("bgra8", np.concatenate([RGB[..., ::-1], np.full((5, 7, 1), 9, np.uint8)], axis=2)),
])
def test_color_encodings_decode_to_rgb(encoding, stored, pad):
    out = decode_image(raw_image(stored, encoding, pad), messages.IMAGE)
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize("pad", [0, 1])
def test_mono8_keeps_one_channel(pad):
    mono = RGB[..., 0]
    out = decode_image(raw_image(mono, "mono8", pad), messages.IMAGE)
    assert out.shape == (5, 7, 1)
    np.testing.assert_array_equal(out[..., 0], mono)


def test_rgb8_without_padding_is_a_view_of_the_message():
    msg = raw_image(RGB, "rgb8")
    assert np.shares_memory(decode_image(msg, messages.IMAGE), msg.data)


def test_data_length_mismatch_names_sizes():
    msg = raw_image(RGB, "rgb8")
    msg.data = msg.data[:-1]
    with pytest.raises(DatasetError, match=r"104 bytes, expected height 5 x step 21 = 105"):
        decode_image(msg, messages.IMAGE)


def test_step_shorter_than_row_is_rejected():
    msg = raw_image(RGB, "rgb8")
    msg.step = 20
    with pytest.raises(DatasetError, match="step 20 is less than width 7"):
        decode_image(msg, messages.IMAGE)


@pytest.mark.parametrize("encoding", ["16UC1", "yuv422", "bayer_rggb8"])
def test_unsupported_encoding_is_named(encoding):
    msg = raw_image(RGB, "rgb8")
    msg.encoding = encoding
    with pytest.raises(DatasetError, match=f"unsupported image encoding '{encoding}'"):
        decode_image(msg, messages.IMAGE)


def test_png_decodes_exactly():
    out = decode_image(compressed_image(encoded(RGB, "PNG"), "png"), messages.COMPRESSED_IMAGE)
    np.testing.assert_array_equal(out, RGB)


def test_png_mono_and_palette():
    mono = RGB[..., 1]
    out = decode_image(compressed_image(encoded(mono, "PNG"), "mono8; png compressed"),
                       messages.COMPRESSED_IMAGE)
    assert out.shape == (5, 7, 1)
    np.testing.assert_array_equal(out[..., 0], mono)
    buf = io.BytesIO()
    PILImage.fromarray(RGB).convert("P").save(buf, format="PNG")
    palette = decode_image(compressed_image(buf.getvalue(), "png"), messages.COMPRESSED_IMAGE)
    assert palette.shape == (5, 7, 3)


def test_jpeg_decodes_close_to_source():
    smooth = np.zeros((32, 48, 3), np.uint8)
    smooth[..., 0] = np.linspace(0, 255, 48, dtype=np.uint8)
    smooth[..., 2] = 200
    data = encoded(smooth, "JPEG")
    out = decode_image(compressed_image(data, "bgr8; jpeg compressed bgr8"),
                       messages.COMPRESSED_IMAGE)
    assert out.shape == (32, 48, 3)
    assert np.abs(out.astype(int) - smooth).mean() < 3


def test_corrupt_compressed_data_raises():
    data = encoded(RGB, "PNG")
    with pytest.raises(DatasetError, match="cannot decode compressed image"):
        decode_image(compressed_image(data[: len(data) // 2], "png"), messages.COMPRESSED_IMAGE)
    with pytest.raises(DatasetError, match="cannot decode compressed image"):
        decode_image(compressed_image(b"not an image", "jpeg"), messages.COMPRESSED_IMAGE)


def test_unsupported_compressed_format_is_named():
    with pytest.raises(DatasetError, match="format 'h264'"):
        decode_image(compressed_image(b"\x00\x00\x01", "h264"), messages.COMPRESSED_IMAGE)


def test_other_message_type_is_rejected():
    with pytest.raises(DatasetError, match="not an image message type"):
        decode_image(raw_image(RGB, "rgb8"), messages.POINTCLOUD2)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_resize_keeps_dtype_and_channels(channels):
    image = RNG.integers(0, 256, size=(40, 60, channels), dtype=np.uint8)
    for size in [(20, 30), (80, 90), (40, 60)]:
        out = resize(image, size)
        assert out.shape == (*size, channels) and out.dtype == np.uint8


def test_resize_shrink_averages_area():
    image = np.zeros((4, 4, 1), np.uint8)
    image[:2, :2] = 200
    out = resize(image, (2, 2))
    np.testing.assert_array_equal(out[..., 0], [[200, 0], [0, 0]])
    flat = np.full((30, 40, 3), 77, np.uint8)
    np.testing.assert_array_equal(resize(flat, (7, 11)), 77)
    np.testing.assert_array_equal(resize(flat, (61, 83)), 77)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(("factor_h", "factor_w"), [(2, 2), (4, 2), (1, 4), (8, 8)])
def test_resize_by_powers_of_two_is_the_exact_block_mean(channels, factor_h, factor_w):
    """Truth: each output pixel is the mean of its factor_h x factor_w block, rounded half up
    (a two-pass box filter rounds twice and is off by one on some pixels)."""
    image = RNG.integers(0, 256, size=(48, 64, channels), dtype=np.uint8)
    height, width = 48 // factor_h, 64 // factor_w
    blocks = image.reshape(height, factor_h, width, factor_w, channels).astype(np.int64)
    area = factor_h * factor_w
    truth = (blocks.sum(axis=(1, 3)) * 2 + area) // (2 * area)
    np.testing.assert_array_equal(resize(image, (height, width)), truth)


def test_resize_rejects_bad_input():
    with pytest.raises(DatasetError, match="two positive integers"):
        resize(RGB, (0, 4))
    with pytest.raises(DatasetError, match="uint8"):
        resize(RGB.astype(np.float32), (2, 2))
