"""Test helpers: bag and dataset factories, comparisons, DDS domains, fault logs."""
