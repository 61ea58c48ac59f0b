"""SequenceDataset: windows equal the stored arrays, edge padding, splits, normalization,
workers, robomimic compatibility."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from robot_logger.dataset.read.loader import SequenceDataset
from robot_logger.errors import DatasetError
from tests.support.dataset_factory import built_dataset

KEYS = ["cam1", "arm1_pos", "lidar"]


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_dataset(tmp_path_factory.mktemp("loader"))


@pytest.fixture(scope="module")
def stored(dataset_path: Path) -> dict[str, np.ndarray]:
    """Every array of every episode, read with plain h5py: "demo_0/obs/cam1" -> array."""
    arrays = {}
    with h5py.File(dataset_path, "r") as f:
        f["data"].visititems(lambda name, obj: arrays.__setitem__(name, obj[()])
                             if isinstance(obj, h5py.Dataset) else None)
    return arrays


def _lengths(dataset_path: Path) -> list[int]:
    with h5py.File(dataset_path, "r") as f:
        return [int(f[f"data/demo_{i}"].attrs["num_samples"]) for i in range(len(f["data"]))]


def _expected_window(array: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    wanted = np.arange(start, stop)
    return array[np.clip(wanted, 0, len(array) - 1)], (wanted >= 0) & (wanted < len(array))


@pytest.mark.parametrize("cache_lowdim", [True, False])
@pytest.mark.parametrize("seq_length,frame_stack,horizon", [(1, 1, 1), (3, 2, 4), (2, 3, 1)])
def test_every_window_equals_the_stored_arrays(dataset_path: Path, stored: dict[str, np.ndarray],
                                               seq_length: int, frame_stack: int, horizon: int,
                                               cache_lowdim: bool) -> None:
    ds = SequenceDataset(dataset_path, KEYS, seq_length=seq_length, frame_stack=frame_stack,
                         action_horizon=horizon, split=None, cache_lowdim=cache_lowdim)
    assert ds.demos == ["demo_0", "demo_1", "demo_2"]
    assert len(ds) == sum(_lengths(dataset_path))  # pad=True: one sample per frame
    for index in range(len(ds)):
        episode, t = ds.locate(index)
        demo = ds.demos[episode]
        sample = ds[index]
        for key in ["obs/cam1", "obs/arm1_pos", "obs/lidar", "obs/lidar_mask", "valid/cam1"]:
            want, real = _expected_window(stored[f"{demo}/{key}"], t - frame_stack + 1,
                                          t + seq_length)
            np.testing.assert_array_equal(sample[key], want, err_msg=f"{key} {demo} t={t}")
            np.testing.assert_array_equal(sample["pad_mask"], real)
        want, real = _expected_window(stored[f"{demo}/actions"], t, t + seq_length + horizon - 1)
        np.testing.assert_array_equal(sample["actions"], want)
        np.testing.assert_array_equal(sample["actions_pad_mask"], real)


def test_padding_repeats_the_edge_frames_at_both_ends(dataset_path: Path,
                                                      stored: dict[str, np.ndarray]) -> None:
    ds = SequenceDataset(dataset_path, ["arm1_pos"], frame_stack=3, action_horizon=4, split=None)
    pos, actions = stored["demo_1/obs/arm1_pos"], stored["demo_1/actions"]
    before, length = _lengths(dataset_path)[0], len(pos)
    first = ds[before]  # demo_1, frame 0
    assert ds.locate(before) == (1, 0)
    np.testing.assert_array_equal(first["obs/arm1_pos"], pos[[0, 0, 0]])
    assert not np.array_equal(pos[0], pos[1])  # the repeat is visible
    assert first["pad_mask"].tolist() == [False, False, True]
    last = ds[before + length - 1]  # demo_1, its last frame
    np.testing.assert_array_equal(last["actions"], actions[[-1, -1, -1, -1]])
    assert last["actions_pad_mask"].tolist() == [True, False, False, False]
    assert last["pad_mask"].all()


def test_without_padding_only_full_windows(dataset_path: Path) -> None:
    ds = SequenceDataset(dataset_path, ["arm1_pos"], seq_length=2, frame_stack=2,
                         action_horizon=3, split=None, pad=False)
    # anchors t with t-1 >= 0 and t+3 <= T-1: T-4 per episode
    assert len(ds) == sum(n - 4 for n in _lengths(dataset_path))
    for index in range(len(ds)):
        sample = ds[index]
        assert sample["pad_mask"].all() and sample["actions_pad_mask"].all()


def test_split_selects_episodes_from_mask(dataset_path: Path) -> None:
    train = SequenceDataset(dataset_path, ["arm1_pos"], split="train")
    valid = SequenceDataset(dataset_path, ["arm1_pos"], split="valid")
    lengths = _lengths(dataset_path)
    with h5py.File(dataset_path, "r") as f:
        assert train.demos == [n.decode() for n in f["mask/train"][()]]
        assert valid.demos == [n.decode() for n in f["mask/valid"][()]]
    assert sorted(train.demos + valid.demos) == ["demo_0", "demo_1", "demo_2"]
    assert len(train) == sum(lengths[int(d[5:])] for d in train.demos)
    assert len(valid) == sum(lengths[int(d[5:])] for d in valid.demos)
    with pytest.raises(DatasetError, match="no split 'test'.*train"):
        SequenceDataset(dataset_path, ["arm1_pos"], split="test")


def test_normalization_round_trip(dataset_path: Path) -> None:
    raw = SequenceDataset(dataset_path, ["arm1_pos", "cam1"], action_horizon=5)
    norm = SequenceDataset(dataset_path, ["arm1_pos", "cam1"], action_horizon=5, normalize=True)
    with h5py.File(dataset_path, "r") as f:
        mean, std = f["meta/stats/actions/mean"][()], f["meta/stats/actions/std"][()]
        pos_mean, pos_std = f["meta/stats/arm1_pos/mean"][()], f["meta/stats/arm1_pos/std"][()]
    for index in (0, 5, len(raw) - 1):
        a, b = raw[index], norm[index]
        np.testing.assert_allclose(b["actions"], (a["actions"] - mean) / std, rtol=1e-5)
        np.testing.assert_allclose(norm.unnormalize_actions(b["actions"]), a["actions"],
                                   rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(b["obs/arm1_pos"], (a["obs/arm1_pos"] - pos_mean) / pos_std,
                                   rtol=1e-5)
        np.testing.assert_array_equal(b["obs/cam1"], a["obs/cam1"])  # images are not scaled
    # /meta/stats are over the train episodes: one action per train frame comes out standardized
    single = SequenceDataset(dataset_path, ["arm1_pos"], normalize=True)
    normalized = np.stack([single[i]["actions"][0] for i in range(len(single))])
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(normalized.std(axis=0), 1.0, rtol=1e-3)


def test_errors_name_the_problem(tmp_path: Path, dataset_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing.h5"):
        SequenceDataset(tmp_path / "missing.h5", ["arm1_pos"])
    with pytest.raises(DatasetError, match="no obs key 'cam9'.*arm1_pos"):
        SequenceDataset(dataset_path, ["cam9"])
    with pytest.raises(ValueError, match="action_horizon"):
        SequenceDataset(dataset_path, ["arm1_pos"], action_horizon=0)
    with pytest.raises(IndexError):
        SequenceDataset(dataset_path, ["arm1_pos"])[100]


def test_pickles_without_its_handle_and_reopens(dataset_path: Path) -> None:
    ds = SequenceDataset(dataset_path, KEYS, cache_lowdim=False)
    before = ds[3]
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._file is None
    for key, value in clone[3].items():
        np.testing.assert_array_equal(value, before[key])


def test_follows_external_links_to_shards(tmp_path: Path, dataset_path: Path) -> None:
    top = tmp_path / "top.h5"
    with h5py.File(top, "w") as f:
        for name in ("demo_0", "demo_1", "demo_2"):
            f[f"data/{name}"] = h5py.ExternalLink(str(dataset_path), f"/data/{name}")
        f["mask/train"] = h5py.ExternalLink(str(dataset_path), "/mask/train")
    linked = SequenceDataset(top, KEYS, cache_lowdim=False)
    direct = SequenceDataset(dataset_path, KEYS, cache_lowdim=False)
    assert len(linked) == len(direct)
    for index in range(len(direct)):
        for key, value in direct[index].items():
            np.testing.assert_array_equal(linked[index][key], value)


@pytest.mark.parametrize("context", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_dataloader_two_workers_match_single_process(dataset_path: Path, context: str) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")
    ds = SequenceDataset(dataset_path, KEYS, frame_stack=2, action_horizon=3, cache_lowdim=False)
    ds[0]  # open the file in the parent first: forked workers must not reuse that handle
    single = list(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=0))
    multi = list(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2,
                                             multiprocessing_context=context))
    assert len(multi) == len(single)
    for got, want in zip(multi, single):
        assert got.keys() == want.keys()
        for key in want:
            assert torch.equal(got[key], want[key]), key


def test_robomimic_reading_path_key_by_key(dataset_path: Path) -> None:
    """What robomimic's SequenceDataset/file_utils read, in the order they read it."""
    with h5py.File(dataset_path, "r") as f:
        demos = [elem.decode("utf-8") for elem in np.array(f["mask/train"][:])]
        assert demos and set(demos) <= set(f["data"].keys())
        assert isinstance(json.loads(f["data"].attrs["env_args"]), dict)
        lengths = {ep: int(f[f"data/{ep}"].attrs["num_samples"]) for ep in f["data"]}
        assert int(f["data"].attrs["total"]) == sum(lengths.values())
        for ep, n in lengths.items():
            assert f[f"data/{ep}/actions"].shape[0] == n
            assert f[f"data/{ep}/actions"][()].astype("float32").ndim == 2
            for key in ("rewards", "dones"):
                assert f[f"data/{ep}/{key}"].shape == (n,)
            for key in f[f"data/{ep}/obs"]:
                assert f[f"data/{ep}/obs/{key}"].shape[0] == n


