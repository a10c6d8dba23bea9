"""Distillation: recipe syntax and errors, width-scaled students, the Distiller's loss, and the
distill stage through the session (student self with prune, width students through QAT/export,
user students from files, the callback API)."""

from __future__ import annotations

import numpy as np
import pytest

from compress.errors import RecipeError, UnsupportedLayerError
from compress.recipe import DistillStage, Recipe, WidthStudent
from tests.conftest import seeded


def _keras():
    from compress._keras import keras

    return keras


def _cnn(width=16, *, name="teacher", classes=4, softmax=None, dropout=0.0):
    """A tiny Conv-BN-ReLU CNN; ``softmax``: None (logits), "layer" or "fused"."""
    keras = _keras()
    inp = keras.Input((12, 12, 1), name="image")
    x = keras.layers.Conv2D(width, 3, use_bias=False, name="conv1")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(width * 2, 3, strides=2, name="conv2")(x)
    x = keras.layers.ReLU(name="relu2")(x)
    x = keras.layers.Flatten(name="flat")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="drop")(x)
    x = keras.layers.Dense(width * 2, activation="relu", name="fc1")(x)
    out = keras.layers.Dense(classes, activation="softmax" if softmax == "fused" else None,
                             name="logits")(x)
    if softmax == "layer":
        out = keras.layers.Softmax(name="probs")(out)
    return keras.Model(inp, out, name=name)


def _data(n=64, classes=4, seed=0):
    x = seeded(n, (12, 12, 1), seed)
    return x, np.arange(n) % classes


def _train(recipe, model, n=64):
    from compress.session import Session

    x, y = _data(n, model.outputs[0].shape[-1])
    return Session({"name": "d", "training": {"batch_size": 16}, **recipe}).train(model, x, y)


# -- recipe --------------------------------------------------------------------------------

def test_recipe_defaults_and_round_trip():
    recipe = Recipe.from_dict({"name": "d", "stages": [
        {"kind": "distill", "student": {"width": 0.5}, "temperature": 2,
         "features": [{"teacher": "conv2", "student": "conv2"}]},
        {"kind": "prune", "final_sparsity": 0.75}, {"kind": "qat"}]})
    stage = recipe.stages[0]
    assert stage == DistillStage(student=WidthStudent(0.5), temperature=2.0, epochs=5,
                                 learning_rate=1e-3, features=stage.features)
    assert stage.features[0].weight == 1.0
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    assert recipe.to_dict()["stages"][0]["student"] == {"width": 0.5}
    self_stage = Recipe.from_dict({"name": "d", "stages": [{"kind": "distill"}]}).stages[0]
    assert (self_stage.student, self_stage.epochs, self_stage.learning_rate) == ("self", 0, None)
    assert self_stage.later_stages == ("prune", "finetune", "prune_channels")
    every = Recipe.from_dict({"name": "d", "stages": [{"kind": "distill", "later_stages": True}]})
    assert every.stages[0].later_stages == ("prune", "qat", "finetune", "prune_channels")
    assert every.to_dict()["stages"][0]["later_stages"] == ["prune", "qat", "finetune",
                                                            "prune_channels"]
    path_stage = DistillStage.from_dict({"kind": "distill", "student": "my.mod:student"}, "s")
    assert path_stage.new_student and path_stage.epochs == 5


