"""Live recording: transports, recorder, bag writer, sync monitor, episode control, live publisher.

transport.py (interface + `open_transport`), dds.py / dds_raw.py / dds_types.py (Cyclone DDS speaking
ROS 2's wire format), rclpy_transport.py (ROS 2, imported only when chosen), qos.py, recorder.py
(topic selection and the receive loop), bagsink.py + mcap_storage.py (writer thread, flush, splits,
min-free), monitor.py (rates, drops, latency, warnings), episodes.py, publisher.py (`sim --publish`),
params.py (the settings shared by `robot-logger record` and the recorder node), malloc.py.
"""
