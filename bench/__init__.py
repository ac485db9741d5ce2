"""Benchmarks: `make bench` (python -m bench [engine|http|sdk]). Figures are medians and ratios measured in one run."""
