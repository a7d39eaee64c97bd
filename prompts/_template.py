"""Templates: ``{{variable}}`` substitution by default, sandboxed Jinja2 on request.

The default engine does one pass of substitution: a value is inserted as text and never read
again as a template, so a user's input holding ``{{secret}}`` stays as typed. Only
``{{ name }}`` with a valid identifier is a variable; any other ``{{`` (a JSON example in a
prompt, say) is left alone.

Jinja2 templates (``engine: jinja2``) may loop and branch, and always run in Jinja2's immutable
sandbox with no loader (no ``include``/``import`` of files), no globals beyond ``range``,
``dict`` and ``namespace``, a cap on the size of ``*``/``**`` results, and bounds on each
render's output, loop iterations plus calls, and wall time, in a worker process whose memory
is capped (see ``_isolation.py``).
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ._isolation import isolated
from .errors import (
    InvalidPromptError,
    MissingVariableError,
    RenderError,
    RenderLimitError,
    SandboxViolation,
    TemplateSyntaxError,
    UnknownVariableWarning,
)

__all__ = ["Engine", "Rendered", "Template", "TemplateBody", "variables_of"]

Engine = Literal["mustache", "jinja2"]
# A text template is a string; a chat template is a list of OpenAI-style messages.
TemplateBody = str | list[dict[str, Any]]

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# What Jinja2 writes and mustache would keep as literal text: a tag with a filter, a call or
# an operator in it, a statement, a comment.
_JINJA_LOOKING = re.compile(r"\{\{[^{}]*[|()\[\]+*~][^{}]*\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_MAX_PRODUCT = 100_000  # the longest string or list a Jinja2 ``*``/``**`` may build
# Bounds on one Jinja2 render: its output, its loop iterations plus calls, and its wall time.
MAX_OUTPUT_CHARS = 1_000_000
MAX_STEPS = 1_000_000
MAX_SECONDS = 2.0
_budget = threading.local()  # the render in progress on this thread: steps left, deadline


@dataclass(frozen=True)
class Rendered:
    """A rendered template, with the variables that were given but not used."""

    value: TemplateBody
    unused: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    """A parsed, validated template (text or chat) and the variables it needs.

    Args:
        body: a string (text) or a list of ``{"role", "content"}`` messages (chat); content
            may be a string or a list of parts, whose ``text`` parts are templated.
        engine: ``mustache`` (``{{variable}}``, the default) or ``jinja2`` (sandboxed).

    Raises:
        InvalidPromptError: the body is neither text nor a list of messages.
        TemplateSyntaxError: a Jinja2 template does not parse.
    """

    body: TemplateBody
    engine: Engine = "mustache"
    variables: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.engine not in ("mustache", "jinja2"):
            raise InvalidPromptError(
                f"engine: expected 'mustache' or 'jinja2', got {self.engine!r}", field="engine"
            )
        found: dict[str, None] = {}
        for where, text in _texts(self.body):
            for name in self._variables_of(text, where):
                found.setdefault(name)
        object.__setattr__(self, "variables", tuple(found))

    def refuse_other_syntax(self) -> None:
        """Refuse a mustache template written in Jinja2's syntax (``{{x | default(50)}}``,
        ``{% if %}``): mustache would send it as literal text. Checked when a version is
        pushed, not when a stored one is rendered."""
        if self.engine != "mustache":
            return
        for where, text in _texts(self.body):
            found = _JINJA_LOOKING.search(text)
            if found:
                raise TemplateSyntaxError(
                    f"{where}: {found.group(0)[:60]!r} is Jinja2 syntax, which the mustache "
                    "engine would send as literal text; push it with engine jinja2, or write "
                    "plain {{variable}} tags",
                    field=where,
                )

    @property
    def kind(self) -> Literal["text", "chat"]:
        return "text" if isinstance(self.body, str) else "chat"

    def _variables_of(self, text: str, where: str) -> list[str]:
        if self.engine == "mustache":
            return _VARIABLE.findall(text)
        from jinja2 import TemplateSyntaxError as JinjaSyntaxError
        from jinja2 import meta

        env = _sandbox()
        try:
            parsed = env.parse(text)
        except JinjaSyntaxError as exc:
            raise TemplateSyntaxError(
                f"{where}: Jinja2 syntax error on line {exc.lineno}: {exc.message}", field=where
            ) from None
        return sorted(meta.find_undeclared_variables(parsed) - set(env.globals))

    def render(self, variables: Mapping[str, Any], *, where: str = "template") -> Rendered:
        """Fill the template. Missing variables are an error; unused ones are reported.

        Raises:
            MissingVariableError: naming every variable the template needs but did not get.
            SandboxViolation: a Jinja2 template reached for something unsafe.
            RenderError: a Jinja2 template failed at render time.
        """
        missing = [name for name in self.variables if name not in variables]
        if missing:
            raise MissingVariableError(missing, where=where)
        unused = tuple(name for name in variables if name not in self.variables)
        if self.engine == "jinja2":
            value = isolated(render_body, self.body, self.engine, variables, MAX_SECONDS)
        else:
            value = render_body(self.body, self.engine, variables)
        return Rendered(value, unused)

    def render_strict(self, variables: Mapping[str, Any]) -> TemplateBody:
        """Render, warning (``UnknownVariableWarning``) about variables the template ignores."""
        rendered = self.render(variables)
        if rendered.unused:
            warnings.warn(
                f"variables not used by the template: {', '.join(rendered.unused)}",
                UnknownVariableWarning,
                stacklevel=3,
            )
        return rendered.value


def render_body(body: TemplateBody, engine: Engine, variables: Mapping[str, Any]) -> TemplateBody:
    """Fill every text of a template body; a Jinja2 body within one set of bounds.

    ``Template.render`` checks the variables first and runs Jinja2 bodies in a render worker
    (``_isolation.py``); this is what runs there.
    """
    if engine == "jinja2":
        _budget.steps = MAX_STEPS
        _budget.deadline = time.monotonic() + MAX_SECONDS
        _budget.output = 0
    try:
        if isinstance(body, str):
            return _render_text(body, engine, variables)
        messages = []
        for message in body:
            out = dict(message)
            content = message.get("content")
            if isinstance(content, str):
                out["content"] = _render_text(content, engine, variables)
            elif isinstance(content, list):
                out["content"] = [
                    {**part, "text": _render_text(part["text"], engine, variables)}
                    if isinstance(part, dict) and isinstance(part.get("text"), str)
                    else part
                    for part in content
                ]
            messages.append(out)
        return messages
    finally:
        _budget.steps = None


def _render_text(text: str, engine: Engine, variables: Mapping[str, Any]) -> str:
    if engine == "mustache":
        return _VARIABLE.sub(lambda m: _as_text(variables[m.group(1)]), text)
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError

    try:
        return _bounded_render(_compiled(text), variables)
    except SecurityError as exc:
        raise SandboxViolation(f"template blocked by the sandbox: {exc}") from None
    except RenderError:
        raise
    except MemoryError:
        raise
    except TemplateError as exc:
        raise RenderError(f"template failed to render: {exc}") from None
    except Exception as exc:  # no loader for include/import, a range too big, 1/0...
        raise RenderError(f"template failed to render: {type(exc).__name__}: {exc}") from None


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> Any:
    return _sandbox().from_string(text)


def _bounded_render(template: Any, variables: Mapping[str, Any]) -> str:
    """Render one text within what is left of the body's bounds (``render_body`` sets them):
    ``MAX_OUTPUT_CHARS`` for all its texts together, ``MAX_STEPS`` and ``MAX_SECONDS``.

    Every loop iteration and every call is a step; every 64th step checks the deadline, so a
    template that loops or recurses without writing anything still stops in time.
    """
    chunks: list[str] = []
    size = _budget.output
    for chunk in template.generate(**variables):
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise RenderLimitError(
                f"template output exceeds {MAX_OUTPUT_CHARS:,} characters", limit="output"
            )
        chunks.append(chunk)
    _budget.output = size
    return "".join(chunks)


def _step() -> None:
    steps = getattr(_budget, "steps", None)
    if steps is None:
        return
    if steps <= 0:
        raise RenderLimitError(
            f"template exceeds {MAX_STEPS:,} loop iterations and calls", limit="iterations"
        )
    _budget.steps = steps - 1
    if steps % 64 == 0 and time.monotonic() > _budget.deadline:
        raise RenderLimitError(f"template render exceeds {MAX_SECONDS:g} s", limit="time")


def _counted(iterable: Any) -> Any:
    for item in iterable:
        _step()
        yield item


def _as_text(value: Any) -> str:
    """A value as the text it stands for: strings as they are, structures as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _texts(body: object) -> list[tuple[str, str]]:
    """(where, text) for every templated string of a body, validating its shape."""
    if isinstance(body, str):
        return [("template", body)]
    if not isinstance(body, list) or not body:
        raise InvalidPromptError(
            "template: expected text or a non-empty list of chat messages", field="template"
        )
    texts = []
    for i, message in enumerate(body):
        where = f"template.messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidPromptError(f"{where}: expected an object with role and content", where)
        role = message.get("role")
        if role not in _ROLES:
            raise InvalidPromptError(
                f"{where}.role: expected one of {', '.join(sorted(_ROLES))}, got {role!r}",
                field=f"{where}.role",
            )
        content = message.get("content")
        if isinstance(content, str):
            texts.append((f"{where}.content", content))
        elif isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts.append((f"{where}.content[{j}]", part["text"]))
        elif content is not None or role != "assistant":
            raise InvalidPromptError(
                f"{where}.content: expected text or a list of content parts",
                field=f"{where}.content",
            )
    return texts


