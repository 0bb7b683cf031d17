"""The dashboard's settings (environment variables, documented in the README's
Configuration table): where it listens, which API it reads, and as whom."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ADDRESS_ENV = "LIENTHONG_DASHBOARD_ADDRESS"
API_ENV = "LIENTHONG_DASHBOARD_API"
CERT_ENV = "LIENTHONG_DASHBOARD_CERT"
KEY_ENV = "LIENTHONG_DASHBOARD_KEY"
CA_ENV = "LIENTHONG_DASHBOARD_CA"
AS_OF_ENV = "LIENTHONG_DASHBOARD_AS_OF"
DEFAULT_ADDRESS = "127.0.0.1:8057"


class SettingsError(ValueError):
    """A setting that cannot be used (the message says which and why)."""


def split_address(address: str) -> tuple[str, int]:
    """("host", port) of "HOST:PORT" (an IPv6 host in brackets)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SettingsError(f"{address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class DashboardSettings:
    """``address``: where the dashboard listens; ``api``: the gRPC API it reads;
    ``certificate``/``key``: its identity (an office's or an auditor's); ``authority``:
    the certificate of the authority that issued the API server's; ``as_of``: the day
    pages are judged on when the URL names none (empty: today, as the API decides)."""

    address: str
    api: str
    certificate: Path
    key: Path
    authority: Path
    as_of: str = ""

    @classmethod
    def from_env(cls) -> DashboardSettings:
        pki = Path(os.environ.get("LIENTHONG_PKI_DIR", ".lienthong/pki"))
        return cls(
            address=os.environ.get(ADDRESS_ENV, DEFAULT_ADDRESS),
            api=os.environ.get(
                API_ENV, os.environ.get("LIENTHONG_GRPC_ADDRESS", "127.0.0.1:50051")
            ),
            certificate=Path(os.environ.get(CERT_ENV, pki / "auditor" / "auditor.pem")),
            key=Path(os.environ.get(KEY_ENV, pki / "auditor" / "auditor.key")),
            authority=Path(os.environ.get(CA_ENV, pki / "ca.pem")),
            as_of=os.environ.get(AS_OF_ENV, ""),
        )

    def check(self) -> None:
        """Refuse settings the dashboard cannot start with, naming the setting."""
        try:
            split_address(self.address)
        except SettingsError as error:
            raise SettingsError(f"{ADDRESS_ENV} (--address): {error}") from None
        for env, path in (
            (CERT_ENV, self.certificate),
            (KEY_ENV, self.key),
            (CA_ENV, self.authority),
        ):
            if not path.is_file():
                raise SettingsError(
                    f"{env}: {path} is not a file (make one with `lienthong pki init`)"
                )
