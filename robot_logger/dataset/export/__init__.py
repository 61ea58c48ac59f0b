"""Exports of built HDF5 datasets into other training formats (LeRobot v3)."""
