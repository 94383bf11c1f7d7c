"""TLS for the listeners (``receivers.otlp.protocols.{grpc,http}.tls``), in the
collector's words: ``cert_file`` and ``key_file`` (PEM), and ``client_ca_file``
to require client certificates signed by that CA (mTLS)."""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc
from pydantic import BaseModel, ConfigDict, model_validator


class ServerTLSConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: str
    key_file: str
    client_ca_file: str = ""

    @model_validator(mode="after")
    def _files_readable(self) -> ServerTLSConfig:
        for key in ("cert_file", "key_file", "client_ca_file"):
            name = getattr(self, key)
            if not name:
                continue
            try:
                Path(name).read_bytes()
            except OSError as exc:
                raise ValueError(f"tls.{key}: cannot read {name}: {exc.strerror or exc}") from None
        return self

    def ssl_context(self) -> ssl.SSLContext:
        """A server context for aiohttp (TLS 1.2 or later)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file:
            context.load_verify_locations(self.client_ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def grpc_credentials(self) -> grpc.ServerCredentials:
        key, cert = Path(self.key_file).read_bytes(), Path(self.cert_file).read_bytes()
        ca = Path(self.client_ca_file).read_bytes() if self.client_ca_file else None
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )
