"""Checks on JSON output: is_json, json_schema (through ``jsonschema``) and json_field."""

from __future__ import annotations

import json
import re
from typing import Any

from ._scorer_base import Builder, Check, Common, Options, Reference, clip, strip_fences, text_of
from ._scoring import ScoreInput

__all__ = ["JSON_SCORERS", "parse_path"]

_SEGMENT = re.compile(r"\.?([^.\[\]]+)|\[(-?\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def parse_path(path: str) -> list[str | int]:
    """``a.b[0].c`` (or ``$.a.b.0.c``) as keys and indexes; ValueError when malformed."""
    text = path[1:] if path.startswith("$") else path
    parts: list[str | int] = []
    position = 0
    while position < len(text):
        found = _SEGMENT.match(text, position)
        if not found or found.end() == position:
            raise ValueError(f"cannot read {path!r} at character {position + 1}")
        key, index, quoted = found.groups()
        parts.append(int(index) if index is not None else quoted or key)
        position = found.end()
    if not parts:
        raise ValueError("the path is empty")
    return parts


def _follow(document: Any, parts: list[str | int]) -> Any:
    current = document
    for part in parts:
        if isinstance(current, list):
            index = int(part) if isinstance(part, int) or part.lstrip("-").isdigit() else None
            if index is None or not -len(current) <= index < len(current):
                raise LookupError(f"no item {part!r} in a list of {len(current)}")
            current = current[index]
        elif isinstance(current, dict):
            if str(part) not in current:
                raise LookupError(f"no key {str(part)!r} (keys: {', '.join(map(str, current))})")
            current = current[str(part)]
        else:
            raise LookupError(f"cannot look up {part!r} in {type(current).__name__}")
    return current


class _JsonCheck(Check):
    def __init__(
        self,
        common: Common,
        *,
        fences: bool,
        negate: bool,
        columns: tuple[str, ...] = (),
        expects: bool = False,
    ) -> None:
        super().__init__(common, negate=negate, columns=columns, expects=expects)
        self.fences = fences

    def parse(self, output: str) -> tuple[bool, Any, str]:
        text = strip_fences(output) if self.fences else output
        try:
            return True, json.loads(text), "valid JSON"
        except ValueError as exc:
            return False, None, f"not JSON: {exc}"


class _IsJson(_JsonCheck):
    def check(self, item: ScoreInput) -> tuple[bool, str]:
        ok, _, explanation = self.parse(item.output)
        return ok, explanation


class _JsonSchema(_JsonCheck):
    def __init__(self, common: Common, validator: Any, *, fences: bool, negate: bool) -> None:
        super().__init__(common, fences=fences, negate=negate)
        self.validator = validator

    def check(self, item: ScoreInput) -> tuple[bool, str]:
        ok, document, explanation = self.parse(item.output)
        if not ok:
            return False, explanation
        error = next(iter(self.validator.iter_errors(document)), None)
        if error is None:
            return True, "valid against the schema"
        where = "".join(f"[{p!r}]" for p in error.absolute_path) or "the document"
        return False, f"{where}: {error.message}"


class _JsonField(_JsonCheck):
    """The field at ``path`` equals the reference; a string on one side and a number or
    boolean on the other compare as text (CSV columns are strings)."""

    def __init__(
        self, common: Common, path: list[str | int], reference: Reference, **flags: bool
    ) -> None:
        super().__init__(common, columns=reference.columns, expects=reference.expected, **flags)
        self.path = path
        self.reference = reference

    def check(self, item: ScoreInput) -> tuple[bool, str]:
        ok, document, explanation = self.parse(item.output)
        if not ok:
            return False, explanation
        try:
            found = _follow(document, self.path)
        except LookupError as exc:
            return False, str(exc)
        wanted = self.reference.get(item)
        same = (
            found is wanted
            if isinstance(found, bool) or isinstance(wanted, bool)
            else (found == wanted)
        )
        if not same and (isinstance(found, str) or isinstance(wanted, str)):
            same = text_of(found) == text_of(wanted)
        if same:
            return True, f"field equals {clip(wanted)}"
        return False, f"field is {clip(found)}, expected {clip(wanted)}"


def _fences(options: Options) -> bool:
    return options.boolean("strip_fences")


def _is_json(options: Options, common: Common) -> _IsJson:
    return _IsJson(common, fences=_fences(options), negate=options.boolean("negate"))


def _json_schema(options: Options, common: Common) -> _JsonSchema:
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    schema = options.mapping("schema")
    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        options.fail("schema", f"not a valid JSON schema: {exc.message}")
    return _JsonSchema(
        common, cls(schema), fences=_fences(options), negate=options.boolean("negate")
    )


def _json_field(options: Options, common: Common) -> _JsonField:
    try:
        path = parse_path(options.string("path"))
    except ValueError as exc:
        options.fail("path", str(exc))
    return _JsonField(
        common,
        path,
        Reference.read(options),
        fences=_fences(options),
        negate=options.boolean("negate"),
    )


JSON_SCORERS: dict[str, Builder] = {
    "is_json": _is_json,
    "json_schema": _json_schema,
    "json_field": _json_field,
}
