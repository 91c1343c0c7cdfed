"""T02 ``Model``: creation, validation of every field, immutability, value semantics, dict/JSON."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus import Model

U32_MAX = 2**32 - 1
MODEL_KEYS = {
    "id",
    "name",
    "context_length",
    "supports_vision",
    "supports_tools",
    "supports_json_mode",
    "max_output_tokens",
}


def full_model() -> Model:
    return Model(
        id="llama3.1:70b",
        name="Llama 3.1 70B",
        context_length=131072,
        supports_vision=True,
        supports_tools=True,
        supports_json_mode=True,
        max_output_tokens=8192,
    )


def test_model_creation():
    # Model can be created with all fields
    model = full_model()
    assert model.id == "llama3.1:70b"
    assert model.name == "Llama 3.1 70B"
    assert model.context_length == 131072
    assert model.supports_vision is True
    assert model.supports_tools is True
    assert model.supports_json_mode is True
    assert model.max_output_tokens == 8192


def test_model_json_roundtrip():
    # Model serializes to JSON and deserializes back
    model = full_model()
    text = json.dumps(model.to_dict())
    again = Model.from_dict(json.loads(text))
    assert again == model
    assert again.to_dict() == model.to_dict()


def test_model_positional_arguments_follow_the_documented_order():
    model = Model("m", "M", 100, True, False, True, 50)
    assert model == Model(
        id="m",
        name="M",
        context_length=100,
        supports_vision=True,
        supports_tools=False,
        supports_json_mode=True,
        max_output_tokens=50,
    )


def test_model_defaults():
    model = Model("mistral:7b")
    assert model.name == "mistral:7b"
    assert model.context_length == 4096
    assert model.supports_vision is False
    assert model.supports_tools is False
    assert model.supports_json_mode is False
    assert model.max_output_tokens is None


def test_model_name_none_defaults_to_id():
    assert Model("x", name=None).name == "x"
    assert Model("x", name=None) == Model("x", name="x")


def test_model_to_dict_has_exactly_the_seven_keys():
    data = Model("m").to_dict()
    assert set(data) == MODEL_KEYS
    assert data == {
        "id": "m",
        "name": "m",
        "context_length": 4096,
        "supports_vision": False,
        "supports_tools": False,
        "supports_json_mode": False,
        "max_output_tokens": None,
    }
    assert json.loads(json.dumps(data)) == data


def test_model_from_dict_with_only_id_uses_defaults():
    assert Model.from_dict({"id": "m"}) == Model("m")


# ---- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, 1, b"m", ["m"], 1.5])
def test_model_id_must_be_a_str(bad):
    with pytest.raises(TypeError, match="id"):
        Model(bad)


def test_model_id_must_not_be_empty():
    with pytest.raises(ValueError, match="id"):
        Model("")


@pytest.mark.parametrize("bad", [1, b"n", ["n"], True])
def test_model_name_must_be_a_str(bad):
    with pytest.raises(TypeError, match="name"):
        Model("m", name=bad)


INT_FIELDS = ["context_length", "max_output_tokens"]
FLAG_FIELDS = ["supports_vision", "supports_tools", "supports_json_mode"]


@pytest.mark.parametrize("field", INT_FIELDS)
@pytest.mark.parametrize("value", [0, 1, 4096, U32_MAX])
def test_model_int_fields_accept_the_u32_range(field, value):
    assert getattr(Model("m", **{field: value}), field) == value


@pytest.mark.parametrize("field", INT_FIELDS)
@pytest.mark.parametrize("bad", [True, False, 1.0, "4096", [1]])
def test_model_int_fields_reject_non_int(field, bad):
    with pytest.raises(TypeError) as info:
        Model("m", **{field: bad})
    assert field in str(info.value)


@pytest.mark.parametrize("field", INT_FIELDS)
@pytest.mark.parametrize("bad", [-1, U32_MAX + 1, 2**64, -(2**63)])
def test_model_int_fields_reject_out_of_range(field, bad):
    with pytest.raises(ValueError) as info:
        Model("m", **{field: bad})
    assert field in str(info.value)
    assert str(bad) in str(info.value)


def test_model_context_length_rejects_none():
    with pytest.raises(TypeError, match="context_length"):
        Model("m", context_length=None)


def test_model_max_output_tokens_accepts_none():
    assert Model("m", max_output_tokens=None).max_output_tokens is None


def test_model_int_subclass_is_normalised_to_int():
    class Count(int):
        pass

    model = Model("m", context_length=Count(10), max_output_tokens=Count(3))
    assert type(model.context_length) is int
    assert type(model.max_output_tokens) is int
    assert model == Model("m", context_length=10, max_output_tokens=3)


@pytest.mark.parametrize("field", FLAG_FIELDS)
@pytest.mark.parametrize("value", [True, False])
def test_model_flags_accept_bool(field, value):
    assert getattr(Model("m", **{field: value}), field) is value


@pytest.mark.parametrize("field", FLAG_FIELDS)
@pytest.mark.parametrize("bad", [0, 1, "true", None, 1.0])
def test_model_flags_reject_non_bool(field, bad):
    with pytest.raises(TypeError) as info:
        Model("m", **{field: bad})
    assert field in str(info.value)


def test_model_long_id_is_accepted_with_a_warning(caplog):
    long_id = "m" * 1001
    with caplog.at_level(logging.WARNING, logger="nexus"):
        model = Model(long_id)
    assert model.id == long_id
    warnings = [r for r in caplog.records if r.name == "nexus" and r.levelno == logging.WARNING]
    assert len(warnings) == 1


def test_model_id_of_1000_chars_logs_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger="nexus"):
        Model("m" * 1000)
    assert [r for r in caplog.records if r.name == "nexus"] == []


# ---- value semantics ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", sorted(MODEL_KEYS))
def test_model_is_immutable(field):
    model = full_model()
    with pytest.raises(AttributeError):  # FrozenInstanceError is an AttributeError
        setattr(model, field, getattr(model, field))
    with pytest.raises(AttributeError):
        delattr(model, field)
    assert model == full_model()


def test_model_frozen_error_type():
    with pytest.raises(dataclasses.FrozenInstanceError):
        full_model().id = "other"  # type: ignore[misc]


def test_model_cannot_grow_new_attributes():
    with pytest.raises((AttributeError, TypeError)):
        full_model().extra = 1  # type: ignore[attr-defined]


def test_model_equality_and_hash_by_value():
    assert full_model() == full_model()
    assert hash(full_model()) == hash(full_model())
    assert len({full_model(), full_model(), Model("other")}) == 2
    assert {full_model(): 1}[full_model()] == 1
    assert Model("a") != Model("b")
    assert Model("a") != "a"


@pytest.mark.parametrize(
    "change",
    [
        {"id": "other"},
        {"name": "other"},
        {"context_length": 1},
        {"supports_vision": False},
        {"supports_tools": False},
        {"supports_json_mode": False},
        {"max_output_tokens": None},
    ],
)
def test_model_differs_when_any_field_differs(change):
    assert dataclasses.replace(full_model(), **change) != full_model()


def test_dataclasses_replace_validates():
    with pytest.raises(ValueError, match="context_length"):
        dataclasses.replace(full_model(), context_length=-1)


# ---- from_dict ---------------------------------------------------------------------------------


def test_model_from_dict_rejects_missing_id():
    data = full_model().to_dict()
    del data["id"]
    with pytest.raises((TypeError, ValueError), match="id"):
        Model.from_dict(data)


def test_model_from_dict_rejects_unknown_key():
    data = dict(full_model().to_dict(), vram_gb=24)
    with pytest.raises((TypeError, ValueError), match="vram_gb"):
        Model.from_dict(data)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("id", 5),
        ("name", 5),
        ("context_length", "4096"),
        ("context_length", 4096.0),
        ("context_length", True),
        ("supports_vision", "yes"),
        ("supports_tools", 1),
        ("supports_json_mode", None),
        ("max_output_tokens", "8"),
    ],
)
def test_model_from_dict_rejects_wrong_types(field, bad):
    data = dict(full_model().to_dict(), **{field: bad})
    with pytest.raises(TypeError) as info:
        Model.from_dict(data)
    assert field in str(info.value)


@pytest.mark.parametrize("bad", [None, "m", ["id", "m"], 5])
def test_model_from_dict_rejects_non_mapping(bad):
    with pytest.raises(TypeError):
        Model.from_dict(bad)


def test_model_from_dict_rejects_non_str_key():
    with pytest.raises((TypeError, ValueError)):
        Model.from_dict({"id": "m", 1: 2})


def test_model_from_dict_does_not_mutate_input():
    data = full_model().to_dict()
    copy = dict(data)
    Model.from_dict(data)
    assert data == copy


@given(
    st.builds(
        Model,
        id=st.text(min_size=1, max_size=40),
        name=st.one_of(st.none(), st.text(min_size=1, max_size=40)),
        context_length=st.integers(0, U32_MAX),
        supports_vision=st.booleans(),
        supports_tools=st.booleans(),
        supports_json_mode=st.booleans(),
        max_output_tokens=st.one_of(st.none(), st.integers(0, U32_MAX)),
    )
)
def test_model_dict_and_json_roundtrip_property(model):
    assert Model.from_dict(model.to_dict()) == model
    assert Model.from_dict(json.loads(json.dumps(model.to_dict()))) == model
    assert hash(Model.from_dict(model.to_dict())) == hash(model)
