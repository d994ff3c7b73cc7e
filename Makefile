# The two commands that matter: `make dev` (the whole gateway on localhost) and `make test`.
PYTHON ?= python3
VENV := .venv
LITELLM_VENV := .venv-litellm
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
# JavaScript clients the integration tests run (package-lock.json pins them; npm ci installs them).
JS_CLIENTS := tests/integration/js
# Claude Code for its one Bedrock-mode run (~400 MB with its native binary): make test installs it, make dev does not.
CLAUDE_CODE := tests/integration/claude_code
# sam build needs the Lambda runtime's interpreter on PATH (pyenv has it here).
PYTHON313_DIR ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin))
INFRA_ENV := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1
# The functions' architecture for `sam build`: x86_64 here, to run the built artifacts on this
# machine (the Lambda-shaped check reuses this build); `make check-infra LAMBDA_ARCH=arm64` builds
# what deploys (template default), which proves arm64 wheels exist for every dependency.
LAMBDA_ARCH ?= x86_64
PIP_FLAGS := --disable-pip-version-check --progress-bar off
# Install progress, one line per package: `[.venv 12/107] Collecting boto3==…`; errors in full.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
progress = awk -v name=$(1) -v total=$$(grep -c '==' $(2)) '/^Collecting /{n++; printf "[%s %d/%d] %s\n", name, n, total, $$2; fflush(); next} /^Installing collected/{printf "[%s] unpacking %d packages\n", name, total; fflush(); next} /^Successfully installed/{printf "[%s] installed\n", name; fflush(); next} /(^Looking in |is ignored: it is neither a file nor a directory)/{next} /^ *(Processing|Downloading|Using cached|Obtaining|Requirement already|Preparing|Building|Created wheel|Stored in|Attempting|Found existing|Uninstalling|Successfully uninstalled|Getting requirements|Installing build)/{next} {print; fflush()}'

.PHONY: install dev timing test test-unit mutation mutation-sample mutation-breaks check-infra lambda-check smoke bench lint lock litellm-image clean

install: $(VENV)/.installed $(LITELLM_VENV)/.installed $(JS_CLIENTS)/node_modules/.installed

# The app venv: the functions' runtime + test tools. A .pth puts the repo, the shared layer and
# the functions on sys.path, as the Lambda runtime does with /opt/python and the code root.
$(VENV)/.installed: requirements/app.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements/app.lock 2>&1 | $(call progress,$(VENV),requirements/app.lock)
	printf '%s\n' "$(CURDIR)" "$(CURDIR)/layers/core" > $$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/gateway-dev.pth
	touch $@

# LiteLLM in its own venv: it pins its own fastapi/boto3, and our code never imports it.
$(LITELLM_VENV)/.installed: requirements/litellm.lock
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install $(PIP_FLAGS) -r requirements/litellm.lock 2>&1 | $(call progress,$(LITELLM_VENV),requirements/litellm.lock)
	touch $@

$(JS_CLIENTS)/node_modules/.installed: $(JS_CLIENTS)/package-lock.json
	npm ci --prefix $(JS_CLIENTS) --no-audit --no-fund --loglevel=error
	touch $@

$(CLAUDE_CODE)/node_modules/.installed: $(CLAUDE_CODE)/package-lock.json
	npm ci --prefix $(CLAUDE_CODE) --no-audit --no-fund --loglevel=error
	touch $@

# aws-sam-cli and checkov each pin their own boto3 (and more), so each gets its own venv.
$(SAM_VENV)/.installed: requirements/sam.lock
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install $(PIP_FLAGS) -r requirements/sam.lock 2>&1 | $(call progress,$(SAM_VENV),requirements/sam.lock)
	touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) -r requirements/checkov.lock 2>&1 | $(call progress,$(CHECKOV_VENV),requirements/checkov.lock)
	touch $@

# The preflight (standard library only) runs before the installs: a machine that cannot run the
# stack (no Prisma engines and no offline tool, no node/psql) is told so in seconds, not minutes.
dev:
	@$(PYTHON) -m local.preflight
	@$(MAKE) --no-print-directory -j2 install
	$(VENV)/bin/python -m local

# The unit suite runs on every core (pytest-xdist, one module per worker at a time: its moto table
# is built once); the rest runs in one process, since the integration tests share one local stack.
UNIT_PYTEST_ARGS := -n auto --dist loadfile
test: install $(CLAUDE_CODE)/node_modules/.installed lint check-infra
	$(VENV)/bin/python -m pytest tests/unit $(UNIT_PYTEST_ARGS)
	$(VENV)/bin/python -m pytest --ignore=tests/unit
	$(MAKE) mutation-sample MUTATION_CHILDREN=2
	$(MAKE) mutation-breaks

