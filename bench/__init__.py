"""kazoo-vm's benchmark: `python -m bench [--quick] [--only NAME]` (or `make bench`).

How it measures:
- CouchDB: a fresh in-memory PouchDB Server started here, or the server KAZOO_VM_COUCHDB_URL names (then
  everything the benchmark creates is deleted at the end).
- The service runs in a process of its own (`python -m bench.service`: the same application and request log
  as `kazoo-vm serve`), on a free loopback port, one process per set of settings a scenario needs. Its memory
  is read from /proc/<pid>/status: the peak (VmHWM, reset through /proc/<pid>/clear_refs before each
  measured block) and the growth of that peak over the RSS at the start of the block. A process of its own
  keeps the benchmark's clients, seeding and direct requests out of those figures, and off the service's
  CPU.
- CouchDB requests per API request: the service's own counter (`voicemail.store.requests`), read through a
  side port of the service process before and after each request, outside the timing.
- Every figure has its direct counterpart, measured in the same run with the same client library: the
  request(s) a client would make to CouchDB itself for the same answer. Latencies are interleaved request
  by request with the API's, after a few warm-up requests.
- Data is seeded straight into CouchDB (`_bulk_docs`), in the shapes the service writes, and view indexes
  are built before anything is measured.
"""