@pytest.mark.parametrize("stage, message", [
    ({"temperature": 0}, r"temperature must be > 0. Received: temperature=0"),
    ({"temperature": -1.5}, r"Received: temperature=-1.5"),
    ({"alpha": 1.5}, r"alpha must be in \[0, 1\]. Received: alpha=1.5"),
    ({"student": {"width": 0}}, r"student width must be in \(0, 1\]. Received: width=0"),
    ({"student": {"width": 2}}, r"Received: width=2"),
    ({"student": {}}, r"needs 'width'. Received: student={}"),
    ({"student": 3}, r"Received: student=3"),
    ({"student": {"width": 0.5}, "epochs": 0}, r"epochs >= 1 .* Received: epochs=0"),
    ({"features": [{"teacher": "a"}]}, r"features\[0\].student: must be a layer name. "
                                       r"Received: student=None"),
    ({"features": [{"teacher": "a", "student": "b", "weight": -1}]},
     r"Received: weight=-1"),
    ({"later_stages": "yes"}, r"Received: later_stages='yes'"),
    ({"later_stages": ["prune", "qta"]}, r"later_stages\[1\]: must be one of prune, qat, "
                                         r"finetune, prune_channels. Received: "
                                         r"later_stages\[1\]='qta'"),
])
def test_recipe_errors_say_what_was_received(stage, message):
    with pytest.raises(RecipeError, match=message) as info:
        Recipe.from_dict({"name": "d", "stages": [{"kind": "distill", **stage}]})
    assert info.value.message.startswith("stages[0]")


def test_recipe_unknown_key_suggests_and_stage_order_is_checked():
    with pytest.raises(RecipeError, match=r"stages\[0\].temprature: unknown key") as info:
        Recipe.from_dict({"name": "d", "stages": [{"kind": "distill", "temprature": 2}]})
    assert "temperature" in info.value.hint
    with pytest.raises(RecipeError, match="must come before prune and qat. Received stage"):
        Recipe.from_dict({"name": "d", "stages": [
            {"kind": "prune"}, {"kind": "distill", "student": {"width": 0.5}}]})
    with pytest.raises(RecipeError, match="at most one distill stage. Received: 2"):
        Recipe.from_dict({"name": "d", "stages": [{"kind": "distill"}, {"kind": "distill"}]})
    # student: self may follow prune (fine-tune the pruned model with distillation)
    Recipe.from_dict({"name": "d", "stages": [{"kind": "prune"}, {"kind": "distill", "epochs": 1}]})


# -- width-scaled students -----------------------------------------------------------------

def test_scaled_channels_rounds_to_multiples_of_8():
    from compress.engines.distiller import scaled_channels

    assert [scaled_channels(c, 0.5) for c in (32, 64, 128, 24, 8, 4)] == [16, 32, 64, 16, 8, 4]
    assert scaled_channels(100, 0.25) == 24 and scaled_channels(96, 1.0) == 96


def test_scale_width_keeps_topology_classifier_and_depthwise():
    from compress.engines.distiller import scale_width

    keras = _keras()
    inp = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Conv2D(32, 3, name="stem")(inp)
    x = keras.layers.DepthwiseConv2D(3, name="dw")(x)
    x = keras.layers.SeparableConv2D(64, 3, name="sep")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(48, name="fc")(x)
    out = keras.layers.Softmax(name="probs")(keras.layers.Dense(10, name="head")(x))
    teacher = keras.Model(inp, out)
    student = scale_width(teacher, 0.5)
    shape = {layer.name: layer.output_shape[-1] for layer in student.layers}
    assert (shape["stem"], shape["dw"], shape["sep"], shape["fc"], shape["head"]) == \
        (16, 16, 32, 24, 10)
    assert [layer.name for layer in student.layers] == [layer.name for layer in teacher.layers]
    assert student.input_shape == teacher.input_shape and student.count_params() < \
        teacher.count_params() / 2
    # fresh weights, not a copy of the teacher's
    assert not np.allclose(student.get_layer("head").kernel.numpy()[:24],
                           teacher.get_layer("head").kernel.numpy()[:24])


def test_scale_width_names_the_layer_that_cannot_be_scaled():
    from compress.engines.distiller import scale_width

    keras = _keras()
    inp = keras.Input((16,))
    x = keras.layers.Dense(64, name="expand")(inp)
    x = keras.layers.Reshape((8, 8), name="fixed_reshape")(x)
    out = keras.layers.Dense(3, name="head")(keras.layers.Flatten()(x))
    with pytest.raises(UnsupportedLayerError, match=r"layer 'fixed_reshape' \(Reshape\).*"
                                                    r"Received: width=0.5") as info:
        scale_width(keras.Model(inp, out), 0.5)
    assert "student: path/to/student.keras" in info.value.hint

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(UnsupportedLayerError, match="subclassed model. Received: Sub"):
        scale_width(Sub(name="sub"), 0.5)


