#!/bin/bash
# One device call (about 8 minutes on an H100): where the default journey's start-up goes, and whether the
# step compiled a region at a time (bench/train_throughput.py's "regional" variant) starts sooner than the
# whole module compiled, at the same tokens/s. Then the fortunes journey beside the recipe.
# Run from the repository root on the device, carrying .whl (datasets and its dependencies) and
# bench-small-data (the corpora, made here by bench/corpora.py).
rm -rf /tmp/site; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name --format=csv,noheader
export TORCHINDUCTOR_CACHE_DIR=/tmp/ind-plan TRITON_CACHE_DIR=/tmp/tri-plan
/usr/bin/time -f "plan process wall %e s" python -c "
import time; t=time.time(); import cProfile, pstats; from pathlib import Path
from clm_gui.jobs.quickstart import plan_quickstart
cProfile.run('plan_quickstart(\"bench-small-data/corpora/fortunes.train.txt\", 3, \"cuda\", Path(\"/tmp/r\"))', '/tmp/p')
print('plan in-process', time.time()-t)
pstats.Stats('/tmp/p').sort_stats('cumulative').print_stats(45)" > $OUT/plan_profile.txt 2>&1
tail -3 $OUT/plan_profile.txt
python bench/train_throughput.py --cold --compile graph --steps 600 --work /tmp/tp --out $OUT/throughput.jsonl \
  --only 6x384-v258-synthetic,6x384-v258-synthetic-regional,gpt2-small-synthetic,gpt2-small-synthetic-regional 2>&1 | tail -8
unset TORCHINDUCTOR_CACHE_DIR TRITON_CACHE_DIR
rm -rf /tmp/torchinductor_root ~/.triton
python bench/small_data.py --device cuda --minutes 3 --corpora fortunes > $OUT/fortunes.txt 2>&1
tail -12 $OUT/fortunes.txt
cp bench-small-data/results.json $OUT/fortunes-results.json
