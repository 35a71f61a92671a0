"""Voicemail events from CouchDB's change feeds and from the revisions written through the API (`outbox`):
what a change means (`classify`, with what the pipeline remembers of each document in `memory`), the payloads
Kazoo sends (`payloads`), which databases to read (`discovery`), who reads which (`leases`), where each feed is
(`checkpoints`), and the loop (`pipeline`)."""
