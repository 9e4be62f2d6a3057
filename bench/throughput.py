"""Throughput and latency of the CRM bot against a bare aiogram echo bot, in one run.

    python -m bench.throughput                       # SQLite and PostgreSQL (when reachable)
    python -m bench.throughput --db sqlite --seconds 10

Three kinds of process: the fake Bot API (bench.bench_fake, rate limits off, one fake per bot
token), the bots (bench.echo_bot; `crm-bot run` on a fresh SQLite file, then on a fresh PostgreSQL
database), and this one, which generates the load and prints the figures. Every bot runs alone.

People: --users (100) Telegram users; in the CRM one admin and salespeople. Each repeats the cycle
"/today", "/new <name and phone>", "L-<n>" (open the new lead's card), Stage + a stage (a stage move
by button), Comment + the comment's text: seven updates, four of them button presses. The echo bot
gets texts.

Phases per bot: start-up (process start to its first getUpdates); burst (every user acts as soon
as its previous update is answered: the bot's throughput); then open-loop arrivals at 30 and at 100
updates/s (each arrival is the next step of a user not waiting for an answer). Latency is from the
arrival (scheduled time) to the answer the fake saw: the first message sent or edited in the
chat, or the button press's answerCallbackQuery. An update not answered within --timeout seconds
counts as unanswered. A reply is credited to its update exactly (see bench.bench_fake) and checked
against what the step expects (the echo of the text; the lead's ref); a reply that is not the one
expected counts as wrong, a bot message no update accounts for as stray.

The machine's speed drifts over the minutes between one bot's burst and the next's (by a fifth on
a shared machine), so the echo bot is kept running and, after each CRM's phases, --pairs more
bursts of the two take turns (the CRM's as long as its main burst, the echo bot's as many times
longer as it is faster; which goes first alternates): each pair's ratio is of two throughputs
measured seconds apart, and their median is printed.

Figures robust to a loaded machine: the CPU time (user + sys) each bot process spends per update
answered, and the CRM's ratio to the echo bot's; the wall-clock figures are printed beside them.
`--profile DIR` samples the CRM with py-spy (on-CPU stacks, collapsed) from the burst on.
`--latency MS` has the fake answer every call MS milliseconds late, as Telegram does from afar
(50-300 ms in production; 0, the default, is a Bot API server next to the bot).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.bytecode import byte_compile

ECHO_TOKEN = "111111:ECHO-TOKEN"
CRM_TOKENS = {"sqlite": "222222:CRM-SQLITE", "postgres": "333333:CRM-POSTGRES"}
FIRST_USER = 70_001
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/crm_throughput"
REF = re.compile(r"L-(\d+)")


# ---------------------------------------------------------------------------- scripts of people


@dataclass
class Person:
    user_id: int
    step: int = 0
    lead: int | None = None
    last_reply: dict[str, Any] | None = None
    retired: bool = False

    def next_action(self, crm: bool) -> dict[str, Any]:
        if not crm:
            self.step += 1
            return {"text": f"hello {self.step}"}
        k = self.step % 7
        phone = f"+7 9{random.randint(10, 99)} {random.randint(100, 999)} {random.randint(10, 99)} 00"
        match k:
            case 0:
                return {"text": "/today"}
            case 1:
                return {"text": f"/new Ivan Petrov {phone} wants {self.step} windows"}
            case 2:
                return {"text": f"L-{self.lead}"}
            case 3:
                return {"data": f"c:lead:{self.lead}:stage"}
            case 4:
                return {"data": self._stage_button()}
            case 5:
                return {"data": f"c:lead:{self.lead}:comment"}
            case _:
                return {"text": f"Called back, sends a quote {self.step}"}

    def _stage_button(self) -> str:
        markup = (self.last_reply or {}).get("reply_markup") or {}
        moves = [
            b["callback_data"]
            for row in markup.get("inline_keyboard", [])
            for b in row
            if ":mv:" in b.get("callback_data", "") and not b["text"].startswith("●")
        ]
        return moves[self.step % min(len(moves), 2)] if moves else f"c:lead:{self.lead}:stage"

    def expected(self, crm: bool, action: dict[str, Any], reply: dict[str, Any] | None) -> bool:
        """Whether `reply` is the answer this step calls for (not another update's)."""
        text = (reply or {}).get("text") or ""
        if not crm:
            return text == action["text"]
        match self.step % 7:
            case 0:
                return "📅" in text
            case 1:
                return REF.search(text) is not None
            case 2 | 4 | 6:
                return f"L-{self.lead}" in text
            case _:
                return reply is not None

    def answered(self, crm: bool, reply: dict[str, Any] | None) -> None:
        if crm:
            if self.step % 7 == 1:
                text = (reply or {}).get("text") or ""
                found = REF.search(text)
                if found:
                    self.lead = int(found.group(1))
                else:
                    self.retired = True  # not the answer expected: the script cannot go on
            self.last_reply = reply
            self.step += 1


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0
    wrong: int = 0  # answered by a reply that is not this step's
    errors: list[str] = field(default_factory=list)
    cpu_ms: float = float("nan")  # the bot process's CPU time per update answered
    main_cpu_ms: float = float("nan")  # of it, the main thread's (the event loop)

    def row(self) -> str:
        if not self.latencies:
            return "no answers"
        lat = sorted(self.latencies)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
        return f"p50 {p(0.5):.1f} / p99 {p(0.99):.1f} / max {lat[-1]:.1f} ms"

    def cpu(self) -> str:
        return f"CPU {self.cpu_ms:.2f} ms/update ({self.main_cpu_ms:.2f} in the main thread)"


class Driver:
    def __init__(
        self, http: aiohttp.ClientSession, base: str, people: list[Person], crm: bool, timeout: float
    ):
        self.http, self.base, self.people, self.crm, self.timeout = http, base, people, crm, timeout

    async def act(self, person: Person, results: Results, queued_ms: float = 0.0) -> None:
        action = person.next_action(self.crm)
        body = {"user_id": person.user_id, "timeout": self.timeout, **action}
        async with self.http.post(f"{self.base}/_bench/act", json=body) as resp:
            outcome = await resp.json()
        if resp.status != 200:
            results.errors.append(str(outcome))
            person.retired = True
            return
        if outcome.get("unanswered"):
            # Its answer may still come, and would be taken for the answer to the next update of
            # the chat: the person stops here.
            results.unanswered += 1
            person.retired = True
            return
        results.latencies.append(queued_ms + outcome["ms"])
        if not person.expected(self.crm, action, outcome.get("message")):
            results.wrong += 1
            person.retired = True
            return
        person.answered(self.crm, outcome.get("message"))

    async def closed_loop(self, steps_each: int) -> tuple[float, Results]:
        results = Results()

        async def run(person: Person) -> None:
            for _ in range(steps_each):
                if person.retired:
                    return
                await self.act(person, results)

        t0 = time.perf_counter()
        await asyncio.gather(*(run(p) for p in self.people))
        elapsed = time.perf_counter() - t0
        return len(results.latencies) / elapsed, results

    async def open_loop(self, rate: float, seconds: float) -> Results:
        results = Results()
        free: deque[Person] = deque(self.people)
        freed = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()

        async def one(person: Person, scheduled: float) -> None:
            try:
                await self.act(person, results, (time.perf_counter() - scheduled) * 1000)
            finally:
                if not person.retired:
                    free.append(person)
                freed.set()

        for k in range(int(rate * seconds)):
            scheduled = start + k / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            while not free:
                if all(p.retired for p in self.people):
                    break
                freed.clear()
                await freed.wait()
            if not free:
                break
            tasks.append(asyncio.create_task(one(free.popleft(), scheduled)))
        await asyncio.gather(*tasks)
        return results


# ---------------------------------------------------------------------------- processes


def _cpu_seconds(pid: int, task: int | None = None) -> float:
    """User + system CPU time of a process (or of one of its threads)."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    try:
        with open(path) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


async def _bench_stats(http: aiohttp.ClientSession, base: str) -> dict[str, int]:
    async with http.get(f"{base}/_bench/stats") as resp:
        return await resp.json()


async def _get_updates_calls(http: aiohttp.ClientSession, base: str) -> int:
    return (await _bench_stats(http, base))["polls"]


async def start_bot(
    http: aiohttp.ClientSession, base: str, argv: list[str], env: dict[str, str], cwd: str | None = None
) -> tuple[asyncio.subprocess.Process, float]:
    before = await _get_updates_calls(http, base)
    # The log goes to a file: a pipe nobody reads while the bot runs would fill up and block it.
    log = tempfile.NamedTemporaryFile(prefix="crm-throughput-", suffix=".log", delete=False)
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, env={**os.environ, **env}, stdout=asyncio.subprocess.DEVNULL, stderr=log, cwd=cwd
    )
    log.close()
    proc.log_path = log.name  # type: ignore[attr-defined]
    while await _get_updates_calls(http, base) <= before:
        if proc.returncode is not None:
            with open(log.name) as f:
                err = f.read()
            raise RuntimeError(f"{argv} exited with {proc.returncode}: {err[-2000:]}")
        await asyncio.sleep(0.01)
    return proc, time.perf_counter() - t0


async def stop_bot(proc: asyncio.subprocess.Process) -> str:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
    path = proc.log_path  # type: ignore[attr-defined]
    with open(path, errors="replace") as f:
        text = f.read()
    errors = sum(1 for ln in text.splitlines() if " ERROR " in ln)
    return f"{errors} ERROR lines logged, see {path}" if errors else ""


async def prepare_database(kind: str, pg_url: str, users: int) -> str:
    """A fresh, migrated database with the people in it: the first an admin, the rest salespeople."""
    from sqlalchemy.engine import make_url

    from crm_core import migrate
    from crm_core.db import Database
    from crm_core.models.users import Role, User

    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='crm-throughput-')}/crm.db"
    else:
        import asyncpg

        parsed = make_url(pg_url)
        admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{parsed.database}"')
        finally:
            await conn.close()
        url = pg_url
    db = Database(url)
    try:
        await migrate.upgrade(db.engine)
        async with db.unit_of_work() as s:
            for i in range(users):
                s.add(
                    User(
                        telegram_id=FIRST_USER + i,
                        full_name=f"Person {i}",
                        language="en",
                        role=Role.ADMIN if i == 0 else Role.SALESPERSON,
                    )
                )
    finally:
        await db.dispose()
    return url


async def pg_reachable(pg_url: str) -> bool:
    try:
        import asyncpg
        from sqlalchemy.engine import make_url

        admin = make_url(pg_url).set(drivername="postgresql", database="postgres")
        conn = await asyncpg.connect(admin.render_as_string(hide_password=False), timeout=3)
        await conn.close()
        return True
    except Exception:  # noqa: BLE001 - any failure means: skip PostgreSQL
        return False


# ---------------------------------------------------------------------------- one bot


@dataclass
class BotFigures:
    name: str
    startup: float = 0.0
    burst: float = 0.0
    burst_results: Results = field(default_factory=Results)
    rates: dict[int, Results] = field(default_factory=dict)
    errors: str = ""
    strays: int = 0
    pairs: list[tuple[float, float]] = field(default_factory=list)  # (echo's, this bot's) updates/s

    def paired(self) -> str:
        ratios = sorted(crm / echo for echo, crm in self.pairs)
        if not ratios:
            return "not measured"
        return (
            f"{100 * statistics.median(ratios):.0f}% of the echo bot's (median of {len(ratios)} pairs; "
            f"{100 * ratios[0]:.0f}-{100 * ratios[-1]:.0f}%)"
        )

    @property
    def cpu_ms_per_update(self) -> float:
        return self.burst_results.cpu_ms


async def measure(
    http: aiohttp.ClientSession,
    name: str,
    base: str,
    argv: list[str],
    env: dict[str, str],
    args: argparse.Namespace,
    crm: bool,
    echo: Running | None = None,
) -> tuple[BotFigures, Running]:
    """Start a bot, warm it up and measure its phases. With `echo` (the echo bot, left running),
    the paired bursts follow. The bot is left running (returned) when no `echo` is given, else
    stopped."""
    figures = BotFigures(name)
    people = [Person(FIRST_USER + i) for i in range(args.users)]
    async with http.post(
        f"{base}/_bench/users", json={"users": [{"user_id": p.user_id, "first_name": "Ivan"} for p in people]}
    ) as resp:
        resp.raise_for_status()
    proc, figures.startup = await start_bot(http, base, argv, env)
    try:
        # Warm-up, not measured: first one person (what loads on first use loads), then everyone
        # (each person has a lead). Slow answers here are waited for.
        warm = Driver(http, base, people[:1], crm, timeout=300)
        await warm.closed_loop(2)
        warm.people = people[1:]
        await warm.closed_loop(2)
        driver = Driver(http, base, [p for p in people if not p.retired], crm, args.timeout)
        spy = await _start_profiler(args.profile, name, proc.pid) if crm and args.profile else None
        cpu0 = _cpu_seconds(proc.pid), _cpu_seconds(proc.pid, proc.pid)
        polls = (await _bench_stats(http, base))["polls"]
        figures.burst, figures.burst_results = await driver.closed_loop(args.burst_steps)
        _cpu_per_update(figures.burst_results, proc.pid, cpu0)
        polls = (await _bench_stats(http, base))["polls"] - polls
        per_poll = len(figures.burst_results.latencies) / max(polls, 1)
        print(
            f"  {name}: burst {figures.burst:,.0f} updates/s, {figures.burst_results.cpu()}, "
            f"{per_poll:.1f} updates per getUpdates",
            flush=True,
        )
        for rate in args.rates:
            cpu0 = _cpu_seconds(proc.pid), _cpu_seconds(proc.pid, proc.pid)
            figures.rates[rate] = results = await driver.open_loop(rate, args.seconds)
            _cpu_per_update(results, proc.pid, cpu0)
            print(f"  {name}: at {rate}/s {results.row()}, {results.cpu()}", flush=True)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await spy.wait()
        running = Running(proc, driver, figures.burst)
        if echo is not None and args.pairs:
            steps = args.pair_steps or args.burst_steps  # as the main burst: the same ramp and tail
            figures.pairs = await paired_bursts(echo, running, args.pairs, steps)
            print(f"  {name}: paired bursts {figures.paired()}", flush=True)
        figures.strays = (await _bench_stats(http, base))["strays"]
    except BaseException:
        figures.errors = await stop_bot(proc)
        raise
    if echo is not None:
        figures.errors = await stop_bot(proc)
    return figures, running


@dataclass
class Running:
    proc: asyncio.subprocess.Process
    driver: Driver
    burst: float  # its main burst's updates/s


async def paired_bursts(echo: Running, crm: Running, pairs: int, steps: int) -> list[tuple[float, float]]:
    """Bursts of the echo bot and the CRM, taking turns (which goes first alternates): each
    pair's two throughputs are measured seconds apart, so a machine whose speed drifts over the
    minutes between the bots' main bursts does not skew their ratio. The echo bot's bursts are
    lengthened to last about as long as the CRM's: a second-long burst read ±15% from one to the next."""
    out = []
    longer = max(1, round(echo.burst / crm.burst)) if crm.burst > 0 else 1
    for k in range(pairs):
        rates = {}
        for who, bot in (("echo", echo), ("crm", crm)) if k % 2 == 0 else (("crm", crm), ("echo", echo)):
            rates[who], results = await bot.driver.closed_loop(steps * (longer if bot is echo else 1))
            if results.unanswered or results.wrong:
                raise RuntimeError(
                    f"paired bursts: {who} left {results.unanswered} unanswered, {results.wrong} wrong"
                )
        out.append((rates["echo"], rates["crm"]))
    return out


async def _start_profiler(directory: str, name: str, pid: int) -> asyncio.subprocess.Process:
    os.makedirs(directory, exist_ok=True)
    out = os.path.join(directory, name.replace(" ", "-") + ".txt")
    return await asyncio.create_subprocess_exec(
        "py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "-o", out,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def _cpu_per_update(results: Results, pid: int, before: tuple[float, float]) -> None:
    done = len(results.latencies) or 1
    results.cpu_ms = (_cpu_seconds(pid) - before[0]) * 1000 / done
    results.main_cpu_ms = (_cpu_seconds(pid, pid) - before[1]) * 1000 / done


def report(echo: BotFigures, crms: list[BotFigures], rates: list[int]) -> None:
    print()
    header = "| bot | start-up | burst updates/s | CPU ms/update (burst) | " + " | ".join(
        f"p50 / p99 / max at {r}/s" for r in rates
    )
    print(header + " | unanswered / wrong / stray |")
    print("|" + "---|" * (5 + len(rates)))
    for f in [echo, *crms]:
        ratio = "" if f is echo else f" ({100 * f.burst / echo.burst:.0f}% of echo)"
        cpu_ratio = "" if f is echo else f" ({f.cpu_ms_per_update / echo.cpu_ms_per_update:.1f}x echo)"
        phases = [f.burst_results, *f.rates.values()]
        lost = sum(r.unanswered for r in phases)
        wrong = sum(r.wrong for r in phases)
        cells = " | ".join(f.rates[r].row() for r in rates)
        print(
            f"| {f.name} | {f.startup:.2f} s | {f.burst:,.0f}{ratio} | {f.cpu_ms_per_update:.2f}{cpu_ratio} "
            f"| {cells} | {lost} / {wrong} / {f.strays} |"
        )
    for f in crms:
        cpu = ", ".join(
            f"at {r}/s {f.rates[r].cpu_ms / echo.rates[r].cpu_ms:.1f}x" for r in rates if r in echo.rates
        )
        burst_cpu = f.cpu_ms_per_update / echo.cpu_ms_per_update
        print(f"{f.name}: CPU per update {burst_cpu:.1f}x echo's in the burst, {cpu}")
        if f.pairs:
            print(f"{f.name}: burst in turns with the echo bot: {f.paired()}")
        print(f"{f.name}: start-up {f.startup / echo.startup:.1f}x the echo bot's", end="")
        for r in rates:
            extra = _p(f.rates[r], 0.99) - _p(echo.rates[r], 0.99)
            print(f"; p99 at {r}/s is echo's + {extra:.0f} ms", end="")
        print()
        problems = [e for r in [f.burst_results, *f.rates.values()] for e in r.errors]
        if problems or f.errors:
            print(f"  {f.name} errors: {problems[:5]} {f.errors}")


def _p(results: Results, q: float) -> float:
    lat = sorted(results.latencies) or [float("nan")]
    return lat[min(len(lat) - 1, int(q * len(lat)))]


async def start_fake(
    workdir: str, tokens: list[str], latency: float = 0.0, cwd: str | None = None
) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """The fake Bot API in a process of its own, and each token's base URL."""
    port_file = os.path.join(workdir, "ports.json")
    fake = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bench_fake", "--port-file", port_file,
        *itertools.chain.from_iterable(("--token", t) for t in tokens), "--latency", str(latency), cwd=cwd,
    )  # fmt: skip
    while not os.path.exists(port_file):
        if fake.returncode is not None:
            raise RuntimeError("the fake Bot API did not start")
        await asyncio.sleep(0.05)
    with open(port_file) as f:
        return fake, dict(zip(tokens, json.load(f), strict=True))


async def run(args: argparse.Namespace) -> None:
    workdir = tempfile.mkdtemp(prefix="crm-throughput-")
    byte_compile()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    tokens = [ECHO_TOKEN, *(CRM_TOKENS[d] for d in dbs)]
    fake, urls = await start_fake(workdir, tokens, args.latency)
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None)
        ) as http:
            late = f"; every call answered {args.latency:g} ms late" if args.latency else ""
            steps = f"burst {args.burst_steps} updates each; {args.seconds:.0f} s per rate"
            print(f"{args.users} users; {steps}{late}")
            echo, echo_bot = await measure(
                http, "echo", urls[ECHO_TOKEN], [sys.executable, "-m", "bench.echo_bot"],
                {"BOT_TOKEN": ECHO_TOKEN, "TELEGRAM_API_URL": urls[ECHO_TOKEN]}, args, crm=False,
            )  # fmt: skip
            try:
                crms = await measure_crms(http, urls, dbs, args, echo_bot)
            finally:
                echo.errors = await stop_bot(echo_bot.proc)
            report(echo, crms, args.rates)
    finally:
        fake.terminate()
        await fake.wait()


