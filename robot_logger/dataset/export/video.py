"""Camera and depth streams of a robot_logger dataset to LeRobot v3 videos (PyAV).

One job per stream writes `videos/<feature>/chunk-000/file-NNN.mp4`: all episodes back to back,
frame `i` of a file at pts `i / fps` (so lerobot's `from_timestamp + frame_index / fps` lands on
it exactly), a new file once one passes `file_size_mb` (lerobot's 200 MB default). Frames are read
`_READ_FRAMES` at a time, so memory stays flat however long an episode is.

Defaults (measured with `tools/bench_export.py` and per camera on the simulator): libsvtav1 at
crf 30, preset 12, GOP 2 and yuv420p -- lerobot 0.6's own recorder defaults -- give 36.6 dB PSNR
(worst frame) at the simulator's 640x480 (148-215x smaller than raw frames, 70 frames/s on one
core) and 34.2 dB at 320x240. Below ~240 px 4:2:0 chroma subsampling alone costs the simulator's
sharp-edged pattern ~32 dB (crf 20 still gives 32.3 dB at 160x120): use `pix_fmt="yuv444p"` there.

Depth streams (uint16 millimetres or float metres, (T,H,W) or (T,H,W,1)) use lerobot 0.6's depth
video: log-quantised to 12-bit codes (depth 0.01-10 m, shift 3.5 m; a step of 1.5 mm at 1 m, 4.4 mm
at 10 m) stored losslessly as gray12le HEVC, which lerobot dequantises on read.

Per-channel image stats come from exact 256-bin histograms of every 4th pixel in each direction
(lerobot samples and downsizes frames to ~150 px for the same statistics).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import av
import h5py
import numpy as np
from isal import isal_zlib

from robot_logger.errors import ConfigError, DatasetError

__all__ = ["VideoOptions", "CODEC_DEFAULTS", "CODEC_NAMES", "EpisodeSpan", "StreamVideo",
           "encode_stream", "DEPTH_QUANT", "quantize_depth"]

_READ_FRAMES = 32
_STATS_STRIDE = 4
VIDEO_PATH = "videos/{key}/chunk-{chunk:03d}/file-{file:03d}.mp4"


@dataclass(frozen=True)
class DepthQuant:
    """lerobot 0.6's depth quantiser (configs/video.py defaults): metres, 12-bit codes."""

    depth_min: float = 0.01
    depth_max: float = 10.0
    shift: float = 3.5
    use_log: bool = True
    qmax: int = 4095


DEPTH_QUANT = DepthQuant()


# Encoders lerobot 0.6 reads (configs/video.py), with crf/preset defaults: 640x480 simulator
# cameras at GOP 2 give 36.6 dB (libsvtav1 30/12), 36.7 dB (h264 23/medium) worst-frame PSNR.
CODEC_DEFAULTS: dict[str, tuple[int, int | str | None]] = {
    "libsvtav1": (30, 12), "h264": (23, None), "hevc": (28, None), "libaom-av1": (30, None)}
CODEC_NAMES = {"libsvtav1": "av1", "libaom-av1": "av1"}  # encoder -> stream codec name


@dataclass(frozen=True)
class VideoOptions:
    """How cameras are encoded; `crf`/`preset` None means the codec's own default."""

    vcodec: str = "libsvtav1"
    crf: int | None = 30
    preset: int | str | None = 12
    gop: int = 2
    pix_fmt: str = "yuv420p"
    file_size_mb: int = 200
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_codec(cls, vcodec: str, crf: int | None = None,
                  preset: int | str | None = None) -> VideoOptions:
        """Options for `vcodec` with its default crf/preset where not given (CODEC_DEFAULTS)."""
        if vcodec not in CODEC_DEFAULTS:
            raise ConfigError(f"--vcodec: {vcodec!r} is not one of {sorted(CODEC_DEFAULTS)}")
        default_crf, default_preset = CODEC_DEFAULTS[vcodec]
        return cls(vcodec=vcodec, crf=default_crf if crf is None else crf,
                   preset=default_preset if preset is None else preset)

    def codec_options(self) -> dict[str, str]:
        """Options PyAV passes to the encoder (lerobot's names, so info.json reads the same)."""
        opts = {"g": str(self.gop)}
        if self.crf is not None:
            opts["crf"] = str(self.crf)
        if self.preset is not None:
            opts["preset"] = str(self.preset)
        return {**opts, **self.extra}


DEPTH_OPTIONS = VideoOptions(vcodec="hevc", crf=None, preset=None, pix_fmt="gray12le",
                             extra={"x265-params": "lossless=1:log-level=error"})


class EpisodeSpan(NamedTuple):
    """Where one episode of one stream lives: file indices and its seconds inside that file."""

    chunk_index: int
    file_index: int
    from_timestamp: float
    to_timestamp: float


