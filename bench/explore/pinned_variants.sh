#!/bin/bash
# Train run configurations side by side on a many-core machine, each on 2 cores of its own (2 torch threads),
# as if each had a 2-core box: for exploring CPU settings in parallel. The runs share the machine's memory
# bandwidth, so compare their rankings, not their figures. Each run's clock is this machine's step time
# relative to the 2-core box's (LOCAL_MS, from bench/explore/calibrate.py there), capped at MAX_MIN.
#   HELD_OUT=bench-small-data/corpora/pydocs-1.heldout.txt LOCAL_MS=224 bash bench/explore/pinned_variants.sh A.yaml B.yaml
set -e
OUT=${OUT:-/tmp/pinned}
export OMP_NUM_THREADS=2 CUDA_VISIBLE_DEVICES=""
ms=$(taskset -c 0,1 python3 bench/explore/calibrate.py 2 | awk '/CALIB/{print $3}')
minutes=$(python3 -c "print(round(min(${MAX_MIN:-7.2}, 9.6 * $ms / ${LOCAL_MS:-224}), 2))")
echo "this CPU: $ms ms a step (the 2-core box: ${LOCAL_MS:-224}); each run gets $minutes minutes"
i=1
for config in "$@"; do
  name=$(basename "$config" .yaml)
  sed "s/max_minutes: .*/max_minutes: $minutes/" "$config" > "/tmp/$name.yaml"
  mkdir -p "$OUT/runs/$name"
  taskset -c $((2 * i)),$((2 * i + 1)) python3 -m clm_gui train "/tmp/$name.yaml" --runs-dir "$OUT/runs/$name" \
    > "$OUT/$name.log" 2>&1 &
  i=$((i + 1))
done
wait
python3 bench/explore/score.py "$OUT"/runs/* | grep SCORE
