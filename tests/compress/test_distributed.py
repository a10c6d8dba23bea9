"""MirroredStrategy over two logical CPU devices, for real (in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, sys
    from compress import _keras
    tf, keras = _keras.tf, _keras.keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import compress
    from calibration import sources
    from compress import zoo
    data = sources.subsample(sources.load_dataset("fashion-mnist-subset"), train=1024, test=256)
    recipe = {"name": "p50", "stages": [{"kind": "prune", "final_sparsity": 0.5, "epochs": 2}],
              "targets": ["int8"], "benchmark": {"warmup": 1, "runs": 3}}
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out = {"replicas": strategy.num_replicas_in_sync}
    with strategy.scope():
        model = zoo.fashion_cnn(width=8, dense_units=32)
    session = compress.Session(recipe, data=data)
    try:
        session.prepare(model)
    except compress.CompressError as exc:
        out["outside_scope_error"] = str(exc)
    with strategy.scope():
        model = session.prepare(model)
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=2, batch_size=64, verbose=0,
              callbacks=[session.callback()])
    result = session.finalize(model, out_dir=sys.argv[1])
    art = result.report["artifacts"][0]
    out.update(sparsity=art["sparsity"], accuracy=art["accuracy"])
    print("RESULT " + json.dumps(out))
    """)


def test_mirrored_strategy_two_logical_cpus(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("RESULT "))
    out = json.loads(line[len("RESULT "):])
    assert out["replicas"] == 2
    assert "inside `with strategy.scope():`" in out["outside_scope_error"]
    assert abs(out["sparsity"] - 0.5) <= 0.01  # measured in the exported weights
    assert (tmp_path / "out" / "artifacts" / "int8.tflite").is_file()
