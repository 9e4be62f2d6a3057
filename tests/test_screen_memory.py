"""The in-process screen memory: an atomic swap, and a bound on what it keeps."""

from handlers.ui import ScreenMemory


async def test_swap_returns_what_was_drawn_before():
    memory = ScreenMemory()
    assert await memory.swap("1:10:5", "a") is None
    assert await memory.swap("1:10:5", "a") == "a"  # the same screen again: no edit needed
    assert await memory.swap("1:10:5", "b") == "a"
    await memory.forget("1:10:5")
    assert await memory.swap("1:10:5", "b") is None


async def test_the_oldest_screens_are_forgotten_past_the_bound():
    memory = ScreenMemory(limit=3)
    for n in range(4):
        await memory.swap(f"k{n}", "x")
    await memory.swap("k1", "y")  # used again: now the newest
    await memory.swap("k4", "x")
    assert await memory.swap("k1", "y") == "y"  # kept: recently used
    assert await memory.swap("k2", "z") is None  # dropped: least recently used
