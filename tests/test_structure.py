"""The code base's shape (issue 10), read with ast: no import cycle among messaging/ and
dashboard/ modules (lazy imports inside functions count: they are cycles all the same),
no module under messaging/ over 350 lines, and messaging.buffer's submodules imported
only by the package itself."""

import ast
from pathlib import Path

import pytest
from rq.utils import import_attribute

ROOT = Path(__file__).resolve().parent.parent
GRAPHED = ("messaging", "dashboard")
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> set[str]:
    """Every dotted name `path` imports: modules, and module.attribute for `from m import a`
    (which may be a submodule)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def sources(*roots: str) -> list[Path]:
    return sorted(path for root in roots for path in (ROOT / root).rglob("*.py"))


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in sources(*GRAPHED)}
    graph = {}
    for name, path in modules.items():
        targets = {target for target in imported_names(path) if target in modules and target != name}
        # `import a.b.c` also imports a and a.b; an edge to a package's own __init__ from
        # inside it is how Python resolves relative imports, not a dependency.
        graph[name] = {target for target in targets if not name.startswith(target + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_import_graph__messaging_and_dashboard__no_cycle():
    graph = import_graph()

    assert len(graph) > 30  # the walk found the modules
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_find_cycle__sees_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("path", sources("messaging"), ids=lambda path: str(path.relative_to(ROOT)))
def test_module__under_messaging__at_most_350_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_buffer__submodules__imported_only_through_the_package_face():
    submodules = {module_name(path) for path in sources("messaging/buffer")} - {"messaging.buffer"}
    outside = [
        path
        for path in sources("messaging", "dashboard", "msgbuffer_site", "tests", "bench")
        if not path.is_relative_to(ROOT / "messaging" / "buffer")
    ]

    offenders = {str(path.relative_to(ROOT)): sorted(imported_names(path) & submodules) for path in outside}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_flush_job__name_before_the_rename__still_what_rq_runs():
    """RQ stores the job function's dotted path: a job queued by the previous release
    names messaging.jobs.flush_pending."""
    from messaging import jobs

    assert import_attribute("messaging.jobs.flush_pending") is jobs.flush_job
