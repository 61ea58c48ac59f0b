"""PointCloud2 layouts, LaserScan conversion and fixed-size downsampling."""

import subprocess
import sys

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from robot_logger.core import messages
from robot_logger.dataset.ops import pointcloud
from robot_logger.dataset.ops.pointcloud import (
    downsample,
    points_from_laserscan,
    points_from_pointcloud2,
)
from robot_logger.errors import DatasetError
from robot_logger.sim import Cell, CellSpec
from robot_logger.sim.lidar import Lidar
from tests.support.paths import REAL_BAGS

F32, F64, U8, U16, I32 = 7, 8, 2, 4, 5
NP_CODES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
RNG = np.random.default_rng(11)
POINTS = np.c_[RNG.uniform(-5, 5, (24, 3)), RNG.integers(0, 200, 24)].astype(np.float32)


def cloud_msg(points, layout, point_step, *, bigendian=False, height=1, row_pad=0,
              intensity_name="intensity"):
    """A PointCloud2 through CDR; `layout` is [(name, offset, datatype)], padding bytes 0xAB;
    column 3 of `points` goes into the field `intensity_name`."""
    order = ">" if bigendian else "<"
    dtype = np.dtype({"names": [n for n, _, _ in layout],
                      "formats": [order + NP_CODES[t] for _, _, t in layout],
                      "offsets": [o for _, o, _ in layout], "itemsize": point_step})
    width = len(points) // height
    rows = np.full((height, width * point_step + row_pad), 0xAB, np.uint8)
    cells = rows[:, : width * point_step].copy().view(dtype).reshape(height, width)
    columns = {"x": 0, "y": 1, "z": 2, intensity_name: 3}
    for name, _, _ in layout:
        if name in columns:
            cells[name] = points[:, columns[name]].reshape(height, width)
    rows[:, : width * point_step] = cells.view(np.uint8).reshape(height, -1)
    field = messages.typestore().types["sensor_msgs/msg/PointField"]
    msg = messages.typestore().types[messages.POINTCLOUD2](
        header=messages.header(1, "lidar"), height=height, width=width,
        fields=[field(name=n, offset=o, datatype=t, count=1) for n, o, t in layout],
        is_bigendian=bigendian, point_step=point_step, row_step=rows.shape[1],
        data=rows.reshape(-1), is_dense=False)
    raw = messages.serialize(msg, messages.POINTCLOUD2)
    return messages.deserialize(raw, messages.POINTCLOUD2)


