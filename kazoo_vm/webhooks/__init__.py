"""Kazoo's webhooks: hook documents and their API (`hooks`), which events a hook takes (`matching`), the
receivers a hook may name (`receivers`), delivery (`delivery`, `signing`, `dispatcher`) and the attempt log
(`attempts`). Events come from `kazoo_vm.events`."""
