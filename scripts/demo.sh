#!/usr/bin/env bash
# The README's first command: set-up (scripts/setup.sh), the binary, then the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent build
exec npx --no-install tsx test/demo.ts
