"""`batch`: up to 50 commands "method?query", run one after another, each in its own unit of work
(a failed command does not undo the others, as in Bitrix24); `halt` stops at the first error;
`$result[key][field]...` in a command's parameters is replaced by an earlier command's result."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from handlers.http.rest.params import php_parse
from handlers.http.rest.protocol import Clock, RestError, Result, bad_argument

MAX_COMMANDS = 50
_REF = re.compile(r"\$result\[([^\[\]]*)\]((?:\[[^\[\]]*\])*)")
_PART = re.compile(r"\[([^\[\]]*)\]")

Runner = Callable[[str, dict[str, Any]], Awaitable[Result]]


def _lookup(results: dict[str, Any], key: str, path: str) -> Any:
    value: Any = results.get(key)
    for part in _PART.findall(path):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _substitute(text: str, results: dict[str, Any]) -> str:
    def repl(m: re.Match[str]) -> str:
        value = _lookup(results, m.group(1), m.group(2))
        if value is None:
            return ""
        if isinstance(value, bool):
            return "Y" if value else "N"
        return str(value)

    return _REF.sub(repl, text) if "$result" in text else text


def _commands(raw: Any) -> list[tuple[str, str]]:
    if isinstance(raw, dict):
        return [(str(k), str(v)) for k, v in raw.items()]
    if isinstance(raw, list):
        return [(str(i), str(v)) for i, v in enumerate(raw)]
    raise bad_argument("cmd must be an object of commands")


async def run_batch(params: dict[str, Any], run: Runner) -> Result:
    lowered = {str(k).lower(): v for k, v in params.items()}
    commands = _commands(lowered.get("cmd") or {})
    halt = str(lowered.get("halt") or "0").lower() in ("1", "true", "y")
    results: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    totals: dict[str, Any] = {}
    nexts: dict[str, Any] = {}
    times: dict[str, Any] = {}
    for n, (label, command) in enumerate(commands):
        if n >= MAX_COMMANDS:
            errors[label] = {
                "error": "ERROR_BATCH_LENGTH_EXCEEDED",
                "error_description": "Max batch length exceeded",
            }
            continue
        clock = Clock()
        name, _, query = command.partition("?")
        name = name.strip().lower()
        try:
            if name == "batch":
                raise RestError(
                    400, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"
                )
            pairs = [(k, _substitute(v, results)) for k, v in parse_qsl(query, keep_blank_values=True)]
            outcome = await run(name, php_parse(pairs))
        except RestError as exc:
            errors[label] = exc.body()
            if halt:
                break
            continue
        results[label] = outcome.result
        times[label] = clock.block()
        if outcome.total is not None:
            totals[label] = outcome.total
        if outcome.next is not None:
            nexts[label] = outcome.next
    # PHP encodes an empty array as [], a keyed one as an object: Bitrix24 clients rely on both.
    return Result(
        {
            "result": results or [],
            "result_error": errors or [],
            "result_total": totals or [],
            "result_next": nexts or [],
            "result_time": times or [],
        }
    )
