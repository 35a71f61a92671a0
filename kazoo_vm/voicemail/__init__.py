"""The voicemail domain: accounts, boxes, messages, folders, retention, move/copy, legacy migration.
Plain async functions and classes over the storage layer; no HTTP objects."""
