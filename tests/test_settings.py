import pytest

from bot.cli import main
from config import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in (
        "BOT_TOKEN",
        "TELEGRAM_API_URL",
        "DATABASE_URL",
        "REDIS_URL",
        "ADMIN_IDS",
        "DEFAULT_TIMEZONE",
        "LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_need_no_server() -> None:
    s = load_settings()
    assert s.database_url == "sqlite+aiosqlite:///./crm.db"
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.admin_ids == [] and s.redis_url is None


def test_values_from_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text("ADMIN_IDS=5, 6\nDEFAULT_TIMEZONE=Europe/Moscow\n")
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    s = load_settings()
    assert s.admin_ids == [5, 6]
    assert s.default_timezone == "Europe/Moscow"
    assert s.require_token() == "123:abc"
    assert "abc" not in repr(s)  # the token is a secret


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADMIN_IDS", "12,abc"),
        ("DEFAULT_TIMEZONE", "Mars/Olympus"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://localhost/crm"),
        ("TELEGRAM_API_URL", "api.telegram.org"),
        ("WEBHOOK_URL", "http://crm.example.com/telegram"),
        ("WEBHOOK_SECRET", "has spaces"),
    ],
)
def test_malformed_setting_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith(f"{name} is invalid")
    assert "\n" not in message


def test_half_a_webhook_set_up_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://crm.example.com/telegram")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == (
        "WEBHOOK_SECRET, HTTP_PORT not set: webhook mode needs WEBHOOK_URL, WEBHOOK_SECRET and HTTP_PORT"
    )
    monkeypatch.setenv("WEBHOOK_SECRET", "abc-123")
    monkeypatch.setenv("HTTP_PORT", "8081")
    settings = load_settings()
    assert settings.webhook_mode and settings.public_base_url == "https://crm.example.com"


@pytest.mark.parametrize(
    ("token", "expected"), [(None, "BOT_TOKEN is not set"), ("nonsense", "BOT_TOKEN is malformed")]
)
def test_run_without_a_good_token_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], token: str | None, expected: str
) -> None:
    if token:
        monkeypatch.setenv("BOT_TOKEN", token)
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"crm-bot: {expected}") and "\n" not in err
    assert "Traceback" not in err


def test_cli_reports_bad_settings_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Nowhere/City")
    assert main(["migrate"]) == 2
    assert capsys.readouterr().err.strip() == (
        "crm-bot: DEFAULT_TIMEZONE is invalid: unknown IANA timezone 'Nowhere/City', e.g. Europe/Moscow"
    )


def test_migrate_command_creates_the_embedded_database(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert (tmp_path / "crm.db").exists()
    assert "revision" in capsys.readouterr().out
