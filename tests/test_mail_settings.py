"""SECRET_KEY: optional, and when set it must be a Fernet key; it never shows in the settings' repr."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from config import SettingsError, load_settings


def test_secret_key_is_checked_and_kept_secret() -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(secret_key=key)
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == key
    assert key not in repr(settings)
    assert load_settings(secret_key="").secret_key is None
    with pytest.raises(SettingsError, match="SECRET_KEY is invalid"):
        load_settings(secret_key="too-short")
