"""``python -m fairlib run NN``: a notebook's code as a plain script, for ``accelerate launch``.

papermill runs a notebook in one kernel process; several GPUs need several processes started by
``accelerate launch``. This runs the same cells (parameters injected exactly as papermill does) in every
launched process: each ``fairlib.train.fit`` call then trains data-parallel across the processes, and only
the main process writes figures, tables, the results JSON and stored runs (see :func:`is_main_process`).
A later ``reproduce`` finds every run already stored and only evaluates and plots.
"""

from __future__ import annotations

import os

from ._reproduce import notebook_paths

__all__ = ["notebook_as_script", "run_as_script"]


def notebook_as_script(number: str, parameters: dict) -> str:
    """The code cells of notebook ``number`` with ``parameters`` injected after the parameters cell."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    (path,) = notebook_paths([number])
    nb = parameterize_notebook(load_notebook_node(str(path)), parameters, kernel_name="python3",
                               language="python")
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    # Notebook display calls (a bare expression at the end of a cell) are harmless in a script.
    return "\n\n".join(cells)


def run_as_script(number: str, parameters: dict) -> None:
    """Execute notebook ``number`` in this process as a script (matplotlib without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    code = compile(notebook_as_script(number, parameters), f"<notebook {number}>", "exec")
    namespace = {"__name__": "__main__"}
    exec(code, namespace)  # noqa: S102 - the repository's own notebook
    # On success: wait for every process, then tear the process group down (once, at the end of the run).
    from .train import end_processes

    end_processes()


def is_main_process() -> bool:
    """False in the non-zero ranks started by ``accelerate launch`` / ``torchrun``."""
    return int(os.environ.get("RANK", "0")) == 0
