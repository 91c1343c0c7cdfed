"""``python -m nexus [CONFIG] [--json]``: end to end in a subprocess, and ``main()`` in process.

The subprocess runs are module-scoped fixtures, so each command runs once however many twins the
autouse fixture parametrises over.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path

import pytest

from nexus import Registry
from nexus.__main__ import main

EXAMPLE_IDS = ["llama.cpp-server", "local-ollama", "vllm-gpu-box"]

CUSTOM = """\
[[backends]]
id = "zz-last"
name = "Exo cluster"
url = "http://exo.lan:52415"
type = "exo"
priority = 3

  [[backends.models]]
  id = "qwen2.5:72b"
  context_length = 32768

[[backends]]
name = "OpenAI proxy"
url = "https://proxy.example.com/v1"
type = "openai"
metadata = { region = "eu" }
"""

BAD = """\
[[backends]]
name = "Good one"
url = "http://good:1"
type = "ollama"

[[backends]]
name = "Typo box"
url = "htp://typo:1"
type = "ollama"
"""


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nexus", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def example_registry() -> Registry:
    with resources.as_file(resources.files("nexus").joinpath("example.toml")) as path:
        return Registry.from_config(path)


def without_times(snapshot: dict) -> dict:
    """``snapshot`` with every ``last_health_check`` dropped (it is the load time)."""
    return {
        "backends": [
            {k: v for k, v in entry.items() if k != "last_health_check"}
            for entry in snapshot["backends"]
        ]
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli")
    paths = {"custom": folder / "custom.toml", "bad": folder / "bad.toml"}
    paths["custom"].write_text(CUSTOM, encoding="utf-8")
    paths["bad"].write_text(BAD, encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def default_run() -> subprocess.CompletedProcess[str]:
    return run_cli()


@pytest.fixture(scope="module")
def default_json_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    # From an empty directory: the bundled example is found in the package, not in the cwd.
    return run_cli("--json", cwd=tmp_path_factory.mktemp("elsewhere"))


@pytest.fixture(scope="module")
def custom_runs(files) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    return run_cli(str(files["custom"])), run_cli(str(files["custom"]), "--json")


@pytest.fixture(scope="module")
def bad_run(files) -> subprocess.CompletedProcess[str]:
    return run_cli(str(files["bad"]))


@pytest.fixture(scope="module")
def closed_stdout_run() -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # nobody reads: the child's first write gets EPIPE
    err = proc.stderr.read()
    proc.stderr.close()
    return proc.wait(timeout=60), err


# ---- subprocess --------------------------------------------------------------------------------


def test_default_run_prints_the_example_table(default_run):
    assert default_run.returncode == 0, default_run.stderr
    assert default_run.stderr == ""
    out = default_run.stdout
    for backend_id in EXAMPLE_IDS:
        assert backend_id in out
    for model_id in ["llama3.1:8b", "llava:13b", "meta-llama/Llama-3.1-70B-Instruct"]:
        assert model_id in out
    assert "3 backends" in out
    assert "unknown" in out
    assert "http://localhost:11434" in out


def test_default_table_rows_are_sorted_by_id(default_run):
    lines = default_run.stdout.splitlines()
    rows = [line.split()[0] for line in lines if line.split() and line.split()[0] in EXAMPLE_IDS]
    assert rows == EXAMPLE_IDS


def test_default_json_is_the_example_snapshot(default_json_run):
    assert default_json_run.returncode == 0, default_json_run.stderr
    assert default_json_run.stderr == ""
    snapshot = json.loads(default_json_run.stdout)
    assert [b["id"] for b in snapshot["backends"]] == EXAMPLE_IDS
    assert without_times(snapshot) == without_times(example_registry().to_dict())
    for entry in snapshot["backends"]:
        assert entry["status"] == "unknown"
        assert entry["discovery_source"] == "static"
        assert entry["last_health_check"].endswith("Z")


def test_custom_config_table(custom_runs):
    table, _ = custom_runs
    assert table.returncode == 0, table.stderr
    assert "zz-last" in table.stdout
    assert "openai-proxy" in table.stdout
    assert "qwen2.5:72b" in table.stdout
    assert "2 backends" in table.stdout
    assert "local-ollama" not in table.stdout


def test_custom_config_json(custom_runs, files):
    _, as_json = custom_runs
    assert as_json.returncode == 0, as_json.stderr
    snapshot = json.loads(as_json.stdout)
    assert [b["id"] for b in snapshot["backends"]] == ["openai-proxy", "zz-last"]
    proxy, exo = snapshot["backends"]
    assert proxy["backend_type"] == "openai"
    assert proxy["metadata"] == {"region": "eu"}
    assert exo["models"][0]["id"] == "qwen2.5:72b"
    assert exo["priority"] == 3
    assert without_times(snapshot) == without_times(Registry.from_config(files["custom"]).to_dict())


def test_bad_config_exits_non_zero_with_a_message(bad_run, files):
    assert bad_run.returncode != 0
    assert bad_run.stdout == ""
    assert str(files["bad"]) in bad_run.stderr
    assert "backends[1]" in bad_run.stderr
    assert "url" in bad_run.stderr
    assert "Traceback" not in bad_run.stderr


def test_closed_stdout_gives_no_traceback(closed_stdout_run):
    # `python -m nexus --json | head -1`: the reader leaves early; no traceback on stderr.
    returncode, err = closed_stdout_run
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
    assert returncode != 0


# ---- in process --------------------------------------------------------------------------------


def test_main_default_table():
    out = io.StringIO()
    assert main([], out=out) == 0
    text = out.getvalue()
    for backend_id in EXAMPLE_IDS:
        assert backend_id in text


def test_main_json_of_a_custom_file(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text(
        textwrap.dedent(
            """\
            [[backends]]
            id = "solo"
            name = "Solo"
            url = "http://solo:1"
            type = "generic"
            """
        ),
        encoding="utf-8",
    )
    out = io.StringIO()
    assert main([str(path), "--json"], out=out) == 0
    snapshot = json.loads(out.getvalue())
    assert [b["id"] for b in snapshot["backends"]] == ["solo"]
    assert snapshot["backends"][0]["backend_type"] == "generic"


def test_main_bad_file_returns_non_zero(tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text("[[backends]]\nname = 'x'\n", encoding="utf-8")
    out = io.StringIO()
    assert main([str(path)], out=out) != 0
    assert out.getvalue() == ""
    err = capsys.readouterr().err
    assert str(path) in err
    assert "backends[0]" in err
    assert "url" in err


def test_main_missing_file_returns_non_zero(tmp_path, capsys):
    path = tmp_path / "absent.toml"
    assert main([str(path)], out=io.StringIO()) != 0
    assert str(path) in capsys.readouterr().err


def test_main_writes_to_stdout_by_default(capsys):
    assert main(["--json"]) == 0
    assert [b["id"] for b in json.loads(capsys.readouterr().out)["backends"]] == EXAMPLE_IDS


def test_main_rejects_unknown_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--frobnicate"])
    assert info.value.code != 0
    assert "frobnicate" in capsys.readouterr().err


def test_main_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "--json" in capsys.readouterr().out
