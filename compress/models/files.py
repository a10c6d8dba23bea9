"""What a stored model file says about itself, read without loading it (no Keras here).

``compress.models.io`` (loading) and ``compress.models.keras3`` (the Keras 3 bridge) both read
these: the Keras version in a ``.keras`` file's metadata, the stored config, the layers that
would run code when loaded.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any


def keras_file_version(path: str | Path) -> str | None:
    """The ``keras_version`` recorded in a ``.keras`` zip's metadata.json, or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    version = meta.get("keras_version")
    return str(version) if version else None


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


#: Keras packages whose classes a model config may name without running foreign code.
_KERAS_MODULES = ("keras", "tf_keras", "tensorflow", "tensorflow_model_optimization")


def stored_config(path: str | Path) -> dict | None:
    """The model config stored in a .h5 or .keras file, read without deserializing it."""
    path = Path(path)
    try:
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as zf:
                return json.loads(zf.read("config.json"))
        if path.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as fh:
                raw = fh.attrs.get("model_config")
            if raw is None:
                return None
            return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return None


def code_risks(config: Any, path: str = "") -> list[str]:
    """Layers in a stored config that would run code when loaded: Lambda, foreign classes.

    tf_keras rebuilds a ``Lambda`` from marshalled bytecode when it loads an .h5 file, which
    executes that code; a class from another module would be imported (and run) too.
    """
    risks: list[str] = []
    if isinstance(config, dict):
        cls = config.get("class_name")
        name = (config.get("config") or {}).get("name") if isinstance(config.get("config"),
                                                                        dict) else None
        here = f"{path}/{name}" if name else path
        if cls == "Lambda":
            risks.append(f"{here.lstrip('/')} (Lambda: stored Python code)")
        module = config.get("module")
        if isinstance(module, str) and module and cls and \
                module.split(".")[0] not in _KERAS_MODULES and cls != "Lambda":
            risks.append(f"{here.lstrip('/')} ({cls} from module {module})")
        registered = config.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            risks.append(f"{here.lstrip('/')} (custom object {registered})")
        for key, value in config.items():
            if key in ("module", "registered_name"):
                continue
            risks.extend(code_risks(value, here))
    elif isinstance(config, list):
        for item in config:
            risks.extend(code_risks(item, path))
    return sorted(set(risks))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
