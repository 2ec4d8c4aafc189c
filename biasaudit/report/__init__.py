"""Readers of an AuditResult: text, JSON and HTML.  They compute nothing new."""
from .text import render_text

__all__ = ["render_text", "render", "write_report", "write_html", "FORMATS"]

FORMATS = ("text", "json", "html", "junit", "sarif")


def render(result, fmt: str = "text", **options) -> str:
    """The report of ``result`` in format ``fmt`` as a string."""
    if fmt == "text":
        return render_text(result, **options)
    if fmt == "json":
        return result.to_json()
    if fmt == "html":
        from .html import render_html
        return render_html(result, **options)
    if fmt == "junit":
        from .junit import render_junit
        return render_junit(result, **options)
    if fmt == "sarif":
        from .sarif import render_sarif
        return render_sarif(result, **options)
    raise ValueError(f"Unknown report format {fmt!r}; use one of {', '.join(FORMATS)}.")


def write_report(result, path, fmt: str = "text", **options) -> None:
    """Write the report atomically (a temporary file in the same folder, then a rename)."""
    from ._atomic import atomic_write_text
    atomic_write_text(path, render(result, fmt, **options))


def write_html(result, path, *, timestamp: bool = False) -> None:
    """Write the self-contained HTML report atomically."""
    from .html import write_html as _write
    _write(result, path, timestamp=timestamp)
