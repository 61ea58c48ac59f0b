"""The simulated cell: every topic as a stream of CDR messages, merged in log-time order.

Each stream samples on its own clock (rate, random phase), delivers with a realistic transport
latency (log time = sample time + latency, never reordered within a topic), passes through the
topic's faults, and renders only the messages it delivers — one batch (about a second) at a time,
so a bag of any length streams in flat memory.

Every stream has an exact truth function (header stamps are the sample times unless a fault
moves them; `Cell.sample_ns` undoes a device clock):
  joint_states       joint_truth(arm, t)        position, velocity, effort
  joint_trajectory   command_truth(arm, t)      first point = the plan COMMAND_LOOKAHEAD_NS ahead
  gripper/*          gripper_truth(arm, t)      measured and commanded opening (m)
  ft                 wrench_truth(arm, t)       force (N), torque (N·m) in arm{i}_ft_sensor
  depth/image_raw    depth_truth(cam, t)        uint16 mm, exactly the published frame
  */camera_info      calibration(cam, depth)    K, D, R, P, size, frame_id
  /tf_static         static_transforms(), frame_pose(frame, base)
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from robot_logger.core import events
from robot_logger.core.messages import (
    CAMERA_INFO,
    EVENTS_TOPIC,
    STRING,
    TF_MESSAGE,
    TF_STATIC_TOPIC,
    header,
    serialize,
    string,
    typestore,
)
from robot_logger.errors import ConfigError
from robot_logger.sim import frames
from robot_logger.sim.camera import Camera
from robot_logger.sim.cdr import (
    JointStateTemplate,
    PayloadTemplate,
    fixed_template,
    float64_template,
    image_template,
    pointcloud_template,
    trajectory_template,
    wrench_template,
)
from robot_logger.sim.faults import Faults, apply_faults, device_clock_ns, parse_faults
from robot_logger.sim.kinematics import arm_base, skeleton
from robot_logger.sim.lidar import Lidar
from robot_logger.sim.motion import plan_arm, plan_episodes
from robot_logger.sim.spec import (
    LIDAR_TOPIC,
    SENSORS,
    CellSpec,
    EpisodeTruth,
    camera_info_topic,
    camera_topic,
    command_topic,
    depth_topic,
    gripper_topic,
    joint_topic,
    wrench_topic,
)
from robot_logger.sim.tool import Gripper, Wrist

__all__ = ["SimMessage", "Cell", "parse_sensors", "LATENCY_MS", "COMMAND_LOOKAHEAD_NS",
           "COMMAND_STEP_NS", "COMMAND_POINTS"]

# transport latency ranges (ms) per kind of stream: log time = header stamp + latency
LATENCY_MS = {"joints": (0.1, 2.0), "camera": (5.0, 40.0), "lidar": (10.0, 60.0),
              "events": (0.2, 1.0)}
# A JointTrajectory command holds the plan from 50 ms ahead of its stamp (the measured joints
# follow it 50 ms late, a typical tracking lag), in 3 points 20 ms apart.
COMMAND_LOOKAHEAD_NS = 50_000_000
COMMAND_STEP_NS = 20_000_000
COMMAND_POINTS = 3

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
        self._grippers = [Gripper(spec.start_ns, self._episodes) for _ in self._plans]
        self._wrists = [Wrist(arm, self._episodes) for arm in range(1, spec.arms + 1)]
        self._transforms = frames.static_transforms(spec.arms, spec.cameras, spec.depth,
                                                    spec.lidar)
        self._cameras: dict[int, Camera] = {}

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

    def command_truth(self, arm: int, t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First point of arm `arm`'s JointTrajectory stamped t_ns: the planned position (rad)
        and velocity (rad/s) at t_ns + COMMAND_LOOKAHEAD_NS, (N, 6) each. Point k is
        command_truth(arm, t_ns + k·COMMAND_STEP_NS)."""
        self._check_arm(arm)
        pos, vel, _ = self._plans[arm - 1].truth(np.asarray(t_ns, np.int64)
                                                 + COMMAND_LOOKAHEAD_NS)
        return pos, vel

    def gripper_truth(self, arm: int, t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measured and commanded gripper opening (m) of arm `arm` at t_ns: (N,) each."""
        self._check_arm(arm)
        return self._grippers[arm - 1].truth(t_ns)

    def wrench_truth(self, arm: int, t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Force (N) and torque (N·m) of arm `arm`'s wrist sensor at t_ns: (N, 3) each."""
        self._check_arm(arm)
        return self._wrists[arm - 1].truth(t_ns)

    def depth_truth(self, cam: int, t_ns: int) -> np.ndarray:
        """The (H, W) uint16 depth image (mm along the optical axis) of camera `cam` at t_ns."""
        out = np.empty((self.spec.image_height, self.spec.image_width), np.uint16)
        self._camera(cam).render_depth(self.skeletons(np.array([t_ns]))[0], out)
        return out

    def calibration(self, cam: int, depth: bool = False) -> frames.CameraCalibration:
        """What camera `cam`'s CameraInfo (colour, or depth) says: K, D, R, P, size, frame_id."""
        self._check_camera(cam)
        return frames.calibration(cam, self.spec.image_height, self.spec.image_width, depth)

    def static_transforms(self) -> list[frames.StaticTransform]:
        """Every transform /tf_static carries (parents before children)."""
        return list(self._transforms)

    def frame_pose(self, frame: str, base: str = frames.WORLD) -> np.ndarray:
        """base_T_frame (4, 4) composed from the static transforms (KeyError: not connected)."""
        return frames.pose(self._transforms, frame, base)

    def sample_ns(self, topic: str, stamp_ns: np.ndarray) -> np.ndarray:
        """The cell-clock sample times of header stamps of `topic` (undoes clock_offset_ms and
        drift_ppm, exact to 1 ns; offset_ms and jitter are errors, not a clock, and stay)."""
        faults = self.faults.for_topic(topic)
        stamp = np.asarray(stamp_ns, np.int64)
        if not (faults.clock_offset_ms or faults.drift_ppm):
            return stamp
        rate = 1.0 + faults.drift_ppm * 1e-6
        guess = self.spec.start_ns + np.rint(
            (stamp - self.spec.start_ns - faults.clock_offset_ms * 1e6) / rate).astype(np.int64)
        for _ in range(2):   # rounding in device_clock_ns: settle on the exact inverse
            guess += stamp - (guess + device_clock_ns(faults, self.spec.start_ns, guess))
        sample: np.ndarray = guess
        return sample

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
        arms, cams = range(1, spec.arms + 1), range(1, spec.cameras + 1)
        streams = [self._periodic(joint_topic(arm), "joints", spec.joint_rate_hz,
                                  self._joint_encoder(arm)) for arm in arms]
        streams += [self._periodic(camera_topic(cam), "camera", spec.camera_rate_hz,
                                   self._camera_encoder(cam)) for cam in cams]
        if spec.lidar:
            streams.append(self._periodic(LIDAR_TOPIC, "lidar", spec.lidar_rate_hz,
                                          self._lidar_encoder()))
        streams.append(self._events())
        for arm in arms:
            if spec.commands:
                streams.append(self._periodic(command_topic(arm), "joints", spec.command_rate_hz,
                                              self._command_encoder(arm)))
            if spec.gripper:
                streams += [self._periodic(gripper_topic(arm, what), "joints",
                                           spec.gripper_rate_hz, self._gripper_encoder(arm, k))
                            for k, what in enumerate(("position", "command"))]
            if spec.wrench:
                streams.append(self._periodic(wrench_topic(arm), "joints", spec.wrench_rate_hz,
                                              self._wrench_encoder(arm)))
        for cam in cams:
            if spec.camera_info:
                streams.append(self._camera_info(cam, camera_topic(cam), spec.camera_rate_hz))
            if spec.depth:
                streams.append(self._periodic(depth_topic(cam), "camera", spec.depth_rate_hz,
                                              self._depth_encoder(cam)))
                if spec.camera_info:
                    streams.append(self._camera_info(cam, depth_topic(cam), spec.depth_rate_hz))
        if spec.tf_static:
            streams.append(self._tf_static())
        return heapq.merge(*streams, key=lambda m: m.log_ns)

    def _check_arm(self, arm: int) -> None:
        if not 1 <= arm <= self.spec.arms:
            raise ConfigError(f"arm must be from 1 to {self.spec.arms}, not {arm!r}")

    def _check_camera(self, cam: int) -> None:
        if not 1 <= cam <= self.spec.cameras:
            raise ConfigError(f"camera must be from 1 to {self.spec.cameras}, not {cam!r}")

    def _camera(self, cam: int) -> Camera:
        """Camera `cam`, built once (its background ray cast is shared by colour and depth)."""
        self._check_camera(cam)
        if cam not in self._cameras:
            spec = self.spec
            self._cameras[cam] = Camera(cam, spec.image_height, spec.image_width, spec.seed)
        return self._cameras[cam]

    def _rng(self, topic: str, purpose: int) -> np.random.Generator:
        return np.random.default_rng([self.spec.seed, purpose, list(self.topics()).index(topic)])

    def _periodic(self, topic: str, kind: str, rate_hz: float, encode: Encoder,
                  clock_of: str | None = None) -> Iterator[SimMessage]:
        """A sensor stream: n = floor(duration·rate) samples at start + phase + k·period.

        `clock_of`: sample on that topic's clock (same phase: CameraInfo beside its image)."""
        spec = self.spec
        period_ns = int(round(1e9 / rate_hz))
        count = int(math.floor(spec.duration_s * rate_hz + 1e-9))
        phase_ns = int(self._rng(clock_of or topic, 10).integers(0, max(1, period_ns // 2)))
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

    def _command_encoder(self, arm: int) -> Encoder:
        ahead = [COMMAND_LOOKAHEAD_NS + k * COMMAND_STEP_NS for k in range(COMMAND_POINTS)]
        template = trajectory_template(self.joint_names(arm), ahead)
        plan = self._plans[arm - 1]

        def encode(sample_ns: np.ndarray, stamp_ns: np.ndarray, _index: np.ndarray) -> list[bytes]:
            columns = []
            for offset in ahead:
                pos, vel, _ = plan.truth(sample_ns + offset)
                columns += [pos, vel]
            return [row.tobytes() for row in template.batch(stamp_ns, *columns)]
        return encode

    def _gripper_encoder(self, arm: int, which: int) -> Encoder:
        template = float64_template()
        gripper = self._grippers[arm - 1]

        def encode(sample_ns: np.ndarray, stamp_ns: np.ndarray, _index: np.ndarray) -> list[bytes]:
            return [row.tobytes() for row in template.batch(stamp_ns,
                                                            gripper.truth(sample_ns)[which])]
        return encode

    def _wrench_encoder(self, arm: int) -> Encoder:
        template = wrench_template(f"arm{arm}_ft_sensor")
        wrist = self._wrists[arm - 1]

        def encode(sample_ns: np.ndarray, stamp_ns: np.ndarray, _index: np.ndarray) -> list[bytes]:
            return [row.tobytes() for row in template.batch(stamp_ns, *wrist.truth(sample_ns))]
        return encode

    def _depth_encoder(self, cam: int) -> Encoder:
        spec = self.spec
        camera = self._camera(cam)
        template = image_template(spec.image_height, spec.image_width,
                                  frames.optical_frame(cam, depth=True), "16UC1")
        frame = np.empty((spec.image_height, spec.image_width), np.uint16)

        def render(_t_ns: int, skeletons: np.ndarray) -> memoryview:
            camera.render_depth(skeletons, frame)
            return frame.data.cast("B")
        return self._frame_encoder(template, render)

    def _camera_info(self, cam: int, image_topic: str, rate_hz: float) -> Iterator[SimMessage]:
        """CameraInfo beside `image_topic`, sampled on its clock (the same header stamps)."""
        calib = self.calibration(cam, depth=image_topic == depth_topic(cam))
        types = typestore().types
        msg = types[CAMERA_INFO](
            header=header(0, calib.frame_id), height=calib.height, width=calib.width,
            distortion_model=calib.distortion_model, d=calib.d, k=calib.k.reshape(-1),
            r=calib.r.reshape(-1), p=calib.p.reshape(-1), binning_x=0, binning_y=0,
            roi=types["sensor_msgs/msg/RegionOfInterest"](
                x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
        template = fixed_template(serialize(msg, CAMERA_INFO))

        def encode(_sample: np.ndarray, stamp_ns: np.ndarray, _index: np.ndarray) -> list[bytes]:
            return [template.encode(stamp, b"") for stamp in stamp_ns.tolist()]
        return self._periodic(camera_info_topic(image_topic), "camera", rate_hz, encode,
                              clock_of=image_topic)

    def _tf_static(self) -> Iterator[SimMessage]:
        """One TFMessage with every static transform, stamped at the cell's start."""
        types = typestore().types
        stamp = self.spec.start_ns
        transforms = [types["geometry_msgs/msg/TransformStamped"](
            header=header(stamp, t.parent), child_frame_id=t.child,
            transform=types["geometry_msgs/msg/Transform"](
                translation=types["geometry_msgs/msg/Vector3"](*t.translation.tolist()),
                rotation=types["geometry_msgs/msg/Quaternion"](*t.rotation.tolist())))
            for t in self._transforms]
        raw = serialize(types[TF_MESSAGE](transforms=transforms), TF_MESSAGE)
        return self._deliver(TF_STATIC_TOPIC, "events", iter([np.array([stamp], np.int64)]),
                             lambda _sample, _stamp, index: [raw for _ in index.tolist()])

    def _camera_encoder(self, cam: int) -> Encoder:
        spec = self.spec
        camera = self._camera(cam)
        template = image_template(spec.image_height, spec.image_width,
                                  frames.optical_frame(cam))
        frame = np.empty((spec.image_height, spec.image_width, 3), np.uint8)
        period_ns = int(round(1e9 / spec.camera_rate_hz))

        def render(t_ns: int, skeletons: np.ndarray) -> memoryview:
            camera.render(t_ns // period_ns, skeletons, frame)
            return frame.data.cast("B")
        return self._frame_encoder(template, render)

    def _lidar_encoder(self) -> Encoder:
        spec = self.spec
        lidar = Lidar(spec.lidar_points, spec.arms, spec.seed)
        template = pointcloud_template(spec.lidar_points, "lidar")
        return self._frame_encoder(
            template, lambda _t_ns, skeletons: lidar.points(skeletons).data.cast("B"))

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


def parse_sensors(text: str) -> dict[str, bool]:
    """`--sensors` ("commands,depth", "all" or "") -> CellSpec flags; ConfigError names a bad
    one."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if names == ["all"]:
        return dict.fromkeys(SENSORS, True)
    unknown = [n for n in names if n not in SENSORS]
    if unknown:
        raise ConfigError(f"--sensors: unknown sensor {unknown[0]!r}"
                          f" (choose from {', '.join(SENSORS)}, or all)")
    return {name: name in names for name in SENSORS}


def cell_from_options(duration_s: float, arms: int, cameras: int, lidar: bool,
                      episodes: int | None, seed: int, image_size: tuple[int, int],
                      lidar_points: int, faults: str, sensors: str = "") -> Cell:
    """The Cell the cell_options describe (ConfigError names the bad option)."""
    width, height = image_size
    spec = CellSpec(arms=arms, cameras=cameras, lidar=lidar, duration_s=duration_s,
                    episodes=episodes, seed=seed, image_height=height, image_width=width,
                    lidar_points=lidar_points, **parse_sensors(sensors))
    return Cell(spec, parse_faults(faults))
