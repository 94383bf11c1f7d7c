-- tasktrace schema, version 3: indexes for searching tasks across sessions
-- (status_reason, text in the description, session id prefix) and for finding
-- the tasks of a trace or span. Applied inside the configured schema.

CREATE INDEX tasks_reason_updated_idx ON tasks (status_reason, updated_at DESC, id DESC);
CREATE INDEX tasks_session_prefix_idx ON tasks (session_id text_pattern_ops);
CREATE INDEX tasks_trace_ids_idx ON tasks USING gin (trace_ids jsonb_path_ops);
CREATE INDEX messages_trace_idx ON messages (trace_id) WHERE trace_id <> '';
CREATE INDEX messages_span_idx ON messages (span_id) WHERE span_id <> '';

-- Text search uses a trigram index (pg_trgm, shipped with PostgreSQL's
-- contrib). The extension is one per database, so it lives in a schema of
-- its own that dropping a tasktrace schema never takes with it. Without the
-- privilege to create it, the search still works, by scanning.
DO $$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF ext_schema IS NULL THEN
        BEGIN
            CREATE SCHEMA IF NOT EXISTS tasktrace_ext;
            CREATE EXTENSION pg_trgm SCHEMA tasktrace_ext;
            ext_schema := 'tasktrace_ext';
        EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
            RAISE WARNING 'pg_trgm unavailable (%): text search over task descriptions will scan', SQLERRM;
            RETURN;
        END;
    END IF;
    EXECUTE format(
        'CREATE INDEX tasks_description_trgm_idx ON tasks USING gin (description %I.gin_trgm_ops)',
        ext_schema
    );
END
$$;
