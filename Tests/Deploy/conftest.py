"""Shared helpers for the deploy tests (run by `make test` with the project venv's pytest)."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]

CONFIG_FILES = {
    "common": ["Sources/Shared/Config/CommonConfig.swift", "Sources/Shared/Config/DatabaseURL.swift", "Sources/Shared/Config/RedisURL.swift"],
    "auth": ["Sources/AuthService/AuthConfig.swift"],
    "connectors": ["Sources/ConnectorsService/ConnectorsConfig.swift"],
}


def variables_read(service):
    """Every environment variable a service's configuration reads (names in its config code)."""
    names = set()
    for part in ("common", service):
        for path in CONFIG_FILES[part]:
            names |= set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', (ROOT / path).read_text()))
    return names
