import string

from handlers.texts import TEXTS


def test_every_text_exists_in_both_languages() -> None:
    assert set(TEXTS["en"]) == set(TEXTS["ru"]), set(TEXTS["en"]) ^ set(TEXTS["ru"])


def test_placeholders_match_between_languages() -> None:
    fields = lambda s: {f for _, f, _, _ in string.Formatter().parse(s) if f}  # noqa: E731
    for key, en in TEXTS["en"].items():
        assert fields(en) == fields(TEXTS["ru"][key]), key


def _validation_messages() -> set[str]:
    """Every message a ValidationFailed is raised with (directly, or through views._bad's `why`)."""
    import ast
    import pathlib

    found: set[str] = set()
    for path in [*pathlib.Path("crm_core").rglob("*.py"), *pathlib.Path("handlers").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id == "ValidationFailed" and node.args and isinstance(node.args[0], ast.Constant):
                found.add(node.args[0].value)
            elif node.func.id == "_bad" and len(node.args) == 3 and isinstance(node.args[2], ast.Constant):
                found.add(node.args[2].value)
    return found


def test_every_validation_message_is_said_in_both_languages() -> None:
    messages = _validation_messages()
    assert len(messages) > 50  # the scan found the raise sites
    assert "invalid phone" in messages and "range needs [from, to]" in messages
    missing = sorted(m for m in messages if f"invalid.{m}" not in TEXTS["ru"])
    assert missing == []
    said = {k.removeprefix("invalid.") for k in TEXTS["en"] if k.startswith("invalid.")}
    stale = sorted(said - messages)
    assert stale == []


def test_a_validation_error_reads_in_the_users_language() -> None:
    from crm_core.errors import ValidationFailed
    from handlers.errors import describe
    from handlers.texts import Translator

    phone = ValidationFailed("invalid phone", field="phone", value="<b>12</b>")
    assert describe(Translator("ru"), phone) == "Похоже, здесь ошибка: неверный номер телефона"
    assert describe(Translator("en"), phone) == "That does not look right: the phone number is not valid"
    long = ValidationFailed("comment too long", field="text", max=4000)
    assert "не больше 4000 символов" in describe(Translator("ru"), long)
    # A message without a text yet is still shown, escaped, rather than lost.
    odd = ValidationFailed("<odd> thing")
    assert describe(Translator("ru"), odd).endswith("&lt;odd&gt; thing")
