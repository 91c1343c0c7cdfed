"""Static configuration: ``nexus.load_config``, ``Registry.from_config``, ``nexus.config.parse_config``.

A good file gives STATIC backends; a bad one raises ``nexus.ConfigError`` naming the file, the entry
and the field, and nothing is loaded.
"""

from __future__ import annotations

import textwrap
from importlib import resources
from pathlib import Path

import pytest

import nexus
from nexus import (
    BackendStatus,
    BackendType,
    ConfigError,
    DiscoverySource,
    Model,
    Registry,
    load_config,
)
from nexus.config import parse_config

GOOD = """\
[[backends]]
name = "Local Ollama"
url = "http://localhost:11434"
type = "ollama"
priority = 1
metadata = { rack = "a1", owner = "ml-team" }

  [[backends.models]]
  id = "llama3.1:8b"
  context_length = 131072
  supports_tools = true
  supports_json_mode = true

  [[backends.models]]
  id = "llava:13b"
  supports_vision = true

[[backends]]
id = "gpu-1"
name = "vLLM GPU box"
url = "https://gpu.lan:8000/"
type = "vllm"

  [[backends.models]]
  id = "meta-llama/Llama-3.1-70B-Instruct"
  name = "Llama 3.1 70B Instruct"
  context_length = 32768
  max_output_tokens = 4096

[[backends]]
name = "LM Studio (laptop)"
url = "http://10.0.0.7:1234"
type = "lmstudio"
priority = -5
"""


def write(tmp_path: Path, text: str | bytes, name: str = "backends.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def entry(**fields: object) -> str:
    """One ``[[backends]]`` table with sensible defaults, overridden (``None`` drops a field)."""
    values: dict[str, object] = {
        "name": '"Box"',
        "url": '"http://box:1"',
        "type": '"ollama"',
    }
    values.update(fields)
    lines = ["[[backends]]"] + [f"{key} = {value}" for key, value in values.items() if value]
    return "\n".join(lines) + "\n"


# ---- good files --------------------------------------------------------------------------------


def test_load_config_reads_every_field(tmp_path):
    backends = load_config(write(tmp_path, GOOD))
    assert [b.id for b in backends] == ["local-ollama", "gpu-1", "lm-studio-laptop"]
    ollama, vllm, lmstudio = backends
    assert ollama.name == "Local Ollama"
    assert ollama.url == "http://localhost:11434"
    assert ollama.backend_type is BackendType.OLLAMA
    assert ollama.priority == 1
    assert dict(ollama.metadata) == {"rack": "a1", "owner": "ml-team"}
    assert ollama.models == (
        Model("llama3.1:8b", context_length=131072, supports_tools=True, supports_json_mode=True),
        Model("llava:13b", supports_vision=True),
    )
    assert vllm.url == "https://gpu.lan:8000/"
    assert vllm.backend_type is BackendType.VLLM
    assert vllm.priority == 0
    assert dict(vllm.metadata) == {}
    assert vllm.models == (
        Model(
            "meta-llama/Llama-3.1-70B-Instruct",
            name="Llama 3.1 70B Instruct",
            context_length=32768,
            max_output_tokens=4096,
        ),
    )
    assert lmstudio.backend_type is BackendType.LMSTUDIO
    assert lmstudio.priority == -5
    assert lmstudio.models == ()
    for backend in backends:
        assert backend.discovery_source is DiscoverySource.STATIC
        assert backend.status is BackendStatus.UNKNOWN
        assert backend.pending_requests == 0


def test_load_config_accepts_str_and_pathlike(tmp_path):
    path = write(tmp_path, GOOD)
    by_path = [b.view().to_dict()["id"] for b in load_config(path)]
    by_str = [b.view().to_dict()["id"] for b in load_config(str(path))]
    assert by_path == by_str == ["local-ollama", "gpu-1", "lm-studio-laptop"]


def test_registry_from_config(tmp_path):
    registry = Registry.from_config(write(tmp_path, GOOD))
    assert isinstance(registry, Registry)
    assert len(registry) == 3
    assert "gpu-1" in registry
    assert registry.model_count() == 3
    assert [b.id for b in registry.get_backends_for_model("llava:13b")] == ["local-ollama"]
    assert registry.get_backend("gpu-1").discovery_source is DiscoverySource.STATIC
    registry.update_status("gpu-1", "healthy")
    assert [b.id for b in registry.get_healthy_backends()] == ["gpu-1"]


def test_registry_from_config_is_a_fresh_registry_each_time(tmp_path):
    path = write(tmp_path, GOOD)
    first, second = Registry.from_config(path), Registry.from_config(path)
    first.increment_pending("gpu-1")
    assert second.get_backend("gpu-1").pending_requests == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Local Ollama", "local-ollama"),
        ("vLLM GPU box", "vllm-gpu-box"),
        ("llama.cpp server", "llama.cpp-server"),
        ("  spaced   out  ", "spaced-out"),
        ("a_b", "a_b"),
        ("GPU #2 (rack A)", "gpu-2-rack-a"),
    ],
)
def test_id_is_derived_from_name(tmp_path, name, expected):
    (backend,) = load_config(write(tmp_path, entry(name=f'"{name}"')))
    assert backend.id == expected
    assert backend.name == name