ROBOMIMIC = ("robomimic==0.3.0", "termcolor")
ROBOMIMIC_CACHE_ENV = "ROBOT_LOGGER_TEST_CACHE"


@pytest.fixture(scope="module")
def robomimic_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding robomimic 0.3.0 (without its heavy deps: its dataset code needs only
    torch, h5py, numpy and termcolor), pip-installed once into a cache folder
    ($ROBOT_LOGGER_TEST_CACHE, else ~/.cache/robot_logger-tests) and reused by later runs."""
    pytest.importorskip("torch", reason="robomimic's dataset code needs torch")
    default = Path.home() / ".cache" / "robot_logger-tests"
    cache = Path(os.environ.get(ROBOMIMIC_CACHE_ENV, default))
    site = cache / "-".join(ROBOMIMIC).replace("==", "-")
    if not (site / "robomimic").is_dir():
        fresh = tmp_path_factory.mktemp("robomimic_site")
        install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                                  "--target", str(fresh), *ROBOMIMIC],
                                 capture_output=True, text=True, check=False)
        if install.returncode != 0:
            pytest.skip(f"robomimic could not be installed from PyPI: {install.stderr[-300:]}")
        cache.mkdir(parents=True, exist_ok=True)
        try:
            fresh.rename(site)
        except OSError:                        # another run cached it meanwhile (or across fs)
            return fresh
    return site


def robomimic_windows(site: Path, path: Path, keys: list[str], frame_stack: int,
                      seq_length: int) -> list[dict[str, np.ndarray]]:
    """Every sample of robomimic's own SequenceDataset on `path` (low-dim and rgb `keys`)."""
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    import robomimic.utils.obs_utils as obs_utils
    from robomimic.utils.dataset import SequenceDataset as TheirDataset

    with h5py.File(path, "r") as f:
        images = [k for k in keys if f["data/demo_0/obs"][k].ndim == 4]
    obs_utils.initialize_obs_utils_with_obs_specs(
        {"obs": {"low_dim": [k for k in keys if k not in images], "rgb": images}})
    theirs = TheirDataset(hdf5_path=str(path), obs_keys=keys,
                          dataset_keys=["actions", "rewards", "dones"], frame_stack=frame_stack,
                          seq_length=seq_length, filter_by_attribute="train",
                          hdf5_cache_mode="low_dim", load_next_obs=False)
    return [theirs[i] for i in range(len(theirs))]


