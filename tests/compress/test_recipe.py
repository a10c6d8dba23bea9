"""Recipe loading: the contract file, strictness, round trips, every user-facing error."""

from __future__ import annotations

import json
import textwrap

import pytest

from compress.errors import RecipeError
from compress.recipe import Recipe, dump_recipe, load_recipe

CONTRACT = textwrap.dedent("""\
    version: 1
    name: prune50-qat-int8
    stages:
      - kind: prune
        final_sparsity: 0.5
        schedule: polynomial
        epochs: 2
      - kind: qat
        epochs: 1
    targets: [float32, int8]
    """)


def test_contract_recipe_loads(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(CONTRACT)
    recipe = load_recipe(path)
    assert recipe.name == "prune50-qat-int8"
    assert [s.kind for s in recipe.stages] == ["prune", "qat"]
    assert recipe.stages[0].final_sparsity == 0.5
    assert recipe.stages[0].epochs == 2
    assert [t.name for t in recipe.targets] == ["float32", "int8"]


def test_round_trip_yaml_and_json(tmp_path):
    recipe = Recipe.from_dict({"name": "x", "stages": [
        {"kind": "prune", "structure": "2:4", "epochs": 1,
         "layers": {"include": ["conv*"], "types": ["Conv2D"]}},
        {"kind": "finetune", "epochs": 1, "learning_rate": 1e-4},
        {"kind": "qat", "epochs": 1}],
        "targets": ["float16", {"format": "int8", "io_dtype": "uint8"}]})
    import yaml

    assert Recipe.from_dict(yaml.safe_load(dump_recipe(recipe))) == recipe
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe.to_dict()))
    assert load_recipe(path) == recipe
    assert recipe.stages[0].final_sparsity == pytest.approx(0.5)
    assert recipe.targets[1].name == "int8-uint8io"


@pytest.mark.parametrize("data, match", [
    ({"name": "x", "stages": [{"kind": "prune", "final_sparsty": 0.5}]},
     r"stages\[0\]\.final_sparsty: unknown key"),
    ({"name": "x", "stagse": []}, r"stagse: unknown key"),
    ({"name": "x", "stages": [{"kind": "prune", "final_sparsity": 1.2}]},
     r"final_sparsity must be in \[0, 1\)\. Received: final_sparsity=1\.2"),
    ({"name": "x", "stages": [{"kind": "prune", "schedule": "cubic"}]},
     r"Received: schedule='cubic'"),
    ({"name": "x", "stages": [{"kind": "prnue"}]}, r"Received: kind='prnue'"),
    ({"name": "x", "stages": [{"final_sparsity": 0.5}]}, r"stages\[0\]: a stage needs 'kind'"),
    ({"name": "x", "targets": ["int9"]}, r"targets\[0\]: unknown target profile. Received: .int9."),
    ({"name": "x", "targets": [{"format": "int9"}]}, r"targets\[0\]: unknown target format"),
    ({"name": "x", "targets": [{"device": "rpi4", "format": "int16x8"}]}, r"does not run format int16x8"),
    ({"name": "x", "targets": []}, r"at least one target"),
    ({"name": "x", "targets": ["int8", "int8"]}, r"duplicate target names"),
    ({"name": "x", "targets": [{"format": "float16", "io_dtype": "uint8"}]},
     r"io_dtype applies to the int8 format only"),
    ({"name": "x", "stages": [{"kind": "prune", "structure": "4:2"}]},
     r"structure must be 'm:n'"),
    ({"name": "x", "stages": [{"kind": "prune", "epochs": 0}]}, r"epochs >= 1"),
    ({"name": "x", "stages": [{"kind": "qat", "epochs": "two"}]}, r"must be an integer"),
    ({"name": "x", "stages": [{"kind": "qat"}, {"kind": "prune"}]}, r"prune cannot follow qat"),
    ({"name": "x", "stages": [{"kind": "prune", "layers": {"types": ["LSTM"]}}]},
     r"'LSTM' is not a prunable layer type"),
    ({"version": 2, "name": "x"}, r"unsupported recipe version"),
    ([1, 2], r"mapping"),
])
def test_recipe_errors(data, match):
    with pytest.raises(RecipeError, match=match):
        Recipe.from_dict(data) if isinstance(data, dict) else Recipe.from_dict(data)


def test_unknown_key_suggests_close_match():
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({"name": "x", "stages": [{"kind": "prune", "final_sparsty": 0.5}]})
    assert info.value.hint == "did you mean 'final_sparsity'?"


def test_missing_and_unparsable_files(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [kind: prune\n")
    with pytest.raises(RecipeError, match="cannot parse recipe"):
        load_recipe(bad)


def test_layer_selection_patterns():
    from compress.recipe import LayerSelection

    sel = LayerSelection(include=("conv*",), exclude=("conv1a",), types=("Conv2D",))
    assert sel.matches("conv2a", "Conv2D")
    assert not sel.matches("conv1a", "Conv2D")
    assert not sel.matches("fc1", "Dense")
    assert LayerSelection(include=(r"conv\d+b",)).matches("conv2b", "Conv2D")
