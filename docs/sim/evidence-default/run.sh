#!/usr/bin/env bash
# The evidence reading as the default (consensus 3, records read once earned; issue 12): reputation, and so selection and
# ranker weights, now follow the reading's winner, not the calibrated rule's as in
# docs/sim/evidence-reading. The shipped scenarios, 5 seeds each, with the calibrated rule
# scored beside it. Run from the repository root: bash docs/sim/evidence-default/run.sh
# (about 50 minutes on 2 shared cores on 2026-12-01: two streams)
set -euo pipefail
SIM="${SIM:-.venv/bin/swarmrank sim}"
S=sim/scenarios
D=docs/sim/evidence-default
SEEDS=5
export OMP_NUM_THREADS=1

stream_a() {
  $SIM sweep $S/paper-like.toml --seeds $SEEDS \
    --param tasks.judging_ease=0,0.25,0.5,0.75,1,1.25,1.5 --out $D/judging-sweep --quiet \
    --num-cpus 1
  $SIM sweep $S/clique-open.toml --seeds $SEEDS --param nodes.clique.fraction=0,0.1,0.2,0.3,0.4,0.48 \
    --out $D/clique-open-sweep --quiet --num-cpus 1
}
stream_b() {
  for name in paper-like weak-judge reputation-farmer; do
    $SIM run $S/$name.toml --seeds $SEEDS --out $D/$name --quiet
  done
  # the same swarm with and without its injectors (issue 12's Done-when 3)
  $SIM sweep $S/prompt-injection.toml --seeds $SEEDS --param nodes.injector.fraction=0,0.15 \
    --out $D/prompt-injection --quiet --num-cpus 1
  $SIM sweep $S/clique-stealth.toml --seeds $SEEDS --param nodes.clique.fraction=0,0.1,0.2,0.3,0.4,0.48 \
    --out $D/clique-stealth-sweep --quiet --num-cpus 1
}
stream_a &
a=$!
stream_b
wait $a
.venv/bin/python docs/sim/evidence-reading/table.py $D > $D/table.md
