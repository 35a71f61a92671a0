"""Tools for development and tests, apart from the service: the local CouchDB (PouchDB Server), the
ephemeral service of `kazoo-vm serve --ephemeral`, fixture loading and the pytest plugin. The service never
imports this package; these tools use the service's layers like any other client of them."""
