-- tasktrace schema, version 5: statistics on how tasks.status and
-- tasks.status_reason go together. A reason implies its status (`refused` is
-- always `failed`), but PostgreSQL multiplies the two selectivities and so
-- guesses 1/12 of the rows for `status = 'failed' AND status_reason =
-- 'refused'`. With that guess it sorts all the matches (20k rows at 1M tasks)
-- for `ORDER BY updated_at DESC LIMIT n` instead of walking the status_reason
-- index, and a text search on top took 64 ms p99. With these statistics the
-- guess is right and the walk is used (under 3 ms). See BENCHMARKS.md, Query.

CREATE STATISTICS tasks_status_reason_stats (dependencies, mcv) ON status, status_reason FROM tasks;
ANALYZE tasks (status, status_reason);
