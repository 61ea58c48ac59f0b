"""Sharded output: an index of external links (a plain file for one shard), merged stats, and
the loader and validate reading both alike."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from robot_logger.dataset import schema
from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.dataset.build.shards import shard_path, shards_dir
from robot_logger.dataset.ops.stats import DEFAULT_BINS
from robot_logger.dataset.read.loader import SequenceDataset
from robot_logger.dataset.read.validate import validate_dataset
from robot_logger.sim import Cell, CellSpec, write_bag
from tests.support.dataset_compare import assert_same_dataset, has_manifest

SMALL = {"image_height": 24, "image_width": 32, "lidar_points": 256, "cameras": 1}
# Named so that path order differs from creation order; 2, 1 and 2 episodes.
BAGS = {"b_middle": (2.0, 2, 1), "a_first": (1.5, 1, 2), "c_last": (2.0, 2, 3)}


def make_bags(root: Path) -> Path:
    for name, (duration, episodes, seed) in BAGS.items():
        write_bag(root / name, Cell(CellSpec(duration_s=duration, episodes=episodes, seed=seed,
                                             **SMALL)))
    return root


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three bags built into one index + three shards (read-only for the tests)."""
    root = tmp_path_factory.mktemp("sharded")
    bags = make_bags(root / "bags")
    summary = build_dataset([bags], root / "out.h5", rate_hz=10)
    assert (summary.shards_built, summary.shards_reused, summary.episodes) == (3, 0, 5)
    return root / "out.h5"


def test_several_bags_give_an_index_of_relative_links_into_shards(sharded: Path) -> None:
    assert sorted(p.name for p in shards_dir(sharded).iterdir()) == [
        "part-00000.h5", "part-00001.h5", "part-00002.h5"]
    with h5py.File(sharded, "r") as h5:
        demos = schema.sorted_demos(h5[schema.DATA].keys())
        assert demos == [f"demo_{i}" for i in range(5)]
        links = [h5[schema.DATA].get(d, getlink=True) for d in demos]
        assert all(isinstance(link, h5py.ExternalLink) for link in links)
        assert [(link.filename, link.path) for link in links] == [
            ("out.shards/part-00000.h5", "/data/demo_0"),
            ("out.shards/part-00001.h5", "/data/demo_0"),
            ("out.shards/part-00001.h5", "/data/demo_1"),
            ("out.shards/part-00002.h5", "/data/demo_0"),
            ("out.shards/part-00002.h5", "/data/demo_1")]
        # numbered by bag path, then time
        bags = [Path(h5[schema.DATA][d].attrs["source_bag"]).name for d in demos]
        starts = [int(h5[schema.DATA][d].attrs["t_start_ns"]) for d in demos]
        assert bags == ["a_first", "b_middle", "b_middle", "c_last", "c_last"]
        assert starts[1] < starts[2] and starts[3] < starts[4]
        masks = {s: sorted(n.decode() for n in h5[f"{schema.MASK}/{s}"][()])
                 for s in schema.SPLITS}
        assert sorted(masks["train"] + masks["valid"]) == sorted(demos) and masks["valid"]
        assert int(h5[schema.DATA].attrs[schema.ATTR_TOTAL]) == sum(
            h5[schema.DATA][d]["timestamps"].shape[0] for d in demos)
    index_bytes = sharded.stat().st_size
    assert index_bytes * 5 < min(p.stat().st_size for p in shards_dir(sharded).iterdir())


def test_one_bag_gives_one_plain_file(tmp_path: Path) -> None:
    bags = make_bags(tmp_path / "bags")
    out = tmp_path / "one.h5"
    summary = build_dataset([bags / "b_middle"], out, rate_hz=10, workers=1)
    assert (summary.shards_built, summary.episodes) == (1, 2)
    assert not shards_dir(out).exists()
    with h5py.File(out, "r") as h5:
        assert all(isinstance(h5[schema.DATA].get(d, getlink=True), h5py.HardLink)
                   for d in h5[schema.DATA])
    assert has_manifest(out) and validate_dataset(out).ok