def assert_robomimic_reads_what_we_read(site: Path, path: Path, keys: list[str]) -> None:
    """robomimic's windows (frame_stack 2, seq_length 3) equal ours, key by key."""
    theirs = robomimic_windows(site, path, keys, frame_stack=2, seq_length=3)
    ours = SequenceDataset(path, keys, frame_stack=2, seq_length=3)
    assert len(theirs) == len(ours) > 0
    for index, sample in enumerate(theirs):
        mine = ours[index]
        for key in keys:
            np.testing.assert_array_equal(sample["obs"][key], mine[f"obs/{key}"])
        # robomimic's actions span the obs window (history too); ours start at the anchor
        np.testing.assert_array_equal(sample["actions"][1:], mine["actions"][:3])


def test_robomimic_reads_a_small_file_as_we_do(robomimic_site: Path, tmp_path: Path) -> None:
    """Default-suite version of the test below: one short episode, one small camera."""
    path = built_dataset(tmp_path, duration_s=1.0, episodes=1, arms=1, cameras=1,
                         image_height=16, image_width=24, lidar=False, faults="")
    assert_robomimic_reads_what_we_read(robomimic_site, path, ["arm1_pos", "cam1"])


@pytest.mark.slow
def test_robomimic_sequence_dataset_reads_our_file(robomimic_site: Path,
                                                   dataset_path: Path) -> None:
    """robomimic 0.3.0's own SequenceDataset on the module's dataset (3 episodes, gaps)."""
    assert_robomimic_reads_what_we_read(robomimic_site, dataset_path, ["arm1_pos", "cam1"])