@functools.cache
def _sandbox() -> Any:
    """The immutable sandbox: strict undefined, no loader, a minimal set of globals.

    Environments are thread-safe once built; one serves every render.
    """
    from jinja2 import StrictUndefined, nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import Namespace

    class _Sandbox(ImmutableSandboxedEnvironment):
        # Intercepted operators run at render time, never folded at compile time.
        intercepted_binops = frozenset({"*", "**", "%"})

        def _parse(self, source: str, name: str | None, filename: str | None) -> Any:
            tree = super()._parse(source, name, filename)
            # Every for loop iterates through ``_counted``, so each iteration is a step.
            for loop in tree.find_all(nodes.For):
                loop.iter = nodes.Call(
                    nodes.Name("spyglass_counted", "load"), [loop.iter], [], None, None
                )
            # No constant folding: Jinja2's compiler evaluates constant filter calls while it
            # compiles, and finding a template's variables compiles it, in the server's own
            # process (``{{ "x"|center(2000000000) }}`` would be built on saving the prompt).
            # A volatile evaluation context folds nothing; renders evaluate in the worker.
            volatile = nodes.Keyword("volatile", nodes.Const(True))
            tree.body.insert(0, nodes.EvalContextModifier([volatile]))
            return tree

        def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
            _step()
            return super().call(context, obj, *args, **kwargs)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
                raise SandboxViolation("template blocked by the sandbox: exponent too large")
            if operator == "*":
                seq, times = (left, right) if isinstance(left, Sequence) else (right, left)
                if isinstance(seq, Sequence) and isinstance(times, int):
                    if len(seq) * times > _MAX_PRODUCT:
                        raise SandboxViolation("template blocked by the sandbox: result too large")
            return super().call_binop(context, operator, left, right)

    env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    safe_range = env.globals["range"]  # the sandbox's own, capped range
    env.globals.clear()
    env.globals.update(range=safe_range, dict=dict, namespace=Namespace, spyglass_counted=_counted)
    return env


def variables_of(body: TemplateBody, engine: Engine = "mustache") -> tuple[str, ...]:
    """The variables a template needs, in order of first use."""
    return Template(body, engine).variables
