"""The pytest plugin `kazoo_vm` (entry point `kazoo_vm.testing`): its code lives in kazoo_vm/devtools/pytest_plugin.py."""
from .devtools.pytest_plugin import (Account, Client, Response, Service, kazoo_vm_account, kazoo_vm_client,
                                     kazoo_vm_make_account, kazoo_vm_service, wav)

__all__ = ["Account", "Client", "Response", "Service", "kazoo_vm_account", "kazoo_vm_client",
           "kazoo_vm_make_account", "kazoo_vm_service", "wav"]
