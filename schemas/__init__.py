"""Kazoo's JSON schemas. A package only so that it ships inside kazoo-vm as `kazoo_vm._data.schemas`
(setup.cfg `package_dir`); the data are the `.json` files."""
