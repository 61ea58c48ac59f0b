"""The one place that knows rosbags' type API: typestore, CDR (de)serialization, ROS/DDS names.

Every other module builds and reads messages through these helpers, so a change of rosbags
version or typestore touches this file only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.typesys import Stores, TypesysError, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

__all__ = [
    "JOINT_STATE",
    "IMAGE",
    "COMPRESSED_IMAGE",
    "POINTCLOUD2",
    "LASER_SCAN",
    "STRING",
    "FLOAT64",
    "JOINT_TRAJECTORY",
    "WRENCH_STAMPED",
    "CAMERA_INFO",
    "TF_MESSAGE",
    "EVENTS_TOPIC",
    "TF_STATIC_TOPIC",
    "TF_TOPIC",
    "STATUS_TOPIC",
    "typestore",
    "register_type",
    "serialize",
    "deserialize",
    "has_header",
    "header",
    "header_stamp_ns",
    "stamp_to_ns",
    "joint_state",
    "image",
    "pointcloud2",
    "string",
    "xyzi_fields",
    "dds_topic",
    "dds_type",
    "ros_topic",
    "ros_type",
]

JOINT_STATE = "sensor_msgs/msg/JointState"
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
LASER_SCAN = "sensor_msgs/msg/LaserScan"
STRING = "std_msgs/msg/String"
FLOAT64 = "std_msgs/msg/Float64"
JOINT_TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
WRENCH_STAMPED = "geometry_msgs/msg/WrenchStamped"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"
HEADER = "std_msgs/msg/Header"

EVENTS_TOPIC = "/robot_logger/events"
STATUS_TOPIC = "/robot_logger/status"
TF_STATIC_TOPIC = "/tf_static"   # tf2: reliable, transient-local, published once
TF_TOPIC = "/tf"

# sensor_msgs/PointField datatype codes -> numpy dtypes (little endian; flip for is_bigendian).
POINTFIELD_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
FLOAT32 = 7


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The ROS 2 Humble typestore used for everything we write (and as the default for reads)."""
    return get_typestore(Stores.ROS2_HUMBLE)


def _msg_file(msgtype: str, roots: Iterable[Path]) -> Path | None:
    """`pkg/msg/Name`'s definition under an install prefix (`<root>/share/pkg/msg/Name.msg`, as
    in AMENT_PREFIX_PATH) or a source folder (`<root>/pkg/msg/Name.msg`)."""
    pkg, _, name = msgtype.split("/", 2)
    for root in roots:
        for path in (root / "share" / pkg / "msg" / f"{name}.msg",
                     root / pkg / "msg" / f"{name}.msg"):
            if path.is_file():
                return path
    return None


def register_type(msgtype: str, roots: Iterable[Path]) -> str | None:
    """Add `msgtype` (and the types its fields use) to the typestore from the `.msg` files under
    `roots`, the way rosbag2 finds installed definitions; None when it is known now, else why
    not. Types the typestore already has (ROS 2 Humble's) are never replaced."""
    store, roots = typestore(), list(roots)
    parsed: dict[str, Any] = {}
    todo = [msgtype]
    while todo:
        name = todo.pop()
        if name in store.fielddefs or name in parsed:
            continue
        path = _msg_file(name, roots) if name.count("/") == 2 else None
        if path is None:
            where = ", ".join(str(r) for r in roots) or "no folders"
            return f"no definition of {name} in {where}"
        try:
            found = get_types_from_msg(path.read_text(), name)
        except (OSError, TypesysError) as err:
            return f"cannot read {path}: {err}"
        parsed.update(found)
        for _consts, fields in found.values():
            todo.extend(n for n in (_names(node) for _field, node in fields) if n)
    store.register(parsed)
    return None


def _names(node: Any) -> str:
    """The message type a field node refers to ('' for a primitive)."""
    kind, detail = node
    if kind == 2:   # Nodetype.NAME
        return str(detail)
    if kind in (3, 4):   # ARRAY, SEQUENCE: (element node, size)
        return _names(detail[0])
    return ""


def serialize(msg: Any, msgtype: str) -> bytes:
    """CDR bytes exactly as rosbag2 stores them (4-byte encapsulation header + body)."""
    return bytes(typestore().serialize_cdr(msg, msgtype))


