"""Cyclone DDS IdlStruct classes generated at run time from rosbags' typestore field definitions.

The classes carry the ROS 2 DDS type names (`pkg::msg::dds_::T_`) and member layout, so topics we
create are the same topics rmw_cyclonedds / Fast DDS nodes create. The hot path never uses them to
(de)serialize: samples travel as raw CDR bytes (see dds_raw.py); the classes only name the type.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cyclonedds.idl import IdlStruct, make_idl_struct
from cyclonedds.idl import types as idl
from rosbags.interfaces import Nodetype

from robot_logger.core.messages import dds_type, typestore
from robot_logger.errors import TransportError

__all__ = ["idl_struct"]

# ROS primitive -> IDL type. ROS `byte` is an octet read as int8 by rosbags; `char` is uint8.
_BASE = {
    "bool": bool,
    "byte": idl.int8,
    "char": idl.uint8,
    "int8": idl.int8,
    "uint8": idl.uint8,
    "int16": idl.int16,
    "uint16": idl.uint16,
    "int32": idl.int32,
    "uint32": idl.uint32,
    "int64": idl.int64,
    "uint64": idl.uint64,
    "float32": idl.float32,
    "float64": idl.float64,
}


def _field_type(node: tuple[Any, Any], msgtype: str) -> Any:
    # cyclonedds' idl.array/sequence/bounded_str are subscripted through an unannotated
    # __class_getitem__, which mypy cannot see: hence the `type: ignore[misc]` below.
    kind, detail = node
    if kind == Nodetype.BASE:
        name, bound = detail
        if name == "string":
            return idl.bounded_str[bound] if bound else str  # type: ignore[misc]
        if name in _BASE:
            return _BASE[name]
        raise TransportError(
            f"{msgtype}: field type {name!r} is not supported by the dds transport"
        )
    if kind == Nodetype.NAME:
        return idl_struct(detail)
    if kind == Nodetype.ARRAY:
        inner, length = detail
        return idl.array[_field_type(inner, msgtype), length]  # type: ignore[misc]
    if kind == Nodetype.SEQUENCE:
        inner, bound = detail
        element = _field_type(inner, msgtype)
        return idl.sequence[element, bound] if bound else idl.sequence[element]  # type: ignore[misc]
    raise TransportError(f"{msgtype}: unsupported field node {kind!r}")


@cache
def idl_struct(msgtype: str) -> type[IdlStruct]:
    """IdlStruct class for a ROS 2 message type (`sensor_msgs/msg/Image`), nested types too."""
    try:
        _consts, fields = typestore().fielddefs[msgtype]
    except KeyError as err:
        raise TransportError(
            f"unknown message type {msgtype!r}: not in the ROS 2 Humble typestore"
        ) from err
    members = {name: _field_type(node, msgtype) for name, node in fields}
    if not members:  # IDL forbids empty structs; ROS 2 adds this member to empty messages
        members = {"structure_needs_at_least_one_member": idl.uint8}
    return make_idl_struct(msgtype.replace("/", "_"), dds_type(msgtype), members)
