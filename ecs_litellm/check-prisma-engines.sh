#!/bin/sh
# Inside the LiteLLM image: Prisma's engines and CLI are already on disk, so nothing is fetched at
# run time. Run at build (Dockerfile) and again by publish.sh with the network off
# (`docker run --network none`), where any download attempt fails this check.
set -eu
: "${PRISMA_BINARY_CACHE_DIR:?PRISMA_BINARY_CACHE_DIR must name the baked engine folder}"
found=$(find "$PRISMA_BINARY_CACHE_DIR" -type f -name '*query-engine*' | head -n 1)
[ -n "$found" ] || { echo "no Prisma query engine under $PRISMA_BINARY_CACHE_DIR" >&2; exit 1; }
prisma py fetch >/dev/null # succeeds offline only when every engine and the CLI are cached
prisma --version | grep -i "query engine" # the CLI runs and finds its engines
echo "Prisma engines baked in: $found"
