"""Numba kernels: numpy arrays and integers in, numpy arrays and status codes out.

Nothing here knows of Arrow or Polars, and nothing here raises on bad input.
"""
