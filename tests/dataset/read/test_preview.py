"""preview: one figure with every panel titled and labelled; the CLI writes a PNG of that size."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from robot_logger.cli import main
from robot_logger.dataset.read.preview import DPI, FIGURE_WIDTH_IN, preview_figure
from tests.support.dataset_factory import built_dataset


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_dataset(tmp_path_factory.mktemp("preview"))


def _titles(fig) -> list[str]:
    return [ax.get_title() or ax.get_title(loc="left") for ax in fig.axes]


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_every_panel_is_there_titled_and_labelled(dataset_path: Path) -> None:
    fig = preview_figure(dataset_path, "demo_1")
    titles = _titles(fig)
    for cam in ("cam1", "cam2"):
        frames = [t for t in titles if t.startswith(f"{cam}  t = ")]
        assert len(frames) == 6, titles
    by_title = {t.split(":")[0].split(" ")[0]: ax for t, ax in zip(titles, fig.axes)}
    for arm in ("arm1_pos", "arm2_pos"):
        ax = by_title[arm]
        assert ax.get_xlabel() == "time since episode start (s)"
        assert ax.get_ylabel() == f"{arm} (rad)"
        assert len(ax.get_lines()) == 6
    lidar = by_title["lidar"]
    assert (lidar.get_xlabel(), lidar.get_ylabel()) == ("x (m)", "y (m)")
    assert lidar.get_aspect() == 1.0
    assert any(ax.get_ylabel() == "height z (m)" for ax in fig.axes)  # its colorbar
    assert "sample validity per stream" in by_title["sample"].get_title()
    assert "demo_1" in fig._suptitle.get_text()


def test_phase_bands_and_validity_match_the_file(dataset_path: Path) -> None:
    fig = preview_figure(dataset_path, "demo_1")
    with h5py.File(dataset_path, "r") as f:
        demo = f["data/demo_1"]
        names = json.loads(demo["labels/phase"].attrs["names"])
        used = sorted({int(i) for i in demo["labels/phase"][()] if i >= 0})
        missing = {s: 100 * (1 - demo[f"valid/{s}"][()].mean()) for s in demo["valid"]}
    joints = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("arm1_pos"))
    phase_legend = joints.get_legend()
    assert [t.get_text() for t in phase_legend.get_texts()] == [names[i] for i in used]
    assert len(joints.patches) >= len(used)  # one band per run of a phase
    validity = next(ax for ax in fig.axes if "validity" in ax.get_title())
    labels = [t.get_text() for t in validity.get_yticklabels()]
    assert labels == [f"{s} ({missing[s]:.1f}% missing)" for s in sorted(missing)]
    assert any(share > 0 for share in missing.values())  # the faults left gaps to show


def test_cli_writes_a_png_of_the_figure_size(dataset_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "preview.png"
    result = CliRunner().invoke(main, ["preview", str(dataset_path), "--episode", "demo_2",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    height_in = preview_figure(dataset_path, "demo_2").get_size_inches()[1]
    assert _png_size(out) == (round(FIGURE_WIDTH_IN * DPI), round(height_in * DPI))


def test_cli_errors_are_one_line(dataset_path: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["preview", str(dataset_path), "--episode", "demo_9",
                                  "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "error:" in result.output and "no episode 'demo_9'" in result.output
    assert "Traceback" not in result.output
    not_hdf5 = tmp_path / "notes.h5"
    not_hdf5.write_text("not a dataset")
    result = runner.invoke(main, ["preview", str(not_hdf5), "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "notes.h5: not an HDF5 file" in result.output
    assert not (tmp_path / "x.png").exists()


def test_preview_without_optional_streams(tmp_path: Path) -> None:
    path = built_dataset(tmp_path, cameras=0, lidar=False, arms=1, faults="")
    fig = preview_figure(path)
    titles = _titles(fig)
    assert any(t.startswith("arm1_pos") for t in titles)
    assert not any("lidar" in t or t.startswith("cam") for t in titles)
    assert np.isclose(fig.get_size_inches()[0], FIGURE_WIDTH_IN)


QUADRANTS = {(0, 0): (230, 20, 20), (0, 1): (20, 200, 30),      # (top, left): red, (top, right)
             (1, 0): (30, 40, 220), (1, 1): (250, 250, 250)}     # green, blue, white


def _paint(frame: np.ndarray, colours: dict[tuple[int, int], tuple[int, int, int]]) -> None:
    h, w = frame.shape[:2]
    for (row, col), colour in colours.items():
        frame[row * h // 2:(row + 1) * h // 2, col * w // 2:(col + 1) * w // 2] = colour


def _shown_pixel(fig, ax, image_xy: tuple[float, float]) -> tuple[int, int, int]:
    """RGB the canvas shows at image coordinates (x = column, y = row) of an imshow axes."""
    x, y = ax.transData.transform(image_xy)
    pixels = np.asarray(fig.canvas.buffer_rgba())
    return tuple(int(v) for v in pixels[pixels.shape[0] - int(round(y)), int(round(x)), :3])


def test_a_known_frame_is_shown_at_its_place_upright_in_rgb(dataset_path: Path,
                                                            tmp_path: Path) -> None:
    """Paint the first and last frames of cam1 with coloured quadrants (the first mirrored),
    then read the rendered canvas: the first and last columns show those frames, upright, with
    red as red (no BGR swap, no flip, no transpose, no off-by-one frame)."""
    path = tmp_path / "painted.h5"
    path.write_bytes(dataset_path.read_bytes())
    mirrored = {(r, 1 - c): colour for (r, c), colour in QUADRANTS.items()}
    with h5py.File(path, "r+") as f:
        cam = f["data/demo_1/obs/cam1"]
        first, last = cam[0], cam[len(cam) - 1]
        _paint(first, mirrored)
        _paint(last, QUADRANTS)
        cam[0], cam[len(cam) - 1] = first, last
        h, w = first.shape[:2]
    fig = preview_figure(path, "demo_1")
    fig.canvas.draw()
    columns = [ax for ax in fig.axes if ax.get_title().startswith("cam1  t = ")]
    for ax, colours in ((columns[0], mirrored), (columns[-1], QUADRANTS)):
        for (row, col), colour in colours.items():
            centre = ((col + 0.5) * w / 2 - 0.5, (row + 0.5) * h / 2 - 0.5)
            shown = _shown_pixel(fig, ax, centre)
            assert np.abs(np.subtract(shown, colour)).max() <= 3, (ax.get_title(), row, col,
                                                                    shown, colour)


def test_depth_row_shows_metres_on_its_colour_scale(sensor_built: tuple[Path, object]) -> None:
    """The drawn colour of the nearest and the farthest pixel of a depth frame is the colour
    map's colour of that pixel's stored depth in metres (so the image is neither flipped nor
    off-scale), and the colourbar says metres."""
    path, _ = sensor_built
    fig = preview_figure(path, "demo_1")
    frames = [ax for ax in fig.axes if ax.get_title().startswith("depth  t = ")]
    assert len(frames) == 6
    assert [bar.get_ylabel() for bar in frames[-1].child_axes] == ["depth (m)"]  # colourbar
    with h5py.File(path, "r") as f:
        stored = f["data/demo_1/obs/depth"][()]
        t_s = (f["data/demo_1/timestamps"][()] - f["data/demo_1/timestamps"][0]) / 1e9
    ax = frames[3]
    frame = int(np.argmin(np.abs(t_s - float(ax.get_title().split("= ")[1].split(" s")[0]))))
    image = ax.get_images()[0]
    np.testing.assert_array_equal(image.get_array(), stored[frame] / np.float32(1000))
    fig.canvas.draw()
    inner = stored[frame][2:-2, 2:-2]           # clear of the axes' frame lines
    for row, col in (np.unravel_index(np.argmin(inner), inner.shape),
                     np.unravel_index(np.argmax(inner), inner.shape)):
        row, col = row + 2, col + 2
        drawn = np.array(_shown_pixel(fig, ax, (col, row))) / 255.0
        want = np.asarray(image.cmap(image.norm(stored[frame][row, col] / 1000.0)))[:3]
        np.testing.assert_allclose(drawn, want, atol=2 / 255)
    near, far = stored[frame].min() / 1000.0, stored[frame].max() / 1000.0
    assert 1.0 < near < far < 10.0
    assert image.norm.vmin <= near + 1e-6 and far - 1e-6 <= image.norm.vmax


def test_force_and_command_streams_are_plotted(sensor_built: tuple[Path, object]) -> None:
    path, _ = sensor_built
    fig = preview_figure(path, "demo_0")
    panels = {ax.get_title(loc="left").split(":")[0]: ax for ax in fig.axes
              if ax.get_title(loc="left")}
    assert list(panels)[:4] == ["arm1_pos", "arm1_cmd", "gripper", "wrench"]
    with h5py.File(path, "r") as f:
        for stream, labels in (("wrench", ["x", "y", "z"]),
                               ("arm1_cmd", [f"arm1_joint{j}" for j in range(1, 7)]),
                               ("gripper", ["data"])):
            ax = panels[stream]
            values = f[f"data/demo_0/obs/{stream}"][()]
            assert ax.get_title(loc="left") == f"{stream}: values over time"
            lines = ax.get_lines()
            for column, line in enumerate(lines):
                np.testing.assert_array_equal(line.get_ydata(), values[:, column])
            legend = next(a for a in ax.artists + [ax.get_legend()]
                          if a is not None and a.get_title().get_text() == "columns")
            assert [t.get_text() for t in legend.get_texts()] == labels
    assert np.abs(f_values := panels["wrench"].get_lines()[2].get_ydata()).max() > 5, \
        f"the grasp or weld presses the tool: {f_values.min()}"


def test_depth_in_metres_from_millimetres_or_metres_with_no_return_as_nan() -> None:
    """uint16 holds millimetres (0 = no return, REP 118); float32 holds metres (0, NaN and inf
    = no return): both come out as float32 metres with NaN where there was no return."""
    from robot_logger.dataset.read.h5 import depth_metres

    millimetres = np.array([[0, 1, 1500, 65535]], np.uint16)
    metres = np.array([[0.0, np.nan, 1.5, np.inf]], np.float32)
    np.testing.assert_array_equal(depth_metres(millimetres),
                                  np.array([[np.nan, 0.001, 1.5, 65.535]], np.float32))
    np.testing.assert_array_equal(depth_metres(metres),
                                  np.array([[np.nan, np.nan, 1.5, np.nan]], np.float32))
    assert depth_metres(millimetres).dtype == depth_metres(metres).dtype == np.float32
    assert np.isinf(metres[0, 3]), "the input is not changed in place"
