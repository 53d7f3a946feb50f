# Sourced by the scripts here: installs what is missing, brings up the local stack and exports
# its connection settings (KAFKA_BROKERS, DATABASE_URL).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
bash deploy/local/stack.sh up >/dev/null
eval "$(bash deploy/local/stack.sh env)"
export KAFKA_BROKERS DATABASE_URL
