"""OTLP receiver: decodes spans and log records, recognises GenAI dialects and
rebuilds one de-duplicated transcript per session."""
