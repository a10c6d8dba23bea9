"""Builds calibration/data/fashion_mnist_subset.npz, the dataset shipped with edgecompress.

A class-balanced, seeded subset of Fashion-MNIST read from the IDX files of Debian's
``dataset-fashion-mnist`` package, stored as uint8 with ``np.savez_compressed``. The
file must stay under 5 MB (10 000 training images compress to 5.3 MB, so the default
is 9 000 train / 2 000 test).

Example:
    python benchmarks/make_bundled_subset.py --src /usr/share/datasets/fashion-mnist
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 5_000_000


def balanced(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` random indices of every class, shuffled together."""
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
             for c in range(int(labels.max()) + 1)]
    return rng.permutation(np.concatenate(picks))


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing
    from calibration import idx
    from calibration.sources import FASHION_MNIST_CLASSES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default="/usr/share/datasets/fashion-mnist",
                        help="folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--train", type=int, default=9000, help="training images (x10 classes)")
    parser.add_argument("--test", type=int, default=2000, help="test images (x10 classes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "calibration/data/fashion_mnist_subset.npz"))
    args = parser.parse_args(argv)

    data = idx.read_idx_folder(args.src)
    classes = len(FASHION_MNIST_CLASSES)
    if args.train % classes or args.test % classes:
        parser.error(f"--train and --test must be multiples of {classes} (class-balanced)")
    rng = np.random.default_rng(args.seed)
    train = balanced(data["y_train"], args.train // classes, rng)
    test = balanced(data["y_test"], args.test // classes, rng)
    out = Path(args.out)
    tmp = out.with_name(out.stem + ".tmp.npz")  # never leave a half-written file in place
    np.savez_compressed(tmp, x_train=data["x_train"][train], y_train=data["y_train"][train],
                        x_test=data["x_test"][test], y_test=data["y_test"][test],
                        class_names=np.array(FASHION_MNIST_CLASSES))
    size = tmp.stat().st_size
    if size > MAX_BYTES:
        tmp.unlink()
        print(f"error: {size} bytes is over the {MAX_BYTES}-byte limit; use fewer --train",
              file=sys.stderr)
        return 1
    tmp.replace(out)
    print(f"wrote {out}: {len(train)} train / {len(test)} test, {size} bytes "
          f"(seed {args.seed}, from {args.src})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
