"""numba kernels: private functions over arrays and scalars only, no Python objects.

Wrappers in :mod:`detectors` validate input, build the arrays and interpret the results.
"""
