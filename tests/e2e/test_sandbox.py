"""The terminal sandbox, scripted through a pipe as the README shows."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.e2e.harness import logged_errors


async def _sandbox(script: str, cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "sandbox",
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(script.encode()), timeout=180)
    assert proc.returncode == 0, out.decode()
    # Every 4xx the sandbox's fake answered is printed at exit; an error the bot logs shows too.
    assert "Telegram refused" not in out.decode(), out.decode()
    assert logged_errors(out.decode()) == [], out.decode()
    return out.decode()


async def test_piped_sandbox_session_on_the_default_sqlite_file(tmp_path: Path) -> None:
    out = await _sandbox("/start\n:b Help\n:b Back\n:b Settings\n:nonsense\n", tmp_path, "--user-id", "1")
    assert "Hello, User 1! This is your CRM." in out  # the first sandbox user is an admin
    assert "[14] ➕ Invite a colleague" in out
    assert "-- pressed [12] ❓ Help" in out and "What this bot does" in out
    assert "Timezone: UTC" in out
    assert "Sandbox commands" in out  # unknown sandbox command shows the help
    assert "> :b Help" in out  # piped input is echoed, so the output reads as a chat
    assert (tmp_path / "crm.db").exists()  # same database settings as crm-bot

    # A second user in Russian is a stranger: access needs an invite.
    out = await _sandbox(":user 5 ru Ольга\n/start\n", tmp_path, "--user-id", "1")
    assert "нужно приглашение" in out
