"""Fuzzed recipes: whatever the YAML/JSON holds, loading raises RecipeError or returns a Recipe.

Three generators, from blind to targeted:

* arbitrary nested dicts/lists/scalars (keys sometimes drawn from the recipe vocabulary, so
  the loader gets past its first key check);
* the built-in and a feature-rich recipe, mutated at random paths (a value replaced by an
  edge value, a key deleted or added), which reaches every field's validation;
* text: YAML/JSON dumps of those structures with characters flipped or cut, and raw text,
  written to a file and read with ``load_recipe``.

A loaded recipe must also survive ``to_dict`` -> ``from_dict`` unchanged. The number of
examples comes from the hypothesis profile (tests/conftest.py; ``make fuzz`` runs the long one).
"""

from __future__ import annotations

import copy
import json
import math

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from compress.errors import RecipeError
from compress.recipe import BUILTIN_RECIPES, Recipe, dump_recipe, load_recipe

pytestmark = pytest.mark.fuzz

# Every key the loader knows, at any level: mutations and blind dicts draw from these.
VOCABULARY = sorted({
    "version", "name", "stages", "targets", "seed", "training", "calibration", "benchmark",
    "kind", "final_sparsity", "initial_sparsity", "schedule", "epochs", "frequency",
    "end_fraction", "structure", "learning_rate", "layers", "include", "exclude", "types",
    "preserve_sparsity", "student", "width", "temperature", "alpha", "later_stages",
    "features", "teacher", "weight", "format", "io_dtype", "device", "batch_size",
    "validation_fraction", "samples", "warmup", "runs", "threads", "augment", "shift", "flip",
    "mixup"})
# Values that sit on or near a validation boundary, plus the vocabulary's own words.
EDGE_VALUES = [
    None, True, False, 0, 1, -1, 2, 2 ** 31, 2 ** 32, 2 ** 64, -(2 ** 63), 10 ** 30, 0.0, -0.0,
    0.5, 0.999999, 1.0, 1.5, -0.5, 1e-300, 1e300, math.inf, -math.inf, math.nan, "", " ",
    "0.5", "2:4", "4:2", "0:4", "2:2", " 2 : 4 ", "a:b", "self", "prune", "qat", "finetune",
    "distill", "polynomial", "constant", "float32", "float16", "dynamic", "int8", "int16x8",
    "uint8", "rpi4", "coral-usb", "coral-devboard", "mobile-gpu", "no-such-device",
    "Conv2D", "Dense", "conv*", "[", "(?P<", "\x00", "ü", "a\x00.yaml", "/nonexistent.yaml",
    "/tmp", "profiles/rpi4.yaml", "../x.json", [], {}, [1], ["prune"], {"width": 0.5},
    {"width": 0}, {"width": 2}, {"width": "0.5"}, {"teacher": "a", "student": "b"},
]

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(EDGE_VALUES[:60]))
keys = st.sampled_from(VOCABULARY) | st.text(max_size=8)
structures = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25)

RICH = {
    "version": 1, "name": "rich", "seed": 3,
    "stages": [
        {"kind": "distill", "student": "self", "temperature": 2.0, "alpha": 0.5,
         "later_stages": ["prune"], "features": [{"teacher": "a", "student": "b",
                                                  "weight": 0.5}],
         "augment": {"shift": 2, "flip": True, "mixup": 0.2}},
        {"kind": "prune", "final_sparsity": 0.6, "initial_sparsity": 0.1,
         "schedule": "polynomial", "epochs": 2, "frequency": 10, "end_fraction": 0.8,
         "learning_rate": 1e-3, "layers": {"include": ["conv*"], "exclude": ["fc2"],
                                           "types": ["Conv2D", "Dense"]}},
        {"kind": "finetune", "epochs": 1, "learning_rate": 1e-4},
        {"kind": "qat", "epochs": 1, "preserve_sparsity": True, "layers": {"exclude": ["x"]}},
    ],
    "targets": ["float32", {"format": "int8", "io_dtype": "uint8", "name": "u8"},
                {"device": "coral-usb"}, "rpi4"],
    "training": {"batch_size": 32, "learning_rate": 1e-4, "validation_fraction": 0.1},
    "calibration": {"samples": 100},
    "benchmark": {"warmup": 2, "runs": 10, "threads": 1},
}
SEEDS = [*BUILTIN_RECIPES.values(), RICH,
         {"name": "new-student", "stages": [{"kind": "distill", "student": {"width": 0.5}},
                                            {"kind": "prune", "structure": "2:4"}],
          "targets": ["int16x8"]}]


def _check(data) -> None:
    """Load ``data``: a RecipeError is fine; a Recipe must round-trip through to_dict."""
    try:
        recipe = Recipe.from_dict(data)
    except RecipeError as exc:
        assert str(exc)  # a message the CLI can print
        event("RecipeError")
        return
    event("loaded")
    _check_usable(recipe)
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    yaml.safe_load(dump_recipe(recipe))  # resolved.yaml is written for every run


def _numbers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)


def _check_usable(recipe: Recipe) -> None:
    """What loads must also run: finite numbers, int64-sized integers, a seed numpy takes."""
    for number in _numbers(recipe.to_dict()):
        assert math.isfinite(number), recipe.to_dict()
        assert -(2 ** 63) <= number < 2 ** 63, recipe.to_dict()
    # Stage i is seeded with seed + i (numpy.random.seed takes [0, 2**32)).
    assert 0 <= recipe.seed and recipe.seed + len(recipe.stages) < 2 ** 32


