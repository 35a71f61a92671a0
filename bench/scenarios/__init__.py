"""The scenarios, in the order they run; each is `async run(ctx) -> list[Row]` and seeds its own data."""
from . import audio, bulk, concurrent, events, listing, message_get, migration, paginate_false, vmboxes, zip_download

SCENARIOS = {
    "message_get": message_get.run,
    "listing": listing.run,
    "paginate_false": paginate_false.run,
    "vmboxes": vmboxes.run,
    "audio": audio.run,
    "bulk": bulk.run,
    "zip": zip_download.run,
    "concurrent": concurrent.run,
    "migration": migration.run,
    "events": events.run,
}
