-- tasktrace schema, version 8: task_history.task_id no longer references tasks.
-- A task's history rows are written in the same transaction as the task, right
-- after its upsert, and the check of that reference locked each task row the
-- transaction had just updated: under a backlog of extractions that was most
-- of PostgreSQL's CPU (draining 5k sessions: 5-8.5 s of PostgreSQL CPU with the
-- reference, 1.1-1.7 s without; BENCHMARKS.md, "Extraction CPU"). The one path
-- that deletes tasks (a session merged into another: its row goes, its tasks
-- with it) deletes their history first (tasktrace/exporter/transcripts.py).

ALTER TABLE task_history DROP CONSTRAINT IF EXISTS task_history_task_id_fkey;