@dataclass(frozen=True)
class StreamVideo:
    """What one encoding job wrote."""

    stream: str
    feature: str
    depth: bool
    height: int
    width: int
    episodes: tuple[EpisodeSpan, ...]
    files: tuple[str, ...]
    bytes: int
    frames: int
    seconds: float
    stats: dict[str, list[Any]]                 # lerobot stats over the whole stream
    episode_stats: tuple[dict[str, list[Any]], ...]


def quantize_depth(depth: np.ndarray, quant: DepthQuant = DEPTH_QUANT) -> np.ndarray:
    """Depth (uint16 mm or float m) to lerobot's 12-bit codes, uint16 (vectorised)."""
    metres = depth.astype(np.float32) / (1000.0 if depth.dtype.kind in "iu" else 1.0)
    if quant.use_log:
        lo, hi = math.log(quant.depth_min + quant.shift), math.log(quant.depth_max + quant.shift)
        norm = (np.log(np.maximum(metres + quant.shift, 1e-6)) - lo) / (hi - lo)
    else:
        norm = (metres - quant.depth_min) / (quant.depth_max - quant.depth_min)
    codes: np.ndarray = np.rint(np.clip(norm, 0.0, 1.0) * quant.qmax).astype(np.uint16)
    return codes


def _histogram_stats(hist: np.ndarray, scale: float, frames: int) -> dict[str, list[Any]]:
    """lerobot stats (per channel, shape (C,1,1); count = frames) from histograms (C, bins)."""
    values = np.arange(hist.shape[1], dtype=np.float64) / scale
    count = hist.sum(axis=1).astype(np.float64)
    mean = (hist * values).sum(axis=1) / count
    var = (hist * (values - mean[:, None]) ** 2).sum(axis=1) / count
    cum = np.cumsum(hist, axis=1) / count[:, None]
    nonzero = hist > 0
    out = {"min": values[nonzero.argmax(axis=1)],
           "max": values[hist.shape[1] - 1 - nonzero[:, ::-1].argmax(axis=1)],
           "mean": mean, "std": np.sqrt(var)}
    for q in (0.01, 0.10, 0.50, 0.90, 0.99):
        out[f"q{int(round(q * 100)):02d}"] = values[(cum < q).sum(axis=1)]
    stats: dict[str, list[Any]] = {k: [[[float(x)]] for x in v] for k, v in out.items()}
    return {**stats, "count": [int(frames)]}