def test_explicit_id_wins_over_name(tmp_path):
    (backend,) = load_config(write(tmp_path, entry(id='"custom"', name='"Some Name"')))
    assert backend.id == "custom"


def test_empty_file_gives_no_backends(tmp_path):
    assert load_config(write(tmp_path, "")) == []
    assert load_config(write(tmp_path, "# only a comment\n")) == []
    assert len(Registry.from_config(write(tmp_path, ""))) == 0


def test_parse_config_from_text_and_bytes():
    text = entry(name='"Box"')
    assert [b.id for b in parse_config(text)] == ["box"]
    assert [b.id for b in parse_config(text.encode())] == ["box"]


def test_every_backend_type_string_is_accepted(tmp_path):
    text = "".join(
        entry(id=f'"{t.value}"', type=f'"{t.value}"', url=f'"http://{t.value}:1"')
        for t in BackendType
    )
    backends = load_config(write(tmp_path, text))
    assert [b.backend_type for b in backends] == list(BackendType)


def test_unicode_names_are_read_as_utf8(tmp_path):
    (backend,) = load_config(write(tmp_path, entry(id='"gpu"', name='"Größe · 東京"')))
    assert backend.name == "Größe · 東京"


def test_bundled_example_loads():
    example = resources.files("nexus").joinpath("example.toml")
    with resources.as_file(example) as path:
        registry = Registry.from_config(path)
    assert len(registry) >= 2
    assert registry.model_count() >= 1
    for backend in registry.get_all_backends():
        assert backend.discovery_source is DiscoverySource.STATIC


# ---- bad files ---------------------------------------------------------------------------------


