"""Evidence: a reference to a document that proves a report."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lienthong.v1 import envelope_pb2

SHA256 = re.compile(r"[0-9a-f]{64}")
DEFAULT_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Evidence:
    """A document (a signed decision, a photo of the product) by its SHA-256 and where it is.

    ``sha256`` is the hex digest of the document's bytes: 64 lowercase hex digits.
    """

    sha256: str
    uri: str
    media_type: str = DEFAULT_MEDIA_TYPE
    description: str = ""

    def __post_init__(self) -> None:
        if not SHA256.fullmatch(self.sha256):
            msg = f"sha256 must be 64 lowercase hex digits, not {self.sha256!r}"
            raise ValueError(msg)

    @classmethod
    def of_file(
        cls,
        path: str | Path,
        uri: str,
        media_type: str | None = None,
        description: str = "",
    ) -> Evidence:
        """Evidence for the file at ``path``, hashed here; ``uri`` is where reviewers find it.

        Without ``media_type`` it is guessed from the file name.
        """
        path = Path(path)
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        guessed, _ = mimetypes.guess_type(path.name)
        return cls(digest, uri, media_type or guessed or DEFAULT_MEDIA_TYPE, description)

    def to_proto(self) -> envelope_pb2.EvidenceReference:
        """The wire form, ``lienthong.v1.EvidenceReference``."""
        return envelope_pb2.EvidenceReference(
            sha256=self.sha256,
            uri=self.uri,
            media_type=self.media_type,
            description=self.description,
        )


def as_tuple(evidence: Evidence | Iterable[Evidence]) -> tuple[Evidence, ...]:
    """One piece of evidence or several, as a tuple."""
    if isinstance(evidence, Evidence):
        return (evidence,)
    return tuple(evidence)
