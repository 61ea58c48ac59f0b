"""Live recording into rosbag2 bags: the receive loop and topic selection (`recorder`), the writer
thread with flushes, splits and the free-space stop (`bagsink`), rates/drops/latency and the
status topic (`monitor`), episode control (`episodes`), the settings shared by `robot-logger
record` and the recorder node (`params`), signal handling (`signals`) and allocator tuning
(`malloc`). Bytes arrive through `robot_logger.transport`; nothing here imports `sim` or `dataset`.
"""