# Everything that proves template.yaml offline (cfn-lint on source and translation runs in pytest).
# checkov scans the SAM source, where every skip is justified inline, and the translation; there
# CKV_AWS_120 reappears on the Stage SAM generates, which cannot carry GatewayApi's inline skip.
check-infra: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(INFRA_ENV) $(SAM_VENV)/bin/sam validate --lint --template template.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml
	mkdir -p .aws-sam && $(INFRA_ENV) $(VENV)/bin/python -m local.cfn .aws-sam/translated.json
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f .aws-sam/translated.json --skip-check CKV_AWS_120
	@if [ -n "$(PYTHON313_DIR)" ]; then \
		echo "sam build ($(LAMBDA_ARCH)) with $(PYTHON313_DIR)/python3.13"; \
		$(INFRA_ENV) $(VENV)/bin/python -m local.lambda_shape $(LAMBDA_ARCH); \
	else echo "sam build skipped: no python3.13 on this machine (set PYTHON313_DIR)"; fi

# The LiteLLM image for ECS (ecs_litellm/: the pinned release + our config). Needs Docker and AWS
# credentials; pass the output URI as LiteLLMImageUri to sam deploy.
LITELLM_REPO ?= genai-gateway-litellm
litellm-image:
	./ecs_litellm/publish.sh $(LITELLM_REPO)

# How long the stack takes to start, phase by phase, with CPU seconds per part (local/timing.py);
# TIMING_ARGS=--runs 3 for more starts. The first run on a new data folder is a cold start.
timing: install
	$(VENV)/bin/python -m local.timing $(TIMING_ARGS)

# What our layer costs on top of LiteLLM (README, Performance); BENCH_ARGS=--quick for a smoke run.
bench: install
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

# The built artifacts run as Lambda runs them (tests/integration/test_built_artifacts.py; root).
lambda-check: check-infra
	$(VENV)/bin/python -m pytest tests/integration/test_built_artifacts.py

# One call per route class against any gateway: make smoke GATEWAY_URL=<stage url> GATEWAY_KEY=<key>
# [SMOKE_MODEL=<model>] [PROMPT_ARN=<arn> PROMPT_VARIABLES='{"topic": {"text": "fruit"}}'] [LONG_STREAM=1]
smoke: $(VENV)/.installed
	GATEWAY_URL="$(GATEWAY_URL)" GATEWAY_KEY="$(GATEWAY_KEY)" SMOKE_MODEL="$(SMOKE_MODEL)" PROMPT_ARN="$(PROMPT_ARN)" \
		PROMPT_VARIABLES='$(PROMPT_VARIABLES)' LONG_STREAM="$(LONG_STREAM)" $(VENV)/bin/python -m smoke

test-unit: $(VENV)/.installed
	$(VENV)/bin/python -m pytest tests/unit $(UNIT_PYTEST_ARGS)

# Mutation testing (mutation/run.py): mutmut over the layer and the functions against the unit
# suite, at nice 19 with MUTATION_CHILDREN test processes. `make mutation` tries every mutant
# (hours; results are kept in .mutation/ and only changed code is tried again);
# `make mutation-sample` tries the 7th mutant of every function of the five scored packages and fails below
# mutation/threshold.json (make test runs it).
MUTATION_CHILDREN ?= 1
mutation: $(VENV)/.installed
	$(VENV)/bin/python -m mutation --children $(MUTATION_CHILDREN) $(MUTATION_ARGS)

mutation-sample: $(VENV)/.installed
	$(VENV)/bin/python -m mutation --sample --children $(MUTATION_CHILDREN)

# Issue 12's five hand-made breakages (an ownership check, the turn composition, a stream-path
# translation, the overhead header, the prompt cache TTL), each alone in a scratch copy: the unit
# suite must fail on every one (mutation/breaks.py; make test runs it).
mutation-breaks: $(VENV)/.installed
	$(VENV)/bin/python -m mutation.breaks

# The project's own rules (pyproject.toml): ruff everywhere, mypy --strict on what ships to Lambda.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml
	for script in .ci/run $$(git ls-files '*.sh'); do bash -n "$$script" || exit 1; done

# Re-pin every transitive dependency after editing requirements/*.in.
lock:
	rm -rf /tmp/gateway-lock && $(PYTHON) -m venv /tmp/gateway-lock/app && $(PYTHON) -m venv /tmp/gateway-lock/litellm
	/tmp/gateway-lock/app/bin/pip install $(PIP_FLAGS) -r requirements/app.in && /tmp/gateway-lock/app/bin/pip freeze > requirements/app.lock
	/tmp/gateway-lock/litellm/bin/pip install $(PIP_FLAGS) -r requirements/litellm.in && /tmp/gateway-lock/litellm/bin/pip freeze > requirements/litellm.lock
	for tool in sam checkov; do $(PYTHON) -m venv /tmp/gateway-lock/$$tool && /tmp/gateway-lock/$$tool/bin/pip install $(PIP_FLAGS) -r requirements/$$tool.in && /tmp/gateway-lock/$$tool/bin/pip freeze > requirements/$$tool.lock; done

clean:
	rm -rf $(VENV) $(LITELLM_VENV) $(SAM_VENV) $(CHECKOV_VENV) .local .pytest_cache .aws-sam