def test_chunk_cache_holds_a_window_of_image_chunks(dataset_path: Path) -> None:
    ds = SequenceDataset(dataset_path, ["cam1"], frame_stack=8)
    ds[0]
    _, slots, nbytes, _ = ds._file.id.get_access_plist().get_cache()
    with h5py.File(dataset_path, "r") as f:
        cam = f["data/demo_0/obs/cam1"]
        chunk_bytes = int(np.prod(cam.chunks)) * cam.dtype.itemsize
    assert nbytes >= 8 * chunk_bytes and nbytes >= 1 << 20
    # HDF5's advice: ~100 slots per chunk that fits, a prime (the default is 521)
    assert slots >= 100 * 8 and all(slots % d for d in range(2, int(slots**0.5) + 1))


def test_robomimic_reads_next_obs_filtered_by_success(robomimic_site: Path,
                                                      sensor_built: tuple[Path, object]) -> None:
    """robomimic 0.3.0's SequenceDataset with load_next_obs and the /mask/success filter key
    (offline RL's (s, s') pairs) reads exactly our obs and next_obs of the successful episodes."""
    if str(robomimic_site) not in sys.path:
        sys.path.insert(0, str(robomimic_site))
    import robomimic.utils.obs_utils as obs_utils
    from robomimic.utils.dataset import SequenceDataset as TheirDataset

    path, _ = sensor_built
    keys = ["arm1_pos", "wrench", "gripper"]
    obs_utils.initialize_obs_utils_with_obs_specs({"obs": {"low_dim": keys}})
    theirs = TheirDataset(hdf5_path=str(path), obs_keys=keys, dataset_keys=["actions"],
                          load_next_obs=True, frame_stack=1, seq_length=1,
                          filter_by_attribute="success", hdf5_cache_mode="low_dim")
    with h5py.File(path, "r") as f:
        success = sorted(n.decode() for n in f["mask/success"][()])
        assert sorted(theirs.demos) == success and len(success) == 2
        assert {f[f"data/{d}"].attrs["outcome"] for d in success} == {"success"}
        assert len(theirs) == sum(int(f[f"data/{d}"].attrs["num_samples"]) for d in success)
        for index in range(len(theirs)):
            sample = theirs[index]
            demo = theirs._index_to_demo_id[index]
            offset = index - theirs._demo_id_to_start_indices[demo]
            for part in ("obs", "next_obs"):
                for key in keys:
                    np.testing.assert_array_equal(sample[part][key][0],
                                                  f[f"data/{demo}/{part}/{key}"][offset])
            last = offset == int(f[f"data/{demo}"].attrs["num_samples"]) - 1
            np.testing.assert_array_equal(sample["next_obs"]["wrench"][0],
                                          f[f"data/{demo}/obs/wrench"][offset + (not last)])
