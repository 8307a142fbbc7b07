"""The store's SQL for a pool's history series (``maskline.domain.series``): live sessions and
Δ at each step point, counted by the database in one statement.

Each session of the pool that was live in the window is spread over the step points it was live
at (a recursive expansion: one row per session and point, never one per session and every point),
each row counted once for the pool and once for each of its parties; the counts per point and
party give Δ as their maximum. The rows are the database's to hold (it spills them to disk past its
cache): the process receives one row per step point, whatever the number of sessions.
"""

from __future__ import annotations

from maskline.domain.series import SeriesPoint, fill, steps
from maskline.store.db import Db

# The first and last step index of a session: the first point at or after its creation, the
# last before its expiry, kept within the window (written with CASE, which both databases speak
# alike, rather than MAX/GREATEST, which they do not).
_SERIES = """
WITH RECURSIVE spread(first_party, second_party, k, last_k) AS (
  SELECT s.first_party, s.second_party,
    CASE WHEN s.created <= ? THEN 0 ELSE (s.created - ? + ? - 1) / ? END,
    CASE WHEN s.expiry - 1 >= ? THEN ? ELSE (s.expiry - 1 - ?) / ? END
  FROM sessions s JOIN numbers n ON n.number = s.virtual_number
  WHERE s.main_id = ? AND n.pool_id = ? AND n.country = ? AND s.created <= ? AND s.expiry > ?
    AND s.expiry > s.created
  UNION ALL
  SELECT first_party, second_party, k + 1, last_k FROM spread WHERE k < last_k
),
held(k, party) AS (
  SELECT k, first_party FROM spread WHERE first_party <> '' AND k <= last_k
  UNION ALL
  SELECT k, second_party FROM spread WHERE second_party <> '' AND k <= last_k
),
per_party(k, n) AS (SELECT k, COUNT(*) FROM held GROUP BY k, party),
delta(k, d) AS (SELECT k, MAX(n) FROM per_party GROUP BY k),
live(k, n) AS (SELECT k, COUNT(*) FROM spread WHERE k <= last_k GROUP BY k)
SELECT live.k, live.n, delta.d FROM live JOIN delta ON delta.k = live.k ORDER BY live.k
"""


async def live_series(
    db: Db, main_id: str, pool: str, country: str, since: int, until: int, step: int
) -> list[SeriesPoint]:
    count = steps(since, until, step)
    if count == 0:
        return []
    last = count - 1
    end = since + last * step  # the last step point
    rows = await db.fetch(
        _SERIES,
        since, since, step, step,
        end, last, since, step,
        main_id, pool, country, end, since,
    )  # fmt: skip
    return fill(since, count, step, {int(k): (int(n), int(d)) for k, n, d in rows})
