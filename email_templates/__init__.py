"""The email templates (Jinja2), one folder per notification. A package only so that it ships inside kazoo-vm
as `kazoo_vm._data.email_templates` (setup.cfg `package_dir`); the data are the template files. An operator
replaces any of them with a file of the same name in the folder `KAZOO_VM_EMAIL_TEMPLATES` names."""
