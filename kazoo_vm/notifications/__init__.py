"""New voicemail by email, as Kazoo's teletype `voicemail_to_email` (docs/notifications.md): who gets the mail
(`recipients`), what it says (`compose`, with the Jinja2 templates of `email_templates/`), how it is sent
(`smtp`), the per-message record that makes it go out once (`records`), and the worker that sends, retries
and applies the box's after-notify action (`notifier`). `service` wires it to the event pipeline."""