XYZI = [("x", 0, F32), ("y", 4, F32), ("z", 8, F32), ("intensity", 12, F32)]
LAYOUTS = {
    "packed": (XYZI, 16, {}),
    "shuffled": ([("intensity", 0, F32), ("z", 4, F32), ("x", 8, F32), ("y", 12, F32)], 16, {}),
    "padded": ([("x", 0, F32), ("y", 4, F32), ("z", 8, F32), ("intensity", 16, F32)], 32, {}),
    "big_endian": ([("x", 0, F32), ("y", 4, F32), ("z", 8, F32), ("intensity", 12, U16)], 16,
                   {"bigendian": True}),
    "float64": ([("x", 0, F64), ("y", 8, F64), ("z", 16, F64), ("intensity", 24, F64)], 32, {}),
    "uint8_intensity_extra_fields": (
        [("ring", 0, U16), ("x", 4, F32), ("y", 8, F32), ("z", 12, F32), ("intensity", 16, U8),
         ("t", 24, F64)], 32, {}),
    "organized": (XYZI, 16, {"height": 4}),
    "organized_row_padding": (XYZI, 16, {"height": 3, "row_pad": 8}),
    "big_endian_float64_organized": (
        [("z", 0, F64), ("y", 8, F64), ("x", 16, F64), ("intensity", 24, I32)], 40,
        {"bigendian": True, "height": 2}),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_round_trip(layout):
    fields, step, options = LAYOUTS[layout]
    out = points_from_pointcloud2(cloud_msg(POINTS, fields, step, **options))
    assert out.dtype == np.float32 and out.shape == (24, 4)
    np.testing.assert_array_equal(out, POINTS)


def test_messages_helper_cloud_round_trips():
    msg = messages.pointcloud2(5, POINTS)
    np.testing.assert_array_equal(points_from_pointcloud2(msg), POINTS)


def test_missing_intensity_is_zero():
    out = points_from_pointcloud2(cloud_msg(POINTS, XYZI[:3], 12))
    np.testing.assert_array_equal(out[:, :3], POINTS[:, :3])
    np.testing.assert_array_equal(out[:, 3], 0)


def test_non_finite_points_are_dropped():
    points = POINTS.copy()
    points[[2, 5], 0] = np.nan
    points[7, 2] = np.inf
    points[9, 3] = np.nan
    out = points_from_pointcloud2(cloud_msg(points, XYZI, 16, height=2))
    keep = np.setdiff1d(np.arange(24), [2, 5, 7])
    expected = points[keep]
    expected[np.isnan(expected[:, 3]), 3] = 0
    np.testing.assert_array_equal(out, expected)


def test_empty_cloud():
    out = points_from_pointcloud2(cloud_msg(POINTS[:0], XYZI, 16))
    assert out.shape == (0, 4)


def cut_data(msg):
    msg.data = msg.data[:-16]


def move_intensity(msg):
    msg.fields[3].offset = 14


def drop_z(msg):
    msg.fields = [f for f in msg.fields if f.name != "z"]


def unknown_x_datatype(msg):
    msg.fields[0].datatype = 42


@pytest.mark.parametrize("damage, match", [
    (cut_data, r"368 bytes, but width 24 x height 1 x point_step 16"),
    (move_intensity, r"'intensity' \(offset 14, 4 bytes\) lies outside point_step 16"),
    (drop_z, r"no z field \(fields: x, y, intensity\)"),
    (unknown_x_datatype, "'x' has unknown datatype 42"),
])
def test_inconsistent_clouds_raise(damage, match):
    msg = cloud_msg(POINTS, XYZI, 16)
    damage(msg)
    with pytest.raises(DatasetError, match=match):
        points_from_pointcloud2(msg)


def scan_msg(ranges, intensities=()):
    msg = messages.typestore().types[messages.LASER_SCAN](
        header=messages.header(1, "laser"), angle_min=-np.pi / 2, angle_max=np.pi / 2,
        angle_increment=np.pi / 2, time_increment=0.0, scan_time=0.1, range_min=0.5,
        range_max=10.0, ranges=np.asarray(ranges, np.float32),
        intensities=np.asarray(intensities, np.float32))
    return messages.deserialize(messages.serialize(msg, messages.LASER_SCAN), messages.LASER_SCAN)


def test_laserscan_geometry_and_filtering():
    out = points_from_laserscan(scan_msg([2.0, 3.0, 4.0, np.inf, 0.1, np.nan, 11.0],
                                         [5, 6, 7, 8, 9, 10, 11]))
    np.testing.assert_allclose(out, [[0, -2, 0, 5], [3, 0, 0, 6], [0, 4, 0, 7]], atol=1e-6)


def test_laserscan_without_intensities():
    out = points_from_laserscan(scan_msg([2.0, 3.0]))
    np.testing.assert_array_equal(out[:, 3], 0)
    assert out.shape == (2, 4)


def test_real_turtlebot_scans():
    bag = REAL_BAGS / "tb3_walker_gazebo_humble"
    with AnyReader([bag], default_typestore=messages.typestore()) as reader:
        conns = [c for c in reader.connections if c.topic == "/scan"]
        for count, (conn, _, raw) in enumerate(reader.messages(connections=conns)):
            msg = reader.deserialize(raw, conn.msgtype)
            out = points_from_laserscan(msg)
            ranges = np.asarray(msg.ranges)
            valid = np.isfinite(ranges) & (ranges >= msg.range_min) & (ranges <= msg.range_max)
            assert 0 < len(out) == valid.sum()
            np.testing.assert_allclose(np.hypot(out[:, 0], out[:, 1]), ranges[valid], rtol=1e-5)
            if count == 4:
                break


def test_downsample_returns_exactly_p_inside_crop():
    points = np.c_[RNG.uniform(-3, 3, (5000, 3)), RNG.uniform(0, 1, 5000)].astype(np.float32)
    crop = [[-1, -2, 0], [2, 1, 1.5]]
    out, mask = downsample(points, crop=crop, voxel_size=0.1, n_points=256, seed=0)
    assert out.shape == (256, 4) and out.dtype == np.float32 and mask.all()
    assert np.all(out[:, :3] >= crop[0]) and np.all(out[:, :3] <= crop[1])


def test_downsample_pads_with_mask_false():
    out, mask = downsample(POINTS, crop=[[-5, -5, -5], [5, 5, 0]], voxel_size=None, n_points=40)
    inside = POINTS[POINTS[:, 2] <= 0]
    assert mask.sum() == len(inside) and mask[: len(inside)].all() and not mask[len(inside):].any()
    np.testing.assert_array_equal(out[: len(inside)], inside)
    np.testing.assert_array_equal(out[len(inside):], 0)


def test_downsample_empty_cloud_is_all_padding():
    out, mask = downsample(np.zeros((0, 4), np.float32), crop=None, voxel_size=0.1, n_points=8)
    assert out.shape == (8, 4) and not mask.any() and not out.any()


def test_farthest_point_sampling_keeps_input_rows_and_reaches_outliers():
    cluster = np.c_[RNG.normal(0, 0.05, (2000, 3)), RNG.uniform(0, 100, 2000)]
    far = np.c_[np.full((4, 3), 10.0) + np.arange(4)[:, None], [1, 2, 3, 4]]
    points = np.r_[cluster, far].astype(np.float32)
    out, mask = downsample(points, crop=None, voxel_size=None, n_points=16, seed=1)
    assert mask.all()
    assert (out[:, 0] >= 10).sum() == 4, "FPS must pick every far point before the dense cluster"
    rows = {tuple(p) for p in points}
    assert all(tuple(p) in rows for p in out), "sampled rows (with intensity) come from the input"


def brute_force_fps(points, count, start):
    """Farthest-point sampling by its definition: distances in float64, the first of equal
    maxima wins; indices in the order chosen."""
    xyz = points[:, :3].astype(np.float64)
    nearest = np.full(len(xyz), np.inf)
    chosen = [start]
    for _ in range(count - 1):
        nearest = np.minimum(nearest, ((xyz - xyz[chosen[-1]]) ** 2).sum(axis=1))
        chosen.append(int(np.argmax(nearest)))
    return np.array(chosen)


@pytest.mark.parametrize("seed", [0, 3])
def test_farthest_point_sampling_is_exact_on_a_simulated_scan(seed):
    """The default config's LiDAR path on the simulated cell's 30k-point scan: the 1024 rows are
    exactly the brute-force FPS of the voxel centroids from the seed's start point, in input
    order (any faster sampler must reproduce this, ties and rounding included)."""
    cell = Cell(CellSpec(duration_s=1.0))
    scan = Lidar(30000, 2, seed).points(cell.skeletons(np.array([seed * 10**8]))[0])
    crop = [[-3.9, -2.7, -2.3], [3.9, 5.1, 0.5]]
    voxels = pointcloud._voxelize(pointcloud._crop(scan, crop), 0.05)
    assert len(voxels) > 1024
    out, mask = downsample(scan, crop=crop, voxel_size=0.05, n_points=1024, seed=seed)
    start = int(np.random.default_rng(seed).integers(len(voxels)))
    np.testing.assert_array_equal(out, voxels[np.sort(brute_force_fps(voxels, 1024, start))])
    assert mask.all()


def test_downsample_is_deterministic_per_seed():
    points = np.c_[RNG.uniform(-1, 1, (3000, 3)), RNG.uniform(0, 1, 3000)].astype(np.float32)
    first = downsample(points, crop=None, voxel_size=0.05, n_points=128, seed=4)[0]
    np.testing.assert_array_equal(first, downsample(points, crop=None, voxel_size=0.05,
                                                    n_points=128, seed=4)[0])
    assert not np.array_equal(first, downsample(points, crop=None, voxel_size=0.05,
                                                n_points=128, seed=5)[0])


def test_voxel_averages_position_and_intensity():
    points = np.array([[0.01, 0.01, 0.01, 10], [0.03, 0.05, 0.07, 30],
                       [1.05, 0.0, 0.0, 7], [-0.05, 0, 0, 1]], np.float32)
    out, mask = downsample(points, crop=None, voxel_size=0.1, n_points=4)
    assert mask.tolist() == [True, True, True, False]
    expected = [[-0.05, 0, 0, 1], [0.02, 0.03, 0.04, 20], [1.05, 0, 0, 7]]
    np.testing.assert_allclose(out[:3], expected, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_points": 0}, "positive number of points"),
    ({"voxel_size": 0.0}, "voxel_size must be > 0"),
    ({"crop": [[0, 0, 0], [1, 1]]}, "crop must be"),
    ({"crop": [[0, 0, 2], [1, 1, 1]]}, "min <= max"),
])
def test_downsample_rejects_bad_parameters(kwargs, match):
    options = {"crop": None, "voxel_size": None, "n_points": 4, **kwargs}
    with pytest.raises(DatasetError, match=match):
        downsample(POINTS, **options)


