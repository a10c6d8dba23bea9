"""A new technique is one module plus one registry entry: ``STAGES[kind] = StageClass``.

The stage below lives outside the package (tests/compress/plugin/round_weights.py); once
registered, the recipe loader validates it, the order rule it declares is enforced, and the
session runs it in a recipe next to built-in stages, end to end to a report.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from compress.errors import RecipeError
from compress.recipe import load_recipe
from compress.stages import STAGES
from tests.compress.plugin.round_weights import RoundWeights


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(STAGES, "round_weights", RoundWeights)


def test_unregistered_kind_is_refused_with_the_known_kinds():
    with pytest.raises(RecipeError, match="stages\\[0\\].kind.*Received"):
        load_recipe({"stages": [{"kind": "round_weights"}]})


def test_registered_stage_is_validated_by_the_recipe_loader(registered):
    recipe = load_recipe({"stages": [{"kind": "round_weights", "decimals": 3}]})
    assert recipe.stages[0].decimals == 3
    assert recipe.to_dict()["stages"][0] == {"kind": "round_weights", "decimals": 3,
                                             "epochs": 0, "learning_rate": None}
    with pytest.raises(RecipeError, match=r"stages\[0\].decimal.*unknown key"):
        load_recipe({"stages": [{"kind": "round_weights", "decimal": 3}]})
    with pytest.raises(RecipeError, match=r"stages\[0\]: decimals must be in \[0, 6\]"):
        load_recipe({"stages": [{"kind": "round_weights", "decimals": 9}]})


def test_registered_stage_declares_its_order_rule(registered):
    with pytest.raises(RecipeError, match="round_weights must come before qat"):
        load_recipe({"stages": [{"kind": "qat"}, {"kind": "round_weights"}]})


def test_registered_stage_runs_in_a_recipe(registered, tiny_model_path, small_data, tmp_path):
    from compress.pipeline import compress_model

    recipe = {"name": "plugin", "stages": [{"kind": "finetune", "epochs": 1},
                                           {"kind": "round_weights", "decimals": 1}],
              "targets": ["float32"], "benchmark": {"warmup": 1, "runs": 3}}
    result = compress_model(str(tiny_model_path), recipe, data=small_data,
                            out_dir=tmp_path / "run", test_samples=64)
    report = json.loads((result.out_dir / "report.json").read_text())
    stage = report["stages"][1]
    assert stage["kind"] == "round_weights" and stage["decimals"] == 1
    assert stage["changed_weights"] > 0
    kernel = result.model.get_layer("conv1").kernel.numpy()
    np.testing.assert_array_equal(kernel, np.round(kernel, 1))
    assert report["artifacts"][0]["accuracy"] is not None
