"""The router loop shown in README.md runs as written (the API tour itself is a doctest)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

CONFIG = """
[[backends]]
name = "a"
url = "http://localhost:9001"
type = "vllm"
  [[backends.models]]
  id = "m"
  supports_tools = true

[[backends]]
name = "b"
url = "http://localhost:9002"
type = "ollama"
  [[backends.models]]
  id = "m"
  supports_tools = true
"""


def _router_loop_source() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- router-loop -->\n```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its router loop"
    return match.group(1)


def test_readme_router_loop_fails_over_and_counts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "backends.toml").write_text(CONFIG, encoding="utf-8")
    calls: list[str] = []

    async def forward(url: str, request: dict) -> str:
        calls.append(url)
        await asyncio.sleep(0)
        if url.endswith("9001"):
            raise ConnectionError("refused")
        return f"answer from {url}"

    namespace: dict = {"forward": forward}
    exec(compile(_router_loop_source(), str(README), "exec"), namespace)
    registry = namespace["registry"]
    for backend_id in ("a", "b"):
        registry.update_status(backend_id, "healthy")
    registry.increment_pending("b")  # so least_pending tries "a" first

    answer = asyncio.run(namespace["route"]("m", {"tools": [1]}))

    assert answer == "answer from http://localhost:9002"
    assert calls == ["http://localhost:9001", "http://localhost:9002"]
    a, b = registry.get_backend("a"), registry.get_backend("b")
    assert a.status == "unhealthy" and a.last_error == "refused"
    assert (a.pending_requests, a.total_requests) == (0, 1)
    assert (b.pending_requests, b.total_requests) == (1, 1)  # our manual increment stays
    registry.update_status("b", "draining")
    with pytest.raises(LookupError, match="no healthy backend serves m"):
        asyncio.run(namespace["route"]("m", {}))
