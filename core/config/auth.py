"""The ``extensions.bearertokenauth`` section: which tokens a listener accepts.

The checking itself is :class:`tasktrace.auth.tokens.Authenticator`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenEntry(_Strict):
    token: str = Field(min_length=1)
    #: ``service.name`` values this token may write and read; empty: all
    services: tuple[str, ...] = ()


class BearerTokenAuthConfig(_Strict):
    token: str = ""
    tokens: tuple[str | TokenEntry, ...] = ()
    filename: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> BearerTokenAuthConfig:
        given = [k for k in ("token", "tokens", "filename") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("bearertokenauth needs exactly one of token, tokens, filename")
        if self.filename:
            try:
                read_token_file(Path(self.filename))
            except OSError as exc:
                raise ValueError(
                    f"cannot read token file {self.filename}: {exc.strerror or exc}"
                ) from None
        return self

    def entries(self) -> tuple[TokenEntry, ...]:
        """The inline tokens (none for ``filename``)."""
        if self.token:
            return (TokenEntry(token=self.token),)
        return tuple(t if isinstance(t, TokenEntry) else TokenEntry(token=t) for t in self.tokens)


def read_token_file(path: Path) -> tuple[TokenEntry, ...]:
    lines = path.read_text("utf-8").splitlines()
    return tuple(TokenEntry(token=s) for s in (line.strip() for line in lines) if s)
