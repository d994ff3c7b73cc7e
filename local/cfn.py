"""template.yaml translated to plain CloudFormation with aws-sam-translator, offline.

Used by the infrastructure tests and by `make check-infra` (cfn-lint and checkov on the output):
``python -m local.cfn <out.json>``. Code locations are replaced by placeholders, since nothing
is packaged; managed policy names resolve from samtranslator's bundled table, not from IAM.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from functools import lru_cache
from typing import Any

from local.template import TEMPLATE_PATH

__all__ = ["translate_template"]


class _NoManagedPolicyLookups:
    def load(self) -> dict[str, str]:
        return {}


@lru_cache(maxsize=1)
def _translated_json() -> str:
    from samtranslator.translator.transform import transform  # slow import: only when asked
    from samtranslator.yaml_helper import yaml_parse

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = copy.deepcopy(yaml_parse(TEMPLATE_PATH.read_text()))
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://bucket/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://bucket/layer.zip"
    translated = transform(template, {}, _NoManagedPolicyLookups())
    translated["Metadata"] = template.get("Metadata", {})  # keeps cfn-lint's justified ignores
    return json.dumps(translated, indent=1)


def translate_template() -> dict[str, Any]:
    """A fresh copy of the translated template."""
    result: dict[str, Any] = json.loads(_translated_json())
    return result


if __name__ == "__main__":
    with open(sys.argv[1], "w") as out:
        out.write(_translated_json())
