"""fairlib: the helper library behind the notebooks that reproduce four papers on the fairness of LoRA.

Data flows ``data -> models -> train -> metrics -> report``; ``methods`` holds each paper's method on top.
Submodules are imported on use (``import fairlib.metrics``) so that ``import fairlib`` stays light.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
