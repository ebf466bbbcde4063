import os

# Progress bars would flood the test log; the test suite never needs them.
os.environ.setdefault("FAIRLIB_PROGRESS", "0")
