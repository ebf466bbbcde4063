"""Every notebook's Exercises cell gives papermill commands; each must name real parameters with values the
configuration accepts (an exercise that fails on its first cell teaches nothing).

For each command (one backticked span with ``-p NAME VALUE`` / ``-y "YAML"``), the notebook's parameters (their
defaults read by ``papermill.inspect_notebook``) are overridden as papermill would, and the first statement of the
cell after the parameters cell (``cfg = get_profile(...)``, the one that validates them) is executed.
"""

import ast
import json
import re
import shlex

import papermill
import pytest
import yaml

from fairlib import paths
from fairlib.config import get_profile

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("0*.ipynb"))


def _papermill_value(text: str):
    """``-p NAME VALUE``'s value as papermill's command line types it: int, float, bool, else the string."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def parse_command(span: str) -> dict:
    """The parameters one papermill command (or its ``-p``/``-y`` tail) sets."""
    tokens = shlex.split(span)
    values, i = {}, 0
    while i < len(tokens):
        if tokens[i] in ("-p", "--parameters"):
            values[tokens[i + 1]] = _papermill_value(tokens[i + 2])
            i += 3
        elif tokens[i] in ("-y", "--parameters_yaml"):
            values.update(yaml.safe_load(tokens[i + 1]))
            i += 2
        else:
            i += 1
    return values


def exercise_commands(notebook) -> list[str]:
    nb = json.loads(notebook.read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "markdown" and "".join(c["source"]).startswith("## Exercises")]
    assert len(cells) == 1, f"{notebook.name}: expected one '## Exercises' cell"
    spans = re.findall(r"`([^`]+)`", "".join(cells[0]["source"]))
    return [s for s in spans if re.search(r"(^|\s)-[py]\s", s)]


def config_statement(notebook) -> str:
    nb = json.loads(notebook.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    at = next(i for i, c in enumerate(code) if "parameters" in c.get("metadata", {}).get("tags", []))
    first = ast.parse("".join(code[at + 1]["source"])).body[0]
    assert "get_profile" in ast.unparse(first), f"{notebook.name}: the cell after the parameters must build cfg first"
    return ast.unparse(first)


def test_the_parser_reads_p_and_y_as_papermill_does():
    assert parse_command('papermill a.ipynb out.ipynb -p n 3 -p lr 0.5 -p flag True -p name x') == \
        {"n": 3, "lr": 0.5, "flag": True, "name": "x"}
    assert parse_command('-y "seeds: [0, 1]" -y "tasks: [\'a:b\']"') == {"seeds": [0, 1], "tasks": ["a:b"]}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_sets_known_parameters_to_valid_values(notebook):
    commands = exercise_commands(notebook)
    assert len(commands) >= 2, f"{notebook.name}: its exercises give no papermill -p/-y command"
    declared = {name: info["default"] for name, info in papermill.inspect_notebook(str(notebook)).items()}
    defaults = {name: (None if text == "None" else ast.literal_eval(text)) for name, text in declared.items()}
    statement = config_statement(notebook)
    for command in commands:
        changed = parse_command(command)
        unknown = sorted(set(changed) - set(defaults))
        assert not unknown, f"{notebook.name}: exercise `{command}` sets unknown parameters {unknown}"
        namespace = {"get_profile": get_profile, **defaults, **changed}
        try:
            exec(statement, namespace)
        except Exception as error:  # the exercise would fail in its first cell
            pytest.fail(f"{notebook.name}: exercise `{command}` is refused: {error}")
        # the values really reached the configuration (not dropped on the way); `tag` only names the folder
        assert namespace["cfg"] != get_profile(defaults["profile"]) or not set(changed) - {"tag"}, (
            f"{notebook.name}: exercise `{command}` changes nothing in the configuration")
