# The two commands that matter: `make dev` (the whole gateway on localhost) and `make test`.
PYTHON ?= python3
VENV := .venv
LITELLM_VENV := .venv-litellm
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: install dev test test-unit lint lock clean

install: $(VENV)/.installed $(LITELLM_VENV)/.installed

# The app venv: the functions' runtime + test tools. A .pth puts the repo, the shared layer and
# the functions on sys.path, as the Lambda runtime does with /opt/python and the code root.
$(VENV)/.installed: requirements/app.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements/app.lock
	printf '%s\n' "$(CURDIR)" "$(CURDIR)/layers/core" > $$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/gateway-dev.pth
	touch $@

# LiteLLM in its own venv: it pins its own fastapi/boto3, and our code never imports it.
$(LITELLM_VENV)/.installed: requirements/litellm.lock
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install $(PIP_FLAGS) -r requirements/litellm.lock
	touch $@

dev: install
	$(VENV)/bin/python -m local

test: install
	$(VENV)/bin/python -m pytest

test-unit: $(VENV)/.installed
	$(VENV)/bin/python -m pytest tests/unit

lint: $(VENV)/.installed
	$(VENV)/bin/cfn-lint template.yaml

# Re-pin every transitive dependency after editing requirements/*.in.
lock:
	rm -rf /tmp/gateway-lock && $(PYTHON) -m venv /tmp/gateway-lock/app && $(PYTHON) -m venv /tmp/gateway-lock/litellm
	/tmp/gateway-lock/app/bin/pip install $(PIP_FLAGS) -r requirements/app.in && /tmp/gateway-lock/app/bin/pip freeze > requirements/app.lock
	/tmp/gateway-lock/litellm/bin/pip install $(PIP_FLAGS) -r requirements/litellm.in && /tmp/gateway-lock/litellm/bin/pip freeze > requirements/litellm.lock

clean:
	rm -rf $(VENV) $(LITELLM_VENV) .local .pytest_cache
