"""Recover a bag whose writer died: `recover.repair_bag` drives a per-storage scan (`mcap`,
`sqlite`) that keeps every whole message and says what it kept in a `recovery.FileRecovery`,
then rewrites metadata.yaml. The original is never modified."""
