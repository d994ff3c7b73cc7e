#!/bin/sh
# The master-key secret holds the key's random part (CloudFormation cannot generate a prefix);
# LiteLLM's key is "sk-" + that, as the gateway functions compute it (gateway_core/secrets.py).
set -eu
case "${LITELLM_MASTER_KEY:-}" in
  ""|sk-*) ;;
  *) LITELLM_MASTER_KEY="sk-${LITELLM_MASTER_KEY}"; export LITELLM_MASTER_KEY ;;
esac
# Logging integrations (Langfuse, LangSmith, S3, OpenTelemetry) chosen by the stack's parameters.
python /app/gateway-callbacks.py /app/config.yaml
exec litellm "$@"
