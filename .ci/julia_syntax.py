"""Reading Julia source without Julia: tree-sitter-julia parses, and the pieces check_julia.py needs.

* ``syntax_errors``: ERROR/MISSING nodes of a file;
* ``julia_methods``: every function defined, with the positional arity range and keyword names of
  each method (``f(a, b=1; c, d=2)`` and ``function f(...) ... end`` alike);
* ``julia_definitions``: functions defined and names exported;
* ``julia_codes``: integer ``const RULE_* / STATUS_*`` values.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import tree_sitter_julia
from tree_sitter import Language, Parser

CODE_NAME = re.compile(r"^(RULE|STATUS)_[A-Z_]+$")


def parser() -> Parser:
    return Parser(Language(tree_sitter_julia.language()))


def _nodes(path: Path):
    stack = [parser().parse(path.read_bytes()).root_node]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children)


def syntax_errors(path: Path, root: Path) -> list[str]:
    """Line-numbered ERROR/MISSING nodes of one Julia file (named relative to ``root``)."""
    tree = parser().parse(path.read_bytes())
    name = path.relative_to(root)
    problems = [f"{name}:{node.start_point[0] + 1}: syntax error near {node.text[:40]!r}"
                for node in _nodes(path) if node.type == "ERROR" or node.is_missing]
    if tree.root_node.has_error and not problems:
        problems.append(f"{name}: does not parse")
    return problems


class Method(NamedTuple):
    """One Julia method: positional arity range and keyword names (``any_keyword`` for ``kw...``)."""
    required: int
    positional: float  # inf with a trailing splat
    keywords: set
    any_keyword: bool = False

    def accepts(self, n_positional: int, keywords: set) -> bool:
        return (self.required <= n_positional <= self.positional
                and (self.any_keyword or keywords <= self.keywords))


def _call_node(node):
    """The call_expression of a signature (possibly under where/typed expressions)."""
    while node is not None and node.type in ("where_expression", "typed_expression"):
        node = node.children[0]
    return node if node is not None and node.type == "call_expression" else None


def _name(node) -> str:
    while node.type != "identifier" and node.children:
        node = node.children[0]
    return node.text.decode()


def _method(call) -> Method:
    required, positional, keywords, any_keyword, after_semicolon = 0, 0.0, set(), False, False
    arguments = next((c for c in call.children if c.type == "argument_list"), None)
    for item in (arguments.children if arguments is not None else []):
        if item.type == ";":
            after_semicolon = True
        elif item.type in ("(", ")", ","):
            continue
        elif "splat" in item.type:
            any_keyword = any_keyword or after_semicolon
            positional = positional if after_semicolon else float("inf")
        elif after_semicolon:
            keywords.add(_name(item))
        else:
            positional += 1
            required += item.type != "named_argument"
    return Method(required, positional, keywords, any_keyword)


def julia_methods(path: Path) -> dict[str, list[Method]]:
    """Every function name defined in one Julia file, with its methods."""
    methods: dict[str, list[Method]] = {}
    for node in _nodes(path):
        head = None
        if node.type == "function_definition":
            signature = next((c for c in node.children if c.type == "signature"), None)
            head = signature.children[0] if signature is not None and signature.children else None
        elif node.type == "assignment" and node.children:
            head = node.children[0]
        call = _call_node(head)
        if call is not None and call.children[0].type == "identifier":
            methods.setdefault(call.children[0].text.decode(), []).append(_method(call))
    return methods


def julia_definitions(path: Path) -> tuple[set[str], set[str]]:
    """(functions defined, names exported) in one Julia file."""
    exported = {c.text.decode() for node in _nodes(path) if node.type == "export_statement"
                for c in node.children if c.type == "identifier"}
    return set(julia_methods(path)), exported


def julia_codes(path: Path) -> dict[str, int]:
    """``const RULE_* / STATUS_* = <integer>`` of one Julia file."""
    codes = {}
    for node in _nodes(path):
        if node.type == "assignment" and len(node.children) == 3 and node.children[2].type == "integer_literal":
            name = node.children[0].text.decode()
            if CODE_NAME.match(name):
                codes[name] = int(node.children[2].text.decode())
    return codes
