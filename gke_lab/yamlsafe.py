"""YAML for untrusted specs and overrides: YAML 1.2 scalars, no duplicate keys, bounded size and depth.

PyYAML speaks YAML 1.1, where `1:30` is the integer 90, `yes`/`on`/`no`/`off` are booleans and `010` is
octal; a spec author (or a chat user) would not expect any of that. This loader resolves plain scalars
with the YAML 1.2 core schema only (null, true/false, decimal/0o/0x integers, floats; everything else
is a string, timestamps included), refuses a key given twice (naming it), refuses anchors and aliases
(a few lines of aliases can expand to gigabytes), and bounds the nesting depth before the recursive
composer can exhaust the stack. Files are read only when they are regular files of bounded size.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

MAX_FILE_BYTES = 1024 * 1024  # a spec is a few kilobytes; anything near this is not a spec
MAX_TEXT_CHARS = MAX_FILE_BYTES
MAX_DEPTH = 32  # the spec nests four levels; lists of mappings add two


class UnsafeYamlError(ValueError):
    """YAML refused; `where` is the dotted key path of the problem ("" when it has none)."""

    def __init__(self, where: str, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


class _Resolver(BaseResolver):
    """The YAML 1.2 core schema's implicit resolution of plain scalars."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


class _Constructor(SafeConstructor):
    def construct_yaml_int(self, node: Node) -> int:
        value = str(self.construct_scalar(node))  # type: ignore[arg-type]
        if len(value) > 40:
            raise ConstructorError(None, None, f"integer {value[:20]}... is too long", node.start_mark)
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value, 10)  # "010" is ten in YAML 1.2, not eight

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    raise ConstructorError(
                        None, None, "a mapping key must be a plain value", key_node.start_mark
                    ) from None
                if duplicate:
                    raise _DuplicateKey(key, node)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


# The stubs type add_constructor's receiver too narrowly for a subclass; the call is PyYAML's documented use.
_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)  # type: ignore[type-var]
_Constructor.add_constructor("tag:yaml.org,2002:map", _Constructor.construct_yaml_map)  # type: ignore[type-var]


class _DuplicateKey(Exception):
    def __init__(self, key: Any, mapping: Node):
        self.key = key
        self.mapping = mapping


class _Loader(Reader, Scanner, Parser, Composer, _Constructor, _Resolver):
    def __init__(self, stream: str):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent) or getattr(event, "anchor", None):
            raise UnsafeYamlError(
                "", f"anchors and aliases are not accepted (line {event.start_mark.line + 1})"
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise UnsafeYamlError("", f"nested more than {MAX_DEPTH} levels deep")
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        return node

    def path_of(self, target: Node, root: Node | None) -> str:
        """The dotted path of `target` below `root` (a search; only used to report an error)."""

        def walk(node: Node, prefix: str) -> str | None:
            if node is target:
                return prefix
            if isinstance(node, MappingNode):
                for key_node, value_node in node.value:
                    key = key_node.value if isinstance(key_node.value, str) else "?"
                    found = walk(value_node, f"{prefix}.{key}" if prefix else key)
                    if found is not None:
                        return found
            elif isinstance(node, yaml.SequenceNode):
                for i, item in enumerate(node.value):
                    found = walk(item, f"{prefix}[{i}]")
                    if found is not None:
                        return found
            return None

        return (walk(root, "") if root is not None else None) or ""


def _join(prefix: str, part: Any) -> str:
    if isinstance(part, int):
        return f"{prefix}[{part}]"
    return f"{prefix}.{part}" if prefix else str(part)


def loads(text: str) -> Any:
    """One YAML document (YAML 1.2 scalars); raises UnsafeYamlError or yaml.YAMLError."""
    if len(text) > MAX_TEXT_CHARS:
        raise UnsafeYamlError("", f"more than {MAX_TEXT_CHARS} characters")
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        try:
            return loader.construct_document(root)
        except _DuplicateKey as dup:
            where = loader.path_of(dup.mapping, root)
            key = str(dup.key)
            raise UnsafeYamlError(
                _join(where, key), f"duplicate key {key!r} (each key may appear once)"
            ) from None
    except RecursionError:
        raise UnsafeYamlError("", f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def read_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of a regular file of at most MAX_FILE_BYTES; raises UnsafeYamlError otherwise.

    Opened without blocking (a FIFO with no writer would hang a plain open) and checked with fstat on
    the open descriptor, so a device, directory or FIFO is refused before a byte is read."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise UnsafeYamlError("", f"cannot read {p}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeYamlError("", f"{p} is not a regular file ({_kind(info.st_mode)})")
        if info.st_size > MAX_FILE_BYTES:
            raise UnsafeYamlError("", f"{p} is larger than {MAX_FILE_BYTES} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise UnsafeYamlError("", f"{p} is larger than {MAX_FILE_BYTES} bytes")
    except OSError as exc:
        raise UnsafeYamlError("", f"cannot read {p}: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeYamlError("", f"{p} is not UTF-8 text (byte {exc.start})") from None


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"