def test_missing_open3d_names_the_debian_package(monkeypatch):
    pointcloud._open3d.cache_clear()
    monkeypatch.setitem(sys.modules, "open3d", None)
    monkeypatch.delitem(sys.modules, "robot_logger.dataset.ops.o3d", raising=False)
    try:
        with pytest.raises(DatasetError, match="libusb-1.0-0"):
            downsample(POINTS, crop=None, voxel_size=None, n_points=4)
    finally:
        pointcloud._open3d.cache_clear()


# Driver layouts: Ouster (ouster-ros "native": reflectivity and signal, no intensity), Livox
# (older drivers: reflectivity as uint8), a driver naming it "i", and Ouster's "original" type
# (intensity and reflectivity both present: intensity wins).
DRIVER_LAYOUTS = {
    "reflectivity": ([("x", 0, F32), ("y", 4, F32), ("z", 8, F32), ("t", 12, 6),
                      ("reflectivity", 16, U16), ("ring", 18, U16), ("signal", 20, U16)], 32),
    "i": ([("x", 0, F32), ("y", 4, F32), ("z", 8, F32), ("i", 12, F32)], 16),
    "signal": ([("x", 0, F32), ("y", 4, F32), ("z", 8, F32), ("signal", 12, U16),
                ("near_ir", 14, U16)], 16),
    "livox_reflectivity_u8": ([("x", 0, F32), ("y", 4, F32), ("z", 8, F32),
                               ("reflectivity", 12, U8), ("tag", 13, U8), ("line", 14, U8)], 16),
}


