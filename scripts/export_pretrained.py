"""Turn a training run into the model shipped inside the package, with its card (`make pretrained`).

    python scripts/export_pretrained.py runs/pretrained [runs/pretrained-b ...] [--dataset build/dataset]
                                        [--out stylenet/pretrained]

Several runs (same genres, inputs and validation pieces) ship as one ensemble: their predictions averaged.

The recipe is `stylenet/export.py`; this script only reads the command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylenet.core.errors import StyleNetError  # noqa: E402
from stylenet.velocity.export import export_pretrained  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", metavar="run_dir")
    parser.add_argument("--dataset", default="build/dataset")
    parser.add_argument("--out", default=str(ROOT / "stylenet" / "pretrained"))
    args = parser.parse_args()
    try:
        export = export_pretrained(args.run_dirs, args.dataset, args.out)
    except StyleNetError as exc:  # a run that is not one, runs that cannot join: one line, not a traceback
        sys.exit(f"export_pretrained: {exc}")
    print(export.markdown)
    print(f"wrote {export.model} ({export.model.stat().st_size / 1e6:.1f} MB), {export.card}")


if __name__ == "__main__":
    main()
