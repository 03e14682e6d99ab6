"""The runnable command blocks of a Markdown document (```bash runnable), in order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    source: str  # file name and line, for messages
    tags: frozenset[str]
    text: str

    @property
    def is_stop(self) -> bool:
        """A block that stops what earlier blocks started: it runs after everything else."""
        return "stop" in self.tags


def runnable_blocks(path: Path) -> list[Block]:
    text = path.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        words = match.group("info").split()
        if words[:2] == ["bash", "runnable"]:
            line = text.count("\n", 0, match.start()) + 1
            blocks.append(Block(f"{path.name}:{line}", frozenset(words[2:]), match.group("body")))
    return blocks


def script(blocks: list[Block], substitutions: dict[str, str]) -> str:
    """One bash script running the blocks in order; the first failing block stops it, named on stderr."""
    parts = []
    for number, block in enumerate(blocks, 1):
        body = block.text
        for old, new in substitutions.items():
            body = body.replace(old, new)
        parts.append(f'echo ">>> block {number} ({block.source})" >&2\nBLOCK="{block.source}"\n{body}')
    return "\n".join(parts)
