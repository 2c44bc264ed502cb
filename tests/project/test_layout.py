"""The shape of the code a newcomer reads (issue 14): no module over 500 lines, no function over 80 lines unless
its docstring says why ("Longer than 80 lines ..."), and no library module importing typer (only `cli/` does)."""

import ast

from helpers import REPO

SOURCE = REPO / "src" / "spacy_clinical_pt"


def modules():
    return sorted(SOURCE.rglob("*.py"))


def test_no_module_is_over_500_lines():
    long = {str(path.relative_to(SOURCE)): n for path in modules() if (n := len(path.read_text().splitlines())) > 500}
    assert long == {}


def test_no_function_is_over_80_lines_unless_its_docstring_says_why():
    long = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                if "longer than 80 lines" not in (ast.get_docstring(node) or "").lower():
                    long.append(f"{path.relative_to(SOURCE)}:{node.name} ({node.end_lineno - node.lineno + 1})")
    assert long == []


def test_only_the_command_line_imports_typer():
    importing = []
    for path in modules():
        if "cli" in path.relative_to(SOURCE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] == "typer" for name in names):
                importing.append(str(path.relative_to(SOURCE)))
    assert importing == []
