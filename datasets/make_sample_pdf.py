"""Write ``datasets/corpus/release-notes.pdf``: a small, valid two-page text PDF, with the standard library only.

Run ``python datasets/make_sample_pdf.py``; the output is byte-for-byte reproducible (no timestamps).
The text uses the PDF standard font Helvetica (WinAnsi encoding), so any PDF reader and pypdf extract it.
"""

from __future__ import annotations

from pathlib import Path

TITLE = "Agent Workbench 0.1.0 release notes"
PAGES = [
    [
        "Agent Workbench 0.1.0 release notes",
        "",
        "Release 0.1.0 is the first public release of Agent Workbench.",
        "",
        "Highlights",
        "- Chat over your documents with hybrid retrieval: MiniLM dense vectors and BM25",
        "  sparse vectors fused by reciprocal rank fusion in Qdrant.",
        "- Voice assistant with Whisper tiny.en speech recognition and Piper speech synthesis.",
        "- Repository audits by five specialist agents running in parallel, with SARIF output.",
        "- Run log in DuckDB and evaluation suites tracked with MLflow.",
        "- Stable protocols: /ws/chat, /ws/assistant, /ws/tasks/{task_id} and /api/tasks.",
        "",
        "Supported platforms",
        "Linux x86_64 and aarch64, and macOS 13 or newer on Apple silicon, with Python 3.11 or 3.12.",
        "Windows is not supported in this release; use WSL2 instead.",
    ],
    [
        "Known limitations",
        "",
        "- The embedded Qdrant local mode is recommended for collections of up to about 20,000 chunks.",
        "  Larger collections should use a Qdrant server (set QDRANT_URL).",
        "- The bundled SmolLM2-135M model writes short, simple answers. Use an OpenAI-compatible",
        "  endpoint for better answers; the retrieval results are the same either way.",
        "- Scanned PDFs are not supported because the workbench does not run OCR.",
        "",
        "Upgrade notes",
        "The run log schema is at migration m001_initial. Later releases migrate it automatically",
        "on first open. Keep a copy of runs.duckdb before upgrading if the data matters to you.",
        "",
        "Deprecations",
        "None in this release. The release after 0.1.0 is planned for the end of the next quarter.",
    ],
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(lines: list[str]) -> bytes:
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
    for line in lines:
        ops.append(f"({_escape(line)}) Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("cp1252")


def build_pdf(pages: list[list[str]], title: str) -> bytes:
    """A minimal PDF 1.4 file: catalog, page tree, one Helvetica font, one content stream per page, an info dict."""
    page_ids = [5 + 2 * i for i in range(len(pages))]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{' '.join(f'{i} 0 R' for i in page_ids)}] /Count {len(pages)} >>".encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        4: f"<< /Title ({_escape(title)}) /Producer (datasets/make_sample_pdf.py) >>".encode("cp1252"),
    }
    for page_id, lines in zip(page_ids, pages, strict=True):
        stream = _content(lines)
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {page_id + 1} 0 R >>"
        ).encode()
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


def main() -> None:
    """Write the sample PDF into the corpus folder."""
    target = Path(__file__).parent / "corpus" / "release-notes.pdf"
    target.write_bytes(build_pdf(PAGES, TITLE))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
