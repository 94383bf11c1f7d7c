-- tasktrace schema, version 7: several instances on one database.
-- due_at: when the session's unprocessed messages should be extracted (idle
-- deadline, buffer full, flush), written with every transcript write.
-- lease_owner/lease_until: the instance extracting it, until when; a crashed
-- instance's sessions are claimed by the others once lease_until has passed.
-- version: counts the session's writes (what a writer's cache is checked by).
-- tool_state: tool runs and tool results not paired yet (receiver/tool_match.py),
-- so that a tool span and its result message may reach different instances.

ALTER TABLE sessions
    ADD COLUMN due_at      timestamptz,
    ADD COLUMN lease_owner text NOT NULL DEFAULT '',
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN version     bigint NOT NULL DEFAULT 0,
    ADD COLUMN tool_state  text NOT NULL DEFAULT '';
UPDATE sessions SET due_at = now() WHERE cursor_seq < next_seq - 1;
CREATE INDEX sessions_due_idx ON sessions (due_at) WHERE cursor_seq < next_seq - 1;

-- The start of every transcript write: lock the sessions (and unkeyed traces)
-- it touches, in a fixed order, until the transaction ends; then check that
-- the writer's cache saw the stored session: each session's version as the
-- writer last knew it, each trace's session as it knew it ('' = unknown; a
-- trace already stored with the session the writer chose is fine). Returns the
-- stale sessions (NULL: none); the writer then rolls back, reloads them and plans
-- the batch again.
CREATE FUNCTION tasktrace_lock_chains(
    lock_keys bigint[], session_ids text[], bases bigint[],
    trace_ids text[], trace_bases text[], trace_targets text[]
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    k bigint;
    stale text;
BEGIN
    FOREACH k IN ARRAY lock_keys LOOP
        PERFORM pg_advisory_xact_lock(k);
    END LOOP;
    SELECT string_agg(v.id, ',') INTO stale
      FROM unnest(session_ids, bases) AS v(id, base)
      LEFT JOIN sessions s ON s.id = v.id
     WHERE COALESCE(s.version, 0) <> v.base;
    IF stale IS NULL THEN
        SELECT string_agg(v.target, ',') INTO stale
          FROM unnest(trace_ids, trace_bases, trace_targets) AS v(id, base, target)
          JOIN traces t ON t.trace_id = v.id
         WHERE t.session_id <> v.base AND t.session_id <> v.target;
    END IF;
    RETURN stale;
END $$;
