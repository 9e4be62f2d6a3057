"""People's and companies' names in free text (Russian and English).

- Russian: natasha's NER (news model, shipped inside the package, works offline) finds PER spans;
  pymorphy3 tells first name / surname / patronymic apart and puts them in the nominative
  ("для Ивана Петрова" -> Иван Петров). natasha's own MorphVocab needs pymorphy2, which does not
  run on Python 3.11, so pymorphy3 is used directly. Lower-case names ("иван петров"), which the
  NER misses, are accepted when a whole comma-separated part is made of name words.
- English: NER does not help; a run of 1-3 capitalised words whose first word is a known first
  name (gender-guesser's dictionary of ~45,000 names from many countries, Ivan included).
- Companies: a legal form (ООО «Ромашка», ИП Иванов, Acme LLC) found by pattern; NER's ORG spans
  are too loose (any brand or bank mentioned in passing).

The models load lazily, once per process, on the first text that needs them (natasha: ~1.5 s and
~100 MB RSS, then ~30 ms a message; pymorphy3: ~0.4 s, ~20 MB; gender-guesser: ~0.9 s, ~20 MB);
texts without a capitalised Cyrillic word never load natasha. Handlers call this off the event
loop (asyncio.to_thread).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

NAME_LIMIT = 100


@dataclass(frozen=True)
class PersonName:
    name: str | None = None
    second_name: str | None = None  # patronymic / middle name
    last_name: str | None = None

    @property
    def full(self) -> str:
        return " ".join(p for p in (self.name, self.second_name, self.last_name) if p)

    def __bool__(self) -> bool:
        return bool(self.name or self.second_name or self.last_name)


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    person: PersonName


_CYR_WORD = re.compile(r"[А-ЯЁа-яё]+(?:-[А-ЯЁа-яё]+)?")
_CAP_CYR = re.compile(r"(?<![\w-])[А-ЯЁ][а-яё]")
_LAT_NAME_WORD = re.compile(r"[A-Z][a-z]+(?:['-][A-Z]?[a-z]+)?|[A-Z]\.")
# Where a part of a message ends: a name between two of these is a part of its own.
_BOUNDARY = ",;:|()[]\n\0.!?—–-/"

_RU_FORMS = r"ООО|ОАО|ЗАО|ПАО|НАО|АО|ИП|НКО|АНО|ТОО|ГУП|МУП|ФГУП|ЧОП"
_EN_FORMS = r"LLC|L\.L\.C\.|Ltd\.?|Limited|Inc\.?|Corp\.?|Corporation|GmbH|LLP|PLC|& Co\.?"
_QUOTED = r"«[^»\n]{1,120}»|\"[^\"\n]{1,120}\"|“[^”\n]{1,120}”|'[^'\n]{1,120}'"
_COMPANY_RE = re.compile(
    rf"(?<![\w])(?:{_RU_FORMS})\s*(?:{_QUOTED}|[A-ZА-ЯЁ][\w.-]*(?:\s+[A-ZА-ЯЁ][\w.-]*){{0,2}})"
    rf"|(?:{_QUOTED})\s*(?:{_RU_FORMS})(?![\w])"
    rf"|(?<![\w])(?:[A-Z0-9][\w'.-]*\s+){{1,4}}(?:{_EN_FORMS})(?![\w])"
)

_lock = threading.Lock()


@cache
def _morph() -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@cache
def _first_names() -> Any:
    import gender_guesser.detector as gender

    return gender.Detector(case_sensitive=False)


@cache
def _ner() -> Any:
    from natasha import Doc, NewsEmbedding, NewsNERTagger, Segmenter

    segmenter, tagger = Segmenter(), NewsNERTagger(NewsEmbedding())

    def spans(text: str) -> list[tuple[int, int, str]]:
        doc = Doc(text)
        doc.segment(segmenter)
        doc.tag_ner(tagger)
        return [(s.start, s.stop, s.type) for s in doc.spans]

    return spans


def _loaded(factory: Any) -> Any:
    # One load per process even when two threads ask at once (the handlers run this off the loop).
    with _lock:
        return factory()


# --- Russian ---------------------------------------------------------------------------------------

_ROLES = ("Name", "Surn", "Patr")


def _role_parses(word: str) -> list[Any]:
    return [p for p in _loaded(_morph).parse(word) if any(r in p.tag for r in _ROLES)]


def _role_of(parse: Any) -> str:
    return next(r for r in _ROLES if r in parse.tag)


def _title_case(word: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))


def _nominative(parse: Any, word: str) -> str:
    if parse.tag.case == "nomn":
        return _title_case(word)
    form = parse.inflect({"nomn"})
    return _title_case(form.word if form else word)


def ru_person(words: list[str]) -> PersonName:
    """First name / patronymic / surname of 1-3 Russian words, each put in the nominative."""
    parsed: list[tuple[str, Any | None]] = []
    for word in words:
        parses = _role_parses(word)
        parsed.append((word, max(parses, key=lambda p: p.score) if parses else None))
    gender = next((p.tag.gender for _, p in parsed if p is not None and _role_of(p) == "Name"), None)
    slots: dict[str, str] = {}
    for word, best in parsed:
        if best is None:  # a name the dictionary lacks (Джон): the first free slot
            slot = "Name" if "Name" not in slots else "Surn"
            slots.setdefault(slot, _title_case(word))
            continue
        role = _role_of(best)
        if role != "Name" and gender:
            # "Петрова" is a man's genitive or a woman's nominative: the first name decides.
            same = [p for p in _role_parses(word) if _role_of(p) == role and p.tag.gender == gender]
            best = max(same, key=lambda p: p.score) if same else best
        if role in slots:
            role = "Surn" if "Surn" not in slots else role
        slots.setdefault(role, _nominative(best, word))
    return PersonName(
        name=_cut(slots.get("Name")), second_name=_cut(slots.get("Patr")), last_name=_cut(slots.get("Surn"))
    )


def _cut(value: str | None) -> str | None:
    return value[:NAME_LIMIT] if value else None


def _top_is_person(word: str) -> bool:
    parses = _loaded(_morph).parse(word)
    return bool(parses) and any(r in parses[0].tag for r in ("Name", "Surn"))


def _whole_part(text: str, start: int, end: int) -> bool:
    before, after = text[:start].rstrip(" \t"), text[end:].lstrip(" \t")
    return (not before or before[-1] in _BOUNDARY) and (not after or after[0] in _BOUNDARY)


def _ner_people(text: str) -> list[Found]:
    if not _CAP_CYR.search(text):
        return []
    out = []
    for start, end, kind in _loaded(_ner)(text):
        if kind != "PER":
            continue
        words = _CYR_WORD.findall(text[start:end])
        if not words or len(words) > 3:
            continue
        # "Вера в успех": a lone word that is more often a common noun, inside a phrase.
        if len(words) == 1 and not _whole_part(text, start, end) and not _top_is_person(words[0]):
            continue
        person = ru_person(words)
        if person:
            out.append(Found(start, end, person))
    return out


def _parts(text: str) -> list[tuple[int, int]]:
    """(start, end) of the comma/line-separated parts of a text, trimmed."""
    out = []
    for m in re.finditer(rf"[^{re.escape(_BOUNDARY)}]+", text):
        raw = m.group(0)
        start = m.start() + len(raw) - len(raw.lstrip())
        end = m.end() - (len(raw) - len(raw.rstrip()))
        if start < end:
            out.append((start, end))
    return out


def _ru_plain_people(text: str) -> list[Found]:
    """A part made only of 1-3 name words: "иван петров", "Вера" (the NER misses lower case)."""
    out = []
    for start, end in _parts(text):
        chunk = text[start:end]
        words = chunk.split()
        if not 1 <= len(words) <= 3 or not all(_CYR_WORD.fullmatch(w) for w in words):
            continue
        if not all(_role_parses(w.lower()) for w in words):
            continue
        if len({w[0].isupper() for w in words}) > 1:
            continue  # "Роза ветров": a name is written all in lower case or all capitalised
        if len(words) == 1 and words[0].islower():
            # "роза, доставка" may be flowers: a lone lower-case word only if it is nothing but a name.
            if len(_role_parses(words[0])) != len(_loaded(_morph).parse(words[0])):
                continue
        elif not any(_top_is_person(w.lower()) for w in words) and len(words) > 1:
            continue  # "вера надежда": common nouns first
        person = ru_person([w.lower() for w in words])
        if person:
            out.append(Found(start, end, person))
    return out


# --- English ---------------------------------------------------------------------------------------


def _known_first_name(word: str) -> bool:
    return _loaded(_first_names).get_gender(word) != "unknown"


def _en_people(text: str) -> list[Found]:
    out = []
    for start, end in _parts(text):
        words = list(re.finditer(r"\S+", text[start:end]))
        run = []
        for w in words[:3]:
            if not _LAT_NAME_WORD.fullmatch(w.group(0)):
                break
            run.append(w)
        if not run or not _known_first_name(run[0].group(0)):
            continue
        if len(run) == 1 and len(words) > 1:
            continue  # "Will call back": one capitalised word starting a phrase is not a name
        tokens = [w.group(0) for w in run]
        person = PersonName(
            name=_cut(tokens[0]),
            second_name=_cut(tokens[1]) if len(tokens) == 3 else None,
            last_name=_cut(tokens[-1]) if len(tokens) > 1 else None,
        )
        out.append(Found(start, start + run[-1].end(), person))
    return out


# --- public ----------------------------------------------------------------------------------------


def find_person(text: str) -> Found | None:
    """The first person's name in a text, or None. `text` may hold NUL characters where
    phones, emails or companies were cut out: they separate parts like commas."""
    found: list[Found] = []
    if re.search(r"[А-ЯЁа-яё]", text):
        found += _ner_people(text.replace("\0", ","))
        found += _ru_plain_people(text)
    if re.search(r"[A-Z]", text):
        found += _en_people(text)
    return min(found, key=lambda f: f.start) if found else None


def find_companies(text: str) -> list[tuple[int, int, str]]:
    """(start, end, name) of company names with a legal form: ООО «Ромашка», Acme LLC, ИП Иванов."""
    return [(m.start(), m.end(), m.group(0).strip()) for m in _COMPANY_RE.finditer(text)]


def is_whole_part(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] stands alone between separators (so it can leave the title)."""
    return _whole_part(text, start, end)


def parse_person_name(typed: str) -> PersonName:
    """A full name typed on its own ("Петров Иван Сергеевич", "John Smith") split in parts."""
    words = typed.split()
    if not words:
        return PersonName()
    if len(words) <= 3 and all(_CYR_WORD.fullmatch(w) for w in words):
        lowered = [w.lower() for w in words]
        if all(_role_parses(w) for w in lowered):
            return ru_person(lowered)
    if len(words) == 1:
        return PersonName(name=_cut(words[0]))
    if len(words) == 2:
        return PersonName(name=_cut(words[0]), last_name=_cut(words[1]))
    return PersonName(name=_cut(words[0]), second_name=_cut(" ".join(words[1:-1])), last_name=_cut(words[-1]))


__all__ = [
    "NAME_LIMIT",
    "Found",
    "PersonName",
    "find_companies",
    "find_person",
    "is_whole_part",
    "parse_person_name",
    "ru_person",
]
