"""CouchDB design documents, one folder per kind of database. A package only so that it ships inside
kazoo-vm as `kazoo_vm._data.couch_views` (setup.cfg `package_dir`); the data are the `.json` files."""
