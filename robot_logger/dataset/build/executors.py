"""Where build tasks run: in this process, a local process pool, or a Ray cluster. One interface.

    spec = ExecutorSpec("ray", workers=8, ray_address=None)
    for position, result in run_tasks(build_shard, jobs, spec):
        ...                                    # results arrive as tasks finish, in any order

- `local`: one worker runs the tasks here, in order; more use a process pool whose workers fork
  from a fork server that imported the heavy modules once (`POOL_PRELOAD`; no threads yet).
- `ray`: joins the cluster at `ray_address`, else a running cluster (`ray.init(address="auto")`,
  as after `ray start --head`), else starts a local Ray instance with `workers` CPUs (shut down
  at the end). At most `workers` tasks are in flight. Ray re-runs a task whose worker process died
  (`RAY_RETRIES` times). Ray is imported only here and only when asked for.

What Ray adds (tools/bench_scale.py, 2.4 GB of bags, 2-core VM): with Ray running, a build
takes 0.94-1.10x the local pool's time at the same worker count. A task is a whole shard and
returns only its path (the shard goes to the shared file system, never the object store);
submitting and collecting one costs ~2.5 ms. Per build, the first task waits ~0.5 s for a worker
process and each worker imports the build modules once (~1 s; the pool's fork server imports them
once for all). A local instance costs 4-6 s to start and ~1.4 s to stop, Ray's own processes.

`fn` must be a module-level function and items picklable. A task's RobotLoggerError reaches the
caller as itself; a worker that dies (SIGKILL, out of memory) raises `WorkerLost`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, TypeVar

from robot_logger.errors import DatasetError, RobotLoggerError

__all__ = ["EXECUTORS", "RAY_RETRIES", "ExecutorSpec", "WorkerLost", "run_tasks"]

EXECUTORS = ("local", "ray")
RAY_RETRIES = 2
# Imported once by the fork server and inherited by every pool worker instead of re-imported
# by each (2-3 CPU-seconds apiece here); a module that fails to import is skipped.
POOL_PRELOAD = ["robot_logger.dataset.build.shards", "robot_logger.dataset.build.pipeline",
                "robot_logger.dataset.ops.o3d"]
PARENT_POLL_S = 1.0
RAY_CONNECT_TIMEOUT_S = 5.0
RAY_OBJECT_STORE_BYTES = 128 * 1024 * 1024   # results are small; a local instance needs little

T = TypeVar("T")
R = TypeVar("R")


class WorkerLost(DatasetError):
    """A worker process died before its task finished (killed, out of memory, node lost)."""


@dataclass(frozen=True)
class ExecutorSpec:
    """How to run tasks: `kind` local|ray, `workers` in parallel, Ray cluster address or None."""

    kind: str = "local"
    workers: int = 1
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise DatasetError(f"--executor must be one of {', '.join(EXECUTORS)}, "
                               f"got {self.kind!r}")
        if self.workers < 1:
            raise DatasetError(f"--workers must be >= 1, got {self.workers}")
        if self.ray_address is not None and self.kind != "ray":
            raise DatasetError("--ray-address needs --executor ray")


def run_tasks(fn: Callable[[T], R], items: Sequence[T], spec: ExecutorSpec
              ) -> Iterator[tuple[int, R]]:
    """Yield (position in `items`, fn(item)) for every item as it finishes (see the module doc)."""
    if not items:
        return iter(())
    if spec.kind == "ray":
        return _ray(fn, items, spec)
    if spec.workers == 1 or len(items) == 1:
        return ((i, fn(item)) for i, item in enumerate(items))
    return _pool(fn, items, spec.workers)


def _pool(fn: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[tuple[int, R]]:
    context = get_context("forkserver")
    context.set_forkserver_preload(POOL_PRELOAD)
    with ProcessPoolExecutor(min(workers, len(items)), mp_context=context,
                             initializer=_exit_with, initargs=(os.getpid(),)) as pool:
        pending: dict[Future[R], int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=pending.__getitem__):
                    position = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool as err:
                        raise WorkerLost("a worker process died (killed, or out of memory?) "
                                         "before its task finished") from err
                    yield position, result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _exit_with(parent_pid: int) -> None:
    """Pool-worker initializer: end this worker once the process that started the pool is gone
    (after a `kill -9` of a build, workers would otherwise wait for tasks for ever)."""
    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise DatasetError("--executor ray needs the ray package (pip install 'ray>=2.9'), "
                           "or use --executor local") from err
    return ray


def _connect(ray: Any, spec: ExecutorSpec) -> bool:
    """Join or start Ray; True when this call started it (and must shut it down)."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if spec.ray_address:
        _check_reachable(spec.ray_address)     # Ray itself retries an unreachable one for ever
    try:
        ray.init(address=spec.ray_address or "auto", **quiet)
        return True
    except ConnectionError as err:
        if spec.ray_address:
            raise DatasetError(f"cannot join the Ray cluster at {spec.ray_address}: "
                               f"{str(err).splitlines()[0]}") from err
    ray.init(num_cpus=spec.workers, include_dashboard=False,
             object_store_memory=RAY_OBJECT_STORE_BYTES, **quiet)
    return True


def _check_reachable(address: str) -> None:
    """DatasetError unless a TCP connection to the cluster's HOST:PORT opens within seconds."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise DatasetError(f"--ray-address must be HOST:PORT (the head node's GCS port, 6379 "
                           f"by default), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise DatasetError(f"cannot reach the Ray cluster at {address} "
                           f"({err.strerror or err}); is `ray start --head` running there?"
                           ) from err


def _ray(fn: Callable[[T], R], items: Sequence[T], spec: ExecutorSpec) -> Iterator[tuple[int, R]]:
    ray = _import_ray()
    started = _connect(ray, spec)
    remote = ray.remote(num_cpus=1, max_retries=RAY_RETRIES)(fn)
    queue = list(enumerate(items))
    pending: dict[Any, int] = {}
    try:
        while queue or pending:
            while queue and len(pending) < spec.workers:
                position, item = queue.pop(0)
                pending[remote.remote(item)] = position
            ready, _ = ray.wait(list(pending), num_returns=1)
            position = pending.pop(ready[0])
            yield position, _ray_result(ray, ready[0])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _ray_result(ray: Any, ref: Any) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, RobotLoggerError):
            raise err.cause from None
        raise DatasetError(f"a Ray task failed: {str(err.cause or err).splitlines()[0]}") from err
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
            ray.exceptions.LocalRayletDiedError, ray.exceptions.OutOfMemoryError) as err:
        raise WorkerLost(f"a Ray worker died {RAY_RETRIES + 1} times on the same task "
                         f"({type(err).__name__})") from err
