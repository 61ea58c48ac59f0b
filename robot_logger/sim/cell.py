"""The simulated cell: every topic as a stream of CDR messages, merged in log-time order.

Each stream samples on its own clock (rate, random phase), delivers with a realistic transport
latency (log time = sample time + latency, never reordered within a topic), passes through the
topic's faults, and renders only the messages it delivers — one batch (about a second) at a time,
so a bag of any length streams in flat memory.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from robot_logger.core import events
from robot_logger.core.messages import EVENTS_TOPIC, STRING, serialize, string
from robot_logger.errors import ConfigError
from robot_logger.sim.camera import Camera
from robot_logger.sim.cdr import (
    JointStateTemplate,
    PayloadTemplate,
    image_template,
    pointcloud_template,
)
from robot_logger.sim.faults import Faults, apply_faults, parse_faults
from robot_logger.sim.kinematics import arm_base, skeleton
from robot_logger.sim.lidar import Lidar
from robot_logger.sim.motion import plan_arm, plan_episodes
from robot_logger.sim.spec import LIDAR_TOPIC, CellSpec, EpisodeTruth, camera_topic, joint_topic

__all__ = ["SimMessage", "Cell", "LATENCY_MS"]

# transport latency ranges (ms) per kind of stream: log time = header stamp + latency
LATENCY_MS = {"joints": (0.1, 2.0), "camera": (5.0, 40.0), "lidar": (10.0, 60.0),
              "events": (0.2, 1.0)}

# (sample_ns, stamp_ns, index in the batch) of the delivered messages -> their CDR bytes
Encoder = Callable[[np.ndarray, np.ndarray, np.ndarray], list[bytes]]


class SimMessage(NamedTuple):
    """One message as a recorder would log it: CDR bytes, header stamp and log time (ns)."""

    topic: str
    msgtype: str
    log_ns: int
    stamp_ns: int
    data: bytes


class Cell:
    """A deterministic robot cell built from a CellSpec (and optional faults)."""

    def __init__(self, spec: CellSpec, faults: Faults | None = None) -> None:
        self.spec = spec
        self.faults = faults or Faults()
        self.faults.check_topics(list(spec.topics()))
        self._episodes = plan_episodes(spec)
        self._plans = [plan_arm(spec, arm, self._episodes) for arm in range(1, spec.arms + 1)]
        self._bases = [arm_base(arm, spec.arms) for arm in range(1, spec.arms + 1)]

    def topics(self) -> dict[str, str]:
        """Topic -> message type of everything the cell publishes."""
        return self.spec.topics()

    def joint_names(self, arm: int) -> list[str]:
        """Joint names of arm `arm` (1-based): arm{i}_joint1 … arm{i}_joint6."""
        self._check_arm(arm)
        return [f"arm{arm}_joint{j}" for j in range(1, 7)]

    def joint_truth(self, arm: int, t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact position (rad), velocity (rad/s), effort (N·m) of arm `arm` at t_ns: (N, 6)."""
        self._check_arm(arm)
        return self._plans[arm - 1].truth(t_ns)

    def episodes(self) -> list[EpisodeTruth]:
        """The planned work cycles (what the events announce, before any events-topic fault)."""
        return list(self._episodes)

    def skeletons(self, t_ns: np.ndarray) -> np.ndarray:
        """Every arm's joint positions in space at times t_ns: (N, arms, 6, 3)."""
        t = np.atleast_1d(np.asarray(t_ns, np.int64))
        return np.stack([skeleton(plan.truth(t)[0], base)
                         for plan, base in zip(self._plans, self._bases)], axis=1)

    def messages(self) -> Iterator[SimMessage]:
        """Every message of every topic, faults applied, in log-time order (streamed)."""
        spec = self.spec
        streams = [self._periodic(joint_topic(arm), "joints", spec.joint_rate_hz,
                                  self._joint_encoder(arm)) for arm in range(1, spec.arms + 1)]
        streams += [self._periodic(camera_topic(cam), "camera", spec.camera_rate_hz,
                                   self._camera_encoder(cam))
                    for cam in range(1, spec.cameras + 1)]
        if spec.lidar:
            streams.append(self._periodic(LIDAR_TOPIC, "lidar", spec.lidar_rate_hz,
                                          self._lidar_encoder()))
        streams.append(self._events())
        return heapq.merge(*streams, key=lambda m: m.log_ns)

    def _check_arm(self, arm: int) -> None:
        if not 1 <= arm <= self.spec.arms:
            raise ConfigError(f"arm must be from 1 to {self.spec.arms}, not {arm!r}")

    def _rng(self, topic: str, purpose: int) -> np.random.Generator:
        return np.random.default_rng([self.spec.seed, purpose, list(self.topics()).index(topic)])

    def _periodic(self, topic: str, kind: str, rate_hz: float,
                  encode: Encoder) -> Iterator[SimMessage]:
        """A sensor stream: n = floor(duration·rate) samples at start + phase + k·period."""
        spec = self.spec
        period_ns = int(round(1e9 / rate_hz))
        count = int(math.floor(spec.duration_s * rate_hz + 1e-9))
        phase_ns = int(self._rng(topic, 10).integers(0, max(1, period_ns // 2)))
        batch = max(1, int(rate_hz))
        times = (spec.start_ns + phase_ns + np.arange(first, min(count, first + batch)) * period_ns
                 for first in range(0, count, batch))
        return self._deliver(topic, kind, times, encode)

    def _deliver(self, topic: str, kind: str, batches: Iterator[np.ndarray],
                 encode: Encoder) -> Iterator[SimMessage]:
        """Latency, faults and encoding for batches of sample times of one topic."""
        msgtype = self.topics()[topic]
        faults = self.faults.for_topic(topic)
        latency_rng, fault_rng = self._rng(topic, 11), self._rng(topic, 12)
        low_ms, high_ms = LATENCY_MS[kind]
        last_log = -1
        for sample_ns in batches:
            latency_ms = low_ms + (high_ms - low_ms) * latency_rng.beta(2.0, 5.0, len(sample_ns))
            log_ns = sample_ns + (latency_ms * 1e6).astype(np.int64)
            source, stamp_ns, log_ns = apply_faults(faults, fault_rng, self.spec.start_ns,
                                                    sample_ns, log_ns)
            if not len(source):
                continue
            # one publisher, one subscriber: delivery keeps order, so log times strictly increase
            steps = np.arange(1, len(log_ns) + 1)
            log_ns = np.maximum.accumulate(np.maximum(log_ns, last_log + steps) - steps) + steps
            last_log = int(log_ns[-1])
            payloads = encode(sample_ns[source], stamp_ns, source)
            for log, stamp, data in zip(log_ns.tolist(), stamp_ns.tolist(), payloads):
                yield SimMessage(topic, msgtype, log, stamp, data)

    def _joint_encoder(self, arm: int) -> Encoder:
        template = JointStateTemplate(self.joint_names(arm))
        plan = self._plans[arm - 1]

        def encode(sample_ns: np.ndarray, stamp_ns: np.ndarray, _index: np.ndarray) -> list[bytes]:
            rows = template.batch(stamp_ns, *plan.truth(sample_ns))
            return [row.tobytes() for row in rows]
        return encode

    def _camera_encoder(self, cam: int) -> Encoder:
        spec = self.spec
        camera = Camera(cam, spec.image_height, spec.image_width, spec.seed)
        template = image_template(spec.image_height, spec.image_width, f"cam{cam}_optical_frame")
        frame = np.empty((spec.image_height, spec.image_width, 3), np.uint8)
        period_ns = int(round(1e9 / spec.camera_rate_hz))

        def render(t_ns: int, skeletons: np.ndarray) -> memoryview:
            camera.render(t_ns // period_ns, skeletons, frame)
            return memoryview(frame).cast("B")
        return self._frame_encoder(template, render)

    def _lidar_encoder(self) -> Encoder:
        spec = self.spec
        lidar = Lidar(spec.lidar_points, spec.arms, spec.seed)
        template = pointcloud_template(spec.lidar_points, "lidar")
        return self._frame_encoder(
            template, lambda _t_ns, skeletons: memoryview(lidar.points(skeletons)).cast("B"))

    def _frame_encoder(self, template: PayloadTemplate,
                       render: Callable[[int, np.ndarray], memoryview]) -> Encoder:
        """Render one payload per delivered sample (a duplicate reuses the previous render).

        `render(t_ns, skeletons)` may reuse its buffer: each payload is copied into its message
        right away.
        """
        def encode(sample_ns: np.ndarray, stamp_ns: np.ndarray, _index: np.ndarray) -> list[bytes]:
            skeletons = self.skeletons(sample_ns)
            out: list[bytes] = []
            previous: tuple[int, memoryview] | None = None
            for k, (sample, stamp) in enumerate(zip(sample_ns.tolist(), stamp_ns.tolist())):
                if previous is None or previous[0] != sample:
                    previous = (sample, render(sample, skeletons[k]))
                out.append(template.encode(stamp, previous[1]))
            return out
        return encode

    def _events(self) -> Iterator[SimMessage]:
        """Episode events: start, one per phase, end (robot_logger.core.events JSON)."""
        times, payloads = [], []
        for episode in self._episodes:
            times.append(episode.start_ns)
            payloads.append(events.episode_start(episode.task))
            for name, start_ns, _ in episode.phases:
                times.append(start_ns)
                payloads.append(events.phase(name))
            times.append(episode.end_ns)
            payloads.append(events.episode_end(episode.outcome))
        raw = [serialize(string(p), STRING) for p in payloads]
        return self._deliver(EVENTS_TOPIC, "events", iter([np.array(times, np.int64)]),
                             lambda _sample, _stamp, index: [raw[i] for i in index.tolist()])


def cell_from_options(duration_s: float, arms: int, cameras: int, lidar: bool,
                      episodes: int | None, seed: int, image_size: tuple[int, int],
                      lidar_points: int, faults: str) -> Cell:
    """The Cell the cell_options describe (ConfigError names the bad option)."""
    width, height = image_size
    spec = CellSpec(arms=arms, cameras=cameras, lidar=lidar, duration_s=duration_s,
                    episodes=episodes, seed=seed, image_height=height, image_width=width,
                    lidar_points=lidar_points)
    return Cell(spec, parse_faults(faults))
