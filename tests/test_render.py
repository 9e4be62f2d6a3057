from handlers.render import esc, split_blocks, truncate, utf16_len, visible_length


def test_escape_makes_markup_literal() -> None:
    assert esc("<b>&x</b>") == "&lt;b&gt;&amp;x&lt;/b&gt;"
    assert esc(None) == ""


def test_visible_length_counts_like_telegram() -> None:
    assert visible_length("<b>ab</b> &amp;") == 4
    assert utf16_len("😀") == 2  # outside the BMP: two UTF-16 units


def test_truncate_respects_utf16_and_marks_the_cut() -> None:
    text = "😀" * 10
    cut = truncate(text, 7)
    assert utf16_len(cut) <= 7 and cut.endswith("…")
    assert truncate("short", 10) == "short"


def test_split_blocks_keeps_messages_valid_and_within_limit() -> None:
    blocks = [f"<b>{i}</b> " + "x" * 1000 for i in range(10)]
    messages = split_blocks(blocks, limit=4096)
    assert len(messages) == 3
    assert all(visible_length(m) <= 4096 for m in messages)
    assert all(m.count("<b>") == m.count("</b>") for m in messages)
    assert "".join(messages).count("<b>") == 10
