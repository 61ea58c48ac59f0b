"""robot_logger.bag.repair.recover: recover killed/truncated/damaged bags into a new bag.

Never in place.

Expected counts are computed from the bytes of the damaged file, not by the code under test:
every message's raw CDR is unique (it carries a unique stamp or text), so a message is wholly
in the file when its bytes are found before the cut (mcap), or before the last complete page
(sqlite3: SQLite's unit of storage).
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

from robot_logger.bag.reader import open_bag
from robot_logger.bag.repair.recover import default_output, repair_bag
from robot_logger.core import messages
from robot_logger.errors import BagError
from tests.support.bag_factory import (
    image_msgs,
    killed_split_recording,
    storage_file,
    text_msgs,
    write_bag,
)
from tests.support.paths import REAL_BAGS, REPO


def read_back(path: Path) -> list[bytes]:
    """Raw messages of a bag read with rosbags' own AnyReader (not our reader)."""
    with AnyReader([path], default_typestore=messages.typestore()) as reader:
        return [bytes(raw) for _, _, raw in reader.messages()]


def contained(data: bytes, msgs, limit: int) -> list[bytes]:
    """Raw messages whose bytes lie wholly in data[:limit]."""
    found = []
    for m in msgs:
        at = data.find(m.raw)
        if at >= 0 and at + len(m.raw) <= limit:
            found.append(m.raw)
    return found


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def mcap_source(tmp_path_factory):
    """Three ~1 MiB chunks: 45 images of 160x120 and 300 short texts."""
    msgs = image_msgs("/cam", 45, 50_000_000, shape=(160, 120)) + text_msgs(
        "/chatter", [f"hello {i:05d}" for i in range(300)], 7_000_000
    )
    path = write_bag(tmp_path_factory.mktemp("src") / "bag", msgs, "mcap")
    return storage_file(path).read_bytes(), msgs


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.5, 0.77, 0.999])
def test_truncated_mcap_keeps_every_message_before_the_cut(tmp_path, mcap_source, fraction):
    data, msgs = mcap_source
    cut = int(len(data) * fraction)
    bag = tmp_path / "cut"
    bag.mkdir()
    (bag / "cut_0.mcap").write_bytes(data[:cut])
    expected = contained(data, msgs, cut)
    before = digest(bag)
    report = repair_bag(bag)
    assert digest(bag) == before  # the original is untouched
    assert Path(report.output) == default_output(bag) == tmp_path / "cut.repaired"
    assert report.message_count == len(expected)
    assert sorted(read_back(Path(report.output))) == sorted(expected)
    assert report.lost_bytes > 0


def test_cut_exactly_at_a_message_end(tmp_path, mcap_source):
    data, msgs = mcap_source
    raw = msgs[-1].raw  # the last text message, deep inside the last chunk
    end = data.find(raw) + len(raw)
    for cut, extra in ((end, 1), (end - 1, 0)):
        bag = tmp_path / f"cut{cut}"
        bag.mkdir()
        (bag / "b.mcap").write_bytes(data[:cut])
        expected = contained(data, msgs, cut)
        assert (raw in expected) == bool(extra)
        assert repair_bag(bag).message_count == len(expected)


def test_mcap_cut_inside_its_magic_is_a_clear_error(tmp_path, mcap_source):
    bag = tmp_path / "b.mcap"
    bag.write_bytes(mcap_source[0][:5])
    with pytest.raises(BagError, match="cannot be repaired"):
        repair_bag(bag)
    assert not list(tmp_path.glob("*.partial")) and not (tmp_path / "b.repaired").exists()


