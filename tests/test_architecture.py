"""The packages depend on each other only as DESIGN.md draws it, through public names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("gateway", "tracing", "prompts", "evals", "spyglass")
# DESIGN.md, "Dependencies between packages".
ALLOWED = {
    "prompts": set(),
    "tracing": set(),
    "gateway": {"prompts", "tracing"},
    "evals": {"prompts", "tracing"},
    "spyglass": {"gateway", "tracing", "prompts", "evals"},
}


def imports_of(package: str) -> list[tuple[Path, int, str]]:
    """(file, line, imported module) for every absolute import of one of our packages."""
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in PACKAGES:
                    found.append((path, node.lineno, name))
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_follow_the_design(package: str) -> None:
    wrong = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path, line, name in imports_of(package)
        if name.split(".")[0] != package and name.split(".")[0] not in ALLOWED[package]
    ]
    assert wrong == [], "imports against DESIGN.md's dependency graph:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", PACKAGES)
def test_other_packages_are_used_through_public_names(package: str) -> None:
    private = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path, line, name in imports_of(package)
        if name.split(".")[0] != package and any(p.startswith("_") for p in name.split(".")[1:])
    ]
    assert private == []


def test_nothing_imports_spyglass() -> None:
    users = [
        f"{path.relative_to(REPO)}:{line}"
        for package in PACKAGES
        if package != "spyglass"
        for path, line, name in imports_of(package)
        if name.split(".")[0] == "spyglass"
    ]
    assert users == []


def test_the_check_catches_a_forbidden_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checker itself works: a planted import of gateway from tracing is reported."""
    fake_repo = tmp_path
    (fake_repo / "tracing").mkdir()
    (fake_repo / "tracing" / "x.py").write_text("from gateway import Gateway\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["REPO"]), "REPO", fake_repo)
    with pytest.raises(AssertionError, match=r"tracing/x\.py:1 imports gateway"):
        test_package_imports_follow_the_design("tracing")
