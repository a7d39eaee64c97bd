"""Templates: strict {{variable}} substitution, and Jinja2 only inside its sandbox."""

from __future__ import annotations

import warnings

import pytest

from prompts import (
    InvalidPromptError,
    MissingVariableError,
    PromptVersion,
    RenderError,
    SandboxViolation,
    Template,
    TemplateSyntaxError,
    UnknownVariableWarning,
)


def test_variables_are_found_in_order_of_first_use() -> None:
    template = Template("{{b}} then {{ a }} then {{b}} and {{not a var}} and {{ 1x }}")
    assert template.variables == ("b", "a")
    assert template.kind == "text"


def test_rendering_inserts_values_as_text_never_as_template() -> None:
    template = Template("Hello {{name}}, about {{topic}}")
    rendered = template.render({"name": "{{topic}}", "topic": "cats"})
    assert rendered.value == "Hello {{topic}}, about cats"


def test_structures_are_inserted_as_json_and_other_braces_are_left_alone() -> None:
    template = Template('Return {"a": {{a}}, "flag": {{flag}}} {{ }} {{x}}')
    out = template.render({"a": [1, "two"], "flag": True, "x": None}).value
    assert out == 'Return {"a": [1, "two"], "flag": true} {{ }} null'


def test_a_missing_variable_is_an_error_naming_every_missing_one() -> None:
    template = Template("{{a}} {{b}} {{c}}")
    with pytest.raises(MissingVariableError) as caught:
        template.render({"b": 1})
    assert caught.value.missing == ["a", "c"]
    assert "missing variables a, c" in str(caught.value)


def test_an_unknown_variable_is_reported_and_warned_about() -> None:
    version = PromptVersion(name="greet", version=1, template="Hi {{name}}")
    assert version.fill({"name": "Ann", "extra": 1}).unused == ("extra",)
    with pytest.warns(UnknownVariableWarning, match="extra"):
        assert version.render(name="Ann", extra=1) == "Hi Ann"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert version.render(name="Ann") == "Hi Ann"


def test_chat_templates_render_every_message_and_text_part() -> None:
    template = Template(
        [
            {"role": "system", "content": "You are {{persona}}."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe {{thing}}"},
                    {"type": "image_url", "image_url": {"url": "https://x/{{thing}}.png"}},
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": []},
        ]
    )
    assert template.kind == "chat"
    assert template.variables == ("persona", "thing")
    messages = template.render({"persona": "a poet", "thing": "rain"}).value
    assert isinstance(messages, list)
    assert messages[0] == {"role": "system", "content": "You are a poet."}
    assert messages[1]["content"][0]["text"] == "Describe rain"
    # Only text is templated: an image URL is passed as written.
    assert messages[1]["content"][1]["image_url"]["url"] == "https://x/{{thing}}.png"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "template"),
        (42, "template"),
        (["text"], "template.messages[0]"),
        ([{"role": "wizard", "content": "x"}], "template.messages[0].role"),
        ([{"role": "user", "content": 3}], "template.messages[0].content"),
    ],
)
def test_malformed_templates_name_the_field(body: object, field: str) -> None:
    with pytest.raises(InvalidPromptError) as caught:
        Template(body)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert field in str(caught.value)


def test_jinja2_loops_and_conditions_with_strict_variables() -> None:
    template = Template(
        "{% for item in items %}- {{ item.name }}{% if item.done %} (done){% endif %}\n"
        "{% endfor %}{{ footer | upper }}",
        engine="jinja2",
    )
    assert set(template.variables) == {"items", "footer"}
    out = template.render(
        {"items": [{"name": "a", "done": True}, {"name": "b", "done": False}], "footer": "end"}
    ).value
    assert out == "- a (done)\n- b\nEND"
    with pytest.raises(MissingVariableError, match="footer"):
        template.render({"items": []})
    with pytest.raises(RenderError, match="no attribute 'name'"):
        template.render({"items": [{"done": True}], "footer": ""})


def test_jinja2_syntax_errors_name_the_line() -> None:
    with pytest.raises(TemplateSyntaxError, match="line 2"):
        Template("ok\n{% for x in %}", engine="jinja2")


@pytest.mark.parametrize(
    "payload",
    [
        # Classic escapes: walk from a literal to object's subclasses, or to module globals.
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__base__.__subclasses__()[0].__init__.__globals__ }}",
        "{{ x.__init__.__globals__['os'].popen('id').read() }}",
        "{{ x.__class__.__init__.__globals__.__builtins__.open('/etc/passwd').read() }}",
        "{{ x.format.__globals__ }}",
        "{{ ().__class__.__bases__[0].__subclasses__() }}",
        "{% set f = x.__class__ %}{{ f }}",
        "{{ x.mro() }}",
        # Mutating what the caller passed in.
        "{{ items.append(1) }}",
        "{{ d.update({'a': 1}) }}",
        "{{ d.clear() }}",
        # Exhausting memory.
        "{{ 'a' * 100000000 }}",
        "{{ [1] * 100000000 }}",
        "{{ 9 ** 9999999 }}",
        "{% for i in range(10**9) %}{% endfor %}",
    ],
)
def test_jinja2_sandbox_blocks_escape_payloads(payload: str) -> None:
    template = Template(payload, engine="jinja2")
    variables = {"x": "text", "items": [0], "d": {"k": "v"}}
    variables = {k: v for k, v in variables.items() if k in template.variables}
    with pytest.raises((SandboxViolation, RenderError)) as caught:
        template.render(variables)
    assert not isinstance(caught.value, MissingVariableError)
    assert variables.get("items", [0]) == [0] and variables.get("d", {"k": "v"}) == {"k": "v"}


@pytest.mark.parametrize(
    "payload",
    [
        "{% include '/etc/passwd' %}",
        "{% import 'os' as os %}",
        "{% extends '/etc/hosts' %}",
        "{{ lipsum.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ config }}",
        "{{ self.__init__.__globals__ }}",
        "{{ request.application.__globals__ }}",
    ],
)
def test_jinja2_sandbox_reads_no_files_and_has_no_dangerous_globals(payload: str) -> None:
    """Names like ``lipsum`` or ``config`` are not there: they are variables the caller must
    give, and what the caller gives is only text."""
    template = Template(payload, engine="jinja2")
    if template.variables:
        with pytest.raises(MissingVariableError):
            template.render({})
    try:
        out = template.render(dict.fromkeys(template.variables, "plain")).value
    except RenderError:
        return
    assert out in ("plain", ""), out


def test_jinja2_values_are_not_reinterpreted() -> None:
    template = Template("{{ text }}", engine="jinja2")
    assert template.render({"text": "{{ 7*7 }}"}).value == "{{ 7*7 }}"


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(InvalidPromptError, match="engine"):
        Template("x", engine="handlebars")  # type: ignore[arg-type]
