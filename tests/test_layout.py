"""The package's import structure: no circle among module-level imports, and no library module importing a
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


def test_no_circle_of_imports():
    """Function-level (deferred) imports count too: a circle through them is still a circle of concerns."""
    graph = imports(top_level_only=False)
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
    assert not circles, "import circles: " + "; ".join(" → ".join(c) for c in circles)


def test_no_library_module_imports_a_study():
    graph = imports(top_level_only=False)
    offenders = sorted(f"{module} imports {target}" for module, targets in graph.items()
                       if not module.startswith(ALLOWED_TO_IMPORT_STUDIES)
                       for target in targets if target.startswith(LIBRARY_MAY_NOT_IMPORT))
    assert not offenders, "\n".join(offenders)