def deserialize(raw: bytes | memoryview, msgtype: str) -> Any:
    """Message object from CDR bytes; arrays of primitives come back as numpy views."""
    return typestore().deserialize_cdr(raw, msgtype)


def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time -> int nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


_STAMP_LE = struct.Struct("<iI")
_STAMP_BE = struct.Struct(">iI")
STAMP_END = 12  # encapsulation header (4) + sec (4) + nanosec (4)


def header_stamp_ns(raw: bytes | memoryview) -> int:
    """`header.stamp` (ns) straight from the CDR bytes of a message whose first field is a Header.

    Bytes 0-3 are the CDR encapsulation header (byte 1 says the byte order); the Header's
    `stamp.sec` (int32) and `stamp.nanosec` (uint32) follow at offsets 4 and 8. Returns 0
    (like an unset stamp) when the bytes are too short to hold one. No deserialization: the
    recorder calls this for every message it receives, `info` for every message of a bag.
    """
    if len(raw) < STAMP_END:
        return 0
    sec: int
    nanosec: int
    sec, nanosec = (_STAMP_BE if raw[1] == 0 else _STAMP_LE).unpack_from(raw, 4)
    return sec * 1_000_000_000 + nanosec


def has_header(msgtype: str, store: Typestore | None = None) -> bool:
    """True when the type's first field is a std_msgs/Header, so `header_stamp_ns` applies.

    `store`: where the type is defined (a bag's own typestore); default ROS 2 Humble's.
    """
    fielddef = (store or typestore()).fielddefs.get(msgtype)
    if fielddef is None:
        return False
    fields = fielddef[1]
    return bool(fields) and fields[0][1][0].name == "NAME" and fields[0][1][1] == HEADER


def header(stamp_ns: int, frame_id: str) -> Any:
    """std_msgs/Header for a stamp in ns."""
    types = typestore().types
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id
    )


def joint_state(
    stamp_ns: int,
    names: list[str],
    position: np.ndarray,
    velocity: np.ndarray,
    effort: np.ndarray,
    frame_id: str = "",
) -> Any:
    """sensor_msgs/JointState."""
    return typestore().types[JOINT_STATE](
        header=header(stamp_ns, frame_id),
        name=list(names),
        position=np.asarray(position, np.float64),
        velocity=np.asarray(velocity, np.float64),
        effort=np.asarray(effort, np.float64),
    )


