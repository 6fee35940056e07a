"""PDF text page by page, under a per-file work budget, stoppable between pages and operations.

pypdf parses a page's content streams again for every page that draws them, so a few kilobytes of PDF can make
it parse gigabytes: pages whose ``/Contents`` all name one large Flate stream, or a form XObject drawn thousands
of times. Two counts bound the work one file may cause:

- before any text is extracted, the decompressed bytes of every page's content streams, a stream counted once per
  page that draws it, must stay within ``max_content_bytes`` (``WORKBENCH_INGEST_PDF_MAX_CONTENT_BYTES``): a
  file over it is refused at once;
- while text is extracted, the operations pypdf visits (form XObjects included, each time they are drawn) must
  stay within ``max_content_bytes // BYTES_PER_OPERATION``.

``cancel`` (a :class:`threading.Event`, set by a UI cancel or a server shutdown) is checked between pages and
every :data:`CHECK_EVERY` operations; a set one ends the parse with :class:`IngestCancelled`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from workbench.errors import IngestError

if TYPE_CHECKING:
    from pypdf import PageObject

BYTES_PER_OPERATION = 4
"""An operation with its operands takes at least a few bytes of content (``q\\n``, ``1 w\\n``); a file that makes
pypdf visit more operations than its bytes allow is drawing the same content again and again."""
CHECK_EVERY = 256
"""Operations between two looks at the cancel event."""


class CancelSignal(Protocol):
    """What stops a parse: a :class:`threading.Event` or anything with ``is_set()``."""

    def is_set(self) -> bool: ...


class IngestCancelled(Exception):
    """Indexing was stopped before the file was read (not a failure of the file: nothing is reported for it)."""


class _OverBudget(Exception):
    pass


@dataclass
class _Budget:
    name: str
    max_bytes: int
    cancel: CancelSignal | None
    operations: int = 0
    cancelled: bool = False

    @property
    def max_operations(self) -> int:
        return self.max_bytes // BYTES_PER_OPERATION

    def check_cancel(self) -> None:
        if self.cancelled or (self.cancel is not None and self.cancel.is_set()):
            self.cancelled = True  # raised again at the next operation if pypdf swallowed it inside a form
            raise IngestCancelled(f"{self.name}: indexing was cancelled")

    def visit(self, operator: Any, operands: Any, cm: Any, tm: Any) -> None:
        """pypdf's ``visitor_operand_before``: count the operation, stop past the budget or when cancelled."""
        self.operations += 1
        if self.operations > self.max_operations:
            raise _OverBudget
        if self.cancelled or self.operations % CHECK_EVERY == 0:
            self.check_cancel()

    def refuse(self, what: str) -> IngestError:
        return IngestError(
            f"{self.name}: too much page content to index: {what} (a limit per file that the server's operator "
            "sets); split the PDF into smaller files, or print it to a new PDF, and index those"
        )


def _content_streams(page: PageObject) -> list[Any]:
    contents = page.get("/Contents")
    if contents is None:
        return []
    contents = contents.get_object()
    if isinstance(contents, list):  # an ArrayObject of (references to) streams
        return [part.get_object() for part in contents]
    return [contents]


def content_bytes(pages: list[PageObject], budget: _Budget) -> int:
    """The decompressed bytes of the pages' content streams, each counted once per page that draws it; stops
    counting (and raises) once past the budget. pypdf keeps each stream's decoded data, so a stream shared by many
    pages is decompressed once."""
    total = 0
    for number, page in enumerate(pages, start=1):
        budget.check_cancel()
        for stream in _content_streams(page):
            total += len(stream.get_data()) if hasattr(stream, "get_data") else 0
            if total > budget.max_bytes:
                limit = f"{budget.max_bytes / 1e6:.3g} MB"
                raise budget.refuse(f"its pages make the reader go through more than {limit} of drawing "
                                    f"instructions (reached at page {number} of {len(pages)})")  # fmt: skip
    return total


def pdf_pages(
    name: str, data: bytes, *, max_content_bytes: int, cancel: CancelSignal | None = None
) -> tuple[str | None, list[tuple[int, str]]]:
    """``(metadata title, [(page number, text)])`` of a PDF. Raises :class:`IngestError` for a protected,
    unreadable or over-budget file (naming ``name``, as uploaded), :class:`IngestCancelled` when ``cancel`` is
    set."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    budget = _Budget(name, max_content_bytes, cancel)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"{name}: the PDF is password-protected; save an unprotected copy and ingest that")
        metadata_title = reader.metadata.title if reader.metadata else None
        pages = list(reader.pages)
        content_bytes(pages, budget)
        texts = []
        for number, page in enumerate(pages, start=1):
            budget.check_cancel()
            text = page.extract_text(visitor_operand_before=budget.visit)
            if budget.operations > budget.max_operations:  # raised inside a form XObject, which pypdf swallows
                raise _OverBudget
            texts.append((number, text or ""))
    except _OverBudget:
        raise budget.refuse(f"its pages draw more than {budget.max_operations:,} operations") from None
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise IngestError(f"{name}: not a readable PDF ({exc})") from exc
    return metadata_title, texts
