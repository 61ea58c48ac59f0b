"""The lerobot 0.6.1 reader environment (Python 3.12), made once per machine."""

from tests.support.lerobot_env import lerobot_python  # noqa: F401 (session fixture)
