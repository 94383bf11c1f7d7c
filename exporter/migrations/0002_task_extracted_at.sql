-- tasktrace schema, version 2: tasks.created_at and task_history.at become the time of the
-- message that caused them; the time the extractor produced a task is kept in extracted_at.
-- Rows written before this version carry the extraction time in created_at: copy it.

ALTER TABLE tasks ADD COLUMN extracted_at timestamptz;
UPDATE tasks SET extracted_at = created_at WHERE extracted_at IS NULL;
