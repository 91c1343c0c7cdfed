"""``python -m nexus [CONFIG] [--json]``: load a configuration and show the registry it gives."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from typing import TextIO

from nexus.counters import ATOMIC_IMPLEMENTATION, USING_EXTENSION
from nexus.errors import ConfigError
from nexus.registry import Registry

__all__ = ["main", "render_table"]

_COLUMNS = ("ID", "TYPE", "STATUS", "PRIO", "PENDING", "TOTAL", "LATENCY", "URL", "MODELS")


def render_table(registry: Registry) -> str:
    """The registry as a plain-text table: one row per backend, sorted by id."""
    rows = [_COLUMNS]
    for backend in sorted(registry.get_all_backends(), key=lambda b: b.id):
        rows.append(
            (
                backend.id,
                backend.backend_type.value,
                backend.status.value,
                str(backend.priority),
                str(backend.pending_requests),
                str(backend.total_requests),
                f"{backend.avg_latency_ms} ms",
                backend.url,
                ", ".join(model.id for model in backend.models) or "-",
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(_COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    out = sys.stdout if out is None else out
    parser = argparse.ArgumentParser(
        prog="python -m nexus",
        description="Load a nexus TOML configuration and show the backend registry it gives.",
    )
    parser.add_argument(
        "config", nargs="?", help="TOML file of [[backends]] (default: the bundled example)"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON snapshot instead")
    args = parser.parse_args(argv)
    try:
        if args.config is None:
            example = resources.files("nexus").joinpath("example.toml")
            with resources.as_file(example) as path:
                registry = Registry.from_config(path)
            source = "bundled example configuration"
        else:
            registry = Registry.from_config(args.config)
            source = args.config
    except ConfigError as exc:
        print(f"nexus: {exc}", file=sys.stderr)
        return 2
    try:
        if args.json:
            print(registry.to_json(indent=2), file=out)
        else:
            core = "compiled C11 atomics" if USING_EXTENSION else "pure-Python twin"
            print(
                f"nexus registry from {source}: {registry.backend_count()} backends, "
                f"{registry.model_count()} models (counters: {core}, {ATOMIC_IMPLEMENTATION})\n",
                file=out,
            )
            print(render_table(registry), file=out)
        out.flush()
    except BrokenPipeError:
        # The reader left early (`python -m nexus --json | head`): stop quietly, as `cat` does.
        _silence(out)
        return 1
    return 0


def _silence(out: TextIO) -> None:
    """Point ``out``'s file descriptor at /dev/null so the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # not a real file: nothing will flush it
        pass


if __name__ == "__main__":
    sys.exit(main())
