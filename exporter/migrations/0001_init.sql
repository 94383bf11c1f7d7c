-- tasktrace schema, version 1. Applied inside the configured schema (search_path).

CREATE TABLE sessions (
    id              text PRIMARY KEY,
    service         text NOT NULL DEFAULT '',
    keyed           boolean NOT NULL DEFAULT false,
    disabled        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_message_at timestamptz NOT NULL DEFAULT now(),
    message_count   integer NOT NULL DEFAULT 0,
    next_seq        integer NOT NULL DEFAULT 0,
    tail            bytea,
    -- forward-only extraction cursor: the last processed seq (-1: none)
    cursor_seq      integer NOT NULL DEFAULT -1,
    last_error      text NOT NULL DEFAULT '',
    input_tokens    bigint NOT NULL DEFAULT 0,
    output_tokens   bigint NOT NULL DEFAULT 0
);
CREATE INDEX sessions_updated_idx ON sessions (updated_at DESC, id DESC);
CREATE INDEX sessions_tail_idx ON sessions (tail);
CREATE INDEX sessions_backlog_idx ON sessions (id) WHERE cursor_seq < next_seq - 1;

CREATE TABLE messages (
    session_id   text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE ON UPDATE CASCADE,
    seq          integer NOT NULL,
    id           text NOT NULL,
    role         text NOT NULL,
    content      text NOT NULL DEFAULT '',
    tool_calls   jsonb NOT NULL DEFAULT '[]',
    tool_call_id text NOT NULL DEFAULT '',
    tool_name    text NOT NULL DEFAULT '',
    error        boolean NOT NULL DEFAULT false,
    trace_id     text NOT NULL DEFAULT '',
    span_id      text NOT NULL DEFAULT '',
    time_ns      bigint NOT NULL DEFAULT 0,
    model        text NOT NULL DEFAULT '',
    chain        bytea NOT NULL,
    task_id      text NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, seq)
);
CREATE UNIQUE INDEX messages_chain_idx ON messages (session_id, chain);

CREATE TABLE traces (
    trace_id     text PRIMARY KEY,
    session_id   text NOT NULL,
    keyed        boolean NOT NULL DEFAULT false,
    root_span_id text NOT NULL DEFAULT '',
    last_span_id text NOT NULL DEFAULT '',
    service      text NOT NULL DEFAULT '',
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX traces_session_idx ON traces (session_id);

CREATE TABLE tasks (
    id            text PRIMARY KEY,
    session_id    text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE ON UPDATE CASCADE,
    ord           integer NOT NULL,
    description   text NOT NULL,
    status        text NOT NULL,
    status_reason text NOT NULL DEFAULT '',
    progress      jsonb NOT NULL DEFAULT '[]',
    preferences   jsonb NOT NULL DEFAULT '[]',
    message_ids   jsonb NOT NULL DEFAULT '[]',
    trace_ids     jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    revision      integer NOT NULL DEFAULT 1,
    extractor     text NOT NULL DEFAULT '',
    service       text NOT NULL DEFAULT '',
    UNIQUE (session_id, ord)
);
CREATE INDEX tasks_updated_idx ON tasks (updated_at DESC, id DESC);
CREATE INDEX tasks_status_updated_idx ON tasks (status, updated_at DESC, id DESC);
CREATE INDEX tasks_service_updated_idx ON tasks (service, updated_at DESC, id DESC);

-- append-only activity log: every status change and progress step
CREATE TABLE task_history (
    id         bigserial PRIMARY KEY,
    task_id    text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    session_id text NOT NULL,
    at         timestamptz NOT NULL,
    kind       text NOT NULL,          -- 'status' | 'progress' | 'preference' | 'description'
    status     text NOT NULL DEFAULT '',
    detail     text NOT NULL DEFAULT '',
    revision   integer NOT NULL
);
CREATE INDEX task_history_task_idx ON task_history (task_id, id);