# -- the Distiller --------------------------------------------------------------------------

def _np_losses(y, s_logits, t_logits, temp):
    def log_softmax(z):
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    ce = -log_softmax(s_logits)[np.arange(len(y)), y].mean()
    t, s = log_softmax(t_logits / temp), log_softmax(s_logits / temp)
    kl = (np.exp(t) * (t - s)).sum(axis=-1).mean() * temp ** 2
    return ce, kl


def test_distiller_loss_matches_the_formula_and_reads_before_softmax():
    from compress.engines.distiller import Distiller

    keras = _keras()
    x, y = _data(32)
    teacher_logits = _cnn(name="t")
    student_logits = _cnn(8, name="s")
    t = np.asarray(teacher_logits(x, training=False))
    s = np.asarray(student_logits(x, training=False))
    ce, kl = _np_losses(y, s, t, 3.0)
    results = {}
    for variant in (None, "layer", "fused"):  # the same networks, with a softmax at the end
        teacher = _cnn(name="t", softmax=variant if variant != "fused" else "layer")
        teacher.set_weights(teacher_logits.get_weights())
        student = _cnn(8, name="s", softmax=variant)
        student.set_weights(student_logits.get_weights())
        distiller = Distiller(student, teacher, temperature=3.0, alpha=0.25)
        distiller.compile(optimizer="adam", metrics=["accuracy"])
        results[variant] = distiller.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
        assert distiller.describe()["student_output"] == \
            ("log-probabilities" if variant == "fused" else "logits")
    for variant, got in results.items():
        assert got["student_loss"] == pytest.approx(ce, rel=1e-4), variant
        assert got["distillation_loss"] == pytest.approx(kl, rel=1e-3, abs=1e-5), variant
        assert got["loss"] == pytest.approx(0.25 * ce + 0.75 * kl, rel=1e-3), variant
        assert got["accuracy"] == pytest.approx(np.mean(s.argmax(-1) == y)), variant


def test_distiller_trains_student_only_with_teacher_in_inference_mode():
    from compress.engines.distiller import Distiller

    teacher = _cnn(name="t", dropout=0.9)  # in training mode its outputs would be random
    student = _cnn(8, name="s")
    before_t = [w.copy() for w in teacher.get_weights()]  # includes BN moving statistics
    before_s = [w.copy() for w in student.get_weights()]
    distiller = Distiller(student, teacher, temperature=2.0, alpha=0.0)
    distiller.compile(optimizer=_keras().optimizers.Adam(1e-2), metrics=["accuracy"])
    x, y = _data(32)
    history = distiller.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    for a, b in zip(before_t, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(before_s, student.get_weights()))
    assert history["distillation_loss"][-1] < history["distillation_loss"][0]
    assert set(history) == {"loss", "student_loss", "distillation_loss", "accuracy"}
    np.testing.assert_allclose(distiller.predict(x, verbose=0), student.predict(x, verbose=0))


def test_distiller_rejects_mismatched_shapes_and_unknown_feature_layers():
    from compress.engines.distiller import Distiller

    with pytest.raises(RecipeError, match=r"output shape differs.*Received: student output "
                                          r"shape=\(3,\), teacher output shape=\(4,\)"):
        Distiller(_cnn(8, name="s", classes=3), _cnn(name="t"))
    with pytest.raises(RecipeError, match=r"student has no layer 'conv3'. Received") as info:
        Distiller(_cnn(8, name="s"), _cnn(name="t"), features=[("conv2", "conv3", 1.0)])
    assert "conv2" in info.value.hint
    with pytest.raises(UnsupportedLayerError, match=r"differ in more than channels.*'conv1' "
                                                    r"shape=\(10, 10, 16\).*'conv2'"):
        Distiller(_cnn(8, name="s"), _cnn(name="t"), features=[("conv1", "conv2", 1.0)])


