"""Work-cycle plans and exact joint trajectories.

Every arm moves rest-to-rest between waypoints along quintic segments
(q = q0 + dq·(10s³ − 15s⁴ + 6s⁵)), so position, velocity, acceleration and a simple rigid-body
effort model are known in closed form at any time. All arms share the cell's episode timeline.
"""

from __future__ import annotations

import numpy as np

from robot_logger.sim.spec import CellSpec, EpisodeTruth

__all__ = ["ArmPlan", "plan_episodes", "plan_arm"]

# task kind -> (phase names, relative phase lengths); failures end after the first two phases.
# task -> (phase names, relative phase lengths)
TASKS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "pick and place": (("approach", "grasp", "transport", "place", "retreat"),
                       (1.2, 0.6, 1.6, 0.6, 1.0)),
    "weld": (("approach", "tack", "weld", "inspect", "retreat"), (1.0, 0.5, 2.5, 0.8, 1.0)),
}
FAILURE_RATE = 0.15
IDLE_FRACTION = (0.05, 0.15)      # idle share of a cycle slot before and after the episode
HOME = np.array([0.0, -0.3, 1.2, 0.0, 0.6, 0.0])
# effort model per joint: inertia (kg·m²), viscous damping (N·m·s/rad); gravity on joints 2 and 3
INERTIA = np.array([2.5, 3.0, 1.2, 0.15, 0.1, 0.05])
DAMPING = np.array([4.0, 5.0, 2.5, 0.6, 0.4, 0.2])
GRAVITY_SHOULDER, GRAVITY_ELBOW = 40.0, 15.0


def plan_episodes(spec: CellSpec) -> list[EpisodeTruth]:
    """The cell's episodes: equal time slots, each an idle lead, the task phases, an idle tail."""
    rng = np.random.default_rng([spec.seed, 1])
    count = spec.episode_count
    bounds = spec.start_ns + (np.arange(count + 1) * spec.duration_ns) // count
    episodes = []
    for k in range(count):
        slot_start, slot_end = int(bounds[k]), int(bounds[k + 1])
        slot = slot_end - slot_start
        lead, tail = (rng.uniform(*IDLE_FRACTION, size=2) * slot).astype(np.int64)
        kind = ("pick and place", "weld")[int(rng.integers(2))]
        names, lengths = TASKS[kind]
        outcome = "failure" if rng.random() < FAILURE_RATE else "success"
        if outcome == "failure":
            names, lengths = names[:2] + names[-1:], lengths[:2] + lengths[-1:]
        weights = np.asarray(lengths) * rng.uniform(0.7, 1.3, size=len(lengths))
        start, end = slot_start + int(lead), slot_end - int(tail)
        shares = np.cumsum(np.r_[0.0, weights]) / weights.sum()
        edges = start + np.round(shares * (end - start)).astype(np.int64)
        where = f"{'ABCD'[int(rng.integers(4))]}{int(rng.integers(1, 10))}"
        label = f"{'part' if kind == 'pick and place' else 'seam'} {where}"
        phases = tuple((n, int(a), int(b)) for n, a, b in zip(names, edges[:-1], edges[1:]))
        episodes.append(EpisodeTruth(start, end, f"{kind} {label}", outcome, phases))
    return episodes


class ArmPlan:
    """One arm's piecewise-quintic trajectory: rest at pose `knot_q[k]` at time `knot_ns[k]`."""

    def __init__(self, knot_ns: np.ndarray, knot_q: np.ndarray) -> None:
        self.knot_ns = np.asarray(knot_ns, np.int64)
        self.knot_q = np.asarray(knot_q, np.float64)

    def truth(self, t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position (rad), velocity (rad/s), effort (N·m) at times `t_ns`: three (N, 6) arrays."""
        t = np.atleast_1d(np.asarray(t_ns, np.int64))
        seg = np.clip(np.searchsorted(self.knot_ns, t, side="right") - 1, 0, len(self.knot_ns) - 2)
        t0 = self.knot_ns[seg]
        span_s = (self.knot_ns[seg + 1] - t0) * 1e-9
        s = np.clip((t - t0) * 1e-9 / span_s, 0.0, 1.0)[:, None]
        dq = self.knot_q[seg + 1] - self.knot_q[seg]
        pos = self.knot_q[seg] + dq * (s**3 * (10.0 - 15.0 * s + 6.0 * s**2))
        vel = dq / span_s[:, None] * (30.0 * s**2 * (1.0 - s) ** 2)
        acc = dq / span_s[:, None] ** 2 * (60.0 * s * (1.0 - s) * (1.0 - 2.0 * s))
        eff = INERTIA * acc + DAMPING * vel
        elbow = GRAVITY_ELBOW * np.sin(pos[:, 1] + pos[:, 2])
        eff[:, 1] += GRAVITY_SHOULDER * np.sin(pos[:, 1]) + elbow
        eff[:, 2] += elbow
        return pos, vel, eff


def plan_arm(spec: CellSpec, arm: int, episodes: list[EpisodeTruth]) -> ArmPlan:
    """Waypoints of arm `arm` (1-based) for each phase of each episode; home pose while idle."""
    rng = np.random.default_rng([spec.seed, 2, arm])
    home = HOME + rng.uniform(-0.1, 0.1, size=6)
    knots_ns, knots_q = [spec.start_ns], [home]
    for episode in episodes:
        targets = _phase_targets(rng, home, episode)
        knots_ns.append(episode.start_ns)
        knots_q.append(home)
        for (_, _, end_ns), target in zip(episode.phases, targets):
            knots_ns.append(end_ns)
            knots_q.append(target)
    knots_ns.append(spec.start_ns + spec.duration_ns)
    knots_q.append(home)
    return ArmPlan(np.array(knots_ns), np.array(knots_q))


def _phase_targets(rng: np.random.Generator, home: np.ndarray,
                   episode: EpisodeTruth) -> list[np.ndarray]:
    """One waypoint per phase: above the work, at it, along it, lifted off it, back home."""
    work = home + rng.uniform([-1.2, 0.2, -0.6, -0.8, -0.5, -1.5], [1.2, 0.7, 0.2, 0.8, 0.5, 1.5])
    lift = np.array([0.0, -0.25, 0.3, 0.0, -0.1, 0.0])
    reach = np.array([1.0, 0.2, 0.2, 0.5, 0.3, 1.0])
    other = work + rng.uniform(-reach, reach)
    by_name = {
        "approach": work + lift, "grasp": work, "tack": work,
        "transport": other + lift, "weld": other, "place": other, "inspect": other + lift,
        "retreat": home,
    }
    return [by_name[name] for name, _, _ in episode.phases]