def config_error(tmp_path: Path, text: str | bytes) -> tuple[str, str]:
    """Load ``text`` from a file; return (message, file name) of the ConfigError it must raise."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    # Registry.from_config fails the same way.
    with pytest.raises(ConfigError) as again:
        Registry.from_config(path)
    assert str(again.value) == str(info.value)
    message = str(info.value)
    assert str(path) in message
    # The temporary directory is named after the test: drop it so it cannot satisfy a check.
    return message.replace(str(path), "<file>"), "<file>"


def assert_names(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def test_invalid_toml(tmp_path):
    message, path = config_error(tmp_path, "[[backends]]\nname = \n")
    assert_names(message, path, "TOML")


def test_invalid_toml_reports_the_line(tmp_path):
    message, path = config_error(tmp_path, GOOD + "\n[[backends]\n")
    assert_names(message, path, "line")


def test_not_utf8(tmp_path):
    message, path = config_error(tmp_path, b'[[backends]]\nname = "\xff\xfe"\n')
    assert_names(message, path, "UTF-8")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert_names(str(info.value), str(path), "nope.toml")
    with pytest.raises(ConfigError):
        Registry.from_config(path)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert_names(str(info.value), str(tmp_path))


@pytest.mark.parametrize("bad", [None, 5, b"file.toml", ["a.toml"]])
def test_path_of_wrong_type(bad):
    with pytest.raises(TypeError):
        load_config(bad)


def test_unknown_top_level_key(tmp_path):
    message, path = config_error(tmp_path, "[server]\nport = 1\n" + entry())
    assert_names(message, path, "server")


def test_backends_not_an_array_of_tables(tmp_path):
    message, path = config_error(tmp_path, 'backends = "x"\n')
    assert_names(message, path, "backends")
    message, path = config_error(tmp_path, "backends = [1, 2]\n")
    assert_names(message, path, "backends[0]")


def test_unknown_backend_field(tmp_path):
    message, path = config_error(tmp_path, entry() + entry(name='"Second"', colour='"red"'))
    assert_names(message, path, "backends[1]", "Second", "colour")


@pytest.mark.parametrize("field", ["name", "url", "type"])
def test_missing_required_field(tmp_path, field):
    message, path = config_error(tmp_path, entry(id='"first"') + entry(**{field: None}))
    assert_names(message, path, "backends[1]", field)


@pytest.mark.parametrize(
    "url", ['"localhost:11434"', '"ftp://box"', '"http://"', '""', "5", '"http://box:99999"']
)
def test_bad_url(tmp_path, url):
    message, path = config_error(tmp_path, entry(name='"Box A"', url=url))
    assert_names(message, path, "backends[0]", "Box A", "url")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", '"mainframe"'),
        ("type", "3"),
        ("priority", '"high"'),
        ("priority", "1.5"),
        ("priority", "true"),
        ("priority", "2147483648"),
        ("metadata", '"rack=a1"'),
        ("metadata", "{ rack = 1 }"),
        ("metadata", "{ since = 2024-01-01 }"),
        ("id", "7"),
        ("id", '""'),
        ("name", "7"),
        ("name", '""'),
        ("models", '"llama3"'),
    ],
)
def test_bad_field_value(tmp_path, field, value):
    text = entry(id='"ok"', name='"OK"') + entry(**{"id": '"bad-one"', field: value})
    message, path = config_error(tmp_path, text)
    assert_names(message, path, "backends[1]", field)


def test_bad_type_lists_the_allowed_values(tmp_path):
    message, _ = config_error(tmp_path, entry(type='"mainframe"'))
    assert_names(message, "mainframe", *[t.value for t in BackendType])


def test_name_of_wrong_type_without_id_names_the_name_field(tmp_path):
    message, path = config_error(tmp_path, entry(name="7"))
    assert_names(message, path, "backends[0]", "name")


def test_name_that_gives_no_id(tmp_path):
    message, path = config_error(tmp_path, entry(name='"!!!"'))
    assert_names(message, path, "backends[0]", "id")


@pytest.mark.parametrize(
    "text",
    [
        entry(id='"same"', name='"A"') + entry(id='"same"', name='"B"', url='"http://b:2"'),
        entry(name='"GPU Box"') + entry(name='"gpu-box"', url='"http://b:2"'),
    ],
    ids=["explicit", "derived"],
)
def test_duplicate_id(tmp_path, text):
    message, path = config_error(tmp_path, text)
    assert_names(message, path, "backends[1]", "backends[0]", "id")


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ('context_length = -1\nid = "m"', "context_length"),
        ('id = "m"\ncontext_length = "big"', "context_length"),
        ('id = "m"\ncontext_length = 4294967296', "context_length"),
        ('id = "m"\nsupports_vision = "yes"', "supports_vision"),
        ('id = "m"\nmax_output_tokens = 1.5', "max_output_tokens"),
        ('id = "m"\nvram = 24', "vram"),
        ('name = "no id"', "id"),
        ("id = 5", "id"),
        ('id = ""', "id"),
    ],
)
def test_bad_model_field(tmp_path, model, field):
    text = (
        entry(id='"ok"')
        + entry(id='"with-models"')
        + '[[backends.models]]\nid = "fine"\n'
        + f"[[backends.models]]\n{model}\n"
    )
    message, path = config_error(tmp_path, text)
    assert_names(message, path, "backends[1]", "models[1]", field)


def test_duplicate_model_ids_in_one_backend(tmp_path):
    text = entry(id='"b"') + '[[backends.models]]\nid = "m"\n[[backends.models]]\nid = "m"\n'
    message, path = config_error(tmp_path, text)
    assert_names(message, path, "backends[0]", "models", "'m'")


def test_bad_file_loads_nothing(tmp_path):
    # Two good entries, then a bad one: the whole load fails and a later good load starts clean.
    text = GOOD + entry(name='"Broken"', url='"nope"')
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Registry.from_config(path)
    message = str(info.value).replace(str(path), "<file>")
    assert_names(message, "<file>", "backends[3]", "Broken", "url")
    path.write_text(GOOD, encoding="utf-8")
    registry = Registry.from_config(path)
    assert len(registry) == 3


def test_config_error_is_a_value_error_not_a_registry_error(tmp_path):
    path = write(tmp_path, "not toml at all = = =")
    with pytest.raises(ValueError) as info:
        load_config(path)
    assert not isinstance(info.value, nexus.RegistryError)


def test_parse_config_names_its_source():
    with pytest.raises(ConfigError) as info:
        parse_config(entry(url='"nope"'), source="inline.toml")
    assert_names(str(info.value), "inline.toml", "backends[0]", "url")


def test_parse_config_rejects_non_text():
    with pytest.raises(TypeError):
        parse_config(5)  # type: ignore[arg-type]
