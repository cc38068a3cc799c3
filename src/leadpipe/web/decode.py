"""A response body's Content-Encoding undone by leadpipe, with bounded output.

HTTP clients decode each network read whole before their caller sees a byte: one 64 KiB read of a
gzip bomb becomes some 64 MB at once, and a response hundreds of megabytes, whatever the caller's cap. So the
fetcher reads the raw bytes and passes them through a :class:`BodyDecoder`, which asks zlib for at most
``PIECE`` bytes at a time (``max_length``) and keeps the input it has not used yet
(``unconsumed_tail``) for the next piece. The fetcher counts each piece against its cap and stops
there, so a response holds at most its cap and one piece, whatever the compression ratio.

leadpipe asks for gzip and deflate only (``Accept-Encoding``). Read: gzip (``x-gzip``), deflate (wrapped
in zlib's format as the RFC says, or raw as some servers send it) and identity. A body in another
compression (br, zstd, compress), or compressed twice over, is refused rather than read as text; a
token that names no compression at all ("none", "utf-8") leaves the bytes as they are, as browsers do.

A sitemap file in gzip (``.xml.gz``) is content, not transport: the sitemap parser undoes that itself.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

PIECE = 64 * 1024
"""The most decoded bytes one step hands over."""

_GZIP = ("gzip", "x-gzip")
_REFUSED = ("br", "zstd", "compress", "x-compress")


class DecodeError(Exception):
    """A body that cannot be decoded as its Content-Encoding says, with the reason."""


class BodyDecoder:
    """Undoes one response's Content-Encoding, chunk by chunk, in pieces of at most ``PIECE`` bytes."""

    def __init__(self, content_encoding: str) -> None:
        codings = [token.strip().lower() for token in content_encoding.split(",")]
        refused = [coding for coding in codings if coding in _REFUSED]
        if refused:
            raise DecodeError(f"the body is compressed with {refused[0]}, which leadpipe cannot read")
        compressed = [coding for coding in codings if coding in (*_GZIP, "deflate")]
        if len(compressed) > 1:
            raise DecodeError(f"the body is compressed {len(compressed)} times over ({content_encoding})")
        self._coding = compressed[0] if compressed else None
        self._inflater: zlib._Decompress | None = None
        if self._coding in _GZIP:
            self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip header and trailer
        self._head = b""  # deflate: its first bytes, until they tell zlib's format from raw

    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of the next raw chunk. Stopping early means reading no further: the
        rest of the chunk is dropped."""
        if self._coding is None:
            if data:
                yield data
            return
        if self._inflater is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return
            self._head = b""
            self._inflater = zlib.decompressobj(
                wbits=zlib.MAX_WBITS if _zlib_header(data) else -zlib.MAX_WBITS
            )
        while not self._inflater.eof:  # bytes after the end of the stream are ignored, as browsers do
            try:
                piece = self._inflater.decompress(data, PIECE)
            except zlib.error as error:
                raise DecodeError(f"the {self._coding} body is corrupt ({error})") from None
            data = self._inflater.unconsumed_tail
            if piece:
                yield piece
            # A full piece may leave output in zlib with all input taken: ask again until none comes.
            if not (piece or data):
                return


def _zlib_header(data: bytes) -> bool:
    """Whether ``data`` starts as RFC 1950 says: deflate with a window of at most 32 KiB, and a check."""
    return data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0
