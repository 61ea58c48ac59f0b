"""Messages lost by `record` beside a 2-core CPU hog, with Cyclone's default socket receive
buffer (1 MiB asked for) and with the recorder's own request (10 MiB, as ROS 2's DDS tuning guide
recommends; the kernel's net.core.rmem_max may cap it, printed below).

    python tools/bench_loss_under_load.py --duration 10 --rounds 2

Each run, on a private domain over loopback with best-effort sensor QoS (the default): the
default cell (`sim --publish`: 2 arms 500 Hz, 2 cameras 640x480 rgb8 30 Hz, LiDAR 30k points
10 Hz) published for --duration s into `record --all`, while two busy-loop processes keep both
cores saturated. Per topic: published (the publisher's count) and recorded (the bag's count).
Runs alternate between the two settings so a change of machine load hits both alike.
The user's Cyclone config is a loopback config without any socket buffer setting.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from robot_logger.bag.reader import open_bag
from robot_logger.transport.dds import (
    LOOPBACK_CONFIG,
    RECEIVE_BUFFER_BYTES,
    RECEIVE_BUFFER_ENV,
    granted_receive_buffer,
)

CLI = [sys.executable, "-c", "from robot_logger.cli import main; main()"]
HOG = [sys.executable, "-c", "while True: pass"]
# The same loopback domain config as the tests, without its socket buffer sizes.
PLAIN_LOOPBACK = LOOPBACK_CONFIG.split("<Internal>")[0] + "</Domain></CycloneDDS>"
SETTINGS = {"cyclone default (1 MiB)": "0", "recorder's 10 MiB request": str(RECEIVE_BUFFER_BYTES)}


def one_run(setting: str, duration_s: float, workdir: Path) -> dict[str, tuple[int, int]]:
    """topic -> (published, recorded) for one recording beside the hog."""
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.randint(1, 230)),
           "CYCLONEDDS_URI": PLAIN_LOOPBACK, RECEIVE_BUFFER_ENV: setting}
    bag = workdir / f"bag_{time.monotonic_ns()}"
    hogs = [subprocess.Popen(HOG) for _ in range(2)]
    try:
        recorder = subprocess.Popen(CLI + ["record", "-o", str(bag), "--all", "--transport",
                                           "dds", "--json", "--quiet"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sent = subprocess.run(CLI + ["sim", "--publish", "--transport", "dds", "--json",
                                     "--wait-subscribers", "20", "--duration", str(duration_s)],
                              env=env, capture_output=True, text=True, timeout=300)
        if sent.returncode != 0:
            raise SystemExit(f"error: sim --publish failed: {sent.stderr.strip()[-300:]}")
        time.sleep(1.0)
        recorder.send_signal(signal.SIGINT)
        recorder.communicate(timeout=60)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    published = json.loads(sent.stdout)["published"]
    with open_bag(bag) as reader:
        recorded = {topic: info.count for topic, info in reader.topics.items()}
    return {topic: (count, recorded.get(topic, 0)) for topic, count in sorted(published.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per recording")
    parser.add_argument("--rounds", type=int, default=2, help="runs per setting")
    args = parser.parse_args()
    granted = granted_receive_buffer(RECEIVE_BUFFER_BYTES)
    print(f"net.core.rmem_max grants {granted / 2**20:.1f} MiB of the "
          f"{RECEIVE_BUFFER_BYTES / 2**20:.0f} MiB asked for; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} before the runs")
    totals: dict[str, dict[str, list[int]]] = {name: {} for name in SETTINGS}
    with tempfile.TemporaryDirectory(prefix="loss_under_load_") as tmp:
        for round_index in range(args.rounds):
            for name, setting in SETTINGS.items():
                counts = one_run(setting, args.duration, Path(tmp))
                lost = {t: p - r for t, (p, r) in counts.items() if p != r}
                print(f"round {round_index + 1}, {name}: lost {lost or 'nothing'}")
                for topic, (pub, rec) in counts.items():
                    acc = totals[name].setdefault(topic, [0, 0])
                    acc[0] += pub
                    acc[1] += rec
    print(f"\nper topic over {args.rounds} runs of {args.duration:g} s, 2-core CPU hog beside:")
    names = list(SETTINGS)
    print(f"{'topic':34} " + "  ".join(f"{n:>34}" for n in names))
    for topic in sorted(totals[names[0]]):
        cells = []
        for name in names:
            pub, rec = totals[name].get(topic, [0, 0])
            cells.append(f"{rec:>7}/{pub:<7} recorded ({rec / max(pub, 1):.4f})")
        print(f"{topic:34} " + "  ".join(f"{c:>34}" for c in cells))


if __name__ == "__main__":
    main()
