#!/usr/bin/env bash
# check-report-svg.sh SVG LOST HANDOFFS RESTARTS: the picture `baton report RUN --svg` drew
# renders to PNG with Debian's rsvg-convert (so it is well-formed SVG a viewer can draw), and
# holds at least LOST lost-node marks, HANDOFFS hand-off curves and RESTARTS restart lines
# (elements of class lost, handoff, restart), and attempt bars. Prints what it found.
set -uo pipefail
svg=${1:?usage: check-report-svg.sh SVG LOST HANDOFFS RESTARTS}; lost=${2:?}; handoffs=${3:?}; restarts=${4:?}
command -v rsvg-convert > /dev/null || { echo "check-report-svg: rsvg-convert missing (scripts/setup installs librsvg2-bin)"; exit 1; }
png=${svg%.svg}.png
rsvg-convert "$svg" -o "$png" || { echo "check-report-svg: rsvg-convert refused $svg"; exit 1; }
python3 - "$svg" "$png" "$lost" "$handoffs" "$restarts" <<'PY'
import re, struct, sys
svg, png, want = sys.argv[1], sys.argv[2], [int(v) for v in sys.argv[3:6]]
head = open(png, "rb").read(24)
assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", head[16:24])
text = open(svg).read()
count = {k: len(re.findall(r'class="%s"' % k, text)) for k in ("lost", "handoff", "restart")}
bars = len(re.findall(r'class="attempt ', text))
print(f"check-report-svg: {png} {w}x{h}, {bars} attempt bars, " + ", ".join(f"{v} {k}" for k, v in count.items()))
assert w >= 800 and h >= 100, (w, h)
assert bars > 0, "no attempt bar"
for k, n in zip(("lost", "handoff", "restart"), want):
    assert count[k] >= n, f"{count[k]} {k} marks, expected at least {n}"
PY
