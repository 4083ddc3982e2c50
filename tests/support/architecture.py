"""The package's import graph and the layering rules of DESIGN.md, checked over it.

Each rule is a function from a `Graph` to the violations it finds, so the same rule
runs on the real package and on small packages written by a test to break it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Import:
    target: str  # absolute module name, relative imports resolved
    line: int


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    is_package: bool
    tree: ast.Module
    imports: tuple[Import, ...]


@dataclass(frozen=True, slots=True)
class Violation:
    module: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.message}"


class Graph:
    def __init__(self, modules: Iterable[Module]) -> None:
        self.modules = {module.name: module for module in modules}

    @classmethod
    def from_directory(cls, root: Path, package: str) -> Graph:
        sources = {
            _module_name(path.relative_to(root), package): (path.name == "__init__.py", path)
            for path in root.rglob("*.py")
        }
        return cls.from_sources(
            {name: (is_package, path.read_text()) for name, (is_package, path) in sources.items()}
        )

    @classmethod
    def from_sources(cls, sources: Mapping[str, tuple[bool, str]]) -> Graph:
        """`sources` maps a module name to (is it a package's __init__, its source)."""
        names = set(sources)
        modules = []
        for name, (is_package, text) in sources.items():
            tree = ast.parse(text)
            imports = tuple(_imports(tree, name, is_package, names))
            modules.append(Module(name, is_package, tree, imports))
        return cls(modules)

    def under(self, prefix: str) -> Iterator[Module]:
        for name, module in sorted(self.modules.items()):
            if _within(name, prefix):
                yield module

    def internal_edges(self) -> dict[str, set[str]]:
        """Module -> the modules of this graph it imports."""
        return {
            name: {i.target for i in module.imports if i.target in self.modules}
            for name, module in self.modules.items()
        }


def _module_name(relative: Path, package: str) -> str:
    parts = [package, *relative.with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    # `from . import x` inside a package's __init__ is relative to the package itself.
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(tree: ast.Module, module: str, is_package: bool, known: set[str]) -> Iterator[Import]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(node, module, is_package)
            for alias in node.names:
                # `from package import module` imports the module, not just the package.
                candidate = f"{source}.{alias.name}"
                yield Import(candidate if candidate in known else source, node.lineno)


# --- the rules ------------------------------------------------------------------------

# What the core may import: the standard library's modules that do no I/O, and the pure
# libraries the core really uses (parsers, validators, cryptography). Anything else is
# refused until someone adds it here, knowingly.
CORE_STANDARD_LIBRARY = frozenset(
    {
        "__future__",
        "abc",
        "base64",
        "binascii",
        "bisect",
        "codecs",
        "collections",
        "copy",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "fractions",
        "functools",
        "hashlib",
        "heapq",
        "hmac",
        "html",
        "ipaddress",
        "itertools",
        "json",
        "math",
        "numbers",
        "operator",
        "re",
        "secrets",
        "string",
        "struct",
        "types",
        "typing",
        "unicodedata",
        "urllib.parse",  # the parser only: urllib.request and the rest do I/O
        "zlib",
    }
)
CORE_LIBRARIES = frozenset(
    {
        "cryptography",  # ES256 signing and verification: computation only
        "joserfc",  # JWK sets
        "jwt",  # JWT encoding and claim checks
        "orjson",  # canonical JSON
        "pydantic",  # the policy schema
        "pydantic_core",
        "python_multipart",  # the multipart parser (the core hands it bytes, not streams)
        "yaml",  # policy text to nodes (the edges read the files)
    }
)
# Names whose call is I/O (or a way around these rules) wherever they appear.
IO_BUILTINS = frozenset({"open", "print", "input", "breakpoint", "exec", "eval", "__import__"})
# Methods that only files, paths and sockets have under these names.
IO_METHODS = frozenset(
    {
        "read_text",
        "write_text",
        "read_bytes",
        "write_bytes",
        "mkdir",
        "unlink",
        "rmdir",
        "touch",
        "iterdir",
        "glob",
        "rglob",
        "open",
        "connect",
        "sendall",
        "recv",
    }
)


def core_imports_only_allowed(graph: Graph, core: str = "gateway.core") -> list[Violation]:
    found = []
    for module in graph.under(core):
        for imported in module.imports:
            allowed = _within(imported.target, core) or any(
                _within(imported.target, name) for name in CORE_STANDARD_LIBRARY | CORE_LIBRARIES
            )
            if not allowed:
                found.append(Violation(module.name, imported.line, f"imports {imported.target}"))
    return found


def core_does_no_io(graph: Graph, core: str = "gateway.core") -> list[Violation]:
    found = []
    for module in graph.under(core):
        for node in sorted(
            (n for n in ast.walk(module.tree) if isinstance(n, ast.Call)), key=lambda n: n.lineno
        ):
            function = node.func
            if isinstance(function, ast.Name) and function.id in IO_BUILTINS:
                found.append(Violation(module.name, node.lineno, f"calls {function.id}()"))
            elif isinstance(function, ast.Attribute) and function.attr in IO_METHODS:
                found.append(Violation(module.name, node.lineno, f"calls .{function.attr}()"))
    return found


def ports_never_import_edges(graph: Graph, package: str = "gateway") -> list[Violation]:
    return [
        Violation(module.name, imported.line, f"imports {imported.target}")
        for module in graph.under(f"{package}.ports")
        for imported in module.imports
        if _within(imported.target, f"{package}.edges")
    ]


def mockmodel_is_independent(
    graph: Graph, package: str = "gateway", mock_name: str = "mockmodel"
) -> list[Violation]:
    """A mock (the model API, the moderation service) stands in for someone else's
    server: it shares no code with the gateway (or it would share its bugs), and only
    the CLI, which runs it, imports it."""
    mock = f"{package}.{mock_name}"
    found = [
        Violation(module.name, imported.line, f"imports {imported.target}")
        for module in graph.under(mock)
        for imported in module.imports
        if _within(imported.target, package)
        and not _within(imported.target, mock)
        and imported.target != package
    ]
    found.extend(
        Violation(module.name, imported.line, f"imports {imported.target}")
        for name, module in sorted(graph.modules.items())
        if _within(name, package)
        and not _within(name, mock)
        and not _within(name, f"{package}.edges.cli")
        for imported in module.imports
        if _within(imported.target, mock)
    )
    return found


def _edge_of(name: str, edges: str, packages: set[str]) -> str | None:
    """The edge a module belongs to: the subpackage of `edges` it is in (None for the
    shared modules at the top of `edges`, which are no edge of their own)."""
    if not _within(name, edges) or name == edges:
        return None
    parts = name[len(edges) + 1 :].split(".")
    return f"{edges}.{parts[0]}" if len(parts) > 1 or name in packages else None


def edges_never_import_each_other(
    graph: Graph, package: str = "gateway", composition_roots: frozenset[str] = frozenset()
) -> list[Violation]:
    """Each subpackage of `edges` is an edge. An edge imports no other edge, the shared
    modules at the top of `edges` import no edge at all; only a composition root (the
    module that starts a process's edges) wires edges together."""
    edges = f"{package}.edges"
    packages = {name for name, module in graph.modules.items() if module.is_package}
    shared = {
        name
        for name in graph.modules
        if _within(name, edges) and _edge_of(name, edges, packages) is None
    }
    found = []
    for module in graph.under(edges):
        if module.name in composition_roots:
            continue
        own = _edge_of(module.name, edges, packages)
        for imported in module.imports:
            other = _edge_of(imported.target, edges, packages)
            if other is None or other == own:
                continue
            where = "a shared edge module" if module.name in shared else own
            found.append(
                Violation(
                    module.name,
                    imported.line,
                    f"{where} imports the edge {other} ({imported.target})",
                )
            )
    return found


def import_cycles(graph: Graph) -> list[list[str]]:
    """Every strongly connected group of modules (Tarjan), each one a cycle of imports."""
    edges = graph.internal_edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in edges[node]:
                cycles.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(edges) + 100))
    try:
        for node in sorted(edges):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return cycles