async def measure_crms(
    http: aiohttp.ClientSession, urls: dict[str, str], dbs: list[str], args: argparse.Namespace, echo: Running
) -> list[BotFigures]:
    crms = []
    for kind in dbs:
        if kind == "postgres" and not await pg_reachable(args.pg_url):
            print("  PostgreSQL is not reachable: skipped")
            continue
        url = await prepare_database(kind, args.pg_url, args.users)
        env = {
            "BOT_TOKEN": CRM_TOKENS[kind],
            "TELEGRAM_API_URL": urls[CRM_TOKENS[kind]],
            "DATABASE_URL": url,
            "ADMIN_IDS": str(FIRST_USER),
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": "",
        }
        argv = [sys.executable, "-m", "bot.cli", "run"]
        figures, _ = await measure(http, f"CRM {kind}", urls[CRM_TOKENS[kind]], argv, env, args, True, echo)
        crms.append(figures)
    return crms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--burst-steps", type=int, default=14, help="updates per user in the burst")
    parser.add_argument("--rates", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each rate phase")
    parser.add_argument("--profile", metavar="DIR", help="sample the CRM with py-spy, stacks in DIR")
    parser.add_argument("--latency", type=float, default=0.0, help="ms the fake takes to answer each call")
    parser.add_argument("--timeout", type=float, default=60.0, help="an update unanswered this long is lost")
    parser.add_argument("--pairs", type=int, default=8, help="paired bursts, echo and CRM in turn (0: none)")
    parser.add_argument(
        "--pair-steps", type=int, help="updates per user in each paired burst (--burst-steps)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
