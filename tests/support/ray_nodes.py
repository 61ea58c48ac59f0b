"""Ray on several nodes of a `ray.cluster_utils.Cluster`: where tasks run, and a build that loses a
node while the node builds a shard."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from robot_logger.dataset.build.executors import ExecutorSpec, WorkerLost, run_tasks
from robot_logger.dataset.build.pipeline import BuildSummary, build_dataset

TASK_WAIT_S = 120.0
NODE_WAIT_S = 60.0
BUILD_WAIT_S = 300.0
# Ray titles a worker process `ray::<function>` while it runs a task (`ray::IDLE` between).
TASK_TITLE = "ray::build_shard"


@contextmanager
def private_ray_dir() -> Iterator[Path]:
    """RAY_TMPDIR set to a new folder while the block runs, removed after. A Cluster writes
    `<ray dir>/ray_current_cluster`, and while that file exists every `ray.init(num_cpus=...)`
    on the machine fails (ValueError: it joins the cluster instead); in a private folder it
    disturbs no other process. Short, under /tmp: Ray's Unix sockets live in it (107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="rl-ray-", dir="/tmp"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RAY_TMPDIR", str(folder))
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def node_id(seconds: float) -> str:
    """A Ray task: the id of the node it ran on, after `seconds` (so that tasks overlap)."""
    import ray

    time.sleep(seconds)
    return str(ray.get_runtime_context().get_node_id())


def wait_until_used(node: Any, workers: int) -> None:
    """Run rounds of `workers` overlapping tasks until one runs on `node`: a node that has just
    joined is not yet in the scheduler's view (tasks then queue on the others)."""
    deadline = time.monotonic() + NODE_WAIT_S
    while node.node_id not in dict(run_tasks(node_id, [0.3] * workers,
                                             ExecutorSpec("ray", workers=workers))).values():
        assert time.monotonic() < deadline, f"no task ran on the new node in {NODE_WAIT_S:.0f} s"


def runs_a_shard(node: Any) -> bool:
    """True while a worker process of `node` (a cluster_utils node) runs a shard task."""
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    for child in raylet.children(recursive=True):
        try:
            if child.cmdline()[:1] == [TASK_TITLE]:
                return True
        except (psutil.Error, IndexError):
            continue
    return False


def build_losing_a_node(nodes: Any, node: Any, bags: Path, out: Path, workers: int
                        ) -> BuildSummary:
    """Build `bags` into `out` on Ray (10 Hz) and remove `node` from the cluster `nodes` while
    one of its workers runs a shard task. Ray re-runs the task elsewhere; when that costs the
    task its retries (WorkerLost) the build is run again, which resumes from the finished
    shards. Returns the summary of the build that completed."""
    outcome: dict[str, Any] = {}

    def build() -> None:
        try:
            outcome["summary"] = build_dataset([bags], out, rate_hz=10, workers=workers,
                                               executor="ray")
        except WorkerLost as err:
            outcome["lost"] = err

    thread = threading.Thread(target=build)
    thread.start()
    deadline = time.monotonic() + TASK_WAIT_S
    while not runs_a_shard(node) and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    busy = runs_a_shard(node)
    if busy:
        nodes.remove_node(node)
    thread.join(BUILD_WAIT_S)
    assert busy, "the node never ran a shard task"
    assert not thread.is_alive(), f"the build did not end within {BUILD_WAIT_S:.0f} s"
    if "lost" in outcome:
        return build_dataset([bags], out, rate_hz=10, workers=workers, executor="ray")
    summary: BuildSummary = outcome["summary"]
    return summary
