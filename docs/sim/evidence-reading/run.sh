#!/usr/bin/env bash
# The evidence reading (ranking.evidence) beside the default on the shipped scenarios, 5 seeds
# each (issue 12). Run from the repository root: bash docs/sim/evidence-reading/run.sh
# (about 45 minutes on 2 shared cores on 2026-12-01: two streams, the judging sweep alone on one,
# then the clique sweeps)
set -euo pipefail
SIM="${SIM:-.venv/bin/swarmrank sim}"
S=sim/scenarios
D=docs/sim/evidence-reading
SEEDS=5
export OMP_NUM_THREADS=1

stream_a() {
  $SIM sweep $S/paper-like.toml --seeds $SEEDS \
    --param tasks.judging_ease=0,0.25,0.5,0.75,1,1.25,1.5 --out $D/judging-sweep --quiet \
    --num-cpus 1
}
stream_b() {
  for name in paper-like weak-judge reputation-farmer; do
    $SIM run $S/$name.toml --seeds $SEEDS --out $D/$name --quiet
  done
  # the same swarm with and without its injectors (issue 12's Done-when 3)
  $SIM sweep $S/prompt-injection.toml --seeds $SEEDS --param nodes.injector.fraction=0,0.15 \
    --out $D/prompt-injection --quiet --num-cpus 1
}
stream_a &
a=$!
stream_b
wait $a
# issue 12's Done-when 5: the clique sweeps of the README table
for name in clique-open clique-stealth; do
  $SIM sweep $S/$name.toml --seeds $SEEDS --param nodes.clique.fraction=0,0.1,0.2,0.3,0.4,0.48 \
    --out $D/$name-sweep --quiet
done
# the reading's known weak spot: a 30% clique honest on the gold rounds it recognises
$SIM sweep $S/clique-open.toml --seeds $SEEDS --param swarm.gold_detection=0,1 \
  --param nodes.clique.gold_aware=true --param nodes.clique.fraction=0.3 \
  --out $D/gold-aware-clique --quiet
.venv/bin/python $D/table.py > $D/table.md
