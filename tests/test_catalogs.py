"""The catalogs agree with each other and with the code.

Every language (handlers.texts.LANGUAGES) defines the same message ids, with the same placeholders
and the same plural-ness. Every id the code uses is defined, and every defined id is used. The
code is read with `ast`, so an id must be visible in it:

- a translator call (`tr("x")`, `ctx.tr("x")`, `itr("x")`, `t(lang, "x")`, `Translator(l)("x")`)
  takes a string literal, or a variable/attribute/subscript holding an id written elsewhere;
- an id held in data (a dict of enum -> id) is written `N_("x")` (handlers.texts.N_);
- a field's `label="x"` in crm_core/fields/** is an id;
- an id is never built: an f-string or a concatenation that starts like an id fails.

The validation messages ("invalid.*", built from crm_core's error text) have their own scan in
tests/test_texts.py and are the one exception.
"""

from __future__ import annotations

import ast
import string
from pathlib import Path

from babel.messages.pofile import read_po

from handlers.texts import LANGUAGES, LOCALES_DIR

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("handlers", "scheduler", "bot")
VALIDATION_PREFIX = "invalid."
# Files other engineers are converting to literal ids right now; each leaves this list when it
# has no computed id left. Only the "built id" check skips them.
PENDING = {}
NOT_TRANSLATORS = {"str", "getattr", "setattr", "hasattr", "delattr", "attr"}


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None and f != ""}


def _catalog(language: str) -> dict[str, tuple[bool, frozenset[str]]]:
    """{id: (plural?, placeholders)} of one language, all its feature files merged."""
    found: dict[str, tuple[bool, frozenset[str]]] = {}
    for path in sorted((LOCALES_DIR / language / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fp:
            po = read_po(fp, locale=language)
        for message in po:
            if not message.id:
                continue
            plural = isinstance(message.id, tuple)
            key = message.id[0] if plural else message.id
            forms = message.string if plural else (message.string,)
            assert all(forms), f"{language}/{path.name}: {key} has an empty translation"
            found[key] = (plural, frozenset().union(*(_fields(f) for f in forms)))
    return found


CATALOGS = {language: _catalog(language) for language in LANGUAGES}
IDS = set(CATALOGS[LANGUAGES[0]])


def _is_translator(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id == "t" or (func.id.endswith("tr") and func.id not in NOT_TRANSLATORS)
    if isinstance(func, ast.Attribute):
        return func.attr.endswith("tr") and func.attr not in NOT_TRANSLATORS
    # Translator(language)("key")
    return isinstance(func, ast.Call) and isinstance(func.func, ast.Name) and func.func.id == "Translator"


def _message_arg(call: ast.Call) -> ast.expr | None:
    func = call.func
    index = 1 if isinstance(func, ast.Name) and func.id == "t" else 0
    if len(call.args) > index:
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == "key"), None)


def _held(node: ast.expr) -> bool:
    """An id carried by a variable: its literal is written (N_ or a call's argument) elsewhere."""
    if isinstance(node, ast.IfExp):
        return all(
            (isinstance(b, ast.Constant) and isinstance(b.value, str)) or _held(b)
            for b in (node.body, node.orelse)
        )
    return isinstance(node, ast.Name | ast.Attribute | ast.Subscript)


def _literals(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def _id_prefix(node: ast.expr) -> str | None:
    """The literal start of an id built at run time (f"role.{x}", "role." + x), if it is one."""
    head: ast.expr | None = None
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        head = node.left
    if not (isinstance(head, ast.Constant) and isinstance(head.value, str)) or "." not in head.value:
        return None
    prefix = head.value
    if prefix.startswith(VALIDATION_PREFIX):
        return None
    return prefix if any(key.startswith(prefix) for key in IDS) else None


class Scan:
    def __init__(self) -> None:
        self.used: dict[str, str] = {}  # id -> where
        self.computed: list[str] = []
        self.built: list[str] = []
        # Transitional, from PENDING files: ids they build (prefixes) or pass around as literals.
        self.pending_prefixes: set[str] = set()
        self.pending_literals: set[str] = set()

    def file(self, path: Path) -> None:
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr | ast.BinOp):
                prefix = _id_prefix(node)
                if prefix and rel in PENDING:
                    self.pending_prefixes.add(prefix)
                elif prefix:
                    self.built.append(f"{rel}:{node.lineno} builds an id from {prefix!r}")
            if rel in PENDING and isinstance(node, ast.Constant) and node.value in IDS:
                self.pending_literals.add(node.value)
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Name) and node.func.id == "N_":
                arg = node.args[0] if node.args else None
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    self.computed.append(f"{rel}:{node.lineno} N_ of a non-literal")
                else:
                    self.used.setdefault(arg.value, f"{rel}:{node.lineno}")
            elif _is_translator(node.func):
                arg = _message_arg(node)
                if arg is None:
                    continue
                for key in _literals(arg):
                    self.used.setdefault(key, f"{rel}:{node.lineno}")
                if not _literals(arg) and not _held(arg) and rel not in PENDING:
                    self.computed.append(f"{rel}:{node.lineno} {ast.unparse(arg)}")

    def labels(self, path: Path) -> None:
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "label" and isinstance(kw.value, ast.Constant):
                        self.used.setdefault(kw.value.value, f"{rel}:{node.lineno}")


def _scan() -> Scan:
    scan = Scan()
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            scan.file(path)
    for path in sorted((ROOT / "crm_core" / "fields").rglob("*.py")):
        scan.labels(path)
    return scan


SCAN = _scan()


def test_every_language_defines_the_same_messages() -> None:
    base, *others = LANGUAGES
    for language in others:
        assert set(CATALOGS[language]) == set(CATALOGS[base]), set(CATALOGS[language]) ^ set(CATALOGS[base])


def test_translations_keep_placeholders_and_plural_forms() -> None:
    base, *others = LANGUAGES
    for language in others:
        for key, (plural, fields) in CATALOGS[base].items():
            other_plural, other_fields = CATALOGS[language][key]
            assert other_plural == plural, f"{language}: {key} plural-ness differs"
            assert other_fields == fields, f"{language}: {key} placeholders {other_fields} != {fields}"
            if plural:
                assert "count" in fields, f"{key}: a plural message is picked by {{count}}"


def test_the_scan_reads_the_code() -> None:
    # The scan is only as good as what it finds: known calls of each shape are seen.
    assert len(SCAN.used) > 300
    assert {"menu.title", "error.generic", "invite.new_user"} <= set(SCAN.used)


def test_code_uses_no_computed_message_id() -> None:
    assert SCAN.computed == []
    assert SCAN.built == []


def test_every_id_the_code_uses_is_defined() -> None:
    missing = sorted(f"{key} ({where})" for key, where in SCAN.used.items() if key not in IDS)
    assert missing == []


def test_every_defined_id_is_used() -> None:
    unused = sorted(
        k
        for k in IDS - set(SCAN.used) - SCAN.pending_literals
        if not k.startswith(VALIDATION_PREFIX) and not any(k.startswith(p) for p in SCAN.pending_prefixes)
    )
    assert unused == []