def flattened(index: Path, into: Path) -> Path:
    """A single-file copy of a sharded dataset: every external link replaced by its target."""
    with h5py.File(index, "r") as src, h5py.File(into, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            src.copy(src[name], dst, name=name, expand_external=True)
    return into


def test_loader_and_validate_read_sharded_and_single_file_alike(sharded: Path,
                                                                tmp_path: Path) -> None:
    single = flattened(sharded, tmp_path / "single.h5")
    with h5py.File(single, "r") as h5:
        assert not any(isinstance(h5[schema.DATA].get(d, getlink=True), h5py.ExternalLink)
                       for d in h5[schema.DATA])
    assert assert_same_dataset(sharded, single) > 50
    reports = [validate_dataset(p) for p in (sharded, single)]
    assert all(r.ok for r in reports), [r.problems for r in reports]
    assert reports[0].episodes == reports[1].episodes == 5
    assert reports[0].frames == reports[1].frames
    for split in ("train", "valid"):
        loaders = [SequenceDataset(p, ["cam1", "arm1_pos", "lidar"], seq_length=2,
                                   frame_stack=2, action_horizon=3, split=split, normalize=True)
                   for p in (sharded, single)]
        assert len(loaders[0]) == len(loaders[1]) > 0
        for i in range(len(loaders[0])):
            a, b = loaders[0][i], loaders[1][i]
            assert a.keys() == b.keys()
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{split} {i} {key}")


def test_stats_are_merged_over_the_train_episodes_of_every_shard(sharded: Path) -> None:
    with h5py.File(sharded, "r") as h5:
        train = [n.decode() for n in h5[f"{schema.MASK}/train"][()]]
        for key in ("arm1_pos", "arm2_vel", "actions"):
            member = key if key == "actions" else f"obs/{key}"
            values = np.concatenate([h5[schema.DATA][d][member][()] for d in train])
            stats = {s: h5[f"{schema.STATS}/{key}/{s}"][()] for s in schema.STAT_NAMES}
            np.testing.assert_allclose(stats["mean"], values.mean(0), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(stats["std"], values.std(0), rtol=1e-4, atol=1e-6)
            np.testing.assert_array_equal(stats["min"], values.min(0))
            np.testing.assert_array_equal(stats["max"], values.max(0))
            width = 2 * (values.max(0) - values.min(0)) / (DEFAULT_BINS - 1) + 1e-6
            for name, q in (("q01", 0.01), ("q99", 0.99)):
                assert np.all(np.abs(stats[name] - np.quantile(values, q, axis=0)) <= width)


def test_a_moved_dataset_keeps_its_links_and_a_lost_shard_is_reported(
        sharded: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.copy2(sharded, moved / sharded.name)
    shutil.copytree(shards_dir(sharded), shards_dir(moved / sharded.name))
    cwd = os.getcwd()
    try:
        os.chdir("/")   # links resolve against the index file's folder, not the cwd
        assert validate_dataset(moved / sharded.name).ok
    finally:
        os.chdir(cwd)
    shard_path(moved / sharded.name, 1).unlink()
    problems = validate_dataset(moved / sharded.name).problems
    assert any("data/demo_1" in p for p in problems) and any("data/demo_2" in p for p in problems)
    assert not any("data/demo_0" in p for p in problems)


def test_one_file_or_two_shards_of_one_bag_hold_the_same_dataset(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_bag(bag, Cell(CellSpec(duration_s=3.0, episodes=3, seed=4, **SMALL)))
    one = build_dataset([bag], tmp_path / "one.h5", rate_hz=10, workers=1)
    two = build_dataset([bag], tmp_path / "two.h5", rate_hz=10, workers=2)
    assert (one.shards_built, two.shards_built) == (1, 2)   # 3 episodes cut in 2 + 1
    assert not shards_dir(tmp_path / "one.h5").exists()
    # stats merged from per-episode states in episode order: independent of the cut
    assert assert_same_dataset(tmp_path / "one.h5", tmp_path / "two.h5") > 40


def test_a_bag_without_a_usable_episode_gives_no_shard(make_bag, tmp_path: Path) -> None:
    make_bag("bags/a_dark", duration_s=1.5, faults="/cell/cam1/image_raw:outage=0-2", **SMALL)
    make_bag("bags/b_lit", duration_s=1.5, episodes=1, **SMALL)
    config = tmp_path / "reference.yaml"
    config.write_text("reference: cam1\nstreams:\n  cam1: {topic: /cell/cam1/image_raw}\n"
                      "  arm1_pos: {topic: /cell/arm1/joint_states}\n")
    summary = build_dataset([tmp_path / "bags"], tmp_path / "out.h5", config_path=config)
    assert (summary.episodes, summary.shards_built) == (1, 1)
    assert any("a_dark" in w and "no reference time" in w for w in summary.warnings)
    assert validate_dataset(tmp_path / "out.h5").ok
