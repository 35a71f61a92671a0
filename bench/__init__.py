"""kazoo-vm's benchmark: `python -m bench [--quick] [--only NAME] [--target T]` (or `make bench`).

How it measures:
- CouchDB (`--target`, targets.py): a fresh in-memory PouchDB Server, an Apache CouchDB single node or 3-node
  cluster started (and purged after) with ../shared/couchdb/couchdb or KAZOO_VM_COUCHDB_SCRIPT, or a URL
  (then everything the benchmark creates is deleted at the end); without it, KAZOO_VM_COUCHDB_URL or PouchDB.
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
  are built before anything is measured (and, in the bulk and concurrent scenarios, again between measured
  changes, so that none is timed while CouchDB's indexer works for the one before).
- The concurrent scenario also runs the service as `kazoo-vm serve --workers 2` does (kazoo_vm.workers), and
  reports the CPU time per request of the service, CouchDB and the clients.
- Besides the table and the JSON, a chart of API/direct per row with the goals (chart.py; matplotlib).
"""
