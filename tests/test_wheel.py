"""A normal (non-editable) install works: the wheel carries everything the bot reads at run time
(migrations, catalogs, the fake Bot API's schema), so `crm-bot migrate` and a piped `crm-bot
sandbox` run from a fresh venv that cannot see the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], cwd: Path, env: dict[str, str], stdin: str = "") -> str:
    done = subprocess.run(args, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_wheel_installs_and_runs_migrate_and_the_sandbox(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL", "PYTHONPATH")}
    dist = tmp_path / "dist"
    # Build from a copy of the tracked sources, so build artefacts never land in the work tree.
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in files.stdout.splitlines():
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)]
    _run([sys.executable, "-m", "pip", *build], tmp_path, env)
    wheel = next(dist.glob("telegram_crm-*.whl"))

    # A fresh venv; the dependencies come from this interpreter's site-packages (no download), but
    # the project itself only from the wheel.
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    site = next((target / "lib").glob("python*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = target / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        tmp_path,
        env,
    )

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    probe = "import bot, handlers; print(bot.__file__, handlers.__file__)"
    where = _run([str(python), "-c", probe], run_dir, env)
    assert str(ROOT) not in where and str(site) in where  # the installed copy, not the source tree

    crm_bot = str(target / "bin" / "crm-bot")
    assert "database is at revision" in _run([crm_bot, "migrate"], run_dir, env)
    out = _run([crm_bot, "sandbox", "--user-id", "1", "--lang", "ru"], run_dir, env, "/start\n:b Помощь\n")
    assert "Это ваша CRM" in out  # Russian catalog shipped and read
    assert "-- pressed" in out and (run_dir / "crm.db").exists()
