"""Every scorer type: pass and fail, validation errors naming the key, scorers that call a
model (with a fake client, and once through the real gateway on the mock provider), and custom
Python scorers registered with ``@evals.scorer``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from evals import (
    REFUSAL_PHRASES,
    SCORER_TYPES,
    EvalConfigError,
    Score,
    ScoreInput,
    Scorer,
    build_scorer,
    registered_scorers,
    scorer,
)
from spyglass import Settings
from tests.conftest import running_app


class FakeClient:
    """A ModelClient that answers from a function and remembers each call."""

    def __init__(
        self,
        reply: str | Callable[[list[Mapping[str, Any]]], str] = "",
        vectors: Mapping[str, list[float]] | None = None,
    ) -> None:
        self.reply = reply
        self.vectors = dict(vectors or {})
        self.chats: list[dict[str, Any]] = []
        self.embeds: list[tuple[str, list[str]]] = []

    async def chat(
        self, model: str, messages: Sequence[Mapping[str, Any]], **params: Any
    ) -> dict[str, Any]:
        self.chats.append({"model": model, "messages": list(messages), **params})
        text = self.reply(list(messages)) if callable(self.reply) else self.reply
        return {"object": "chat.completion", "choices": [{"message": {"content": text}}]}

    async def embed(self, model: str, inputs: Sequence[str]) -> list[list[float]]:
        self.embeds.append((model, list(inputs)))
        return [self.vectors[text] for text in inputs]


def build(**spec: Any) -> Scorer:
    return build_scorer(spec, where="scorers[0]")


async def score(
    spec: Mapping[str, Any], output: str, client: FakeClient | None = None, **item: Any
) -> Score:
    built = build_scorer(spec, where="scorers[0]")
    return await built.score(ScoreInput(output=output, **item), client or FakeClient())


# (spec, output, ScoreInput fields, expected value, expected passed)
CASES: list[tuple[dict[str, Any], str, dict[str, Any], float, bool]] = [
    ({"type": "exact_match"}, "Paris", {"expected": "Paris"}, 1.0, True),
    ({"type": "exact_match"}, "paris", {"expected": "Paris"}, 0.0, False),
    ({"type": "exact_match", "ignore_case": True}, "paris", {"expected": "Paris"}, 1.0, True),
    (
        {"type": "exact_match", "ignore_whitespace": True},
        " Paris \n",
        {"expected": "Paris"},
        1,
        True,
    ),
    ({"type": "exact_match", "value": "42"}, "42", {}, 1.0, True),
    ({"type": "exact_match", "value": 42}, "42", {}, 1.0, True),
    ({"type": "exact_match", "column": "answer"}, "B", {"row": {"answer": "B"}}, 1.0, True),
    ({"type": "exact_match"}, "Paris", {"row": {"expected": "Paris"}}, 1.0, True),
    ({"type": "exact_match", "negate": True}, "Paris", {"expected": "Paris"}, 0.0, False),
    ({"type": "contains", "value": "cat"}, "the cat sat", {}, 1.0, True),
    ({"type": "contains", "value": "Cat"}, "the cat sat", {}, 0.0, False),
    ({"type": "contains", "value": "dog", "negate": True}, "the cat sat", {}, 1.0, True),
    ({"type": "icontains", "value": "CAT"}, "the cat sat", {}, 1.0, True),
    ({"type": "icontains"}, "THE CAT", {"expected": "cat"}, 1.0, True),
    ({"type": "icontains", "value": "dog"}, "the cat sat", {}, 0.0, False),
    ({"type": "starts_with", "value": "Yes"}, "Yes, indeed", {}, 1.0, True),
    ({"type": "starts_with", "value": "No"}, "Yes, indeed", {}, 0.0, False),
    ({"type": "starts_with", "value": "yes", "ignore_case": True}, "Yes.", {}, 1.0, True),
    ({"type": "contains_any", "values": ["dog", "cat"]}, "a cat", {}, 1.0, True),
    ({"type": "contains_any", "values": ["dog", "cow"]}, "a cat", {}, 0.0, False),
    ({"type": "contains_any", "values": ["CAT"], "ignore_case": True}, "a cat", {}, 1, True),
    ({"type": "contains_any", "column": "tags"}, "a cat", {"row": {"tags": ["cat"]}}, 1, True),
    ({"type": "contains_all", "values": ["a", "b"]}, "a and b", {}, 1.0, True),
    ({"type": "contains_all", "values": ["x", "b", "c", "z"]}, "b and c", {}, 0.5, False),
    (
        {"type": "contains_all", "values": ["x", "b", "c", "z"], "threshold": 0.5},
        "b and c",
        {},
        0.5,
        True,
    ),
    ({"type": "regex", "pattern": r"\d{3}-\d{4}"}, "call 555-1234 now", {}, 1.0, True),
    (
        {"type": "regex", "pattern": r"\d{3}-\d{4}", "fullmatch": True},
        "call 555-1234",
        {},
        0,
        False,
    ),
    ({"type": "regex", "pattern": "^yes$", "ignore_case": True}, "YES", {}, 1.0, True),
    ({"type": "regex", "pattern": "^b$", "multiline": True}, "a\nb", {}, 1.0, True),
    ({"type": "regex", "column": "re"}, "id=17", {"row": {"re": r"id=\d+"}}, 1.0, True),
    ({"type": "regex", "pattern": "sorry", "negate": True}, "Sure!", {}, 1.0, True),
    ({"type": "is_json"}, '{"a": 1}', {}, 1.0, True),
    ({"type": "is_json"}, "{'a': 1}", {}, 0.0, False),
    ({"type": "is_json"}, '```json\n{"a": 1}\n```', {}, 0.0, False),
    ({"type": "is_json", "strip_fences": True}, '```json\n{"a": 1}\n```', {}, 1.0, True),
    ({"type": "json_field", "path": "a.b[1]", "value": 2}, '{"a": {"b": [1, 2]}}', {}, 1, True),
    ({"type": "json_field", "path": "$.a.b.0", "value": 2}, '{"a": {"b": [1, 2]}}', {}, 0, False),
    ({"type": "json_field", "path": "n"}, '{"n": 3}', {"expected": "3"}, 1.0, True),
    ({"type": "json_field", "path": "ok", "value": True}, '{"ok": true}', {}, 1.0, True),
    ({"type": "json_field", "path": "ok", "value": 1}, '{"ok": true}', {}, 0.0, False),
    ({"type": "json_field", "path": "missing", "value": 1}, '{"ok": true}', {}, 0.0, False),
    ({"type": "json_field", "path": "x", "value": 1}, "not json", {}, 0.0, False),
    ({"type": "length", "max": 5}, "four", {}, 4.0, True),
    ({"type": "length", "min": 5}, "four", {}, 4.0, False),
    ({"type": "length", "min": 2, "max": 3, "unit": "words"}, "one two three", {}, 3.0, True),
    ({"type": "length", "max": 2, "unit": "words"}, "one two three", {}, 3.0, False),
    ({"type": "latency", "threshold": 500}, "x", {"latency_ms": 120.0}, 120.0, True),
    ({"type": "latency", "threshold": 100}, "x", {"latency_ms": 120.0}, 120.0, False),
    ({"type": "cost", "threshold": 0.01}, "x", {"cost_usd": 0.002}, 0.002, True),
    ({"type": "cost", "threshold": 0.001}, "x", {"cost_usd": 0.002}, 0.002, False),
    ({"type": "is_refusal"}, "I'm sorry, but I can't help with that.", {}, 1.0, True),
    ({"type": "is_refusal"}, "I\u2019m sorry, but I can\u2019t do this.", {}, 1.0, True),
    ({"type": "is_refusal"}, "The capital of France is Paris.", {}, 0.0, False),
    ({"type": "is_refusal", "negate": True}, "The capital is Paris.", {}, 1.0, True),
    ({"type": "is_refusal", "phrases": ["Nope."]}, "nope. not doing it", {}, 1.0, True),
    (
        {"type": "is_refusal"},
        "",
        {"response": {"choices": [{"message": {"content": None, "refusal": "No."}}]}},
        1.0,
        True,
    ),
]


@pytest.mark.parametrize(("spec", "output", "item", "value", "passed"), CASES)
async def test_deterministic_scorers(
    spec: dict[str, Any], output: str, item: dict[str, Any], value: float, passed: bool
) -> None:
    result = await score(spec, output, **item)
    assert result.error is None
    assert result.value == pytest.approx(value)
    assert result.passed is passed
    assert result.explanation


def test_every_type_is_covered() -> None:
    covered = {spec["type"] for spec, *_ in CASES} | {
        "json_schema",
        "levenshtein",
        "similarity",
        "rouge_l",
        "bleu",
        "embedding_similarity",
        "llm_judge",
        "python",
    }
    assert covered == set(SCORER_TYPES)


def test_defaults_name_direction_columns() -> None:
    built = build(type="exact_match")
    assert (built.name, built.threshold, built.direction) == ("exact_match", None, "higher")
    # the row's expected value (whatever the dataset's expected column is called)
    assert (built.columns, built.models, getattr(built, "expects", None)) == ((), (), True)
    assert getattr(build(type="exact_match", column="gold"), "expects", None) is False
    assert build(type="contains", value="x").columns == ()
    assert build(type="regex", column="pat").columns == ("pat",)
    latency = build(type="latency", name="fast", threshold=800)
    assert (latency.name, latency.threshold, latency.direction) == ("fast", 800.0, "lower")
    assert build(type="cost", direction="higher").direction == "higher"


async def test_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name"],
    }
    spec = {"type": "json_schema", "schema": schema}
    good = await score(spec, '{"name": "Ada", "age": 36}')
    assert (good.value, good.passed) == (1.0, True)
    bad = await score(spec, '{"name": "Ada", "age": -1}')
    assert (bad.value, bad.passed) == (0.0, False)
    assert "['age']" in (bad.explanation or "")
    missing = await score(spec, "{}")
    assert missing.passed is False and "'name' is a required property" in (
        missing.explanation or ""
    )
    assert (await score(spec, "nope")).passed is False


async def test_levenshtein_and_similarity_match_rapidfuzz() -> None:
    from rapidfuzz import fuzz
    from rapidfuzz.distance import Levenshtein

    lev = await score({"type": "levenshtein"}, "kitten", expected="sitting")
    assert lev.value == pytest.approx(Levenshtein.normalized_similarity("kitten", "sitting"))
    assert lev.value == pytest.approx(1 - 3 / 7)
    assert lev.passed is None  # no threshold, no verdict
    sim = await score({"type": "similarity", "threshold": 0.9}, "kitten", expected="sitting")
    assert sim.value == pytest.approx(fuzz.ratio("kitten", "sitting") / 100)
    assert sim.passed is False
    tokens = await score(
        {"type": "similarity", "method": "token_sort_ratio", "threshold": 0.99},
        "world hello",
        expected="hello world",
    )
    assert (tokens.value, tokens.passed) == (1.0, True)
    case = await score({"type": "levenshtein", "ignore_case": True}, "ABC", expected="abc")
    assert case.value == 1.0


async def test_rouge_l_and_bleu_match_their_libraries() -> None:
    import sacrebleu
    from rouge_score import rouge_scorer

    reference, output = "the cat sat on the mat", "the cat is on the mat"
    rouge = await score({"type": "rouge_l", "threshold": 0.8}, output, expected=reference)
    want = rouge_scorer.RougeScorer(["rougeL"]).score(reference, output)["rougeL"].fmeasure
    assert rouge.value == pytest.approx(want)
    assert rouge.value == pytest.approx(5 / 6)
    assert rouge.passed is True
    recall = await score({"type": "rouge_l", "measure": "recall"}, "the cat", expected=reference)
    assert recall.value == pytest.approx(2 / 6)
    bleu = await score({"type": "bleu", "threshold": 0.5}, output, expected=reference)
    assert bleu.value == pytest.approx(sacrebleu.sentence_bleu(output, [reference]).score / 100)
    assert bleu.passed is False
    many = await score({"type": "bleu", "column": "refs"}, output, row={"refs": ["x", output]})
    assert many.value == pytest.approx(1.0)


async def test_errors_inside_a_scorer_become_errored_scores() -> None:
    result = await score({"type": "exact_match", "column": "answer"}, "x", row={})
    assert (result.value, result.passed) == (None, None)
    assert "no column 'answer'" in (result.error or "")
    no_expected = await score({"type": "levenshtein"}, "x", row={"answer": "x"})
    assert no_expected.value is None and "no expected value" in (no_expected.error or "")
    cost = await score({"type": "cost", "threshold": 1}, "x", cost_usd=None)
    assert cost.value is None and "no cost" in (cost.error or "")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "scorers[0].type: is required (one of: exact_match"),
        (
            {"type": "exactmatch"},
            "scorers[0].type: unknown scorer type 'exactmatch' (known: exact_match, contains",
        ),
        (
            {"type": "exact_match", "threshold": "high"},
            "scorers[0].threshold: expected a number, got the string 'high'",
        ),
        ({"type": "exact_match", "threshold": True}, "scorers[0].threshold: expected a number"),
        (
            {"type": "exact_match", "direction": "up"},
            "scorers[0].direction: expected one of higher, lower, got 'up'",
        ),
        ({"type": "exact_match", "name": ""}, "scorers[0].name: expected a non-empty string"),
        ({"type": "exact_match", "name": "a=b"}, "scorers[0].name: 'a=b' may hold only"),
        (
            {"type": "exact_match", "ignore_case": "yes"},
            "scorers[0].ignore_case: expected true or false",
        ),
        (
            {"type": "exact_match", "value": "a", "column": "b"},
            "scorers[0].column: give either value or column",
        ),
        (
            {"type": "exact_match", "colum": "b"},
            "scorers[0].colum: unknown key for this scorer type (known: ",
        ),
        ({"type": "contains", "ignore_case": True}, "scorers[0].ignore_case: unknown key"),
        ({"type": "contains", "value": ["a"]}, "scorers[0].value: expected a string or a number"),
        ({"type": "contains_any", "values": "a"}, "scorers[0].values: expected a list of strings"),
        ({"type": "contains_all", "values": ["a", 3]}, "scorers[0].values[1]: expected a string"),
        ({"type": "contains_all", "values": []}, "scorers[0].values: expected at least one string"),
        ({"type": "regex"}, "scorers[0].pattern: is required (or column:"),
        ({"type": "regex", "pattern": "("}, "scorers[0].pattern: not a valid regular expression"),
        ({"type": "json_schema"}, "scorers[0].schema: is required"),
        (
            {"type": "json_schema", "schema": {"type": "thing"}},
            "scorers[0].schema: not a valid JSON schema",
        ),
        ({"type": "json_field", "value": 1}, "scorers[0].path: is required"),
        ({"type": "json_field", "path": "a..b", "value": 1}, "scorers[0].path: cannot read"),
        (
            {"type": "similarity", "method": "best"},
            "scorers[0].method: expected one of ratio, partial_ratio",
        ),
        ({"type": "rouge_l", "measure": "f1"}, "scorers[0].measure: expected one of fmeasure"),
        (
            {"type": "bleu", "tokenize": "klingon"},
            "scorers[0].tokenize: sacrebleu cannot use 'klingon'",
        ),
        ({"type": "length"}, "scorers[0].max: give min, max or both"),
        ({"type": "length", "min": 5, "max": 2}, "scorers[0].min: min (5) is above max (2)"),
        ({"type": "length", "max": -1}, "scorers[0].max: expected a number >= 0"),
        (
            {"type": "length", "max": 3, "unit": "lines"},
            "scorers[0].unit: expected one of chars, words",
        ),
        ({"type": "is_refusal", "phrases": "no"}, "scorers[0].phrases: expected a list of strings"),
        (
            {"type": "is_refusal", "replace_phrases": True},
            "scorers[0].phrases: replace_phrases is true",
        ),
        ({"type": "embedding_similarity"}, "scorers[0].model: is required"),
        ({"type": "llm_judge", "rubric": "ok"}, "scorers[0].model: is required"),
        ({"type": "llm_judge", "model": "m"}, "scorers[0].rubric: is required"),
        (
            {"type": "llm_judge", "model": "m", "rubric": "r", "scale": [5, 1]},
            "scorers[0].scale: expected pass_fail or [low, high]",
        ),
        (
            {"type": "llm_judge", "model": "m", "rubric": "r", "scale": "1-5"},
            "scorers[0].scale: expected pass_fail",
        ),
        (
            {"type": "llm_judge", "model": "m", "rubric": "r", "params": 3},
            "scorers[0].params: expected a mapping",
        ),
        (
            {"type": "llm_judge", "model": "m", "prompt": "judge@production"},
            "scorers[0].prompt: a judge prompt from the registry needs",
        ),
        ({"type": "python"}, "scorers[0].function: is required"),
        (
            {"type": "python", "function": "no_such_scorer"},
            "scorers[0].function: no scorer function registered as 'no_such_scorer'",
        ),
        (
            {"type": "python", "function": "no_such_module_x:f"},
            "scorers[0].function: cannot import 'no_such_module_x:f'",
        ),
        (
            {"type": "python", "function": "json:dumps"},
            "scorers[0].function: 'json:dumps' is not registered",
        ),
        (
            {"type": "python", "function": "sync_scorer", "options": [1]},
            "scorers[0].options: expected a mapping",
        ),
    ],
)
def test_validation_errors_name_the_key(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(EvalConfigError) as caught:
        build_scorer(spec, where="scorers[0]")
    assert str(caught.value).startswith(message), str(caught.value)
    assert caught.value.where is not None and caught.value.where.startswith("scorers[0]")


def test_an_entry_must_be_a_mapping() -> None:
    with pytest.raises(EvalConfigError, match=r"^scorers\[3\]: expected a mapping, got a list"):
        build_scorer(["exact_match"], where="scorers[3]")  # type: ignore[arg-type]


def test_refusal_phrases_are_lower_case_and_documented() -> None:
    assert all(p == p.casefold() for p in REFUSAL_PHRASES)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "evals.md").read_text()
    assert "is_refusal" in docs
    assert [p for p in REFUSAL_PHRASES if f"`{p}`" not in docs] == []


# --- scorers that call a model ---------------------------------------------------------------


async def test_embedding_similarity_is_the_cosine() -> None:
    client = FakeClient(vectors={"a": [1.0, 0.0], "b": [1.0, 1.0], "c": [0.0, 2.0]})
    spec = {"type": "embedding_similarity", "model": "emb", "threshold": 0.9}
    built = build(**spec)
    assert built.models == ("emb",) and built.columns == ()
    near = await built.score(ScoreInput(output="a", expected="b"), client)
    assert near.value == pytest.approx(2**-0.5)
    assert near.passed is False
    same = await built.score(ScoreInput(output="c", expected="c"), client)
    assert (same.value, same.passed) == (pytest.approx(1.0), True)
    assert client.embeds[0] == ("emb", ["a", "b"])
    empty = await built.score(ScoreInput(output="", expected="c"), client)
    assert empty.value is None and "empty" in (empty.error or "")


def judge_spec(**extra: Any) -> dict[str, Any]:
    return {"type": "llm_judge", "model": "judge-model", "rubric": "Is it polite?", **extra}


async def test_judge_pass_fail_with_structured_output() -> None:
    client = FakeClient(json.dumps({"reasoning": "It says please.", "score": True}))
    built = build(**judge_spec())
    assert built.models == ("judge-model",) and built.columns == ()
    result = await built.score(
        ScoreInput(
            output="Please sit down.",
            expected="a polite request",
            messages=[{"role": "user", "content": "Ask me to sit."}],
        ),
        client,
    )
    assert (result.value, result.passed, result.explanation) == (1.0, True, "It says please.")
    call = client.chats[0]
    assert call["model"] == "judge-model" and call["temperature"] == 0
    schema = call["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["reasoning", "score"]
    assert schema["properties"]["score"] == {"type": "boolean"}
    prompt = call["messages"][-1]["content"]
    for part in ("Is it polite?", "Ask me to sit.", "Please sit down.", "a polite request"):
        assert part in prompt


@pytest.mark.parametrize(
    ("reply", "value", "passed", "explanation"),
    [
        ('{"reasoning": "rude", "score": false}', 0.0, False, "rude"),
        ('```json\n{"reasoning": "fine", "score": "PASS"}\n```', 1.0, True, "fine"),
        ('Here you go: {"explanation": "ok", "verdict": "yes"} done', 1.0, True, "ok"),
        ("The answer is courteous.\nVerdict: PASS", 1.0, True, None),
        ("It is curt, so it should fail.", 0.0, False, None),
    ],
)
async def test_judge_reply_parsing_falls_back(
    reply: str, value: float, passed: bool, explanation: str | None
) -> None:
    result = await score(judge_spec(), "Sit.", FakeClient(reply))
    assert (result.value, result.passed) == (value, passed), result
    assert result.explanation == (explanation if explanation is not None else reply.strip())


async def test_judge_numeric_scale_and_threshold() -> None:
    spec = judge_spec(scale=[1, 5], threshold=4, structured=False, params={"max_tokens": 50})
    client = FakeClient('{"reasoning": "mostly", "score": 4}')
    result = await score(spec, "Sit.", client)
    assert (result.value, result.passed, result.explanation) == (4.0, True, "mostly")
    assert "response_format" not in client.chats[0]
    assert client.chats[0]["max_tokens"] == 50
    assert "from 1 (worst) to 5 (best)" in client.chats[0]["messages"][-1]["content"]
    low = await score(spec, "Sit.", FakeClient("Reasoning: blunt.\nScore: 2/5"))
    assert (low.value, low.passed) == (2.0, False)
    unset = await score(judge_spec(scale=[1, 10]), "x", FakeClient('{"reasoning":"","score":7}'))
    assert (unset.value, unset.passed) == (7.0, None)
    schema = FakeClient('{"reasoning": "", "score": 3}')
    await score(judge_spec(scale=[1, 5]), "x", schema)
    score_schema = schema.chats[0]["response_format"]["json_schema"]["schema"]["properties"]
    assert score_schema["score"] == {"type": "integer", "minimum": 1, "maximum": 5}


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ('{"reasoning": "great", "score": 9}', "outside the scale [1, 5]"),
        ("I cannot decide.", "cannot find a score"),
        ('{"reasoning": "x", "score": "excellent"}', "is not a number"),
        ("", "gave no answer"),
    ],
)
async def test_judge_failures_become_errored_scores(reply: str, error: str) -> None:
    result = await score(judge_spec(scale=[1, 5]), "x", FakeClient(reply))
    assert (result.value, result.passed) == (None, None)
    assert error in (result.error or "")


async def test_judge_prompt_from_the_registry(tmp_path: Path) -> None:
    from prompts import PromptStore
    from spyglass._db import create_store_engine, upgrade_store

    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade_store(engine)
    store = PromptStore(engine)
    store.push(
        "judge",
        [
            {"role": "system", "content": "Grade strictly for {{audience}}. {{scale}}"},
            {"role": "user", "content": "Q: {{input}}\nA: {{output}}\nRubric: {{rubric}}"},
        ],
        model_config={"model": "registry-judge", "temperature": 0.2},
        labels=["production"],
    )
    spec = {"type": "llm_judge", "prompt": "judge@production", "rubric": "Be kind."}
    built = build_scorer(spec, where="scorers[1]", prompts=store)
    assert built.models == ("registry-judge",)
    assert built.columns == ("audience",)
    client = FakeClient('{"reasoning": "kind", "score": true}')
    result = await built.score(
        ScoreInput(output="Hello!", row={"audience": "kids"}, variables={"q": "Greet me"}),
        client,
    )
    assert (result.passed, result.explanation) == (True, "kind")
    call = client.chats[0]
    assert (call["model"], call["temperature"]) == ("registry-judge", 0.2)
    assert call["messages"][0]["content"].startswith('Grade strictly for kids. Set "score"')
    assert call["messages"][1]["content"] == "Q: q: Greet me\nA: Hello!\nRubric: Be kind."
    with pytest.raises(EvalConfigError, match=r"^scorers\[1\]\.prompt: .*no label 'staging'"):
        build_scorer({**spec, "prompt": "judge@staging"}, where="scorers[1]", prompts=store)
    with pytest.raises(EvalConfigError, match=r"^scorers\[1\]\.prompt: .*no prompt named"):
        build_scorer({**spec, "prompt": "nobody"}, where="scorers[1]", prompts=store)
    override = build_scorer({**spec, "model": "other"}, where="scorers[1]", prompts=store)
    assert override.models == ("other",)


async def test_judge_and_embeddings_through_the_gateway(
    settings_from: Callable[..., Settings],
) -> None:
    """The mock provider answers a json_schema response_format with a valid example, and
    embeds deterministically: the scorers' requests are ones the real gateway accepts."""
    settings = settings_from(
        {
            "model_list": [
                {"model_name": "judge", "litellm_params": {"model": "mock/judge"}},
                {"model_name": "emb", "litellm_params": {"model": "mock/emb"}},
            ]
        }
    )
    async with running_app(settings) as http:
        client = GatewayModelClient(http)
        judged = await build(**judge_spec(model="judge", scale=[1, 5])).score(
            ScoreInput(output="Hi"), client
        )
        assert judged.error is None, judged.error
        assert judged.value == 1.0  # the mock's example: the schema's minimum
        embedded = build(type="embedding_similarity", model="emb", threshold=0.99)
        same = await embedded.score(ScoreInput(output="hello", expected="hello"), client)
        assert (same.value, same.passed) == (pytest.approx(1.0), True)
        other = await embedded.score(ScoreInput(output="hello", expected="bye"), client)
        assert other.value is not None and other.value < 0.99 and other.passed is False


