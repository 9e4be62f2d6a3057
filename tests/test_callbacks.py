"""Callback data across the app: each CallbackData class has a prefix of its own (aiogram picks
the class by prefix, so a shared one would route a button to the wrong handler), every one
packs within Telegram's 64 bytes with the largest ids and the longest actions, and its action is
an Enum (named members, not codes explained in docstrings) whose packed values stay as they were
(buttons already sent to chats carry them)."""

from __future__ import annotations

import enum
import importlib
import pkgutil
import typing

from aiogram.filters.callback_data import CallbackData

import handlers
from handlers.admin_required import FIELD_NAMES

LARGEST_ID = 2**31 - 1
# Free-text fields whose longest value is known (others get their default or a short code).
LONGEST_TEXT = {
    ("UsersCB", "value"): str(LARGEST_ID),  # a department id
    ("PipelinesCB", "value"): "process",
    ("RequiredCB", "kind"): "company",
    ("RequiredCB", "field"): max(FIELD_NAMES, key=len),
    ("SetCB", "v"): "America/Argentina/Buenos_Aires",
}
# Integer fields that are not ids: their largest value.
NOT_IDS = {
    ("KbCB", "o"): 9_999,  # a page offset
    ("KbCB", "c"): 1,  # won/lost shown
    ("CalCB", "y"): 9_999,
    ("CalCB", "m"): 12,
    ("CalCB", "d"): 31,
    ("UsersCB", "page"): 9_999,
}