class _Writer:
    """One open MP4; `frames` counts what went into it."""

    def __init__(self, path: Path, options: VideoOptions, fps: int, width: int, height: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.container = av.open(str(path), "w")
        try:
            stream = self.container.add_stream(options.vcodec, rate=fps,
                                               options=options.codec_options())
            if not isinstance(stream, av.VideoStream):
                raise TypeError(f"{options.vcodec} is not a video codec")
            self.stream: av.VideoStream = stream
            self.stream.width, self.stream.height = width, height
            self.stream.pix_fmt = options.pix_fmt
        except Exception as err:
            self.container.close()
            raise DatasetError(f"{path}: cannot encode {options.vcodec}/{options.pix_fmt} "
                               f"{width}x{height}: {err}") from err
        self.options = options
        self.time_base = Fraction(1, fps)
        self.frames = 0
        self.bytes = 0

    def write(self, frame: av.VideoFrame) -> None:
        frame.pts = self.frames
        frame.time_base = self.time_base
        self.frames += 1
        self._mux(frame)

    def close(self) -> int:
        self._mux(None)
        self.container.close()
        return self.path.stat().st_size

    def _mux(self, frame: av.VideoFrame | None) -> None:
        """Encode a frame (None: flush). FFmpeg opens the encoder at the first frame, so a crf
        or preset it rejects (hevc's crf stops at 51, a preset name that is not one) surfaces
        here: a DatasetError naming the file, encoder and options."""
        try:
            for packet in self.stream.encode(frame):
                self.bytes += packet.size
                self.container.mux(packet)
        except av.FFmpegError as err:
            self.container.close()
            given = ", ".join(f"{k} {v}" for k, v in self.options.codec_options().items()
                              if k in ("crf", "preset"))
            raise DatasetError(f"{self.path}: the {self.options.vcodec} encoder refused its "
                               f"options ({given}): {err}") from err


def _to_frames(block: np.ndarray, depth: bool, quant: DepthQuant) -> list[av.VideoFrame]:
    if depth:
        codes = quantize_depth(block.reshape(block.shape[:3]), quant)
        return [av.VideoFrame.from_ndarray(c, format="gray12le") for c in codes]
    if block.shape[-1] == 1:
        return [av.VideoFrame.from_ndarray(np.ascontiguousarray(f[..., 0]), format="gray")
                for f in block]
    return [av.VideoFrame.from_ndarray(f, format="rgb24") for f in block]


def _block_histogram(block: np.ndarray, depth: bool, quant: DepthQuant) -> np.ndarray:
    """(C, bins) counts of a subsampled block; depth counts millimetres up to 65535."""
    sub = block[:, ::_STATS_STRIDE, ::_STATS_STRIDE]
    if depth:
        metres_to_mm = 1.0 if sub.dtype.kind in "iu" else 1000.0
        mm = np.clip(np.rint(sub.astype(np.float64) * metres_to_mm), 0, 65535).astype(np.int64)
        return np.bincount(mm.ravel(), minlength=65536)[None, :]
    chans = sub.reshape(-1, sub.shape[-1])
    return np.stack([np.bincount(chans[:, c], minlength=256) for c in range(chans.shape[1])])


def _direct_gzip(ds: h5py.Dataset) -> bool:
    """Frame-chunked, gzip-only (the build's image layout): chunks can be inflated directly."""
    return (ds.chunks == (1, *ds.shape[1:]) and ds.compression == "gzip" and not ds.shuffle
            and not ds.fletcher32 and ds.scaleoffset is None)


def _read_block(ds: h5py.Dataset, lo: int, hi: int, direct: bool) -> np.ndarray:
    """Frames [lo, hi): the build's gzip frame chunks inflated with ISA-L (1.7x h5py's zlib
    path on 640x480 frames: 14.6 vs 25.4 ms), anything else through h5py."""
    if not direct:
        return np.asarray(ds[lo:hi])
    out = np.empty((hi - lo, *ds.shape[1:]), ds.dtype)
    zeros = (0,) * (ds.ndim - 1)
    for i in range(lo, hi):
        mask, raw = ds.id.read_direct_chunk((i, *zeros))
        data = raw if mask & 1 else isal_zlib.decompress(raw)  # bit 0 set: deflate skipped
        out[i - lo] = np.frombuffer(data, ds.dtype).reshape(ds.shape[1:])
    return out


def encode_stream(dataset: str, stream: str, feature: str, demos: list[str], out_root: str,
                  fps: int, options: VideoOptions, depth: bool,
                  report: Callable[[str, int], None] | None = None) -> StreamVideo:
    """Encode `/data/<demo>/obs/<stream>` of every demo in order into `out_root` (see module doc).

    `report(stream, frames)` is called after every block of frames. Runs in a worker process:
    it opens the dataset itself (sharded files are followed through their external links).
    """
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr otherwise
    started = time.perf_counter()
    opts = DEPTH_OPTIONS if depth else options
    spans: list[EpisodeSpan] = []
    files: list[str] = []
    ep_stats: list[dict[str, list[Any]]] = []
    total_hist: np.ndarray | None = None
    writer: _Writer | None = None
    size = frames = 0
    file_number = 0  # lerobot: 1000 files per chunk folder
    with h5py.File(dataset, "r") as handle:
        first = handle[f"data/{demos[0]}/obs/{stream}"]
        height, width = int(first.shape[1]), int(first.shape[2])
        for demo in demos:
            ds = handle[f"data/{demo}/obs/{stream}"]
            chunk_index, file_index = divmod(file_number, 1000)
            if writer is None:
                rel = VIDEO_PATH.format(key=feature, chunk=chunk_index, file=file_index)
                writer = _Writer(Path(out_root) / rel, opts, fps, width, height)
                files.append(rel)
            start = writer.frames
            hist = None
            direct = _direct_gzip(ds)
            for lo in range(0, ds.shape[0], _READ_FRAMES):
                block = _read_block(ds, lo, min(lo + _READ_FRAMES, ds.shape[0]), direct)
                for frame in _to_frames(block, depth, DEPTH_QUANT):
                    writer.write(frame)
                counts = _block_histogram(block, depth, DEPTH_QUANT)
                hist = counts if hist is None else hist + counts
                if report is not None:
                    report(stream, len(block))
            frames += ds.shape[0]
            spans.append(EpisodeSpan(chunk_index, file_index, start / fps, writer.frames / fps))
            if hist is not None:
                ep_stats.append(_histogram_stats(hist, 1.0 if depth else 255.0, ds.shape[0]))
                total_hist = hist if total_hist is None else total_hist + hist
            if writer.bytes >= opts.file_size_mb * (1 << 20):
                size += writer.close()
                writer, file_number = None, file_number + 1
        if writer is not None:
            size += writer.close()
    stats = ({} if total_hist is None else
             _histogram_stats(total_hist, 1.0 if depth else 255.0, frames))
    return StreamVideo(stream, feature, depth, height, width, tuple(spans), tuple(files), size,
                       frames, time.perf_counter() - started, stats, tuple(ep_stats))
