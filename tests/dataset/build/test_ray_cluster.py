"""Ray on several nodes: Ray's own multi-node test cluster (`ray.cluster_utils.Cluster`) on this
machine, a head without CPUs and two worker nodes of one CPU each.

Starting the three nodes took 31 s at load 10 on 2 cores (5.5 s at load 1.6, the module 13 s), so
the module is slow only: `pytest -m slow tests/dataset/build/test_ray_cluster.py`. Its fast
version is in test_executors.py: two nodes of one CPU each (tasks reach both, a build equals the
local one) and a third that is removed while it builds a shard.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from robot_logger.dataset.build.executors import ExecutorSpec, run_tasks
from robot_logger.dataset.build.pipeline import build_dataset
from tests.support.dataset_compare import assert_same_dataset
from tests.support.ray_nodes import build_losing_a_node, node_id, private_ray_dir

pytestmark = pytest.mark.slow

BAG = {"duration_s": 4.0, "cameras": 1, "image_height": 48, "image_width": 64,
       "lidar_points": 512}


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    with private_ray_dir():
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        workers = [nodes.add_node(num_cpus=1) for _ in range(2)]
        nodes.wait_for_nodes()
        ray.init(address=nodes.address, logging_level=logging.ERROR, log_to_driver=False)
        yield ray, nodes, workers
        ray.shutdown()
        nodes.shutdown()


def test_tasks_spread_over_the_worker_nodes(cluster) -> None:
    _ray, _nodes, workers = cluster
    done = dict(run_tasks(node_id, [1.0] * 4, ExecutorSpec("ray", workers=2)))
    assert sorted(done) == [0, 1, 2, 3]
    assert set(done.values()) == {w.node_id for w in workers}


def test_a_node_lost_mid_build_still_gives_the_local_dataset(cluster, make_bag,
                                                             tmp_path: Path) -> None:
    """One worker node is removed while it builds a shard: Ray re-runs its task on the
    other node (or, past its retries, the build fails and a rerun resumes); either way the
    dataset equals the local build's."""
    _ray, nodes, workers = cluster
    for i, episodes in enumerate((1, 2, 1, 2)):
        make_bag(f"bags/bag_{i}", seed=i, episodes=episodes, **BAG)
    local = build_dataset([tmp_path / "bags"], tmp_path / "local.h5", rate_hz=10)
    out = tmp_path / "ray.h5"
    summary = build_losing_a_node(nodes, workers[0], tmp_path / "bags", out, workers=2)
    assert (summary.episodes, summary.frames) == (local.episodes, local.frames)
    assert assert_same_dataset(tmp_path / "local.h5", out) > 60
    rerun = build_dataset([tmp_path / "bags"], out, rate_hz=10, workers=2, executor="ray")
    assert rerun.shards_built == 0
    assert assert_same_dataset(tmp_path / "local.h5", out) > 60