def test_feature_distillation_projects_channels():
    from compress.engines.distiller import Distiller

    distiller = Distiller(_cnn(8, name="s"), _cnn(name="t"), alpha=0.5,
                          features=[("conv2", "conv2", 2.0), ("conv1", "conv1", 0.5)])
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    x, y = _data(32)
    history = distiller.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    assert history["feature_loss"][-1] > 0
    described = distiller.describe()["features"]
    assert [f["projection"] for f in described] == [True, True]
    same = Distiller(_cnn(16, name="s"), _cnn(name="t"), features=[("conv2", "conv2", 1.0)])
    assert same.describe()["features"][0]["projection"] is False


def test_new_students_get_a_cosine_learning_rate_decay():
    from compress.engines import get_engine
    from compress.stages.base import StageContext
    from compress.stages.distill import Distill

    ctx = StageContext(steps_per_epoch=1, engine=get_engine("tfmot"))
    assert Distill(DistillStage()).callbacks(ctx) == []
    (decay,) = Distill(DistillStage(student=WidthStudent(0.5), epochs=4)).callbacks(ctx)
    model = _cnn(8, name="s")
    model.compile(optimizer=_keras().optimizers.Adam(1e-3), loss="mse")
    decay.set_model(model)
    decay.on_train_begin()
    rates = []
    for epoch in range(4):
        decay.on_epoch_begin(epoch)
        rates.append(float(model.optimizer.learning_rate.numpy()))
    np.testing.assert_allclose(rates, [1e-3, 8.5355e-4, 5e-4, 1.4645e-4], rtol=1e-4)
    decay.on_train_end()
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-3)


# -- through the session ---------------------------------------------------------------------

def test_student_self_distils_during_prune_and_reaches_target_sparsity():
    trained = _train({"stages": [{"kind": "distill"},  # student self, epochs 0
                                 {"kind": "prune", "final_sparsity": 0.75, "epochs": 2}]},
                     _cnn(name="t"))
    distill, prune = trained.stages
    assert distill.epochs == 0 and distill.details["student"] == "self"
    assert distill.details["teacher_params"] == distill.details["student_params"]
    # UpdatePruningStep found the wrappers through the Distiller
    assert prune.details["measured_sparsity"] == pytest.approx(0.75, abs=0.01)
    kernel = trained.float_model.get_layer("fc1").kernel.numpy()
    assert np.mean(kernel == 0) == pytest.approx(0.75, abs=0.01)
    assert prune.details["distillation"]["temperature"] == 2.0
    assert len(prune.history["distillation_loss"]) == 2
    assert not any(type(layer).__name__ == "Distiller" for layer in trained.float_model.layers)


def test_width_student_is_trained_then_quantized():
    trained = _train({"stages": [
        {"kind": "distill", "student": {"width": 0.5}, "epochs": 1, "later_stages": ["qat"],
         "features": [{"teacher": "conv2", "student": "conv2", "weight": 0.1}]},
        {"kind": "qat", "epochs": 1}]}, _cnn(32, name="t"))
    distill, qat = trained.stages
    details = distill.details
    assert details["student"] == "width=0.5"
    assert details["scaled_layers"] == {"conv1": [32, 16], "conv2": [64, 32], "fc1": [64, 32]}
    assert details["student_params"] < details["teacher_params"] / 3
    assert 0 < details["student_macs"] < details["teacher_macs"] / 3
    assert set(distill.history) >= {"loss", "student_loss", "distillation_loss",
                                    "feature_loss", "accuracy"}
    assert trained.float_model.get_layer("conv2").filters == 32
    assert "feature_loss" in qat.history  # later_stages: [qat] keeps distilling in QAT
    assert qat.details["distillation"]["teacher_clipped_to_student_output_range"] is True
    assert distill.details["teacher_clipped_to_student_output_range"] is False
    assert any("quant" in layer.name for layer in trained.quant_model.layers)