@pytest.fixture(scope="module")
def sqlite_source(tmp_path_factory):
    msgs = text_msgs("/chatter", [f"hello {i:05d} " * 3 for i in range(3000)], 1_000_000)
    path = write_bag(tmp_path_factory.mktemp("src") / "bag", msgs, "sqlite3")
    return storage_file(path).read_bytes(), msgs


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9, 0.999])
def test_truncated_sqlite_keeps_every_row_on_a_complete_page(tmp_path, sqlite_source, fraction):
    data, msgs = sqlite_source
    page_size = int.from_bytes(data[16:18], "big")
    cut = int(len(data) * fraction)
    bag = tmp_path / "cut"
    bag.mkdir()
    (bag / "cut_0.db3").write_bytes(data[:cut])
    expected = contained(data, msgs, cut // page_size * page_size)
    report = repair_bag(bag, tmp_path / "out")
    assert report.message_count == len(expected) > 0
    assert sorted(read_back(tmp_path / "out")) == sorted(expected)
    assert report.lost_bytes == cut % page_size


def test_sqlite_with_overflow_pages(tmp_path):
    msgs = image_msgs("/cam", 30, 10**8, shape=(40, 50))  # 6 kB rows: overflow chains
    data = storage_file(write_bag(tmp_path / "src", msgs, "sqlite3")).read_bytes()
    bag = tmp_path / "cut"
    bag.mkdir()
    (bag / "cut.db3").write_bytes(data[: len(data) * 2 // 3])
    report = repair_bag(bag)
    got = read_back(Path(report.output))
    assert 0 < len(got) < len(msgs)
    assert set(got) <= {m.raw for m in msgs}  # every recovered row is whole


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_sim_bag_truncated_by_the_fault(make_bag, storage):
    path, cell = make_bag(faults="truncate=0.7", storage=storage)
    kill_ns = cell.spec.start_ns + int(0.7 * cell.spec.duration_s * 1e9)
    written = [m for m in cell.messages() if m.log_ns < kill_ns]
    data = storage_file(path).read_bytes()
    # sqlite3: the sim committed every message; mcap: those whose bytes are in the file.
    expected = [m.data for m in written if storage == "sqlite3" or data.find(m.data) >= 0]
    with pytest.raises(BagError, match=f"robot-logger repair {path}"):
        open_bag(path)
    report = repair_bag(path)
    assert report.message_count == len(expected) > 0
    assert sorted(read_back(Path(report.output))) == sorted(expected)


WRITER = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from tests.support.bag_factory import STORAGES, image_msg
from rosbags.rosbag2 import Writer
from robot_logger.core import messages
writer = Writer(Path({path!r}), version=9, storage_plugin=STORAGES[{storage!r}])
writer.open()
conn = writer.add_connection("/cam", messages.IMAGE, typestore=messages.typestore())
for i in range(100000):
    m = image_msg("/cam", i, 10**7, shape=(60, 80))
    writer.write(conn, m.log_ns, m.raw)
    if i % 50 == 0:
        print(i, flush=True)
"""


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_sigkilled_writer(tmp_path, storage):
    path = tmp_path / "killed"
    code = WRITER.format(tests=str(REPO), path=str(path), storage=storage)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    written = 0
    deadline = time.monotonic() + 60
    while written < 300 and time.monotonic() < deadline:
        written = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert written >= 300
    report = repair_bag(path)
    got = read_back(Path(report.output))
    originals = {
        m.raw: i for i, m in enumerate(image_msgs("/cam", written + 100, 10**7, shape=(60, 80)))
    }
    indexes = sorted(originals[raw] for raw in got)  # KeyError: a damaged message
    assert len(got) == report.message_count > 0
    if storage == "mcap":  # whole 1 MiB chunks: ~72 images
        assert indexes == list(range(len(got))) and len(got) >= written - 2 * 75


def test_output_that_exists_is_refused_and_the_original_kept(tmp_path, mcap_source):
    bag = tmp_path / "b"
    bag.mkdir()
    (bag / "b.mcap").write_bytes(mcap_source[0][: len(mcap_source[0]) // 2])
    (tmp_path / "b.repaired").mkdir()
    with pytest.raises(BagError, match="exists already"):
        repair_bag(bag)


def test_damaged_record_costs_the_rest_of_its_chunk_only(tmp_path, mcap_source):
    data, msgs = mcap_source
    texts = [m for m in msgs if m.topic == "/chatter"]
    victim = data.find(texts[150].raw) - 30  # its message record's length field
    damaged = bytearray(data)
    damaged[victim : victim + 8] = (2**40).to_bytes(8, "little")
    bag = tmp_path / "b"
    bag.mkdir()
    (bag / "b.mcap").write_bytes(bytes(damaged))
    report = repair_bag(bag)
    got = read_back(Path(report.output))
    assert texts[149].raw in got and texts[150].raw not in got
    assert msgs[-1].raw in got  # later chunks survive
    assert report.damaged == 1 and len(got) == report.message_count < len(msgs)


def test_metadata_disagreeing_with_storage_is_rewritten(tmp_path):
    report = repair_bag(REAL_BAGS / "r2_sqlite3_talker_v4", tmp_path / "talker")
    with open_bag(tmp_path / "talker") as bag:
        assert bag.warnings == [] and sum(1 for _ in bag.messages()) == 20
    assert report.recovered == {"/topic": 10, "/rosout": 10, "/parameter_events": 0}


def test_not_a_bag(tmp_path):
    with pytest.raises(BagError, match="no .mcap or .db3"):
        repair_bag(tmp_path)
    with pytest.raises(BagError, match="does not exist"):
        repair_bag(tmp_path / "nope")


def test_sqlite_rows_only_in_the_wal_file_are_recovered(tmp_path):
    """A writer killed in WAL mode: the rows sit in db3-wal, which rosbags' reader ignores."""
    msgs = text_msgs("/chatter", [f"wal {i:04d}" for i in range(500)], 1_000_000)
    live = tmp_path / "live.db3"
    conn = sqlite3.connect(live)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(Sqlite3Writer.SQLITE_SCHEMA)
    conn.execute("INSERT INTO topics VALUES(1, '/chatter', ?, 'cdr', '', '')", (messages.STRING,))
    conn.executemany(
        "INSERT INTO messages (topic_id, timestamp, data) VALUES(1, ?, ?)",
        [(m.log_ns, m.raw) for m in msgs],
    )
    conn.commit()
    bag = tmp_path / "bag"
    bag.mkdir()
    for suffix in ("", "-wal"):  # a snapshot before any checkpoint
        (bag / f"bag_0.db3{suffix}").write_bytes(Path(f"{live}{suffix}").read_bytes())
    conn.close()
    assert (bag / "bag_0.db3-wal").stat().st_size > 0
    with pytest.raises(BagError, match="robot-logger repair"):
        open_bag(bag)
    report = repair_bag(bag)
    assert report.message_count == 500
    assert sorted(read_back(Path(report.output))) == sorted(m.raw for m in msgs)


@pytest.mark.parametrize("files", [1, 3])
def test_a_split_recording_killed_mid_file_is_repaired_whole(tmp_path, files):
    """The file in progress (REC/REC_<n>/) was left out: `repair REC` copied only the finished
    files, and with none finished said there was nothing to repair."""
    killed = killed_split_recording(tmp_path, files)
    report = repair_bag(killed)
    assert report.recovered == {"/joints": 100 * files}
    with open_bag(report.output) as bag:
        assert bag.topics["/joints"].count == 100 * files
        assert sorted(p.name for p in Path(report.output).glob("*.mcap")) == [
            f"rec_{i}.mcap" for i in range(files)]
