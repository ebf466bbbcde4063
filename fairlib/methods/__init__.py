"""Each paper's method, built on ``data``, ``models``, ``train`` and ``metrics``.

Import the submodule of the method you need, e.g. ``from fairlib.methods import fisher_svd``.
"""
