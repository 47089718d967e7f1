"""Write ``constraints.txt``: every runtime dependency of ``deskbot[postgres]``, pinned.

``pip freeze`` style (``name==version``), but only the runtime closure (no pytest, ruff, mypy),
read from the metadata of the environment it runs in. The Dockerfile builds with
``pip wheel -c constraints.txt``, so an image resolves exactly these versions.

    python tools/freeze_constraints.py            # rewrite constraints.txt
    python tools/freeze_constraints.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "constraints.txt"
TOP = "deskbot"
EXTRAS = ("postgres",)
HEADER = """\
# Runtime dependencies of deskbot[postgres], pinned (pip freeze style) from the development
# environment by tools/freeze_constraints.py. The Dockerfile builds with -c constraints.txt.
# Regenerate after changing dependencies: python tools/freeze_constraints.py
"""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _applies(req: Requirement, extras: tuple[str, ...]) -> bool:
    if req.marker is None:
        return True
    env = dict(default_environment())
    return any(req.marker.evaluate({**env, "extra": e}) for e in (*extras, ""))


def closure() -> dict[str, str]:
    """canonical name -> installed version, for the runtime closure of deskbot[postgres]."""
    pinned: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(TOP, EXTRAS)]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        dist = metadata.distribution(name)
        if _canonical(name) != TOP:
            pinned[_canonical(name)] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if _applies(req, extras):
                todo.append((req.name, tuple(sorted(req.extras))))
    return dict(sorted(pinned.items()))


def render() -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in closure().items())


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            sys.stderr.write("constraints.txt is out of date; run tools/freeze_constraints.py\n")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {OUT.relative_to(ROOT)} ({text.count('==')} pins)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