def test_user_student_from_file_and_mismatch_error(tmp_path):
    student = _cnn(8, name="mine")
    student.save(str(tmp_path / "student.keras"))
    trained = _train({"stages": [{"kind": "distill", "student": str(tmp_path / "student.keras"),
                                  "epochs": 1, "later_stages": False}]}, _cnn(name="t"))
    assert trained.float_model.name == "mine"
    assert trained.stages[0].details["student_params"] == student.count_params()
    _cnn(8, name="three", classes=3).save(str(tmp_path / "three.keras"))
    with pytest.raises(RecipeError, match=r"Received: student output shape=\(3,\), "
                                          r"teacher output shape=\(4,\)"):
        _train({"stages": [{"kind": "distill", "student": str(tmp_path / "three.keras")}]},
               _cnn(name="t"))


@pytest.mark.slow
def test_width_student_exports_through_compress_model(tmp_path, small_data, tiny_model_path):
    from compress.pipeline import compress_model

    recipe = {"name": "distill-w05", "stages": [
        {"kind": "distill", "student": {"width": 0.5}, "epochs": 1},
        {"kind": "prune", "final_sparsity": 0.5, "epochs": 1}, {"kind": "qat", "epochs": 1}],
        "targets": ["float32", "int8"], "benchmark": {"warmup": 1, "runs": 3}}
    report = compress_model(str(tiny_model_path), recipe, data=small_data,
                            out_dir=tmp_path / "out").report
    distill = report["stages"][0]
    assert distill["student_params"] < distill["teacher_params"]
    assert report["stages"][1]["distillation"]["alpha"] == 0.5
    int8 = next(a for a in report["artifacts"] if a["target"] == "int8")
    assert int8["sparsity"] == pytest.approx(0.5, abs=0.02) and int8["accuracy"] > 0.3


@pytest.mark.slow
def test_callback_api_drives_a_first_distill_stage(tmp_path, small_data):
    import compress
    from compress import zoo
    from compress.engines.distiller import Distiller

    teacher = zoo.fashion_cnn(small_data.x_train.shape[1:], small_data.num_classes, width=16,
                              dense_units=32)
    session = compress.Session({"name": "cb", "stages": [
        {"kind": "distill", "student": {"width": 0.5}}, {"kind": "finetune", "epochs": 1}],
        "targets": ["float32"], "benchmark": {"warmup": 1, "runs": 3}}, data=small_data)
    model = session.prepare(teacher)
    assert isinstance(model, Distiller)
    model.compile(optimizer="adam", metrics=["accuracy"])
    model.fit(small_data.x_train, small_data.y_train, epochs=1, batch_size=64, verbose=0,
              callbacks=[session.callback()])
    report = session.finalize(model, out_dir=tmp_path / "out").report
    assert report["stages"][0]["kind"] == "distill"
    assert "distillation_loss" in report["stages"][0]["history"]
    assert "distillation" in report["stages"][1]
    assert report["artifacts"][0]["params"] < report["baseline"]["params"]


def test_temperature_and_alpha_defaults_depend_on_the_student():
    own = DistillStage.from_dict({"kind": "distill"}, "s")
    new = DistillStage.from_dict({"kind": "distill", "student": {"width": 0.5}}, "s")
    assert (own.temperature, own.alpha) == (2.0, 0.5)
    assert (new.temperature, new.alpha) == (4.0, 0.1)
    given = DistillStage.from_dict({"kind": "distill", "student": {"width": 0.5},
                                    "temperature": 3, "alpha": 0.3}, "s")
    assert (given.temperature, given.alpha) == (3.0, 0.3)
    with pytest.raises(RecipeError, match="temperature must be > 0. Received: temperature=0"):
        DistillStage.from_dict({"kind": "distill", "temperature": 0}, "s")


# -- augmentation ("consistent teaching") --------------------------------------------------

