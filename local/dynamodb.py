"""Create the local DynamoDB tables from template.yaml's own definitions (no second schema)."""

from __future__ import annotations

from typing import Any

from local.template import load_template

__all__ = ["create_tables", "table_resources"]

# CreateTable accepts these properties as the template spells them; TTL is a separate call,
# and PITR/SSE mean nothing locally.
_CREATE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
)


def table_resources(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    template = template or load_template()
    return {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}


def create_tables(endpoint_url: str | None, names: dict[str, str], region: str = "us-east-1") -> None:
    """Create each template table under the local name ``names[logical id]`` (idempotent)."""
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 (local endpoint: any credentials)
    )
    existing = set(client.list_tables()["TableNames"])
    for logical_id, props in table_resources().items():
        table = names[logical_id]
        if table in existing:
            continue
        client.create_table(TableName=table, **{k: props[k] for k in _CREATE_PROPERTIES if k in props})
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(
                TableName=table, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
            )
