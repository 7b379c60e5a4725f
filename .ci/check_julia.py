"""Static checks of the Julia code (nobody here can run Julia).

1. Every .jl file under julia/ parses with tree-sitter-julia (no ERROR or MISSING node).
2. Every Julia function the Python bridge calls (``self._core.NAME``) is defined in
   julia/src/SKMDCore.jl and exported by it.

Run: python .ci/check_julia.py   (exit 1 with the problems listed, else 0)
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import tree_sitter_julia
from tree_sitter import Language, Parser

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = ROOT / "python" / "skmd" / "backends" / "julia_bridge.py"
MODULE = ROOT / "julia" / "src" / "SKMDCore.jl"


def parser() -> Parser:
    return Parser(Language(tree_sitter_julia.language()))


def syntax_errors(path: Path) -> list[str]:
    """Line-numbered ERROR/MISSING nodes of one Julia file."""
    tree = parser().parse(path.read_bytes())
    problems, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            problems.append(f"{path.relative_to(ROOT)}:{node.start_point[0] + 1}: syntax error near {node.text[:40]!r}")
        stack.extend(node.children)
    if tree.root_node.has_error and not problems:
        problems.append(f"{path.relative_to(ROOT)}: does not parse")
    return problems


def _call_name(node):
    """Name of the function in a call_expression (possibly under a where_expression)."""
    while node is not None and node.type in ("where_expression", "typed_expression"):
        node = node.children[0]
    if node is None or node.type != "call_expression":
        return None
    head = node.children[0]
    return head.text.decode() if head.type == "identifier" else None


def julia_definitions(path: Path) -> tuple[set[str], set[str]]:
    """(functions defined, names exported) in one Julia file."""
    tree = parser().parse(path.read_bytes())
    defined, exported, stack = set(), set(), [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            signature = next((c for c in node.children if c.type == "signature"), None)
            name = _call_name(signature.children[0]) if signature is not None and signature.children else None
            if name:
                defined.add(name)
        elif node.type == "assignment" and node.children:
            name = _call_name(node.children[0])
            if name:
                defined.add(name)
        elif node.type == "export_statement":
            exported.update(c.text.decode() for c in node.children if c.type == "identifier")
        stack.extend(node.children)
    return defined, exported


def bridge_calls(path: Path) -> set[str]:
    """Names NAME used as ``self._core.NAME`` in the bridge module."""
    calls = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and node.value.attr == "_core" and isinstance(node.value.value, ast.Name)
                and node.value.value.id == "self"):
            calls.add(node.attr)
    return calls


def problems() -> list[str]:
    found = []
    files = sorted((ROOT / "julia").rglob("*.jl"))
    if not files:
        found.append("no Julia files under julia/")
    for path in files:
        found.extend(syntax_errors(path))
    defined, exported = julia_definitions(MODULE)
    calls = bridge_calls(BRIDGE)
    if not calls:
        found.append("the bridge calls no Julia function (expected self._core.NAME calls)")
    for name in sorted(calls):
        if name not in defined:
            found.append(f"bridge calls SKMDCore.{name}, which julia/src/SKMDCore.jl does not define")
        elif name not in exported:
            found.append(f"bridge calls SKMDCore.{name}, which SKMDCore does not export")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(f"check_julia: {line}")
    if not found:
        print(f"check_julia: all Julia files parse; the bridge's {len(bridge_calls(BRIDGE))} Julia functions are defined and exported")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