def image(stamp_ns: int, pixels: np.ndarray, encoding: str = "rgb8", frame_id: str = "") -> Any:
    """sensor_msgs/Image from an (H, W, C) or (H, W) array: uint8, or uint16 / float32 for depth
    (16UC1 / 32FC1), stored little-endian (is_bigendian 0)."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    dtype = pixels.dtype if pixels.dtype in (np.uint16, np.float32) else np.dtype(np.uint8)
    data = np.ascontiguousarray(pixels, dtype.newbyteorder("<"))
    return typestore().types[IMAGE](
        header=header(stamp_ns, frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels * data.itemsize,
        data=data.reshape(-1).view(np.uint8),
    )


def xyzi_fields() -> list[Any]:
    """PointField list for packed float32 x, y, z, intensity (16 bytes a point)."""
    field = typestore().types["sensor_msgs/msg/PointField"]
    return [
        field(name=n, offset=4 * i, datatype=FLOAT32, count=1)
        for i, n in enumerate(("x", "y", "z", "intensity"))
    ]


def pointcloud2(stamp_ns: int, points: np.ndarray, frame_id: str = "lidar") -> Any:
    """sensor_msgs/PointCloud2 (unorganized, height 1) from (N, 4) float32 x,y,z,intensity."""
    pts = np.ascontiguousarray(points, np.float32)
    return typestore().types[POINTCLOUD2](
        header=header(stamp_ns, frame_id),
        height=1,
        width=pts.shape[0],
        fields=xyzi_fields(),
        is_bigendian=False,
        point_step=16,
        row_step=16 * pts.shape[0],
        data=pts.view(np.uint8).reshape(-1),
        is_dense=True,
    )


def string(text: str) -> Any:
    """std_msgs/String."""
    return typestore().types[STRING](data=text)


def dds_topic(topic: str) -> str:
    """ROS 2 topic name -> DDS topic name (`/a/b` -> `rt/a/b`)."""
    return "rt/" + topic.lstrip("/")


def ros_topic(dds_name: str) -> str:
    """DDS topic name -> ROS 2 topic name (`rt/a/b` -> `/a/b`)."""
    return "/" + dds_name[3:] if dds_name.startswith("rt/") else dds_name


def dds_type(msgtype: str) -> str:
    """ROS 2 type name -> DDS type name (`pkg/msg/T` -> `pkg::msg::dds_::T_`)."""
    pkg, kind, name = msgtype.split("/")
    return f"{pkg}::{kind}::dds_::{name}_"


def ros_type(dds_name: str) -> str:
    """DDS type name -> ROS 2 type name (`pkg::msg::dds_::T_` -> `pkg/msg/T`)."""
    parts = dds_name.split("::")
    if len(parts) != 4 or parts[2] != "dds_" or not parts[3].endswith("_"):
        return dds_name
    return f"{parts[0]}/{parts[1]}/{parts[3][:-1]}"


# CDR sizes of primitive types, and their little-endian numpy dtypes.
_PRIMITIVES = {"bool": (1, "u1"), "byte": (1, "u1"), "char": (1, "u1"), "int8": (1, "i1"),
               "uint8": (1, "u1"), "int16": (2, "<i2"), "uint16": (2, "<u2"), "int32": (4, "<i4"),
               "uint32": (4, "<u4"), "int64": (8, "<i8"), "uint64": (8, "<u8"),
               "float32": (4, "<f4"), "float64": (8, "<f8")}
_CDR_BODY = 4          # the encapsulation header; alignment counts from the body start
_U32 = struct.Struct("<I")

CdrLeaf = tuple[tuple[str | int, ...], int, str]   # (field path, byte offset, numpy dtype)


def cdr_leaves(msgtype: str, raw: bytes | memoryview,
               store: Typestore | None = None) -> list[CdrLeaf] | None:
    """Every numeric leaf of one little-endian CDR message: its field path (sequence and array
    elements as int parts, `("wrench", "force", "x")`, `("points", 0, "positions", 3)`), its byte
    offset in `raw`, its numpy dtype. Strings and sequence lengths are read from `raw`, so the
    offsets hold for every message with the same bytes outside the leaves (a recorder's stream
    nearly always). None for big-endian data, unknown types or bytes that do not fit the type.
    """
    store = store or typestore()
    if len(raw) < _CDR_BODY or raw[1] != 1:
        return None
    leaves: list[CdrLeaf] = []

    def align(pos: int, size: int) -> int:
        return _CDR_BODY + ((pos - _CDR_BODY + size - 1) // size) * size

    def element(node: Any, path: tuple[str | int, ...], pos: int) -> int:
        kind, spec = node
        if kind.name == "BASE":
            name = spec[0]
            if name in ("string", "wstring"):
                pos = align(pos, 4)
                length: int = _U32.unpack_from(raw, pos)[0]
                return pos + 4 + length * (1 if name == "string" else 2)
            size, dtype = _PRIMITIVES[name]
            pos = align(pos, size)
            leaves.append((path, pos, dtype))
            return pos + size
        if kind.name == "NAME":
            return struct_fields(spec, path, pos)
        if kind.name in ("ARRAY", "SEQUENCE"):
            inner, count = spec
            if kind.name == "SEQUENCE":
                pos = align(pos, 4)
                count = _U32.unpack_from(raw, pos)[0]
                pos += 4
            for i in range(count):
                pos = element(inner, path + (i,), pos)
            return pos
        raise KeyError(kind.name)

    def struct_fields(name: str, path: tuple[str | int, ...], pos: int) -> int:
        for field_name, node in store.fielddefs[name][1]:
            pos = element(node, path + (field_name,), pos)
        return pos

    try:
        end = struct_fields(msgtype, (), _CDR_BODY)
    except (KeyError, struct.error, IndexError, TypeError):
        return None
    return leaves if end <= len(raw) and len(raw) - end < 8 else None
