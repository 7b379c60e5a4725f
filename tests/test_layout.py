"""The package's import structure: no circle among modules or among packages, and no library module importing a
study (the studies configure the general machinery, never the reverse). Read from the source with ``ast``."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "skmd"
LIBRARY_MAY_NOT_IMPORT = "skmd.studies"
ALLOWED_TO_IMPORT_STUDIES = ("skmd.studies", "skmd.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(module: str, is_package: bool, node, modules: set) -> list:
    """Absolute names of the skmd modules an Import/ImportFrom node inside ``module`` imports: for
    ``from package import name``, the submodule ``package.name`` where one exists, else the package."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
    return [f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target for alias in node.names]


def imports(top_level_only: bool) -> dict:
    """{module: set of skmd modules it imports} (module level only, or anywhere in the file)."""
    graph = {}
    modules = {module_name(p) for p in PACKAGE.rglob("*.py") if "julia" not in p.parts}
    for path in PACKAGE.rglob("*.py"):
        if "julia" in path.parts:
            continue
        name, tree = module_name(path), ast.parse(path.read_text())
        nodes = tree.body if top_level_only else list(ast.walk(tree))
        found = set()
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found |= {t for t in resolve(name, path.name == "__init__.py", node, modules) if t in modules and t != name}
        graph[name] = found
    return graph


def circles_in(graph: dict) -> list:
    """Every circle a depth-first walk of ``graph`` ({node: set of nodes}) closes, as [a, b, ..., a]."""
    state, stack, circles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return circles


def package_of(module: str) -> str:
    """``skmd.atoms.scoring`` → ``skmd.atoms``; a module directly under skmd stands for itself."""
    path = PACKAGE.parent.joinpath(*module.split("."))
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or path.is_dir() else module


def test_no_circle_of_imports():
    """Function-level (deferred) imports count too: a circle through them is still a circle of concerns."""
    circles = circles_in(imports(top_level_only=False))
    assert not circles, "import circles: " + "; ".join(" → ".join(c) for c in circles)


def test_no_circle_between_packages():
    """skmd.atoms → skmd.uncertainty → skmd.atoms is a circle of concerns even when no module closes it."""
    graph = {}
    for module, targets in imports(top_level_only=False).items():
        edges = graph.setdefault(package_of(module), set())
        edges |= {package_of(t) for t in targets} - {package_of(module)}
    circles = circles_in(graph)
    assert not circles, "package circles: " + "; ".join(" → ".join(c) for c in circles)


def test_no_library_module_imports_a_study():
    graph = imports(top_level_only=False)
    offenders = sorted(f"{module} imports {target}" for module, targets in graph.items()
                       if not module.startswith(ALLOWED_TO_IMPORT_STUDIES)
                       for target in targets if target.startswith(LIBRARY_MAY_NOT_IMPORT))
    assert not offenders, "\n".join(offenders)


def function_level_imports(tree) -> list:
    """The Import/ImportFrom nodes inside a function (or lambda) body of ``tree``, nested ones included."""
    found = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def test_function_level_imports_say_why():
    """Imports sit at module top, so the dependency graph reads at a glance; one inside a function (for an
    optional extra such as torch, the CLI's start-up, or a circle) says why on its line:
    ``# noqa: PLC0415  lazy: <reason>``."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "julia" in path.parts:
            continue
        source = path.read_text()
        lines = source.splitlines()
        for node in function_level_imports(ast.parse(source)):
            if "lazy:" not in lines[node.lineno - 1]:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not offenders, ("function-level imports without '# noqa: PLC0415  lazy: <reason>' (move them to the "
                           "module top, or say why they must wait):\n" + "\n".join(offenders))


def test_no_unused_or_undefined_names():
    """pyflakes' checks (ruff's F rules: undefined names, unused imports and variables, redefinitions) over the
    package, the tests, the benchmarks and the examples: a name that is never used or never defined is a bug
    waiting or a leftover."""
    import subprocess  # noqa: PLC0415  lazy: only this test starts a process
    import sys  # noqa: PLC0415  lazy: only this test starts a process
    import pytest  # noqa: PLC0415  lazy: only this test can skip
    pytest.importorskip("ruff", reason="ruff is in the test extras: pip install -e '.[test]'")
    root = PACKAGE.parents[1]
    folders = [str(root / name) for name in ("python", "tests", "benchmarks", "examples") if (root / name).is_dir()]
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "F",
                           "--output-format", "concise", *folders], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
