"""Converse and ConverseStream bodies checked against botocore's own bedrock-runtime model.

The shapes are the ones boto3 itself serializes, so a request boto3 accepts passes, and
anything else is refused with a 400 ``ValidationException`` naming each field path, as Bedrock
does, before any translation. botocore's ``ParamValidator`` checks types, required members,
minimums and unions; Bedrock's service also checks enums, maximums and patterns, so
``_WireValidator`` adds those, plus what differs on the wire: a blob arrives as base64 text in
JSON, and JSON's ``true`` is not a number.

The model is loaded on the first Converse request (botocore's import, then about 0.1 s), never
at import: cold starts stay fast, and only a warm function's first Converse call pays.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from gateway_core.converse.shape_check import Check, compile_check, is_base64, matches
from gateway_core.errors import InvalidRequestError

__all__ = ["validate_converse"]

_MAX_REPORTED = 10
_MAX_MESSAGE = 300
# The model id is a URI label matched by LiteLLM's model names, not Bedrock's pattern.
_UNCHECKED_PATTERNS = frozenset({"ConversationalModelId"})


@lru_cache(maxsize=1)
def _validator() -> Any:
    from botocore.validate import ParamValidator, ValidationErrors

    class WireErrors(ValidationErrors):  # type: ignore[misc]
        def _format_error(self, error: Any) -> str:
            return str(self._describe(error))[:_MAX_MESSAGE]  # values are echoed: keep each line short

        def _describe(self, error: Any) -> Any:
            reason, name, extra = error
            where = self._get_name(name)
            if reason == "invalid enum":
                return f"Invalid value for parameter {where}, value: {extra['param']}, valid values: {extra['enum']}"
            if reason == "above maximum":
                return f"Invalid value for parameter {where}, value: {extra['param']}, valid max: {extra['maximum']}"
            if reason == "pattern mismatch":
                return f"Invalid value for parameter {where}: must match {extra['pattern']}"
            if reason == "invalid base64":
                return f"Invalid value for parameter {where}: blobs travel as base64 text"
            return super()._format_error(error)

    class WireValidator(ParamValidator):  # type: ignore[misc]
        VALIDATED_METADATA_ATTRS = ParamValidator.VALIDATED_METADATA_ATTRS | {"max", "enum", "pattern"}

        def validate(self, params: Any, shape: Any) -> Any:
            errors = WireErrors()
            self._validate(params, shape, errors, name="")
            return errors

        def _validate_string(self, param: Any, shape: Any, errors: Any, name: str) -> None:
            super()._validate_string(param, shape, errors, name)
            if not isinstance(param, str):
                return
            _maximum(len(param), shape, errors, name)
            enum = shape.enum
            if enum and param not in enum:
                errors.report(name, "invalid enum", param=param[:80], enum=", ".join(enum))
            pattern = shape.metadata.get("pattern")
            if pattern and shape.name not in _UNCHECKED_PATTERNS and not matches(pattern, param):
                errors.report(name, "pattern mismatch", pattern=pattern)

        def _validate_list(self, param: Any, shape: Any, errors: Any, name: str) -> None:
            super()._validate_list(param, shape, errors, name)
            if isinstance(param, list):
                _maximum(len(param), shape, errors, name)

        def _validate_blob(self, param: Any, shape: Any, errors: Any, name: str) -> None:
            if not isinstance(param, str):
                errors.report(name, "invalid type", param=param, valid_types=["base64 string"])
            elif not is_base64(param):
                errors.report(name, "invalid base64")

        def _validate_number(self, param: Any, shape: Any, errors: Any, name: str, kinds: tuple[type, ...]) -> None:
            if isinstance(param, bool) or not isinstance(param, kinds):
                errors.report(name, "invalid type", param=param, valid_types=[k.__name__ for k in kinds])
                return
            super()._validate_double(param, shape, errors, name)  # the minimum
            _maximum(param, shape, errors, name)

        def _validate_integer(self, param: Any, shape: Any, errors: Any, name: str) -> None:
            self._validate_number(param, shape, errors, name, (int,))

        def _validate_double(self, param: Any, shape: Any, errors: Any, name: str) -> None:
            self._validate_number(param, shape, errors, name, (int, float))

        _validate_long = _validate_integer
        _validate_float = _validate_double

        def _validate_boolean(self, param: Any, shape: Any, errors: Any, name: str) -> None:
            if not isinstance(param, bool):
                errors.report(name, "invalid type", param=param, valid_types=["bool"])

    return WireValidator()


def _maximum(value: Any, shape: Any, errors: Any, name: str) -> None:
    maximum = shape.metadata.get("max")
    if maximum is not None and value > maximum:
        errors.report(name, "above maximum", param=value, maximum=maximum)


@lru_cache(maxsize=1)
def _input_shapes() -> dict[str, Any]:
    from botocore.loaders import Loader
    from botocore.model import ServiceModel

    model = ServiceModel(Loader().load_service_model("bedrock-runtime", "service-2"), "bedrock-runtime")
    return {name: model.operation_model(name).input_shape for name in ("Converse", "ConverseStream")}


@lru_cache(maxsize=1)
def _quick_checks() -> dict[str, Check | None]:
    return {name: compile_check(shape, _UNCHECKED_PATTERNS) for name, shape in _input_shapes().items()}


def validate_converse(body: dict[str, Any], model_id: str, *, stream: bool) -> None:
    """Raise InvalidRequestError (a ValidationException on Bedrock routes) listing every violation.

    A valid body passes the compiled check (``shape_check``) and is done; any other is walked by
    the validator, which writes the report."""
    operation = "ConverseStream" if stream else "Converse"
    params = {**body, "modelId": model_id}
    quick = _quick_checks()[operation]
    if quick is not None and quick(params):
        return
    report = _validator().validate(params, _input_shapes()[operation])
    if not report.has_errors():
        return
    problems = report.generate_report().split("\n")
    shown = problems[:_MAX_REPORTED] + (
        [f"... and {len(problems) - _MAX_REPORTED} more"] if len(problems) > _MAX_REPORTED else []
    )
    noun = "error" if len(problems) == 1 else "errors"
    raise InvalidRequestError(f"{len(problems)} validation {noun} detected: " + "; ".join(shown))
