"""Static checks of the Julia package SKMDCore (nobody here can run Julia).

1. Every .jl file under julia/ parses with tree-sitter-julia (no ERROR or MISSING node).
2. Every Julia function the Python bridge calls (``self._core.NAME(...)``) is defined in
   julia/src/SKMDCore.jl and exported by it, and each call fits one of its methods: the number
   of positional arguments, the keyword names, and, where the bridge forwards ``**params`` it got
   from its caller, exactly the keywords of the NumPy twin of the same name (less those the
   bridge method takes for itself).
3. The rule and status codes (``RULE_*``, ``STATUS_*``) are the same in Julia and Python.
4. The package name and uuid agree across julia/Project.toml, the module name, and the
   declaration in python/skmd/juliapkg.json, whose path points at the julia/ folder.

The Julia parsing lives in julia_syntax.py next to this file.

Run: python .ci/check_julia.py   (exit 1 with the problems listed, else 0)
"""
from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import julia_syntax  # noqa: E402
from julia_syntax import CODE_NAME, julia_codes, julia_definitions, julia_methods, parser  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = ROOT / "python" / "skmd" / "backends" / "julia_bridge.py"
TWIN = ROOT / "python" / "skmd" / "backends" / "numpy_backend.py"
CODE_SOURCES = [TWIN, ROOT / "python" / "skmd" / "md" / "rules.py"]  # Python homes of RULE_*/STATUS_*
PROJECT = ROOT / "julia" / "Project.toml"
JULIAPKG = ROOT / "python" / "skmd" / "juliapkg.json"
MODULE = ROOT / "julia" / "src" / "SKMDCore.jl"


def syntax_errors(path: Path) -> list[str]:
    """Line-numbered ERROR/MISSING nodes of one Julia file under ROOT."""
    return julia_syntax.syntax_errors(path, ROOT)


# ------------------------------------------------------------------ Python side
def python_codes(paths) -> dict[str, dict[str, int]]:
    """Module-level ``RULE_* / STATUS_*`` integer constants (also tuple assignments): name -> {file: value}."""
    codes: dict[str, dict[str, int]] = {}
    for path in paths:
        if not path.is_file():
            continue
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                for name, value in zip(names, values):
                    if (isinstance(name, ast.Name) and CODE_NAME.match(name.id)
                            and isinstance(value, ast.Constant) and isinstance(value.value, int)):
                        codes.setdefault(name.id, {})[path.name] = value.value
    return codes


class CallSite(NamedTuple):
    name: str
    n_positional: int
    keywords: set
    forwards: bool          # passes **params on
    own_keywords: set       # keyword-only arguments of the bridge method the call sits in
    line: int


def _core_call_name(node):
    f = node.func
    if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Attribute) and f.value.attr == "_core"
            and isinstance(f.value.value, ast.Name) and f.value.value.id == "self"):
        return f.attr
    return None


def bridge_call_sites(path: Path) -> list[CallSite]:
    """Every ``self._core.NAME(...)`` call in the bridge, with what it passes."""
    sites = []
    for method in ast.walk(ast.parse(path.read_text())):
        if not isinstance(method, ast.FunctionDef):
            continue
        own = {a.arg for a in method.args.kwonlyargs}
        for node in ast.walk(method):
            if isinstance(node, ast.Call) and _core_call_name(node):
                sites.append(CallSite(_core_call_name(node), len(node.args),
                                      {k.arg for k in node.keywords if k.arg is not None},
                                      any(k.arg is None for k in node.keywords), own, node.lineno))
    return sites


def bridge_calls(path: Path) -> set[str]:
    """Names NAME used as ``self._core.NAME`` in the bridge module."""
    return {site.name for site in bridge_call_sites(path)}


def twin_keywords(path: Path, name: str) -> set[str] | None:
    """Keyword-only argument names of the NumPy twin ``name`` (None if there is none)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return {a.arg for a in node.args.kwonlyargs}
    return None


# ------------------------------------------------------------------ checks
def call_problems() -> list[str]:
    found = []
    methods = julia_methods(MODULE)
    _, exported = julia_definitions(MODULE)
    for site in bridge_call_sites(BRIDGE):
        where = f"julia_bridge.py:{site.line}: SKMDCore.{site.name}"
        if site.name not in methods:
            found.append(f"{where} is not defined in julia/src/SKMDCore.jl")
            continue
        if site.name not in exported:
            found.append(f"{where} is not exported by SKMDCore")
        keywords = set(site.keywords)
        if site.forwards:
            twin = twin_keywords(TWIN, site.name)
            if twin is None:
                found.append(f"{where} forwards **params but numpy_backend.{site.name} does not exist")
                continue
            keywords |= twin - site.own_keywords
            if not any(m.keywords == keywords for m in methods[site.name]):
                found.append(f"{where}: the keywords forwarded from the NumPy twin {sorted(keywords)} "
                             f"differ from the Julia keywords {[sorted(m.keywords) for m in methods[site.name]]}")
        if not any(m.accepts(site.n_positional, keywords) for m in methods[site.name]):
            found.append(f"{where} is called with {site.n_positional} positional arguments and keywords "
                         f"{sorted(keywords)}, which no Julia method of it accepts")
    return found


def code_problems() -> list[str]:
    found = []
    julia = julia_codes(MODULE)
    python = python_codes(CODE_SOURCES)
    for name in sorted(set(julia) | set(python)):
        values = {"SKMDCore.jl": julia.get(name), **python.get(name, {})}
        if None in values.values() or len(set(values.values())) != 1:
            found.append(f"code {name} differs between Julia and Python: {values}")
    return found


def toml_value(text: str, key: str) -> str | None:
    match = re.search(rf'^{key}\s*=\s*"([^"]*)"', text, re.M)
    return match.group(1) if match else None


def identity_problems() -> list[str]:
    project = PROJECT.read_text()
    name, uuid = toml_value(project, "name"), toml_value(project, "uuid")
    declared = json.loads(JULIAPKG.read_text()).get("packages", {}).get(name)
    found = []
    if declared is None:
        return [f"python/skmd/juliapkg.json does not declare the Julia package {name!r} of julia/Project.toml"]
    if declared.get("uuid") != uuid:
        found.append(f"uuid of {name}: julia/Project.toml has {uuid}, juliapkg.json has {declared.get('uuid')}")
    if (JULIAPKG.parent / declared.get("path", "")).resolve() != PROJECT.parent.resolve():
        found.append(f"juliapkg.json's path {declared.get('path')!r} does not lead to the julia/ folder")
    if declared.get("dev") is not True:
        found.append("juliapkg.json must declare the local package with \"dev\": true (a path that is not a git repo)")
    module = PROJECT.parent / "src" / f"{name}.jl"
    if not module.is_file() or not re.search(rf"^module {name}\b", module.read_text(), re.M):
        found.append(f"julia/src/{name}.jl does not define module {name}")
    return found


def problems() -> list[str]:
    found = []
    files = sorted((ROOT / "julia").rglob("*.jl"))
    if not files:
        found.append("no Julia files under julia/")
    for path in files:
        found.extend(syntax_errors(path))
    if not bridge_calls(BRIDGE):
        found.append("the bridge calls no Julia function (expected self._core.NAME calls)")
    return found + call_problems() + code_problems() + identity_problems()


def main() -> int:
    found = problems()
    for line in found:
        print(f"check_julia: {line}")
    if not found:
        print(f"check_julia: all Julia files parse; the bridge's {len(bridge_calls(BRIDGE))} Julia functions are "
              "defined, exported and called with fitting arguments; codes, name and uuid agree")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
