"""Request validation for the embedded server: what the real APIs reject with a 400, rejected.

``validate_request(api, body)`` checks the types and ranges of the common fields (``model``,
``messages``, ``max_tokens``, ``temperature``, ``top_p``, ``n``, ``stream``, ``stop``, ``tools``,
``tool_choice``, ``response_format``, ``logprobs``, ``thinking``, ``reasoning_effort``) and
returns the first problem as a ``RequestError`` naming the field, worded as each API words it:
OpenAI's ``Invalid type for 'max_tokens': expected an integer, but got a string instead.`` with
``param`` and ``code``; Anthropic's pydantic-style ``max_tokens: Input should be a valid
integer``. Fields it does not know are let through. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from streamkit.formats import FormatName
from streamkit.server.models import is_reasoning_model

__all__ = ["RequestError", "validate_count_tokens", "validate_request"]

_TOOL_NAME: Final = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_OPENAI_ROLES: Final = ("system", "developer", "user", "assistant", "tool", "function")
_EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh")
_MAX_STOP: Final = 4


@dataclass(frozen=True, slots=True)
class RequestError(Exception):
    """Why the request is a 400: the field (``param``, a dotted path) and the API's message.

    ``code`` is OpenAI's error code (``invalid_type``, ``integer_below_min_value``...); the
    Anthropic API has none.
    """

    param: str
    message: str
    code: str | None = None

    def __str__(self) -> str:
        return self.message


_JSON_NAMES: Final = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def _json_name(value: Any) -> str:
    for kind, name in _JSON_NAMES.items():
        if type(value) is kind:
            return name
    return "an object" if isinstance(value, Mapping) else "an array"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Style:
    """How one API words each kind of problem."""

    def __init__(self, api: FormatName) -> None:
        self.api = api

    def missing(self, param: str) -> RequestError:
        if self.api == "openai":
            message = f"Missing required parameter: '{param}'."
            return RequestError(param, message, "missing_required_parameter")
        return RequestError(param, f"{param}: Field required")

    def wrong_type(self, param: str, expected: str, value: Any) -> RequestError:
        if self.api == "openai":
            message = (
                f"Invalid type for '{param}': expected {expected}, "
                f"but got {_json_name(value)} instead."
            )
            return RequestError(param, message, "invalid_type")
        pydantic = {
            "an integer": "a valid integer",
            "a number": "a valid number",
            "a boolean": "a valid boolean",
            "a string": "a valid string",
            "an array": "a valid list",
            "an object": "a valid dictionary",
        }.get(expected, expected)
        return RequestError(param, f"{param}: Input should be {pydantic}")

    def out_of_range(
        self, param: str, value: float, *, low: float | None, high: float | None
    ) -> RequestError:
        below = low is not None and value < low
        if self.api == "openai":
            kind = "integer" if _is_int(value) else "decimal"
            side, bound = ("below minimum", low) if below else ("above maximum", high)
            sign = ">=" if below else "<="
            message = (
                f"Invalid '{param}': {kind} {side} value. "
                f"Expected a value {sign} {bound:g}, but got {value:g} instead."
            )
            code = f"{kind}_{'below_min' if below else 'above_max'}_value"
            return RequestError(param, message, code)
        words = "greater than or equal to" if below else "less than or equal to"
        bound = low if below else high
        return RequestError(param, f"{param}: Input should be {words} {bound:g}")

    def choice(self, param: str, value: Any, options: Sequence[str]) -> RequestError:
        if self.api == "openai":
            supported = ", ".join(f"'{o}'" for o in options)
            message = f"Invalid value for '{param}': '{value}'. Supported values are: {supported}."
            return RequestError(param, message, "invalid_value")
        quoted = [f"'{o}'" for o in options]
        listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        return RequestError(param, f"{param}: Input should be {listed}")

    def empty(self, param: str) -> RequestError:
        if self.api == "openai":
            message = (
                f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
                "but got an empty array instead."
            )
            return RequestError(param, message, "empty_array")
        return RequestError(param, f"{param}: List should have at least 1 item after validation")

    def invalid(self, param: str, message: str, code: str = "invalid_value") -> RequestError:
        if self.api == "openai":
            return RequestError(param, message, code)
        return RequestError(param, message if message.startswith(param) else f"{param}: {message}")


def _require(style: _Style, body: Mapping[str, Any], name: str) -> RequestError | None:
    return style.missing(name) if body.get(name) is None else None


def _typed(
    style: _Style, body: Mapping[str, Any], name: str, kind: str, *, path: str | None = None
) -> RequestError | None:
    """A type check for an optional field (absent or null passes)."""
    value = body.get(name)
    if value is None:
        return None
    checks: dict[str, Callable[[Any], bool]] = {
        "an integer": _is_int,
        "a number": _is_number,
        "a boolean": lambda v: isinstance(v, bool),
        "a string": lambda v: isinstance(v, str),
        "an array": lambda v: isinstance(v, list),
        "an object": lambda v: isinstance(v, Mapping),
    }
    return None if checks[kind](value) else style.wrong_type(path or name, kind, value)


def _ranged(
    style: _Style,
    body: Mapping[str, Any],
    name: str,
    kind: str,
    *,
    low: float | None = None,
    high: float | None = None,
) -> RequestError | None:
    problem = _typed(style, body, name, kind)
    if problem is not None:
        return problem
    value = body.get(name)
    if value is None:
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        return style.out_of_range(name, value, low=low, high=high)
    return None


def _first(*problems: Callable[[], RequestError | None]) -> RequestError | None:
    for check in problems:
        problem = check()
        if problem is not None:
            return problem
    return None


# -- OpenAI chat completions -------------------------------------------------------------------


def _openai_messages(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    messages = body.get("messages")
    if messages is None:
        return style.missing("messages")
    if not isinstance(messages, list):
        return style.wrong_type("messages", "an array", messages)
    if not messages:
        return style.empty("messages")
    for n, message in enumerate(messages):
        where = f"messages[{n}]"
        if not isinstance(message, Mapping):
            return style.wrong_type(where, "an object", message)
        role = message.get("role")
        if role is None:
            return style.missing(f"{where}.role")
        if role not in _OPENAI_ROLES:
            return style.choice(f"{where}.role", role, _OPENAI_ROLES)
        content = message.get("content")
        if content is None and role not in ("assistant", "function"):
            return style.missing(f"{where}.content")
        if content is not None and not isinstance(content, str | list):
            return style.wrong_type(f"{where}.content", "a string", content)
    return None


def _openai_stop(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    stop = body.get("stop")
    if stop is None or isinstance(stop, str):
        return None
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        return style.wrong_type("stop", "a string", stop)
    if len(stop) > _MAX_STOP:
        message = (
            f"Invalid 'stop': array too long. Expected an array with maximum length "
            f"{_MAX_STOP}, but got an array with length {len(stop)} instead."
        )
        return style.invalid("stop", message, "array_above_max_length")
    return None


def _openai_tools(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        return style.wrong_type("tools", "an array", tools)
    for n, tool in enumerate(tools):
        where = f"tools[{n}]"
        if not isinstance(tool, Mapping):
            return style.wrong_type(where, "an object", tool)
        if tool.get("type") != "function":
            return style.choice(f"{where}.type", tool.get("type"), ("function",))
        function = tool.get("function")
        if not isinstance(function, Mapping):
            return style.missing(f"{where}.function")
        name = function.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            message = (
                f"Invalid '{where}.function.name': string does not match pattern. Expected a "
                f"string that matches the pattern '{_TOOL_NAME.pattern}'."
            )
            return style.invalid(f"{where}.function.name", message)
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            return style.wrong_type(f"{where}.function.parameters", "an object", parameters)
    return None


def _tool_names(body: Mapping[str, Any]) -> list[str]:
    names = []
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        source = function if isinstance(function, Mapping) else tool
        if isinstance(source, Mapping) and isinstance(source.get("name"), str):
            names.append(source["name"])
    return names


def _openai_tool_choice(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if not body.get("tools"):
        message = (
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified."
        )
        return style.invalid("tool_choice", message)
    if isinstance(choice, str):
        options = ("none", "auto", "required")
        return None if choice in options else style.choice("tool_choice", choice, options)
    if not isinstance(choice, Mapping):
        return style.wrong_type("tool_choice", "a string", choice)
    function = choice.get("function")
    name = function.get("name") if isinstance(function, Mapping) else None
    if choice.get("type") != "function" or not isinstance(name, str):
        return style.missing("tool_choice.function.name")
    if name not in _tool_names(body):
        message = (
            f"Invalid value for 'tool_choice': no function named '{name}' was specified in "
            "the 'tools' parameter."
        )
        return style.invalid("tool_choice", message)
    return None


def _mentions_json(body: Mapping[str, Any]) -> bool:
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        texts = (
            [content]
            if isinstance(content, str)
            else [part.get("text", "") for part in content or () if isinstance(part, Mapping)]
        )
        if any(isinstance(t, str) and "json" in t.lower() for t in texts):
            return True
    return False


def _openai_response_format(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    form = body.get("response_format")
    if form is None:
        return None
    if not isinstance(form, Mapping):
        return style.wrong_type("response_format", "an object", form)
    kind = form.get("type")
    options = ("text", "json_object", "json_schema")
    if kind not in options:
        return style.choice("response_format.type", kind, options)
    if kind == "json_object" and not _mentions_json(body):
        message = (
            "'messages' must contain the word 'json' in some form, to use 'response_format' "
            "of type 'json_object'."
        )
        return style.invalid("messages", message)
    if kind == "json_schema":
        spec = form.get("json_schema")
        if not isinstance(spec, Mapping):
            return style.missing("response_format.json_schema")
        name = spec.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            return style.missing("response_format.json_schema.name")
        schema = spec.get("schema")
        if schema is not None and not isinstance(schema, Mapping):
            return style.wrong_type("response_format.json_schema.schema", "an object", schema)
    return None


def _openai_logprobs(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    problem = _first(
        lambda: _typed(style, body, "logprobs", "a boolean"),
        lambda: _ranged(style, body, "top_logprobs", "an integer", low=0, high=20),
    )
    if problem is None and body.get("top_logprobs") is not None and not body.get("logprobs"):
        message = (
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is specified."
        )
        return style.invalid("top_logprobs", message)
    return problem


def _openai_reasoning(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    model = str(body.get("model"))
    effort = body.get("reasoning_effort")
    reasoning = is_reasoning_model(model)
    if effort is not None:
        if effort not in _EFFORTS:
            return style.choice("reasoning_effort", effort, _EFFORTS)
        if not reasoning:
            message = (
                "Unsupported parameter: 'reasoning_effort' is not supported with this model "
                f"({model})."
            )
            return style.invalid("reasoning_effort", message, "unsupported_parameter")
    if not reasoning:
        return None
    if body.get("max_tokens") is not None:
        message = (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        return style.invalid("max_tokens", message, "unsupported_parameter")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        message = (
            f"Unsupported value: 'temperature' does not support {temperature} with this "
            "model. Only the default (1) value is supported."
        )
        return style.invalid("temperature", message, "unsupported_value")
    if body.get("logprobs"):
        message = "Unsupported parameter: 'logprobs' is not supported with this model."
        return style.invalid("logprobs", message, "unsupported_parameter")
    return None


def _openai_stream_options(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    problem = _typed(style, body, "stream_options", "an object")
    if (
        problem is None
        and body.get("stream_options") is not None
        and body.get("stream") is not True
    ):
        message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        return style.invalid("stream_options", message)
    return problem


def _validate_openai(body: Mapping[str, Any]) -> RequestError | None:
    style = _Style("openai")
    return _first(
        lambda: _require(style, body, "model"),
        lambda: _typed(style, body, "model", "a string"),
        lambda: _openai_messages(style, body),
        lambda: _ranged(style, body, "max_tokens", "an integer", low=1),
        lambda: _ranged(style, body, "max_completion_tokens", "an integer", low=1),
        lambda: _ranged(style, body, "temperature", "a number", low=0, high=2),
        lambda: _ranged(style, body, "top_p", "a number", low=0, high=1),
        lambda: _ranged(style, body, "n", "an integer", low=1, high=128),
        lambda: _ranged(style, body, "presence_penalty", "a number", low=-2, high=2),
        lambda: _ranged(style, body, "frequency_penalty", "a number", low=-2, high=2),
        lambda: _typed(style, body, "stream", "a boolean"),
        lambda: _openai_stream_options(style, body),
        lambda: _openai_stop(style, body),
        lambda: _openai_tools(style, body),
        lambda: _openai_tool_choice(style, body),
        lambda: _typed(style, body, "parallel_tool_calls", "a boolean"),
        lambda: _openai_response_format(style, body),
        lambda: _openai_logprobs(style, body),
        lambda: _openai_reasoning(style, body),
    )


# -- Anthropic messages ------------------------------------------------------------------------


def _anthropic_messages(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    messages = body.get("messages")
    if messages is None:
        return style.missing("messages")
    if not isinstance(messages, list):
        return style.wrong_type("messages", "an array", messages)
    if not messages:
        return style.invalid("messages", "messages: at least one message is required")
    for n, message in enumerate(messages):
        where = f"messages.{n}"
        if not isinstance(message, Mapping):
            return style.wrong_type(where, "an object", message)
        role = message.get("role")
        if role is None:
            return style.missing(f"{where}.role")
        if role not in ("user", "assistant"):
            return style.choice(f"{where}.role", role, ("user", "assistant"))
        content = message.get("content")
        if content is None:
            return style.missing(f"{where}.content")
        if not isinstance(content, str | list):
            return style.wrong_type(f"{where}.content", "a string", content)
    return _prefill_whitespace(style, messages)


def _prefill_whitespace(style: _Style, messages: list[Any]) -> RequestError | None:
    """An assistant prefill that ends in whitespace is a 400 in the real API."""
    last = messages[-1]
    if last.get("role") != "assistant":
        return None
    content = last.get("content")
    if isinstance(content, list):
        texts = [
            b.get("text") for b in content if isinstance(b, Mapping) and b.get("type") == "text"
        ]
        content = texts[-1] if texts else None
    if isinstance(content, str) and content != content.rstrip():
        message = "messages: final assistant content cannot end with trailing whitespace"
        return style.invalid("messages", message)
    return None


def _anthropic_stop(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    stops = body.get("stop_sequences")
    if stops is None:
        return None
    if not isinstance(stops, list):
        return style.wrong_type("stop_sequences", "an array", stops)
    for n, stop in enumerate(stops):
        if not isinstance(stop, str):
            return style.wrong_type(f"stop_sequences.{n}", "a string", stop)
        if not stop.strip():
            return style.invalid(
                "stop_sequences", "stop_sequences: each stop sequence must contain non-whitespace"
            )
    return None


def _anthropic_tools(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        return style.wrong_type("tools", "an array", tools)
    for n, tool in enumerate(tools):
        where = f"tools.{n}"
        if not isinstance(tool, Mapping):
            return style.wrong_type(where, "an object", tool)
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool (web search, code execution...): its own fields
        name = tool.get("name")
        if name is None:
            return style.missing(f"{where}.custom.name")
        if not isinstance(name, str) or not re.match(r"^[a-zA-Z0-9_-]{1,128}$", name):
            return style.invalid(
                f"{where}.custom.name", "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
            )
        schema = tool.get("input_schema")
        if schema is None:
            return style.missing(f"{where}.custom.input_schema")
        if not isinstance(schema, Mapping):
            return style.wrong_type(f"{where}.custom.input_schema", "an object", schema)
    return None


def _anthropic_tool_choice(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if not isinstance(choice, Mapping):
        return style.wrong_type("tool_choice", "an object", choice)
    options = ("auto", "any", "tool", "none")
    kind = choice.get("type")
    if kind not in options:
        return style.choice("tool_choice.type", kind, options)
    if kind != "none" and not body.get("tools"):
        return style.invalid(
            "tool_choice", "tool_choice may only be specified while providing tools."
        )
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            return style.missing("tool_choice.tool.name")
        if name not in _tool_names(body):
            return style.invalid("tool_choice", f"tool_choice: tool '{name}' not found in tools")
    problem = _typed(style, choice, "disable_parallel_tool_use", "a boolean")
    if problem is not None:
        return RequestError(f"tool_choice.{problem.param}", f"tool_choice.{problem.message}")
    return None


def _anthropic_thinking(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, Mapping):
        return style.wrong_type("thinking", "an object", thinking)
    kind = thinking.get("type")
    if kind not in ("enabled", "disabled"):
        return style.choice("thinking.type", kind, ("enabled", "disabled"))
    if kind == "disabled":
        return None
    budget = thinking.get("budget_tokens")
    where = "thinking.enabled.budget_tokens"
    if budget is None:
        return style.missing(where)
    if not _is_int(budget):
        return style.wrong_type(where, "an integer", budget)
    if budget < 1024:
        return style.out_of_range(where, budget, low=1024, high=None)
    max_tokens = body.get("max_tokens")
    if _is_int(max_tokens) and max_tokens <= budget:
        message = "`max_tokens` must be greater than `thinking.budget_tokens`."
        return style.invalid("max_tokens", f"max_tokens: {message}")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        message = "`temperature` may only be set to 1 when thinking is enabled."
        return style.invalid("temperature", f"temperature: {message}")
    if body.get("top_k") is not None:
        message = "`top_k` must be unset when thinking is enabled."
        return style.invalid("top_k", f"top_k: {message}")
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") in ("any", "tool"):
        message = "Thinking may not be enabled when tool_choice forces tool use."
        return style.invalid("tool_choice", f"tool_choice: {message}")
    return None


def _validate_anthropic(
    body: Mapping[str, Any], *, count_tokens: bool = False
) -> RequestError | None:
    style = _Style("anthropic")
    checks: list[Callable[[], RequestError | None]] = [
        lambda: _require(style, body, "model"),
        lambda: _typed(style, body, "model", "a string"),
    ]
    if not count_tokens:
        checks += [
            lambda: _require(style, body, "max_tokens"),
            lambda: _ranged(style, body, "max_tokens", "an integer", low=1),
        ]
    checks += [
        lambda: _anthropic_messages(style, body),
        lambda: _system(style, body),
        lambda: _ranged(style, body, "temperature", "a number", low=0, high=1),
        lambda: _ranged(style, body, "top_p", "a number", low=0, high=1),
        lambda: _ranged(style, body, "top_k", "an integer", low=0),
        lambda: _typed(style, body, "stream", "a boolean"),
        lambda: _anthropic_stop(style, body),
        lambda: _anthropic_tools(style, body),
        lambda: _anthropic_tool_choice(style, body),
        lambda: _anthropic_thinking(style, body),
        lambda: _typed(style, body, "metadata", "an object"),
    ]
    return _first(*checks)


def _system(style: _Style, body: Mapping[str, Any]) -> RequestError | None:
    system = body.get("system")
    if system is None or isinstance(system, str | list):
        return None
    return style.wrong_type("system", "a string", system)


def validate_request(api: FormatName, body: Mapping[str, Any]) -> RequestError | None:
    """The first reason the real API would answer ``body`` with a 400, or None.

    Responses and Gemini requests arrive as the chat request the server reads them as
    (``streamkit.server.chat_requests``); of those, only what the translation keeps is checked:
    a model (Responses; Gemini's is in the path) and a conversation, named as the API names it.

    Args:
        api: ``openai`` (chat completions), ``anthropic`` (messages), ``responses`` or ``gemini``.
        body: the parsed JSON request body (translated to chat for Responses and Gemini).
    """
    if api == "openai":
        return _validate_openai(body)
    if api == "anthropic":
        return _validate_anthropic(body)
    style = _Style("openai")  # Gemini's errors carry the message alone, in Google's shape
    if api == "responses" and not body.get("model"):
        return style.missing("model")
    if not body.get("messages"):
        return style.missing("input" if api == "responses" else "contents")
    return None


def validate_count_tokens(body: Mapping[str, Any]) -> RequestError | None:
    """As ``validate_request`` for Anthropic's ``/v1/messages/count_tokens`` (no max_tokens)."""
    return _validate_anthropic(body, count_tokens=True)
