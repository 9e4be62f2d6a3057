"""One delivery path for everything the bot pushes: activity reminders, overdue notices, the
outbox notifications (events, digests).

The database is the source of truth. A claim loop leases due rows in small batches (PostgreSQL:
FOR UPDATE SKIP LOCKED; SQLite: an IMMEDIATE transaction) and sleeps until the earliest due
instant read from the database, woken early by an in-process signal when a transaction commits a
new or moved reminder/notification (SQLAlchemy session events), with a poll as the fallback. So
nothing per reminder is held in memory while it waits: start-up time and memory do not depend on
how many reminders are pending.

Claimed rows are rendered and put on per-chat lanes. A dispatcher sends from the lanes within
Telegram's limits: a bot-wide log (DeliveryConfig.global_rate messages in any one second as they
arrive: a message counts from its send until a second after its answer, see limits.SendLog), a
bucket per chat (1/s with a short burst for private chats, 20/min for groups), and each chat's
`retry_after` after a 429 (no request to that chat before it; shared with other processes through
`ChatDelivery.not_before`, read for all chats at most once a second). With Redis, bot.shared_limits
holds the same limits for all processes together. Each chat sends one message at a time, several
chats at once, so a slow or blocked chat never holds up the others. Outcomes: sent -> "sent" is
committed within `sent_linger` (0.1 s), in one transaction for all sends answered meanwhile;
429 -> the chat waits; 5xx/network -> retried with exponential backoff, then released to the
database; 403 -> the chat is marked undeliverable and its rows dropped; a migrated group -> the
lane moves to the supergroup; 400 -> logged and dropped.

Duplicates and losses. A crash after the claim and before the send loses nothing: the lease
expires and any process claims the row again. The one remaining duplicate window is a send that
reached Telegram but whose "sent" was not committed: the process died (or the database failed)
in the tenth of a second between Telegram's answer and the commit of its batch, or a send
timed out on our side after Telegram had accepted it. Then the row is sent again after its lease.
Leases of held rows are renewed before they run out, and a row is sent only by the worker that
still holds its lease, so two live processes never send the same row.

Modules: wakeup (the commit signal), limits (settings, token buckets, the send log), lanes (jobs
and per-chat lanes), prepare (recipients and rendering through the port), rows (every database
write of the claim cycle), engine (the claim and dispatch loops, the outcomes).
"""

from scheduler.delivery.engine import DeliveryEngine, DeliveryStats, default_worker_id
from scheduler.delivery.limits import DeliveryConfig
from scheduler.delivery.wakeup import wake_all

__all__ = ["DeliveryConfig", "DeliveryEngine", "DeliveryStats", "default_worker_id", "wake_all"]