def _paths(value, prefix=()):
    """Every (path, container) position in a nested structure: dict keys and list indices."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_recipes(draw):
    # Every drawn value is copied: mutating a shared constant would change later draws.
    def fresh(strategy):
        return copy.deepcopy(draw(strategy))

    data = fresh(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "edge"]))
        if not path:  # the top level itself
            if action == "add":
                data[draw(keys)] = fresh(structures)
            continue
        last = path[-1]
        if action == "delete":
            del parent[last]
        elif action == "add":
            target = parent[last]
            if isinstance(target, dict):
                target[draw(keys)] = fresh(st.sampled_from(EDGE_VALUES) | structures)
            elif isinstance(target, list):
                target.append(fresh(st.sampled_from(EDGE_VALUES) | structures))
            else:
                parent[last] = fresh(structures)
        elif action == "edge":
            parent[last] = fresh(st.sampled_from(EDGE_VALUES))
        else:
            parent[last] = fresh(structures)
    return data


@given(structures)
def test_arbitrary_structures(data):
    _check(data)


@given(st.dictionaries(keys, structures, max_size=8))
def test_arbitrary_top_level_mappings(data):
    _check(data)


@given(mutated_recipes())
def test_mutated_recipes(data):
    _check(data)


def _mangle(text: str, draw) -> str:
    chars = list(text)
    for _ in range(draw(st.integers(0, 4))):
        if not chars:
            break
        i = draw(st.integers(0, len(chars) - 1))
        op = draw(st.sampled_from(["flip", "delete", "insert", "cut"]))
        if op == "cut":
            chars = chars[:i]
        elif op == "delete":
            del chars[i]
        else:
            c = draw(st.sampled_from(list(":-[]{}&*!|>'\"#%@`,?\n\t 0.5e") + ["\x00", "\ud800"])
                     | st.characters())
            if op == "flip":
                chars[i] = c
            else:
                chars.insert(i, c)
    return "".join(chars)


@st.composite
def recipe_texts(draw):
    suffix = draw(st.sampled_from([".yaml", ".yml", ".json"]))
    source = copy.deepcopy(draw(mutated_recipes() if draw(st.integers(0, 3)) else structures))
    try:
        text = json.dumps(source) if suffix == ".json" and draw(st.booleans()) \
            else yaml.safe_dump(source, sort_keys=False)
    except ValueError:
        text = str(source)
    if draw(st.integers(0, 2)) == 0:
        text = _mangle(text, draw)
    if draw(st.integers(0, 9)) == 0:
        text = draw(st.text(max_size=200))
    return suffix, text


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recipe_texts(), st.booleans())
def test_recipe_files(tmp_path, case, as_bytes):
    suffix, text = case
    path = tmp_path / f"recipe{suffix}"
    raw = text.encode("utf-8", errors="surrogatepass")
    if as_bytes:  # invalid UTF-8 (a lone surrogate, or a flipped high byte)
        raw = raw.replace(b"e", b"\xe9", 1)
    path.write_bytes(raw)
    try:
        recipe = load_recipe(path)
    except RecipeError as exc:
        assert str(exc)
        event("RecipeError")
        return
    event("loaded")
    _check_usable(recipe)
    assert Recipe.from_dict(recipe.to_dict()) == recipe


def test_seeds_are_valid():
    """The mutation seeds load: mutations start from recipes that pass."""
    for data in SEEDS:
        Recipe.from_dict(data)


# --- regressions: what the fuzzing found ------------------------------------------------------

def test_yaml_alias_bomb_gives_a_short_message(tmp_path):
    """A few lines of YAML aliases expand to 9**9 items; the message must not repr them all."""
    lines = ["version: 1", "seed:", "  - &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecipeError, match="seed: must be an integer") as info:
        load_recipe(path)
    assert len(str(info.value)) < 500


@pytest.mark.parametrize("target, match", [
    ({"format": [{"a": 1}]}, r"targets\[0\]: unknown target format"),  # was a TypeError
    ({"format": "int8", "name": {"a": [1, 2]}}, r"targets\[0\]\.name: must be a string"),
    ({"device": ["rpi4"]}, r"targets\[0\]\.device: must be a string"),
    ({"device": "rpi4", "format": ["int8"]}, r"targets\[0\]\.format: must be a format name"),
])
def test_target_fields_of_the_wrong_type(target, match):
    with pytest.raises(RecipeError, match=match):
        Recipe.from_dict({"name": "x", "targets": [target]})


@pytest.mark.parametrize("data, match", [
    ({"seed": 2 ** 64}, r"seed: must be a finite number within int64 range"),
    ({"seed": -1}, r"seed: must be in \[0, 2147483647\]. Received: seed=-1"),
    ({"seed": 2 ** 32}, r"seed: must be in \[0, 2147483647\]"),
    ({"training": {"learning_rate": math.inf}}, r"training\.learning_rate: must be a finite"),
    ({"stages": [{"kind": "distill", "temperature": math.inf}]}, r"temperature: must be a finite"),
    ({"stages": [{"kind": "prune", "epochs": 10 ** 30}]}, r"epochs: must be a finite"),
    ({"benchmark": {"runs": 2 ** 70}}, r"benchmark\.runs: must be a finite"),
])
def test_numbers_must_be_finite_and_fit_int64(data, match):
    with pytest.raises(RecipeError, match=match):
        Recipe.from_dict({"name": "x", **data})


def test_unquoted_structure_hints_at_yaml_base_60(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nstages:\n  - kind: prune\n    structure: 2:4\n")  # YAML: 124
    with pytest.raises(RecipeError, match=r"structure: must be a string .* structure=124") as info:
        load_recipe(path)
    assert "quote it" in info.value.hint
