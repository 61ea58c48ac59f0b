"""What each arm's tool does: the gripper's opening and command, and the wrist force/torque.

Both follow the episode phases in closed form, so tests compare values, not shapes.

Gripper (pick-and-place tasks; a welding arm keeps its gripper open): the command is a step
function — OPEN_M at rest, CLOSED_M from GRASP_AT of the way through the grasp phase, OPEN_M
again from RELEASE_AT of the way through the place phase (a failed episode, which has no place
phase, lets go when it retreats). The measured opening moves from where it is to the commanded
width along a quintic blend (10s³ − 15s⁴ + 6s⁵) over GRIPPER_MOVE_S; closing stops at the part's
width PART_WIDTH_M (the part is in the way).

Wrist F/T (geometry_msgs/Wrench in the sensor frame, gravity-compensated for the tool, contact at
the tool tip TOOL_TIP_M along the sensor's z): zero outside contact; in a phase with contact the
force is `scale · magnitude · direction · envelope(s)` for s in 0..1 through the phase, and the
torque is tip × force. Envelopes are `bump` 16s²(1−s)² (a press) or `plateau` (a quintic ramp up
over the first and down over the last RAMP of the phase: a held load), both zero with zero slope
at the phase edges, so the wrench is continuous with a continuous derivative. The weld phase adds
a weave: WEAVE_N · sin(2π·WEAVE_HZ·(t − phase start)) along x under the same plateau. `scale` is
1 + 0.1·(arm − 1), so arms differ.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from robot_logger.sim.spec import EpisodeTruth

__all__ = ["Gripper", "Wrist", "GRIPPER_MOVE_S", "OPEN_M", "CLOSED_M", "PART_WIDTH_M",
           "GRASP_AT", "RELEASE_AT", "CONTACTS", "TOOL_TIP_M"]

OPEN_M, CLOSED_M, PART_WIDTH_M = 0.085, 0.0, 0.04
GRIPPER_MOVE_S = 0.25
GRASP_AT, RELEASE_AT = 0.6, 0.6
TOOL_TIP_M = 0.15
RAMP = 0.2
WEAVE_N, WEAVE_HZ = 2.0, 3.0


class Contact(NamedTuple):
    """A phase with tool contact: force magnitude (N), unit-ish direction, envelope, weave."""

    magnitude: float
    direction: tuple[float, float, float]
    envelope: str          # bump | plateau
    weave: bool = False


# phase name -> contact; phases not listed have none. The part (1.5 kg) hangs on the tool while
# it is carried: 1.5 · 9.81 = 14.715 N.
CONTACTS = {
    "grasp": Contact(25.0, (0.15, -0.1, -1.0), "bump"),
    "transport": Contact(14.715, (0.0, 0.0, -1.0), "plateau"),
    "place": Contact(15.0, (-0.1, 0.05, -1.0), "bump"),
    "tack": Contact(40.0, (0.0, 0.2, -1.0), "bump"),
    "weld": Contact(12.0, (0.0, 0.0, -1.0), "plateau", weave=True),
}


def _quintic(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s**2)


def _envelope(kind: str, s: np.ndarray) -> np.ndarray:
    if kind == "bump":
        return 16.0 * s**2 * (1.0 - s) ** 2
    return _quintic(np.minimum(s, 1.0 - s) / RAMP)


class Gripper:
    """One arm's gripper over the cell's episodes: `truth(t_ns)` -> (opening, command) in m."""

    def __init__(self, start_ns: int, episodes: list[EpisodeTruth]) -> None:
        steps: list[tuple[int, float, float]] = [(start_ns, OPEN_M, OPEN_M)]  # (t, command, goal)
        for episode in episodes:
            if not episode.task.startswith("pick and place"):
                continue
            phases = {name: (a, b) for name, a, b in episode.phases}
            grasp = phases["grasp"]
            steps.append((grasp[0] + int(GRASP_AT * (grasp[1] - grasp[0])), CLOSED_M,
                          PART_WIDTH_M))
            release = phases.get("place")
            at = release[0] + int(RELEASE_AT * (release[1] - release[0])) if release \
                else phases["retreat"][0]
            steps.append((at, OPEN_M, OPEN_M))
        self.step_ns = np.array([t for t, _, _ in steps], np.int64)
        self.command = np.array([c for _, c, _ in steps])
        self.goal = np.array([g for _, _, g in steps])
        # where each move starts: the opening when its command came (a move may be cut short)
        self.origin = self.goal.copy()
        for k in range(1, len(steps)):
            self.origin[k] = self._blend(k - 1, self.step_ns[k:k + 1])[0]

    def _blend(self, k: int | np.ndarray, t_ns: np.ndarray) -> np.ndarray:
        s = (t_ns - self.step_ns[k]) * 1e-9 / GRIPPER_MOVE_S
        opening: np.ndarray = self.origin[k] + (self.goal[k] - self.origin[k]) * _quintic(s)
        return opening

    def truth(self, t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measured opening (N,) and commanded opening (N,) in metres at times t_ns."""
        t = np.atleast_1d(np.asarray(t_ns, np.int64))
        k = np.maximum(np.searchsorted(self.step_ns, t, side="right") - 1, 0)
        return self._blend(k, t), self.command[k]


class Wrist:
    """One arm's wrist F/T sensor: `truth(t_ns)` -> force (N, 3) in N, torque (N, 3) in N·m."""

    def __init__(self, arm: int, episodes: list[EpisodeTruth]) -> None:
        rows = [(a, b, CONTACTS[name]) for episode in episodes
                for name, a, b in episode.phases if name in CONTACTS]
        self.start = np.array([a for a, _, _ in rows], np.int64)
        self.end = np.array([b for _, b, _ in rows], np.int64)
        scale = 1.0 + 0.1 * (arm - 1)
        self.force = np.array([scale * c.magnitude * np.asarray(c.direction) for _, _, c in rows]
                              ).reshape(-1, 3)
        self.plateau = np.array([c.envelope == "plateau" for _, _, c in rows], bool)
        self.weave = np.array([scale * WEAVE_N * c.weave for _, _, c in rows])

    def truth(self, t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Force and torque (N, 3) each at times t_ns (sensor frame)."""
        t = np.atleast_1d(np.asarray(t_ns, np.int64))
        force = np.zeros((len(t), 3))
        if len(self.start):
            k = np.maximum(np.searchsorted(self.start, t, side="right") - 1, 0)
            inside = (t >= self.start[k]) & (t < self.end[k])
            k, ti = k[inside], t[inside]
            since_s = (ti - self.start[k]) * 1e-9
            s = since_s / ((self.end[k] - self.start[k]) * 1e-9)
            envelope = np.where(self.plateau[k], _envelope("plateau", s), _envelope("bump", s))
            contact = self.force[k] * envelope[:, None]
            contact[:, 0] += self.weave[k] * np.sin(2 * np.pi * WEAVE_HZ * since_s) * envelope
            force[inside] = contact
        torque = np.cross(np.array([0.0, 0.0, TOOL_TIP_M]), force)
        return force, torque
