"""rosbag2 bags on disk (mcap, sqlite3): open and stream them (`reader`), inspect per-topic
rates, gaps and latency (`info`, `streamstats`), write MCAP storage the way rosbag2 does, with
the mcap package (`mcap_writer`), and recover bags whose writer was killed (`repair/`). Never
imports `dataset`."""
