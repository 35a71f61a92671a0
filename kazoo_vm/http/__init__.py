"""HTTP: the aiohttp application, routes, Crossbar envelope and errors, auth."""
