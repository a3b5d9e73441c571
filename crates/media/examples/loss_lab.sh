#!/bin/bash
# Scores the audio pipeline offline (examples/loss_lab.rs) on five espeak-ng clips, one seed
# each, and prints the PESQ-WB median and every score: a quick look before `ringwire bench
# quality` measures real calls. Needs espeak-ng, sox and the venv `ringwire bench quality` makes
# (target/bench-venv), or PYTHON pointing at a Python with pesq, numpy and scipy.
#
#   crates/media/examples/loss_lab.sh LABEL LOSS BURST [JITTER_MS]
#   crates/media/examples/loss_lab.sh bursty10 0.1 3
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
label=$1 loss=$2 burst=$3 jitter=${4:-0}
python=${PYTHON:-$root/target/bench-venv/bin/python3}
work=${LOSS_LAB_DIR:-$root/target/loss-lab}
mkdir -p "$work"
cargo build -q --release -p ringwire-media --example loss_lab --manifest-path "$root/Cargo.toml"
clips=(
  "en-us|The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. It is easy to tell the depth of a well."
  "en-gb+f3|The boy was there when the sun rose. A rod is used to catch pink salmon. The source of the huge river is the clear spring."
  "en-gb-scotland+m3|Kick the ball straight and follow through. Help the woman get back to her feet. A pot of tea helps to pass the evening."
  "en-us+f2|Four hours of steady work faced us. A large size in stockings is hard to sell. The fish twisted and turned on the bent hook."
  "en-gb+m4|Press the pants and sew a button on the vest. The swan dive was far short of perfect. Rice is often served in round bowls."
)
scores=()
for i in "${!clips[@]}"; do
  clip=$work/clip$i.wav
  if [ ! -f "$clip" ]; then
    voice=${clips[$i]%%|*} text=${clips[$i]#*|}
    espeak-ng -v "$voice" -s 150 -w "$work/raw$i.wav" "$text"
    sox "$work/raw$i.wav" -r 48000 -c 1 -b 16 "$clip" norm -3 pad 0.5 0.5
  fi
  out=$work/$label-$i.wav
  info=$("$root/target/release/examples/loss_lab" "$clip" "$out" "$loss" "$burst" $((i + 1)) "$jitter")
  score=$("$python" "$root/bench/pesq_score.py" "$clip" "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pesq_wb"])')
  scores+=("$score")
  [ -n "${VERBOSE:-}" ] && echo "  clip $i: $score $info"
done
python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[2:]]; print(f'{sys.argv[1]}: PESQ-WB median {statistics.median(v):.2f} ', ' '.join(f'{x:.2f}' for x in v))" "$label" "${scores[@]}"
