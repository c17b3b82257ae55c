#!/usr/bin/env bash
# Regenerate docs/sim from the shipped scenarios (issue 21: the honest model, 5 seeds each;
# issue 12: the calibrated default, 10% gold as the node runs).
# Run from the repository root: bash docs/sim/regenerate.sh  (55 minutes on 2 shared cores on
# 2026-12-01, with other work running; the adaptive-schedule comparison is about half of it)
set -euo pipefail
SIM="${SIM:-.venv/bin/swarmrank sim}"
S=sim/scenarios
D=docs/sim
SEEDS=5
FRACTIONS=0,0.1,0.2,0.3,0.4,0.48

for name in paper-like sybil reputation-farmer prompt-injection; do
  $SIM run $S/$name.toml --seeds $SEEDS --out $D/$name --quiet
done
$SIM sweep $S/clique-open.toml --seeds $SEEDS --param nodes.clique.fraction=$FRACTIONS \
  --out $D/clique-open-sweep --quiet
$SIM sweep $S/clique-stealth.toml --seeds $SEEDS --param nodes.clique.fraction=$FRACTIONS \
  --out $D/clique-stealth-sweep --quiet

# sensitivity: the judge model on the honest paper-like swarm
$SIM sweep $S/paper-like.toml --seeds $SEEDS --param tasks.judging_ease=0,0.5,1,2 \
  --out $D/sensitivity/judging-ease --quiet
$SIM sweep $S/paper-like.toml --seeds $SEEDS --param tasks.judging_ease=0,1 \
  --param tasks.judge_correlation=0,1,2 --out $D/sensitivity/judge-correlation --quiet
$SIM sweep $S/paper-like.toml --seeds $SEEDS --param tasks.judging_ease=0,1 \
  --param tasks.persuasiveness.sd=0,1,2 --out $D/sensitivity/persuasiveness --quiet
# sensitivity: correct free-text answers the normaliser does not merge (judges +1 logit)
$SIM sweep $S/paper-like.toml --seeds $SEEDS --param tasks.judging_ease=1 \
  --param tasks.answer_split=0,0.2,0.5 --out $D/sensitivity/answer-split --quiet
# sensitivity: gold against a gold-aware 30% open clique
$SIM sweep $S/clique-open.toml --seeds $SEEDS --param tasks.judging_ease=0,1 \
  --param swarm.gold_fraction=0,0.1,0.2 --param swarm.gold_detection=0,1 \
  --param nodes.clique.gold_aware=true --out $D/sensitivity/gold --quiet

# adaptive adversaries against their non-adaptive twins
$SIM sweep $S/adaptive.toml --seeds $SEEDS --param nodes.team.gold_aware=false,true \
  --out $D/adaptive/gold-aware --quiet
$SIM sweep $S/adaptive.toml --seeds $SEEDS --param nodes.team.opportunistic=false,true \
  --out $D/adaptive/opportunistic --quiet
$SIM sweep $S/adaptive.toml --seeds $SEEDS --param nodes.team.inflate_confidence=false,true \
  --out $D/adaptive/inflate-confidence --quiet
$SIM sweep $S/adaptive.toml --seeds $SEEDS --param nodes.team.stealth=true \
  --param nodes.team.abstain_when_losing=false,true --out $D/adaptive/abstain-when-losing --quiet
$SIM sweep $S/adaptive.toml --seeds $SEEDS --param nodes.team.grind=0,32 \
  --out $D/adaptive/grind --quiet
$SIM sweep $S/adaptive.toml --seeds $SEEDS --param nodes.team.behaviour='"sybil"' \
  --param nodes.team.fraction=0.5 --param swarm.trust=true --param swarm.probation_rounds=60 \
  --param nodes.team.patience=0,60 --out $D/adaptive/patience --quiet
# issue 12, rules 4: a clique that judges against its own answer while the judge weight is
# negative, on the paper-like swarm, against its twin (and the same swarm under rules 3)
$SIM sweep $S/sign-exploit.toml --seeds $SEEDS --param nodes.clique.stealth=true,false \
  --param nodes.clique.exploit_sign=false,true --out $D/adaptive/exploit-sign --quiet
.venv/bin/python $D/sign-exploit/rules3.py --seeds $SEEDS --out $D/sign-exploit

# the former headlines' assumptions under the new judge model: judges one logit better than
# generators and 10% gold rounds that no adversary recognises
ASSUMED="--param tasks.judging_ease=1 --param swarm.gold_fraction=0.1 --param swarm.gold_detection=0"
for name in clique-open clique-stealth; do
  $SIM sweep $S/$name.toml --seeds $SEEDS $ASSUMED --param nodes.clique.fraction=$FRACTIONS \
    --out $D/assumed/$name-sweep --quiet
done
for name in sybil reputation-farmer prompt-injection; do
  $SIM sweep $S/$name.toml --seeds $SEEDS $ASSUMED --out $D/assumed/$name --quiet
done

# issue 12: the calibrated default learns how far to trust judges (and each generator) from
# gold rounds; the node runs 10% by default, so the tables above have them. Without gold:
$SIM sweep $S/paper-like.toml --seeds $SEEDS \
  --param tasks.judging_ease=0,0.25,0.5,0.75,1,1.25,1.5 --out $D/judging-sweep --quiet
$SIM sweep $S/prompt-injection.toml --seeds $SEEDS --param swarm.gold_fraction=0,0.1 \
  --param nodes.injector.fraction=0,0.15 --out $D/gold/prompt-injection --quiet
$SIM sweep $S/reputation-farmer.toml --seeds $SEEDS --param swarm.gold_fraction=0,0.1 \
  --out $D/gold/reputation-farmer --quiet
$SIM sweep $S/paper-like.toml --seeds $SEEDS --param swarm.gold_fraction=0,0.1 \
  --out $D/gold/paper-like --quiet
for name in clique-open clique-stealth; do
  $SIM sweep $S/$name.toml --seeds $SEEDS --param swarm.gold_fraction=0 \
    --param nodes.clique.fraction=$FRACTIONS --out $D/gold/$name-sweep-no-gold --quiet
done

# issue 12: how far reading one round's votes can go on paper-like (true skills, the Bayes-optimal
# reading): the ceiling a judging-parity default answers against (about a minute)
.venv/bin/python $D/vote-bound/bound.py $S/paper-like.toml --tasks 3000 --out $D/vote-bound

# issue 12: how far reading a round's votes *and verdicts* can go (the Bayes oracle on the
# engine's own rounds, 5 seeds: about 20 minutes on 2 shared cores), and the default's judge
# weight fitted on the other seeds' gold rounds at judging +0.5, +1 and +1.5 logits
.venv/bin/python $D/evidence-bound/bound.py $S/paper-like.toml --seeds $SEEDS --out $D/evidence-bound
for ease in 0.5 1 1.5; do
  .venv/bin/python $D/evidence-bound/bound.py $S/paper-like.toml --seeds $SEEDS --no-oracle \
    --judging-ease $ease --out $D/evidence-bound/ease-$ease
done

# issue 17: the adaptive schedule against 3n on the same seeds (paper-like, both cliques at 30%,
# weak judges): accuracy of every aggregator against mean judge calls per round (about 30
# minutes on 2 shared cores).
.venv/bin/python $D/adaptive-schedule/compare.py --seeds 8 --jobs 2 --out $D/adaptive-schedule

# live mode: the small honest scenario through five real daemons (needs Ray; about a minute)
$SIM run $S/small-live.toml --live --out $D/small-live --quiet

# the README's tables, from the outputs above
.venv/bin/python $D/tables.py > $D/tables.md
