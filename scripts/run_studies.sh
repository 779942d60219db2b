#!/usr/bin/env bash
# Run every study in studies/README.md: the notes' experiments as sweeps (about 5 minutes on 2 cores).
# Each writes studies/NAME/results.csv, results.md and plots; a finished trial is skipped on a second run
# (pass --no-resume through EXTRA to redo them). SWEEP picks the launcher: `bpnn sweep`, else `python -m bpnn_xp sweep`.
#   scripts/run_studies.sh [study ...]      e.g. scripts/run_studies.sh lr width
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SWEEP:-}" ]; then
  if bpnn sweep --help >/dev/null 2>&1; then SWEEP="bpnn sweep"; else SWEEP="python -m bpnn_xp sweep"; fi
fi
EXTRA=${EXTRA:-}
# the lab's network (notes 002): two hidden layers of 4 sigmoid units, squared error on sigmoid outputs (one per class),
# Gaussian weights (std 1/sqrt(fan-in); the lab drew N(0,1)), no penalty, no validation split (the lab scored its training points: read the train acc column)
LAB="--set hidden=4,4 --set cost=mse --set output_activation=sigmoid --set init=normal --set l2=0 --set val_fraction=0"

study() {
  local name=$1; shift
  echo "== $name" >&2
  # shellcheck disable=SC2086
  $SWEEP "$@" --out "studies/$name" $EXTRA
}

run() {
  case $1 in
    lr) study lr --grid "dataset=linear,xor" --grid "lr=0.01,0.1,1,10,100" --grid "seed=0,1" $LAB \
          --set activation=sigmoid --set optimizer=sgd --set batch_size=1 --set epochs=300 ;;
    width) study width --grid "hidden=4;16;64;256" --grid "seed=0,1,2" --set dataset=digits --set epochs=20 ;;
    activation) study activation --grid "activation=sigmoid,tanh,relu" --grid "seed=0,1,2" --set dataset=digits \
          --set hidden=64 --set optimizer=sgd --set lr=0.1 --set epochs=20 ;;
    optimizer) study optimizer --grid "optimizer=sgd,momentum,adam,lbfgs" --grid "batch_size=32,full" --grid "seed=0,1" \
          --set dataset=digits --set hidden=64 --set epochs=50 ;;
    no-activation) study no-activation --grid "dataset=linear,xor" --grid "activation=identity,sigmoid" --grid "seed=0,1,2" \
          $LAB --set optimizer=adam --set lr=0.01 --set batch_size=full --set epochs=300 ;;
    init) study init --grid "init=zeros,uniform,glorot" --grid "activation=sigmoid,tanh,relu" --grid "seed=0,1" \
          --set dataset=digits --set hidden=64 --set epochs=20 ;;
    penalty) study penalty --grid "l1=0,0.5,5" --grid "l2=0,0.5,5" --grid "seed=0,1" --set dataset=digits --set epochs=20 ;;
    *) echo "unknown study $1; choose from: lr width activation optimizer no-activation init penalty" >&2; return 2 ;;
  esac
}

if [ $# -eq 0 ]; then set -- lr width activation optimizer no-activation init penalty; fi
for name in "$@"; do run "$name"; done
