"""Background jobs (reminders, digests, housekeeping). Reaches Telegram only through `ports`."""
