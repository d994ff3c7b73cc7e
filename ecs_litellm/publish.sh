#!/bin/sh
# Build the LiteLLM image from this folder and push it to ECR; prints the URI for LiteLLMImageUri.
# Usage: ecs_litellm/publish.sh <repository> [linux/amd64|linux/arm64]  (needs Docker + AWS credentials)
set -eu
repository="$1"
platform="${2:-linux/amd64}"
here="$(cd "$(dirname "$0")" && pwd)"
account="$(aws sts get-caller-identity --query Account --output text)"
region="${AWS_REGION:-$(aws configure get region)}"
registry="${account}.dkr.ecr.${region}.amazonaws.com"
# Tag by content, so a config change is a new image and a redeploy picks it up.
tag="$(cat "$here/Dockerfile" "$here/config.yaml" "$here/entrypoint.sh" "$here/callbacks.py" "$here/check-prisma-engines.sh" | sha256sum | cut -c1-12)"
aws ecr describe-repositories --repository-names "$repository" >/dev/null 2>&1 ||
  aws ecr create-repository --repository-name "$repository" --image-scanning-configuration scanOnPush=true \
    --image-tag-mutability IMMUTABLE --encryption-configuration encryptionType=AES256 >/dev/null
aws ecr get-login-password | docker login --username AWS --password-stdin "$registry" >/dev/null
if ! aws ecr describe-images --repository-name "$repository" --image-ids imageTag="$tag" >/dev/null 2>&1; then
  docker build --platform "$platform" -t "$registry/$repository:$tag" "$here" >&2
  # With the network off, as a task in the endpoints-only network: the Prisma engines and CLI
  # answer from the image, and the RDS CA bundle is there; else nothing is pushed.
  docker run --rm --network none --platform "$platform" --entrypoint sh "$registry/$repository:$tag" \
    -c '/app/check-prisma-engines.sh && test -s /app/rds-global-bundle.pem' >&2
  docker push "$registry/$repository:$tag" >&2
fi
echo "$registry/$repository:$tag"
