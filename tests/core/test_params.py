"""Param.coerce: a typed value (a ROS 2 parameter) as the setting's own type, or one error."""

from __future__ import annotations

import pytest

from robot_logger.core.params import Param
from robot_logger.errors import ConfigError

DURATION = Param("duration", 0.0, "seconds")
SPLIT = Param("split_size", 0, "MB")
OUTPUT = Param("output", "", "bag")
TOPICS = Param("topics", [], "topics", many=True)
STORAGE = Param("storage", "mcap", "storage", choices=("mcap", "sqlite3"))


def test_whole_numbers_widen_to_floats_and_one_string_to_a_list() -> None:
    assert DURATION.coerce(2) == 2.0 and isinstance(DURATION.coerce(2), float)
    assert TOPICS.coerce("/a") == ["/a"] and TOPICS.coerce(["/a", "/b"]) == ["/a", "/b"]
    assert Param("all", False, "").coerce(True) is True


@pytest.mark.parametrize(("param", "value", "says"), [
    (SPLIT, 1.5, "split_size must be an integer, not 1.5"),
    (DURATION, True, "duration must be a number, not True"),
    (OUTPUT, 20240501, "output:=\"'20240501'\""),
    (TOPICS, [1, 2], "topics must be a list of strings"),
    (STORAGE, "foo", "storage must be one of mcap, sqlite3, not 'foo'"),
])
def test_another_type_is_an_error_naming_the_parameter(param: Param, value: object,
                                                       says: str) -> None:
    with pytest.raises(ConfigError) as err:
        param.coerce(value)
    assert says in str(err.value)
