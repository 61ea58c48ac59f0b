"""DatasetWriter: temp file + rename, overwrite rules, failures leave no file, frame sinks."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from robot_logger.dataset import schema
from robot_logger.dataset.build.writer import DatasetWriter, partial_path
from robot_logger.errors import ConfigError, DatasetError

META = {"root_attrs": {"created_by": "test"}, "data_attrs": {"rate_hz": 10.0},
        "masks": {"train": ["demo_0"], "valid": []},
        "stats": {"arm": {"mean": np.zeros(2)}}, "joint_names": {"arm": ["j1", "j2"]}}


def write_one(path: Path, *, compression: str = "gzip", overwrite: bool = False,
              level: int = 1) -> np.ndarray:
    frames = np.random.default_rng(0).integers(0, 255, (4, 6, 8, 3), dtype=np.uint8)
    with DatasetWriter(path, overwrite=overwrite) as out:
        demo = out.episode("demo_0", {"num_samples": 4})
        demo.array("timestamps", np.arange(4), np.int64)
        sink = demo.frames("obs/cam", count=4, frame_shape=(6, 8, 3), dtype=np.uint8,
                           compression=compression, level=level)
        for i in (2, 0, 3, 1):                       # any order
            sink.write(i, frames[i])
        assert partial_path(path).exists()
        out.finish(**META)
    return frames


@pytest.mark.parametrize("compression, level", [("gzip", 1), ("gzip", 6), ("gzip", 0),
                                                ("lzf", 1), ("none", 1), ("blosc", 1),
                                                ("robomimic", 1), ("fast", 1), ("small", 1)])
def test_frames_round_trip_with_every_filter(tmp_path: Path, compression: str,
                                             level: int) -> None:
    path = tmp_path / "out.h5"
    frames = write_one(path, compression=compression, level=level)
    assert path.exists() and not partial_path(path).exists()
    with h5py.File(path) as h5:
        cam = h5["data/demo_0/obs/cam"]
        assert cam.chunks == (1, 6, 8, 3)
        if compression not in ("blosc", "fast", "small"):
            assert cam.compression == {"gzip": "gzip", "lzf": "lzf",
                                       "robomimic": "gzip"}.get(compression)
        np.testing.assert_array_equal(cam[()], frames)
        assert h5.attrs[schema.ATTR_FORMAT_VERSION] == schema.FORMAT_VERSION
        assert h5["data"].attrs["total"] == 4
        assert h5["mask/train"][()].tolist() == [b"demo_0"]
        assert h5["meta/joint_names/arm"][()].tolist() == [b"j1", b"j2"]
        assert h5["meta/stats/arm/mean"].dtype == np.float32


# HDF5 filter ids: bitshuffle 32008, Blosc2 32026 (the hdf5plugin filters behind the profiles)
PROFILE_FILTERS = {"robomimic": "gzip", "fast": "32008", "small": "32026"}
READ_FIRST_FRAME = """
import sys
import numpy as np
{opener}
with {open_call} as h5:
    print(int(np.asarray(h5["data/demo_0/obs/cam"][()], np.int64).sum()))
"""


@pytest.mark.parametrize("profile", sorted(PROFILE_FILTERS))
def test_image_profiles_and_who_reads_them(tmp_path: Path, profile: str) -> None:
    """robomimic: plain h5py reads it (robomimic's own reader); fast/small: our reader does,
    registering hdf5plugin's filters itself, and plain h5py without hdf5plugin cannot."""
    path = tmp_path / "out.h5"
    frames = write_one(path, compression=profile, level=1)
    with h5py.File(path) as h5:
        assert PROFILE_FILTERS[profile] in h5["data/demo_0/obs/cam"]._filters
    total = str(int(frames.astype(np.int64).sum()))
    ours = READ_FIRST_FRAME.format(opener="from robot_logger.dataset.read.h5 import open_dataset",
                                   open_call="open_dataset(sys.argv[1])")
    plain = READ_FIRST_FRAME.format(opener="import h5py", open_call="h5py.File(sys.argv[1])")
    runs = [subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                           text=True, timeout=120) for code in (ours, plain)]
    assert runs[0].stdout.strip() == total, runs[0].stderr
    if profile == "robomimic":
        assert runs[1].stdout.strip() == total, runs[1].stderr
    else:
        assert runs[1].returncode != 0 and "read data" in runs[1].stderr


def test_refuses_to_overwrite_without_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "out.h5"
    path.write_bytes(b"keep me")
    with pytest.raises(DatasetError, match="exists; pass --overwrite"):
        write_one(path)
    assert path.read_bytes() == b"keep me"
    write_one(path, overwrite=True)
    assert h5py.is_hdf5(path)


def test_a_full_disk_removes_the_partial_file_and_keeps_the_old_output(tmp_path: Path) -> None:
    path = tmp_path / "out.h5"
    path.write_bytes(b"old")
    with pytest.raises(DatasetError, match="disk full") as err:
        with DatasetWriter(path, overwrite=True) as out:
            out.episode("demo_0", {})
            raise OSError(errno.ENOSPC, "No space left on device")
    assert "no partial file" in str(err.value)
    assert not partial_path(path).exists() and path.read_bytes() == b"old"


def test_our_own_errors_pass_through_and_clean_up(tmp_path: Path) -> None:
    path = tmp_path / "out.h5"
    with pytest.raises(ConfigError, match="bad key"):
        with DatasetWriter(path):
            raise ConfigError("bad key")
    assert not partial_path(path).exists() and not path.exists()


def test_wrong_frame_shape_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="resize"):
        with DatasetWriter(tmp_path / "out.h5") as out:
            sink = out.episode("demo_0", {}).frames("obs/cam", count=2, frame_shape=(4, 4, 3),
                                                    dtype=np.uint8, compression="gzip", level=1)
            sink.write(0, np.zeros((5, 4, 3), np.uint8))
    assert not list(tmp_path.iterdir())


def test_missing_output_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such directory"):
        with DatasetWriter(tmp_path / "nowhere" / "out.h5"):
            pass


def test_a_failed_final_flush_raises_instead_of_succeeding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last frames are compressed in the pool and written in __exit__; zlib raising there
    (Z_MEM_ERROR, -4, when it runs out of memory) must fail the block, not lose the output."""
    import zlib

    from robot_logger.dataset.build import writer

    def out_of_memory(data: bytes, level: int) -> bytes:
        raise zlib.error("Error -4 while compressing data: insufficient memory")

    path = tmp_path / "out.h5"
    with pytest.raises(DatasetError, match=r"obs/cam.*frame 0.*insufficient memory"):
        with DatasetWriter(path) as out:
            demo = out.episode("demo_0", {"num_samples": 1})
            sink = demo.frames("obs/cam", count=1, frame_shape=(6, 8, 3), dtype=np.uint8,
                               compression="gzip", level=1)
            monkeypatch.setattr(writer, "deflate", out_of_memory)
            sink.write(0, np.zeros((6, 8, 3), np.uint8))
            out.finish(**META)
    assert not path.exists() and not partial_path(path).exists()


def test_programming_errors_surface_as_themselves(tmp_path: Path) -> None:
    """Only I/O failures are 'cannot write dataset'; a bug (here: an episode created twice, which
    h5py refuses with ValueError) must show its own type and message, and still clean up."""
    path = tmp_path / "out.h5"
    with pytest.raises(ValueError, match="name already exists"):
        with DatasetWriter(path) as out:
            out.episode("demo_0", {})
            out.episode("demo_0", {})
    assert not path.exists() and not partial_path(path).exists()