@pytest.mark.parametrize("name", sorted(DRIVER_LAYOUTS))
def test_intensity_from_the_common_driver_field_names(name):
    layout, step = DRIVER_LAYOUTS[name]
    field = next(n for n, _, _ in layout if n in ("reflectivity", "i", "signal"))
    out = points_from_pointcloud2(cloud_msg(POINTS, layout, step, intensity_name=field))
    np.testing.assert_array_equal(out, POINTS)           # intensities 0..199 fit every type


def test_intensity_field_named_in_the_config_wins():
    layout = [("x", 0, F32), ("y", 4, F32), ("z", 8, F32), ("intensity", 12, F32),
              ("ambient", 16, U16)]
    msg = cloud_msg(POINTS, layout, 20, intensity_name="ambient")
    by_default = points_from_pointcloud2(msg)[:, 3]               # `intensity` (padding bytes)
    assert not np.array_equal(by_default, POINTS[:, 3])
    np.testing.assert_array_equal(points_from_pointcloud2(msg, intensity_field="ambient"),
                                  POINTS)
    with pytest.raises(DatasetError, match=r"no 'range' field.*intensity_field.*x, y, z, "
                                           r"intensity, ambient"):
        points_from_pointcloud2(msg, intensity_field="range")


def test_sampling_loads_open3d_core_only_and_open3d_still_imports_whole():
    """Farthest-point sampling needs open3d's compiled core, not its visualization (dash,
    plotly: ~half of `import open3d`); a later `import open3d` must still give the package."""
    code = ("import sys, numpy as np\n"
            "from robot_logger.dataset.ops.pointcloud import downsample\n"
            "pts = np.random.default_rng(0).random((300, 4), dtype=np.float32)\n"
            "out, mask = downsample(pts, crop=None, voxel_size=None, n_points=50)\n"
            "assert mask.all() and len({tuple(p) for p in out.tolist()}) == 50\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('dash', 'plotly')\n"
            "         or m in ('open3d', 'open3d.visualization')]\n"
            "print(heavy, 'open3d.pybind' in sys.modules)\n"
            "import open3d\n"
            "print(open3d.__version__, open3d.visualization.__name__, "
            "open3d.geometry.PointCloud is sys.modules['open3d.pybind'].geometry.PointCloud)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert out[0] == "[] True"
    assert out[1].endswith("open3d.visualization True")