@pytest.mark.parametrize("stage, message", [
    ({"augment": {"shift": -1}}, r"augment.shift: must be in \[0, 64\] pixels. Received: shift=-1"),
    ({"augment": {"shift": 1.5}}, r"augment.shift: must be an integer. Received: shift=1.5"),
    ({"augment": {"flip": 1}}, r"augment.flip: must be true or false. Received: flip=1"),
    ({"augment": {"mixup": -0.2}}, r"augment.mixup: must be >= 0 \(0 = off\). Received: "
                                   r"mixup=-0.2"),
    ({"augment": "shift=2"}, r"augment: must be a mapping .* Received: augment='shift=2'"),
    ({"augment": {"shfit": 2}}, r"augment.shfit: unknown key"),
])
def test_augment_recipe_errors_say_what_was_received(stage, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.from_dict({"name": "d", "stages": [{"kind": "distill", **stage}]})


def test_augment_recipe_round_trip_and_off_by_default():
    from compress.recipe import Augment

    recipe = Recipe.from_dict({"name": "d", "stages": [
        {"kind": "distill", "student": {"width": 0.5},
         "augment": {"shift": 2, "flip": True, "mixup": 0.2}}]})
    assert recipe.stages[0].augment == Augment(shift=2, flip=True, mixup=0.2)
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    off = Recipe.from_dict({"name": "d", "stages": [{"kind": "distill", "augment": {}}]})
    assert off.stages[0].augment is None and DistillStage().augment is None


def test_augment_batch_is_seeded_keeps_shapes_and_mixes_labels():
    from compress.engines.distiller import augment_batch

    x, y = _data(16)
    shifted, y_train, y_metric = augment_batch(x, y, {"shift": 2, "flip": True}, seed=3, step=5)
    shifted = np.asarray(shifted)
    assert shifted.shape == x.shape and shifted.dtype == x.dtype
    assert not np.allclose(shifted, x)
    assert y_train is y and y_metric is y
    again, _, _ = augment_batch(x, y, {"shift": 2, "flip": True}, seed=3, step=5)
    np.testing.assert_array_equal(shifted, np.asarray(again))
    other, _, _ = augment_batch(x, y, {"shift": 2, "flip": True}, seed=3, step=6)
    assert not np.allclose(shifted, np.asarray(other))
    mixed, y_train, y_metric = augment_batch(x, y, {"mixup": 1.0}, seed=0, step=0,
                                             num_classes=4)
    y_train, y_metric = np.asarray(y_train), np.asarray(y_metric)
    assert np.asarray(mixed).shape == x.shape and y_train.shape == (16, 4)
    np.testing.assert_allclose(y_train.sum(-1), 1.0, rtol=1e-6)
    assert (y_train.max(-1) < 1.0).any()  # some labels really are mixed
    np.testing.assert_array_equal(y_metric, y_train.argmax(-1))


def test_distiller_trains_on_augmented_batches_and_evaluates_clean():
    from compress.engines.distiller import Distiller

    keras = _keras()
    teacher, student = _cnn(name="t"), _cnn(8, name="s")
    x, y = _data(32)
    distiller = Distiller(student, teacher, temperature=2.0, alpha=1.0,
                          augment={"shift": 1, "flip": True, "mixup": 0.4}, seed=1)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all() and "accuracy" in history
    assert distiller.describe()["augment"] == {"shift": 1, "flip": True, "mixup": 0.4}
    # evaluate is never augmented: its accuracy is the student's on the clean inputs
    got = distiller.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    clean = np.mean(np.asarray(student(x, training=False)).argmax(-1) == y)
    assert got["accuracy"] == pytest.approx(clean)
    dense = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    with pytest.raises(RecipeError, match=r"shift and flip need image inputs.*Received: "
                                          r"input shape=\(None, 6\)"):
        Distiller(dense, keras.models.clone_model(dense), augment={"flip": True})


def test_width_student_stage_with_augment_records_it():
    trained = _train({"stages": [{"kind": "distill", "student": {"width": 0.5}, "epochs": 1,
                                  "augment": {"shift": 1, "flip": True}}]},
                     _cnn(name="t"))
    assert trained.stages[0].details["augment"] == {"shift": 1, "flip": True, "mixup": 0.0}
