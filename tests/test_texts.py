import string

from handlers.texts import TEXTS


def test_every_text_exists_in_both_languages() -> None:
    assert set(TEXTS["en"]) == set(TEXTS["ru"]), set(TEXTS["en"]) ^ set(TEXTS["ru"])


def test_placeholders_match_between_languages() -> None:
    fields = lambda s: {f for _, f, _, _ in string.Formatter().parse(s) if f}  # noqa: E731
    for key, en in TEXTS["en"].items():
        assert fields(en) == fields(TEXTS["ru"][key]), key
