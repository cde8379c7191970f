"""The package's shape (docs/architecture.md): imports point one way, modules stay readable, the installed
package never points at the repository around it."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stylenet"
# each wing may import the wings on lower layers only (and itself); compose stands beside the performing wings
LAYERS = {"core": 0, "nn": 1, "data": 1, "velocity": 2, "compose": 2, "recorded": 3, "expression": 3, "play": 4,
          "listen": 5, "studio": 6,
          "cli": 7, "api": 7}
MAX_LINES = 550


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _wing(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def _imported_wings(path: Path) -> set[str]:
    """The stylenet wings a module imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stylenet."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("stylenet.")}
    return found


def test_every_module_sits_in_a_wing_the_layers_know():
    wings = {_wing(p) for p in _modules()} - {"__init__", "__main__"}
    assert wings == set(LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path):
    wing = _wing(path)
    if wing not in LAYERS:
        return
    upward = {w for w in _imported_wings(path) - {wing} if w in LAYERS and LAYERS[w] >= LAYERS[wing]}
    assert not upward, f"{path.relative_to(PACKAGE)} ({wing}, layer {LAYERS[wing]}) imports {sorted(upward)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_reads_top_to_bottom(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_package_never_points_at_the_repository_around_it():
    for path in _modules():
        text = path.read_text()
        assert "scripts/" not in text, f"{path}: names scripts/, which an installed package does not have"
        assert "shared/data" not in text.replace("../shared/data/asap -o", "").replace(
            "--asap ../shared/data/asap", "").replace("build-dataset ../shared/data/raw", "").replace(
            "--splits ../shared/data/splits.csv", "").replace("--raw ../shared/data/raw", ""), \
            f"{path}: reads ../shared/data outside a command-line example"
