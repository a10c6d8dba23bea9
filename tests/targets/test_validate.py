"""targets/validate.py: each shared field validator accepts good values and refuses bad ones
with the key path, the constraint and ``Received: <field>=<value>``."""

from __future__ import annotations

import math

import pytest

from targets import spec
from targets.errors import RecipeError, TargetError
from targets.validate import IO_DTYPES, Fields, field_name

F = Fields(TargetError)


def test_spec_uses_the_shared_vocabulary():
    assert spec.IO_DTYPES is IO_DTYPES == ("int8", "uint8", "float32")


@pytest.mark.parametrize("path, name", [
    ("power_w.idle.low", "low"), ("formats[2]", "formats"), ("stages[1].weight", "weight"),
    ("id", "id"), ("", ""), ("[0]", "[0]"),
])
def test_field_name(path, name):
    assert field_name(path) == name


def test_fail_returns_the_configured_error_with_the_path():
    err = Fields(RecipeError).fail("stages[0].schedule", "bad", hint="fix it")
    assert type(err) is RecipeError
    assert err.message == "stages[0].schedule: bad" and err.hint == "fix it"
    assert F.fail("", "bad").message == "bad"


def test_keys_accepts_known_and_returns_the_mapping():
    data = {"low": 1, "high": 2}
    assert F.keys(data, ("low", "high", "kind"), "p") is data
    assert F.keys(data, ("low", "high"), "p", required=("low", "high")) is data


def test_keys_refuses_an_unknown_key_with_a_suggestion():
    with pytest.raises(TargetError, match=r"power_w\.idle\.hgh: unknown key 'hgh'") as info:
        F.keys({"hgh": 1}, ("low", "high"), "power_w.idle")
    assert info.value.hint == "did you mean 'high'?"


def test_keys_refuses_a_non_mapping():
    with pytest.raises(RecipeError, match=r"runtime: expected a mapping. Received: \[1\]"):
        Fields(RecipeError).keys([1], ("a",), "runtime")


def test_keys_refuses_a_missing_required_key_first_in_order():
    with pytest.raises(TargetError, match="runtime: missing required key 'b'") as info:
        F.keys({"a": 1}, ("a", "b", "c", "d"), "runtime", required=("b", "c"))
    assert info.value.hint == "runtime needs: b, c"
    with pytest.raises(TargetError, match="^missing required key 'id'") as info:
        F.keys({}, ("id",), "", required=("id",))
    assert info.value.hint == "the top level needs: id"


@pytest.mark.parametrize("value, kw, expected", [
    (3, {}, 3.0), (2.5, {}, 2.5), (0, {"minimum": 0}, 0.0), (7, {"integer": True}, 7),
    (1, {"integer": True, "positive": True, "minimum": 1}, 1), (2 ** 63 - 1, {"integer": True},
                                                                2 ** 63 - 1),
])
def test_number_accepts(value, kw, expected):
    got = F.number(value, "a.b", **kw)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value, kw, message", [
    ("3", {}, r"a\.count: must be a number\. Received: count='3'"),
    (True, {}, r"must be a number\. Received: count=True"),
    (None, {}, r"must be a number\. Received: count=None"),
    (2.0, {"integer": True}, r"must be an integer\. Received: count=2\.0"),
    (False, {"integer": True}, r"must be an integer\. Received: count=False"),
    (math.nan, {}, r"must be a finite number within int64 range\. Received: count=nan"),
    (math.inf, {"positive": True}, r"finite number within int64 range\. Received: count=inf"),
    (-math.inf, {}, r"finite number within int64 range\. Received: count=-inf"),
    (2 ** 63, {"integer": True}, r"within int64 range\. Received: count=9223372036854775808"),
    (-2 ** 63 - 1, {}, r"within int64 range\. Received: count=-9223372036854775809"),
    (0, {"positive": True}, r"must be > 0\. Received: count=0"),
    (-0.5, {"positive": True}, r"must be > 0\. Received: count=-0\.5"),
    (0, {"integer": True, "minimum": 1}, r"must be >= 1\. Received: count=0"),
    (-1.0, {"minimum": 0}, r"must be >= 0\. Received: count=-1\.0"),
])
def test_number_refuses(value, kw, message):
    with pytest.raises(TargetError, match=message) as info:
        F.number(value, "a.count", **kw)
    assert "Received" in info.value.message


def test_choice_accepts_and_refuses_with_did_you_mean():
    assert F.choice("uint8", IO_DTYPES, "input_dtype") == "uint8"
    with pytest.raises(TargetError, match=r"^formats\[1\]: must be one of int8, uint8, float32\. "
                                          r"Received: formats='unit8'") as info:
        F.choice("unit8", IO_DTYPES, "formats[1]")
    assert info.value.hint == "did you mean 'uint8'?"


def test_choice_refuses_non_strings():
    with pytest.raises(TargetError, match=r"Received: kind=\['int8'\]") as info:
        F.choice(["int8"], IO_DTYPES, "kind")
    assert info.value.hint == "did you mean 'int8'?"
    with pytest.raises(TargetError, match=r"Received: kind=\{'a': 1\}") as info:
        F.choice({"a": 1}, IO_DTYPES, "kind")
    assert info.value.hint is None


def test_choice_on_a_huge_value_stays_brief():
    with pytest.raises(TargetError, match=r"Received: kind=\[0, 0, 0, 0, 0, 0, \.\.\.\]"):
        F.choice([0] * 1_000_000, IO_DTYPES, "kind")


def test_text_accepts_and_strips():
    assert F.text("  Raspberry Pi  ", "name") == "Raspberry Pi"
    assert F.text(" conv 1 ", "name", numbers=True) == " conv 1 "
    assert F.text(12, "layers.teacher", numbers=True) == "12"
    assert F.text(0.5, "x", numbers=True) == "0.5"
    assert F.text("", "x", numbers=True) == ""


@pytest.mark.parametrize("value", ["", "   ", 3, None, ["a"]])
def test_text_refuses_empty_or_non_strings(value):
    with pytest.raises(TargetError, match=r"^runtime\.install: must be a non-empty string\. "
                                          r"Received: install="):
        F.text(value, "runtime.install")


@pytest.mark.parametrize("value", [True, None, ["a"], {"a": 1}])
def test_text_with_numbers_refuses_non_scalars(value):
    with pytest.raises(RecipeError, match=r"^targets\[0\]\.name: must be a string\. "
                                          r"Received: name="):
        Fields(RecipeError).text(value, "targets[0].name", numbers=True)


def test_flag():
    assert F.flag(True, "static_shapes") is True and F.flag(False, "x") is False
    for value in (1, 0, "true", None):
        with pytest.raises(TargetError, match=r"static_shapes: must be true or false\. "
                                              r"Received: static_shapes="):
            F.flag(value, "static_shapes")


def test_str_list():
    assert F.str_list("conv1", "layers.include") == ("conv1",)
    assert F.str_list(["a", "b"], "layers.include") == ("a", "b")
    assert F.str_list(("a",), "x") == ("a",) and F.str_list([], "x") == ()
    for value in (None, 3, ["a", 1], {"a": "b"}):
        with pytest.raises(TargetError, match=r"^layers\.include: must be a list of strings\. "
                                              r"Received: "):
            F.str_list(value, "layers.include")
