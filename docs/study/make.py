"""Plot the decomposition study: ``python docs/study/make.py ROWS.jsonl [OUT.png]``.

ROWS.jsonl is what ``python -m toys.circuits.study --seeds 2 > ROWS.jsonl`` prints (its last line, the summary, is
skipped); the chart (``charts.clustering.study_chart``: ARI against neurons per circuit, per transcoder, clustering
method and conditioning) is written as a PNG, by default ``docs/study/ari.png``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import vl_convert as vlc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from charts.clustering import study_chart, study_frame


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in Path(argv[0]).read_text().splitlines() if '"neurons_per_circuit"' in line]
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "study" / "ari.png"
    out.write_bytes(vlc.vegalite_to_png(study_chart(study_frame(rows)).to_json(), scale=2))
    print(f"{len(rows)} rows -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
