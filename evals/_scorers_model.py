"""Scorers that call a model through the gateway: embedding_similarity and llm_judge."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._scorer_base import BaseScorer, Common, Options, Reference, clip, strip_fences, text_of
from ._scoring import ModelClient, Score, ScoreInput

if TYPE_CHECKING:
    from prompts import ProjectPrompts, PromptStore

__all__ = ["JUDGE_SYSTEM", "JUDGE_VARIABLES", "build_embedding", "build_judge"]


class _Embedding(BaseScorer):
    """Cosine similarity of the output's and the reference's embeddings."""

    def __init__(self, common: Common, model: str, reference: Reference) -> None:
        super().__init__(
            common, columns=reference.columns, expects=reference.expected, models=(model,)
        )
        self.model = model
        self.reference = reference

    async def measure(self, item: ScoreInput, client: ModelClient) -> Score:
        import numpy as np

        wanted = text_of(self.reference.get(item))
        if not item.output.strip() or not wanted.strip():
            raise ValueError("cannot embed an empty text")
        vectors = await client.embed(self.model, [item.output, wanted])
        if len(vectors) != 2:
            raise ValueError(f"expected 2 embeddings, got {len(vectors)}")
        a, b = (np.asarray(v, dtype=float) for v in vectors)
        norms = float(np.linalg.norm(a) * np.linalg.norm(b))
        if a.shape != b.shape or not norms:
            raise ValueError("the embeddings differ in size or one is all zeros")
        return self.verdict(float(np.dot(a, b)) / norms)


def build_embedding(options: Options, common: Common) -> _Embedding:
    """``embedding_similarity``: ``model`` (a gateway embedding model) and a reference."""
    return _Embedding(common, options.string("model"), Reference.read(options))


JUDGE_VARIABLES = ("input", "output", "expected", "rubric", "scale")
"""The variables a judge prompt is rendered with (besides the row's columns)."""

JUDGE_SYSTEM = (
    "You are an impartial, exacting evaluator. You grade an AI assistant's answer against a "
    "rubric. Judge only what the rubric asks; do not reward length or confidence. First explain "
    'your reasoning briefly, then give your verdict, as a JSON object {"reasoning": ..., '
    '"score": ...}.'
)

_JUDGE_USER = (
    "[Rubric]\n{{rubric}}\n\n[Input]\n{{input}}\n\n[Expected answer]\n{{expected}}\n\n"
    "[Answer to grade]\n{{output}}\n\n[Verdict]\n{{scale}}"
)

_PASS = {"pass", "passed", "yes", "true", "correct", "1"}
_FAIL = {"fail", "failed", "no", "false", "incorrect", "0"}
_NUMBER = r"(-?\d+(?:\.\d+)?)"


class _Judge(BaseScorer):
    """LLM-as-judge: a model grades the output against a rubric; its reasoning is the
    explanation. ``scale`` is ``None`` for pass/fail, else ``(low, high)``."""

    def __init__(
        self,
        common: Common,
        *,
        model: str,
        template: Any,
        rubric: str,
        scale: tuple[int, int] | None,
        params: Mapping[str, Any],
        structured: bool,
        reference: Reference | None,
        columns: tuple[str, ...],
        prompt_ref: str | None,
    ) -> None:
        super().__init__(common, columns=columns, models=(model,))
        self.model = model
        self.template = template
        self.rubric = rubric
        self.scale = scale
        self.params = dict(params)
        self.structured = structured
        self.reference = reference
        self.prompt_ref = prompt_ref

    def scale_text(self) -> str:
        if self.scale is None:
            return 'Set "score" to true if the answer meets the rubric, else false.'
        low, high = self.scale
        return f'Set "score" to an integer from {low} (worst) to {high} (best).'

    def messages(self, item: ScoreInput) -> list[dict[str, Any]]:
        expected = self.reference.get(item) if self.reference else item.expected
        variables = {
            **item.row,
            "input": _input_of(item),
            "output": item.output,
            "expected": "(none given)" if expected is None else text_of(expected),
            "rubric": self.rubric,
            "scale": self.scale_text(),
        }
        body = self.template.render(variables, where=f"judge prompt of {self.name}").value
        if isinstance(body, str):
            return [{"role": "user", "content": body}]
        return list(body)

    def response_format(self) -> dict[str, Any]:
        if self.scale is None:
            score: dict[str, Any] = {"type": "boolean"}
        else:
            score = {"type": "integer", "minimum": self.scale[0], "maximum": self.scale[1]}
        schema = {
            "type": "object",
            "properties": {"reasoning": {"type": "string"}, "score": score},
            "required": ["reasoning", "score"],
            "additionalProperties": False,
        }
        return {
            "type": "json_schema",
            "json_schema": {"name": "judgement", "strict": True, "schema": schema},
        }

    async def measure(self, item: ScoreInput, client: ModelClient) -> Score:
        params = dict(self.params)
        if self.structured:
            params.setdefault("response_format", self.response_format())
        # Off the event loop: a Jinja2 judge prompt renders in a worker process.
        messages = await asyncio.to_thread(self.messages, item)
        reply = await client.chat(self.model, messages, **params)
        message = (reply.get("choices") or [{}])[0].get("message") or {}
        if message.get("refusal"):
            raise ValueError(f"the judge refused: {clip(message['refusal'])}")
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ValueError("the judge gave no answer")
        reasoning, raw = parse_judgement(content)
        if self.scale is None:
            passed = _pass_fail(raw)
            return self.verdict(1.0 if passed else 0.0, passed, reasoning)
        value = _number(raw)
        low, high = self.scale
        if not low <= value <= high:
            raise ValueError(f"the judge's score {value:g} is outside the scale [{low}, {high}]")
        return self.verdict(value, None, reasoning)


def _input_of(item: ScoreInput) -> str:
    """The last user message of the call; else the row's variables, one per line."""
    for message in reversed(item.messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(
                    str(part.get("text", "")) for part in content if isinstance(part, dict)
                )
            return text_of(content)
    return "\n".join(f"{key}: {text_of(value)}" for key, value in item.variables.items())


def parse_judgement(content: str) -> tuple[str, Any]:
    """``(reasoning, score)`` from a judge's reply: its JSON object (also inside a code fence
    or prose), else a ``score: N`` / ``verdict: PASS`` line, else the last pass/fail word."""
    text = strip_fences(content).strip()
    candidates = [text]
    braces = re.search(r"\{.*\}", text, re.DOTALL)
    if braces:
        candidates.append(braces.group(0))
    for candidate in candidates:
        try:
            found = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(found, dict):
            score = next(
                (found[k] for k in ("score", "verdict", "grade", "rating") if k in found), None
            )
            if score is not None:
                reasoning = next(
                    (found[k] for k in ("reasoning", "explanation", "reason") if k in found), ""
                )
                return text_of(reasoning), score
    labelled = re.search(
        r"\b(?:score|verdict|grade|rating)\b\W{0,4}(" + _NUMBER[1:-1] + r"|[A-Za-z]+)",
        text,
        re.IGNORECASE,
    )
    if labelled:
        return text, labelled.group(1)
    words = re.findall(r"\b(pass|fail|passed|failed)\b", text, re.IGNORECASE)
    if words:
        return text, words[-1]
    raise ValueError(f"cannot find a score in the judge's reply: {clip(content, 200)}")


def _pass_fail(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    word = str(raw).strip().casefold()
    if word in _PASS:
        return True
    if word in _FAIL:
        return False
    raise ValueError(f"the judge's score {clip(raw)} is not pass or fail")


def _number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("the judge gave true/false on a numeric scale")
    if isinstance(raw, int | float):
        return float(raw)
    found = re.fullmatch(r"\s*" + _NUMBER + r"\s*(?:/\s*\d+)?\s*", str(raw))
    if not found:
        raise ValueError(f"the judge's score {clip(raw)} is not a number")
    return float(found.group(1))


def _scale(options: Options) -> tuple[int, int] | None:
    raw = options.raw("scale", "pass_fail")
    if raw == "pass_fail":
        return None
    valid = (
        isinstance(raw, list)
        and len(raw) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
        and raw[0] < raw[1]
    )
    if not valid:
        options.fail("scale", f"expected pass_fail or [low, high] integers, got {raw!r}")
    return int(raw[0]), int(raw[1])


def build_judge(
    options: Options, common: Common, prompts: PromptStore | ProjectPrompts | None
) -> _Judge:
    """``llm_judge``: ``model``, ``rubric``, ``scale``, ``prompt`` (a registry reference),
    ``params``, ``structured``, and optionally a reference (``value`` / ``column``)."""
    from prompts import PromptError, Template

    model_config: dict[str, Any] = {}
    prompt_ref = None
    if options.has("prompt"):
        ref = options.string("prompt")
        if prompts is None:
            options.fail("prompt", "a judge prompt from the registry needs the prompt store")
        try:
            version = prompts.get(ref)
        except PromptError as exc:
            options.fail("prompt", str(exc))
        template = Template(version.template, version.engine)
        model_config = dict(version.model_config)
        prompt_ref = version.ref
        extra = tuple(v for v in template.variables if v not in JUDGE_VARIABLES)
    else:
        template = Template(
            [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": _JUDGE_USER}]
        )
        extra = ()
    model = options.string("model", model_config.pop("model", None))
    if model is None:
        options.fail("model", "is required (the gateway model that judges)")
    rubric = options.string("rubric", None)
    if rubric is None and "rubric" in (() if prompt_ref is None else template.variables):
        options.fail("rubric", "is required: the judge prompt uses {{rubric}}")
    if rubric is None and prompt_ref is None:
        options.fail("rubric", "is required (what a good answer does)")
    params = {"temperature": 0, **model_config, **options.mapping("params", {})}
    reference = None
    if options.has("value") or options.has("column"):
        reference = Reference.read(options)
    columns = tuple(dict.fromkeys((*(reference.columns if reference else ()), *extra)))
    return _Judge(
        common,
        model=model,
        template=template,
        rubric=rubric or "",
        scale=_scale(options),
        params=params,
        structured=options.boolean("structured", True),
        reference=reference,
        columns=columns,
        prompt_ref=prompt_ref,
    )
