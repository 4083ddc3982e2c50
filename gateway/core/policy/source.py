"""YAML policy text to plain Python values, remembering the line of every node.

`yaml.compose` keeps the node tree with its marks; we convert it ourselves so that
each value's path (keys and list indices from the document root) maps to the
1-based line where it was written, and so that a key given twice is an error
instead of silently overwriting the first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from gateway.core.policy.errors import PolicyError

PathKey = str | int | float | bool | None
Path = tuple[PathKey, ...]


@dataclass(frozen=True, slots=True)
class Source:
    """One parsed policy file: its plain data and the line of every path in it."""

    file: str
    data: object
    lines: Mapping[Path, int] = field(repr=False)

    def line(self, path: Sequence[PathKey]) -> int:
        """The line of `path`, or of its nearest recorded ancestor."""
        current = tuple(path)
        while current and current not in self.lines:
            current = current[:-1]
        return self.lines.get(current, 1)

    def at(self, path: Sequence[PathKey], message: str) -> PolicyError:
        return PolicyError(self.file, self.line(path), message)


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One policy file's contents; `name` is what errors print (`policies/rules.yaml`)."""

    name: str
    text: str


def basename(name: str) -> str:
    """`rules.yaml` of `policies/rules.yaml`: the version ignores where the folder is."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def policy_version(files: Sequence[PolicyFile], lists: Mapping[str, str]) -> str:
    """sha256 of the files (by base name, sorted) and the word list files they read."""
    digest = hashlib.sha256(b"phasegate-policy-1\n")
    parts = [("file", basename(f.name), f.text) for f in files]
    parts.sort(key=lambda part: part[1])
    parts += [("list", path, lists[path]) for path in sorted(lists)]
    for part in parts:
        for text in part:
            data = text.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
    return digest.hexdigest()


def parse_terms(text: str) -> tuple[str, ...]:
    """A word list file: one term per line; blank lines and `#` comment lines ignored."""
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


class _Converter:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Path, int] = {}
        self.errors: list[PolicyError] = []
        self._scalars = yaml.constructor.SafeConstructor()
        self._open: set[int] = set()

    def _error(self, node: yaml.Node, message: str) -> None:
        self.errors.append(PolicyError(self.file, node.start_mark.line + 1, message))

    def convert(self, node: yaml.Node, path: Path) -> object:
        if id(node) in self._open:
            self._error(node, "an alias refers to a node that contains it")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                items: list[object] = []
                for index, item in enumerate(node.value):
                    self.lines[(*path, index)] = item.start_mark.line + 1
                    items.append(self.convert(item, (*path, index)))
                return items
            return self._scalars.construct_object(node, deep=True)
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[PathKey, object]:
        result: dict[PathKey, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._error(key_node, "a key must be a plain value, not a list or mapping")
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._error(key_node, "merge keys (<<) are not supported; write the keys out")
                continue
            key = self._scalars.construct_object(key_node, deep=True)
            if not isinstance(key, PathKey):
                key = str(key)
            if key in result:
                self._error(key_node, f"duplicate key {key!r}")
                continue
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.convert(value_node, (*path, key))
        return result


def parse_source(file: str, text: str) -> tuple[Source | None, list[PolicyError]]:
    """The file's data with line numbers, or None and the errors that stop it."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return None, [PolicyError(file, line, f"invalid YAML: {problem}{context}")]
    except yaml.YAMLError as exc:
        return None, [PolicyError(file, 1, f"invalid YAML: {exc}")]
    if root is None:
        return Source(file, {}, {(): 1}), []
    converter = _Converter(file)
    converter.lines[()] = root.start_mark.line + 1
    try:
        data = converter.convert(root, ())
    except yaml.YAMLError as exc:  # a scalar its tag cannot construct, e.g. a bad timestamp
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return None, [PolicyError(file, line, f"invalid YAML: {exc}")]
    return Source(file, data, converter.lines), converter.errors
