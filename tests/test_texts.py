# Catalogs agreeing with each other and with the code: tests/test_catalogs.py.
from handlers.texts import TEXTS


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


def test_counted_phrases_take_the_languages_plural_forms() -> None:
    from handlers.texts import Translator

    ru, en = Translator("ru"), Translator("en")
    plain = lambda text: text.replace("<b>", "").replace("</b>", "")  # noqa: E731
    said = {n: plain(ru("kb.leads_in_progress", count=n)) for n in (1, 2, 5, 11, 21)}
    assert said == {
        1: "В работе 1 лид",
        2: "В работе 2 лида",
        5: "В работе 5 лидов",
        11: "В работе 11 лидов",
        21: "В работе 21 лид",
    }
    assert en("kb.leads_in_progress", count=1) == "<b>1</b> lead in progress"
    assert en("kb.leads_in_progress", count=2) == "<b>2</b> leads in progress"
    assert ru("bk.deleted", count=3) == "🗑 3 записи перемещены в корзину"
