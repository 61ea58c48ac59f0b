"""rosbag2 bags on disk (mcap, sqlite3): open and stream them (`reader`), inspect per-topic
rates, gaps and latency (`info`, `streamstats`), write MCAP chunks the way rosbag2 does
(`mcap_writer`), and recover bags whose writer was killed (`repair/`). Never imports `dataset`."""
