"""CPU per update of this code's CRM bot against another version's, side by side in one run.

    python -m bench.compare_cpu a8a5ee6                # a git revision of this repository
    python -m bench.compare_cpu /path/to/other/tree --db postgres --slices 20

bench.throughput measures the bots one after another, minutes apart; on a shared machine the
speed drifts by a fifth within that time, more than most changes are worth. Here both bots run at
once against one fake Bot API (bench.bench_fake), each on a database of its own, and take turns:
a short burst for one (every person acts as soon as the previous update is answered, the same mix
as bench.throughput), then one for the other, alternating which goes first. Each burst's CPU time
(user + sys, from /proc) per update answered is paired with the other bot's next to it, so drift
cancels; the median of those ratios is the figure. Comparing a version with itself reads within
a few percent of 1.0. Both databases are created and migrated by this code: a version with other
migrations may refuse its database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.throughput import (
    DEFAULT_PG,
    FIRST_USER,
    Driver,
    Person,
    _cpu_seconds,
    prepare_database,
    start_bot,
    start_fake,
    stop_bot,
)

HERE = Path(__file__).resolve().parent.parent


@dataclass
class Bot:
    name: str
    proc: asyncio.subprocess.Process
    driver: Driver
    per_update: list[float] = field(default_factory=list)  # CPU ms per update, one per burst
    rates: list[float] = field(default_factory=list)  # updates/s, one per burst
    updates: int = 0
    cpu: float = 0.0


def tree_of(base: str) -> Path:
    """`base` as a directory of code: itself, or a git revision of this repository exported."""
    if Path(base).is_dir():
        return Path(base).resolve()
    target = Path(tempfile.mkdtemp(prefix="crm-compare-"))
    archive = subprocess.run(["git", "-C", str(HERE), "archive", base], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


async def start(
    http: aiohttp.ClientSession, name: str, tree: Path, base_url: str, token: str, db: str, n: int, users: int
) -> Bot:
    people = [Person(FIRST_USER + k) for k in range(users)]
    users_body = {"users": [{"user_id": p.user_id, "first_name": "Ivan"} for p in people]}
    async with http.post(f"{base_url}/_bench/users", json=users_body) as resp:
        resp.raise_for_status()
    url = await prepare_database(db, DEFAULT_PG.replace("crm_throughput", f"crm_compare_{n}"), users)
    env = {
        "BOT_TOKEN": token,
        "TELEGRAM_API_URL": base_url,
        "DATABASE_URL": url,
        "ADMIN_IDS": str(FIRST_USER),
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
        "PYTHONPATH": str(tree),  # the tree's own packages, ahead of any installed ones
    }
    # Started in its tree: `-m` looks in the working directory first.
    proc, _ = await start_bot(http, base_url, [sys.executable, "-m", "bot.cli", "run"], env, cwd=str(tree))
    await Driver(http, base_url, people, True, timeout=300).closed_loop(3)  # warm-up, not measured
    return Bot(name, proc, Driver(http, base_url, people, True, timeout=60))


async def burst(bot: Bot, steps: int) -> None:
    before = _cpu_seconds(bot.proc.pid)
    rate, results = await bot.driver.closed_loop(steps)
    spent = _cpu_seconds(bot.proc.pid) - before
    done = len(results.latencies)
    if results.unanswered or results.wrong or results.errors:
        raise RuntimeError(
            f"{bot.name}: {results.unanswered} unanswered, {results.wrong} wrong {results.errors[:3]}"
        )
    bot.per_update.append(spent * 1000 / max(done, 1))
    bot.rates.append(rate)
    bot.updates += done
    bot.cpu += spent


async def run(args: argparse.Namespace) -> None:
    trees = [("this", HERE), (f"base {args.base}", tree_of(args.base))]
    tokens = ["444441:COMPARE-THIS", "444442:COMPARE-BASE"]
    workdir = tempfile.mkdtemp(prefix="crm-compare-")
    fake, urls = await start_fake(workdir, tokens, cwd=str(HERE))
    bots: list[Bot] = []
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
        ) as http:
            try:
                for n, ((name, tree), token) in enumerate(zip(trees, tokens, strict=True)):
                    bots.append(await start(http, name, tree, urls[token], token, args.db, n, args.users))
                print(f"{args.db}: {args.slices} bursts each of {args.users} people x {args.steps} updates")
                for k in range(args.slices):
                    for bot in bots if k % 2 == 0 else bots[::-1]:
                        await burst(bot, args.steps)
            finally:
                for bot in bots:
                    await stop_bot(bot.proc)
    finally:
        fake.terminate()
        await fake.wait()
    this, base = bots
    ratios = [a / b for a, b in zip(this.per_update, base.per_update, strict=True)]
    for bot in bots:
        mean = bot.cpu * 1000 / max(bot.updates, 1)
        print(f"  {bot.name}: CPU {mean:.2f} ms/update ({bot.updates:,} updates)")
    totals = (this.cpu / this.updates) / (base.cpu / base.updates)
    speed = statistics.median(a / b for a, b in zip(this.rates, base.rates, strict=True))
    print(
        f"  this / base: median {statistics.median(ratios):.3f} of the bursts' ratios "
        f"(lowest {min(ratios):.2f}, highest {max(ratios):.2f}); of the totals {totals:.3f}"
    )
    print(f"  throughput, this / base: median {speed:.3f} of the bursts' ratios")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "base", help="a directory holding the other version, or a git revision of this repository"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2, help="updates per person in each burst")
    parser.add_argument("--slices", type=int, default=20, help="bursts per bot")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
