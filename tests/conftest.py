"""Shared fixtures live in plugin modules so that each area owns its own."""

pytest_plugins: list[str] = [
    "tests.fixtures_emulator",
    "tests.fixtures_prefect",
    "tests.fixtures_servers",
    "tests.fixtures_external",
]