def _callback_classes() -> list[type[CallbackData]]:
    for module in pkgutil.iter_modules(handlers.__path__):
        importlib.import_module(f"handlers.{module.name}")
    found, todo = [], list(CallbackData.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("handlers."):
            found.append(cls)
    return found


def _largest(cls: type[CallbackData]) -> CallbackData:
    values = {}
    for name, info in cls.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            values[name] = max(kind, key=lambda member: len(str(member.value)))
        elif kind is int:
            values[name] = NOT_IDS.get((cls.__name__, name), LARGEST_ID)
        elif (cls.__name__, name) in LONGEST_TEXT:
            values[name] = LONGEST_TEXT[(cls.__name__, name)]
        else:
            default = info.get_default()
            values[name] = default if isinstance(default, str) and default else "abcd"
    return cls(**values)


def test_every_callback_prefix_is_unique() -> None:
    classes = _callback_classes()
    assert len(classes) > 20  # every handler module was scanned
    by_prefix: dict[str, list[str]] = {}
    for cls in classes:
        by_prefix.setdefault(cls.__prefix__, []).append(f"{cls.__module__}.{cls.__name__}")
    shared = {prefix: owners for prefix, owners in by_prefix.items() if len(owners) > 1}
    assert not shared, shared


def test_packed_callback_data_fit_64_bytes() -> None:
    too_long = {}
    for cls in _callback_classes():
        try:
            _largest(cls).pack()
        except ValueError as exc:  # aiogram refuses more than 64 bytes
            too_long[cls.__name__] = str(exc)
    assert not too_long, too_long


def test_admin_actions_are_enums() -> None:
    from handlers.admin_clients import ClientsCB
    from handlers.admin_common import AdmCB
    from handlers.admin_forms import FormsCB
    from handlers.admin_invites import InvitesCB
    from handlers.admin_pipelines import PipelinesCB
    from handlers.admin_required import RequiredCB
    from handlers.admin_rest import RestCB
    from handlers.admin_users import UsersCB

    for cls in (AdmCB, ClientsCB, FormsCB, InvitesCB, PipelinesCB, RequiredCB, RestCB, UsersCB):
        action = typing.get_type_hints(cls)["action"]
        assert issubclass(action, enum.StrEnum), cls


# The action field's name: most classes say "action"; the date picker and the agenda say "a".
ACTION_FIELDS = ("action", "act", "a")
# One-purpose buttons: no action, and every field is typed (an Enum or an int), not free text.
SINGLE_PURPOSE = {"InviteCB"}


def _is_enum(kind: object) -> bool:
    return isinstance(kind, type) and issubclass(kind, enum.Enum)


def test_every_callback_action_is_an_enum() -> None:
    untyped = {}
    for cls in _callback_classes():
        hints = typing.get_type_hints(cls)
        fields = [name for name in cls.model_fields if name in ACTION_FIELDS]
        if cls.__name__ in SINGLE_PURPOSE:
            free = [n for n in cls.model_fields if not (hints[n] is int or _is_enum(hints[n]))]
            if fields or free:
                untyped[cls.__name__] = fields + free
            continue
        if len(fields) != 1 or not _is_enum(hints[fields[0]]):
            untyped[cls.__name__] = {name: hints[name] for name in fields} or "no action field"
    assert not untyped, untyped


def test_actions_pack_as_before() -> None:
    """The codes buttons already in chats carry: renaming a member is free, changing a value is not."""
    from crm_core.models.items import ItemType
    from crm_core.models.users import Role
    from handlers.admin_clients import ClientsAction, ClientsCB
    from handlers.admin_forms import FormAction, FormsCB
    from handlers.admin_rest import RestAction, RestCB
    from handlers.callbacks import InviteCB
    from handlers.capture import NewAction, NewCB
    from handlers.client_field import ClientAction
    from handlers.clients_notify import TalkAction, TalkCB
    from handlers.conversion import ConvAction
    from handlers.exports import XpAction, XpCB
    from handlers.filters_ui import FlAction, FlCB
    from handlers.imports import IpAction, IpCB
    from handlers.kanban import KbAction, KbCB
    from handlers.lists import BkAction, BkCB, LsAction, LsCB
    from handlers.mail_boxes import BoxAction, BoxCB
    from handlers.mail_common import ComposeAction, ComposeCB, LetterAction, LetterCB
    from handlers.quick import QuickAction
    from handlers.reports import RpAction, RpCB
    from handlers.rooms import RoomAction, RoomCB
    from handlers.search import FdAction
    from handlers.settings import SetAction, SetCB
    from handlers.tasks import TkAction
    from handlers.timeline import CmAction, TlAction
    from handlers.today import TodayAction, TodayCB

    codes = {
        KbAction: {"h", "b", "s", "mi", "mv", "n"},
        FdAction: {"n", "x"},
        SetAction: {
            "home",
            "tz",
            "tzs",
            "tzt",
            "rem",
            "rmt",
            "rms",
            "dg",
            "dgs",
            "dgt",
            "dgw",
            "dgk",
            "dgf",
            "mu",
            "mut",
            "cx",
        },
        TodayAction: {"p", "dn"},
        TlAction: {"v", "fm", "pn", "up", "pe", "ue", "o", "fs"},
        CmAction: {"x", "e", "ex", "d", "dd"},
        TkAction: {"ls", "o", "s", "dl", "dq", "dn", "n", "sk", "r", "rp", "fq", "fn", "cx"},
        QuickAction: {"k", "t", "o", "x"},
        ClientAction: {"pick", "new", "unlink", "cancel"},
        ConvAction: {"more", "scheme", "back", "cancel"},
        FlAction: {"m", "af", "f", "up", "o", "v", "rm", "clr", "sv", "use", "pin", "unpin", "del", "x"},
        LsAction: {"pg", "fl", "so", "ss", "sel", "all", "none"},
        BkAction: {"t", "st", "sm", "rs", "rv", "cv", "cx", "dl", "dy"},
        NewAction: {"skip", "cancel", "create"},
        BoxAction: {"tm", "own", "ct", "co", "b", "ld", "off", "u", "ul", "ui", "x"},
        LetterAction: {"s", "r", "d", "f", "g"},
        ComposeAction: {"n", "to", "cc", "s", "x"},
        RestAction: {"list", "pick", "create", "revoke"},
        IpAction: {"t", "c", "s", "b", "p", "go", "x", "st"},
        XpAction: {"csv", "xlsx"},
        RpAction: {"f", "w", "p", "r"},
        FormAction: {"ls", "n", "p", "o", "rv", "ry"},
        TalkAction: {"r", "t", "x", "n", "c"},
        ClientsAction: {"home", "on", "gen", "gru", "rr", "fix", "p", "q"},
        RoomAction: {"o", "p", "f", "u"},
    }
    for action, values in codes.items():
        assert {member.value for member in action} == values, action
    # Whole buttons as sent before the enums: they unpack to the named actions.
    assert KbCB.unpack("kb:mv:0:12:34:8:1:5") == KbCB(action=KbAction.MOVE, s=12, i=34, o=8, c=1, f=5)
    assert SetCB.unpack("set:tzs:Europe/Moscow").action is SetAction.TIMEZONE_SET
    assert TodayCB.unpack("td:dn:2:77") == TodayCB(action=TodayAction.DONE, p=2, id=77)
    assert InviteCB.unpack("inv:head").role is Role.HEAD
    assert InviteCB(role=Role.SALESPERSON).pack() == "inv:salesperson"
    assert FlCB.unpack("fl:v:lead:2:preset:today") == FlCB(
        action=FlAction.VALUE, t=ItemType.LEAD, f=2, o="preset", v="today"
    )
    assert LsCB.unpack("ls:ss:deal:0:amount.d") == LsCB(
        action=LsAction.SET_SORT, t=ItemType.DEAL, v="amount.d"
    )
    assert BkCB(action=BkAction.TOGGLE, t=ItemType.LEAD, id=34, n=1).pack() == "bk:t:lead:34:1:"
    assert NewCB.unpack("nw:skip").action is NewAction.SKIP
    assert BoxCB(action=BoxAction.TO_LEAD, id=7).pack() == "mbx:ul:7"
    assert LetterCB.unpack("eml:r:12:0") == LetterCB(action=LetterAction.REPLY, id=12)
    assert ComposeCB(action=ComposeAction.TO, t=ItemType.DEAL, id=5, n=1).pack() == "emc:to:deal:5:1"
    assert RestCB(action=RestAction.REVOKE, id=7).pack() == "api:revoke:7"
    assert IpCB(action=IpAction.TARGET, n=3, v="phone.mobile").pack() == "ip:s:3:phone.mobile"
    assert XpCB(action=XpAction.XLSX, t=ItemType.DEAL).pack() == "xp:xlsx:deal"
    assert RpCB.unpack("rp:w:0:last_month") == RpCB(action=RpAction.WON, v="last_month")
    assert FormsCB(action=FormAction.REVOKE_SURE, id=7).pack() == "adf:ry:7"
    assert TalkCB.unpack("cc:r:12") == TalkCB(action=TalkAction.REPLY, chat=12)
    assert ClientsCB.unpack("acl:p:7") == ClientsCB(action=ClientsAction.PERSON, value=7)
    assert RoomCB(a=RoomAction.OFFER, t=ItemType.DEAL, id=7).pack() == "ro:o:deal:7"


def test_every_callback_class_unpacks_once_per_value_and_is_frozen() -> None:
    """Handlers of one class are checked in turn for a press: the data is unpacked once for all."""
    import pydantic

    from crm_core.models.items import ItemType
    from handlers.callbacks import CardCB, Unpacked

    classes = _callback_classes()
    assert classes and all(issubclass(c, Unpacked) for c in classes), [
        c.__name__ for c in classes if not issubclass(c, Unpacked)
    ]
    packed = CardCB(type=ItemType.LEAD, id=7).pack()
    first = CardCB.unpack(packed)
    assert CardCB.unpack(packed) is first
    assert CardCB.unpack(packed.replace(":7", ":8")) != first
    try:
        first.id = 9  # type: ignore[misc]
    except pydantic.ValidationError:
        pass
    else:
        raise AssertionError("a shared instance must not change")
    try:
        CardCB.unpack("zz" + packed)
    except ValueError:
        pass
    else:
        raise AssertionError("another prefix must not unpack")
