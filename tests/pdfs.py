"""PDFs built byte by byte for the ingestion tests: pages sharing one large content stream, a form drawn again and
again (what a budget on page content must catch)."""

from __future__ import annotations

import zlib

LINE = b"BT /F1 12 Tf 72 720 Td (Hello world) Tj ET\n"
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def text_operators(size: int) -> bytes:
    return LINE * (size // len(LINE))


def stream(data: bytes, extra: bytes = b"") -> bytes:
    packed = zlib.compress(data, 9)
    return b"<< /Length %d /Filter /FlateDecode %s>>\nstream\n%s\nendstream" % (len(packed), extra, packed)


def write_pdf(pages: list[bytes], others: list[bytes]) -> bytes:
    """A PDF of ``pages`` (page dictionaries without /Type and /Parent) and the objects they refer to: objects
    1-3 are the catalog, the page tree and a Helvetica font; the pages follow; ``others`` start right after."""
    first_page = 4
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(len(pages)))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)),
               FONT]  # fmt: skip
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] " + page + b" >>" for page in pages]
    objects += others
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def shared_stream_pdf(pages: int, content_bytes: int) -> bytes:
    """Every page's /Contents is the same Flate stream of ``content_bytes`` of text operators."""
    shared = 4 + pages
    page = b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R" % shared
    return write_pdf([page] * pages, [stream(text_operators(content_bytes))])


def repeated_form_pdf(draws: int, form_bytes: int) -> bytes:
    """One page that draws one form XObject ``draws`` times (the form holds ``form_bytes`` of text operators)."""
    form, content = 5, 6
    page = b"/Resources << /Font << /F1 3 0 R >> /XObject << /X0 %d 0 R >> >> /Contents %d 0 R" % (form, content)
    form_stream = stream(text_operators(form_bytes), b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
                         b"/Resources << /Font << /F1 3 0 R >> >> ")  # fmt: skip
    return write_pdf([page], [form_stream, stream(b"/X0 Do\n" * draws)])