class GatewayModelClient:
    """The ModelClient the runner uses, reduced to its two calls."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def chat(
        self, model: str, messages: Sequence[Mapping[str, Any]], **params: Any
    ) -> dict[str, Any]:
        body = {"model": model, "messages": list(messages), **params}
        response = await self.http.post("/v1/chat/completions", json=body)
        response.raise_for_status()
        return dict(response.json())

    async def embed(self, model: str, inputs: Sequence[str]) -> list[list[float]]:
        response = await self.http.post("/v1/embeddings", json={"model": model, "input": inputs})
        response.raise_for_status()
        return [item["embedding"] for item in response.json()["data"]]


# --- custom Python scorers -------------------------------------------------------------------


@scorer
def sync_scorer(output: str, expected: Any) -> bool:
    return output.strip() == str(expected)


@scorer(name="async_overlap", threshold=0.5)
async def async_scorer(output: str, row: Mapping[str, Any], options: Mapping[str, Any]) -> float:
    words = set(row["keywords"])
    found = {w for w in words if w in output.split()}
    return len(found) / len(words) * options.get("weight", 1.0)


@scorer(name="dict_scorer", direction="lower")
def returns_dict(output: str, latency_ms: float) -> dict[str, Any]:
    return {"score": len(output), "explanation": f"{len(output)} chars in {latency_ms:.0f} ms"}


@scorer(name="score_scorer")
def returns_score(item: ScoreInput) -> Score:
    return Score(value=0.25, passed=True, explanation=f"saw {item.output}")


@scorer(name="broken_scorer")
def raises(output: str) -> float:
    raise RuntimeError("boom")


@scorer(name="odd_scorer")
def returns_text(**everything: Any) -> Any:
    return "not a score" if everything["output"] else {"passed": False}


async def test_python_scorers_sync_and_async() -> None:
    here = "tests.evals.test_scorers"
    sync = await score({"type": "python", "function": f"{here}:sync_scorer"}, "4 ", expected=4)
    assert (sync.value, sync.passed) == (1.0, True)
    assert build(type="python", function="sync_scorer").name == "sync_scorer"

    spec = {"type": "python", "function": f"{here}:async_scorer"}
    built = build(**spec)
    assert (built.name, built.threshold, built.direction) == ("async_overlap", 0.5, "higher")
    half = await built.score(ScoreInput(output="a b", row={"keywords": ["a", "c"]}), FakeClient())
    assert (half.value, half.passed) == (0.5, True)
    weighted = await score(
        {**spec, "options": {"weight": 0.5}, "name": "kw", "threshold": 0.9},
        "a c",
        row={"keywords": ["a", "c"]},
    )
    assert (weighted.value, weighted.passed) == (0.5, False)


async def test_python_scorer_results_and_errors() -> None:
    as_dict = await score(
        {"type": "python", "function": "dict_scorer", "threshold": 3}, "abcd", latency_ms=12
    )
    assert (as_dict.value, as_dict.passed, as_dict.explanation) == (4.0, False, "4 chars in 12 ms")
    assert build(type="python", function="dict_scorer").direction == "lower"
    as_score = await score({"type": "python", "function": "score_scorer"}, "x")
    assert as_score == Score(0.25, True, "saw x")
    broken = await score({"type": "python", "function": "broken_scorer"}, "x")
    assert (broken.value, broken.error) == (None, "RuntimeError: boom")
    odd = await score({"type": "python", "function": "odd_scorer"}, "x")
    assert odd.value is None and "returned str" in (odd.error or "")
    only_passed = await score({"type": "python", "function": "odd_scorer"}, "")
    assert (only_passed.value, only_passed.passed) == (None, False)


async def test_python_scorer_from_a_file_next_to_the_eval(tmp_path: Path) -> None:
    (tmp_path / "my_checks.py").write_text(
        "from evals import scorer\n\n"
        "@scorer(name='shouty_file_check')\n"
        "async def shouty(output):\n"
        "    return {'score': output.isupper(), 'explanation': 'caps?'}\n"
    )
    spec = {"type": "python", "function": "my_checks.py:shouty"}
    built = build_scorer(spec, where="scorers[0]", base_dir=tmp_path)
    assert built.name == "shouty_file_check"
    result = await built.score(ScoreInput(output="HEY"), FakeClient())
    assert (result.value, result.passed, result.explanation) == (1.0, True, "caps?")
    assert "shouty_file_check" in registered_scorers()
    module_form = build_scorer(
        {"type": "python", "function": "my_checks:shouty"}, where="s", base_dir=tmp_path
    )
    assert module_form.name == "shouty_file_check"
    with pytest.raises(EvalConfigError, match=r"^scorers\[0\]\.function: cannot import .*no file"):
        build_scorer({**spec, "function": "nope.py:f"}, where="scorers[0]", base_dir=tmp_path)


def test_decorator_rejects_unknown_parameters_and_taken_names() -> None:
    with pytest.raises(TypeError, match="unknown parameter 'answer'"):

        @scorer
        def wants_answer(answer: str) -> bool:
            return True

    with pytest.raises(ValueError, match="'sync_scorer' is already registered"):

        @scorer(name="sync_scorer")
        def again(output: str) -> bool:
            return True
