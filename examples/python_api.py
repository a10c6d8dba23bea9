"""Front door 2: the Python API, ``compress.compress_model`` with our own training loop.

Usage: python examples/python_api.py [OUT_DIR] [--quick]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--quick"]
    if "--quick" in sys.argv:
        os.environ["EDGECOMPRESS_EXAMPLE_QUICK"] = "1"
    out = args[0] if args else "runs/example-python"

    import compress
    from examples.model import build

    quick = os.environ.get("EDGECOMPRESS_EXAMPLE_QUICK") == "1"
    result = compress.compress_model(
        build(), Path(__file__).with_name("recipe.yaml"), data="fashion-mnist-subset",
        out_dir=out, overwrite=True, test_samples=256 if quick else None,
        train_samples=1024 if quick else None)
    for art in result.report["artifacts"]:
        print(f"{art['target']}: accuracy {art['accuracy']:.4f}, {art['size_bytes']} bytes, "
              f"sparsity {art['sparsity']:.3f}")


if __name__ == "__main__":
    main()
