#!/usr/bin/env bash
# The seed's entry point, kept as a thin wrapper: ./bootstrap.sh ENV [cluster-init bootstrap options]
# runs `cluster-init bootstrap environment-values/ENV ...` (ENV may also be a folder). See README.md.
set -euo pipefail
cd "$(dirname "$0")"
if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  echo "usage: ./bootstrap.sh ENV [cluster-init bootstrap options], ENV one of: $(ls environment-values | tr '\n' ' ')" >&2
  exit 2
fi
env=$1
shift
dir=environment-values/$env
[[ -d $env ]] && dir=$env
if [[ -n ${GITLAB_USER:-}${GITLAB_TOKEN:-} ]]; then
  echo "note: GITLAB_USER/GITLAB_TOKEN are not read any more; put git credentials in $dir/secrets.yaml (secrets.source) and use --source git URL@REF" >&2
fi
[[ -x .venv/bin/cluster-init ]] || make -s setup
exec .venv/bin/cluster-init bootstrap "$dir" "$@"
