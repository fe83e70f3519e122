"""Source text, positions and diagnostics.

Every error the tool reports about user input is data first (a ``Diagnostic`` with a
``Span``) and text only when rendered, so the CLI, tests and future editors can all use
the same information.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """A named piece of text; the name is what users see in messages."""

    name: str
    text: str

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return ""


@dataclass(frozen=True)
class Span:
    """A 1-based line/column position in a source, with an optional end column."""

    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    @staticmethod
    def unknown() -> Span:
        return Span(0, 0)


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span
    severity: str = "error"
    expected: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # The text the span points into when it is not the error's own source: an error
    # about a spec can be located in a ``--const`` value rather than in the spec file.
    source: Source | None = None

    def render(self, source: Source | None) -> str:
        """``path:line:col: error: message``, the line, a caret, what was expected."""
        if self.source is not None:
            source = self.source
        name = source.name if source else "<input>"
        if self.span.line <= 0:
            out = [f"{name}: {self.severity}: {self.message}"]
        else:
            out = [f"{name}:{self.span.line}:{self.span.column}: {self.severity}: {self.message}"]
            if source is not None:
                line = source.line_text(self.span.line).replace("\t", " ")
                col = self.span.column
                # A long line is shown as a window of it around the column.
                start = 0 if len(line) <= 200 or col <= 150 else col - 100
                shown = line[start:start + 200]
                if start:
                    shown, col = "... " + shown, col - start + 4
                if start + 200 < len(line):
                    shown += " ..."
                out.append(f"    {shown}")
                width = 1
                if self.span.end_line == self.span.line and self.span.end_column:
                    width = max(1, self.span.end_column - self.span.column)
                col = min(col, len(shown) + 1)
                out.append("    " + " " * (col - 1) + "^" * min(width, 80))
        if self.expected:
            out.append("  expected: " + ", ".join(self.expected))
        out.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(out)


# What every command says after an internal error of its own (a bug, not bad input).
BUG_NOTE = ("This is a bug in modelcheck; run again with MODELCHECK_DEBUG=1 for the "
            "traceback and please report it.")


@dataclass
class SpecError(Exception):
    """One or more diagnostics about a piece of user input (a spec, a trace, an option)."""

    diagnostics: list[Diagnostic]
    source: Source | None = None
    extra: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        parts = [d.render(self.source) for d in self.diagnostics]
        n = sum(1 for d in self.diagnostics if d.severity == "error")
        if n > 1:
            parts.append(f"{n} errors")
        return "\n".join(parts + self.extra)

    def to_json(self) -> dict:
        """The error as plain JSON data, for ``--format json``: its text as printed, and
        each diagnostic's place (line and column 0 when it has none) and words."""
        def place(d: Diagnostic) -> dict:
            source = d.source or self.source
            return {"file": source.name if source else None, "line": d.span.line,
                    "column": d.span.column, "severity": d.severity, "message": d.message,
                    "expected": list(d.expected), "notes": list(d.notes)}

        return {"message": self.render(), "diagnostics": [place(d) for d in self.diagnostics]}

    def json_document(self, engine: str) -> dict:
        """What ``--format json`` prints for this error in place of a result."""
        return {"engine": engine, "status": "error", "error": self.to_json()}


def error_at(message: str, span: Span | None, source: Source | None = None,
             expected: tuple[str, ...] = (), notes: tuple[str, ...] = ()) -> SpecError:
    diagnostic = Diagnostic(message, span or Span.unknown(), expected=expected, notes=notes)
    return SpecError([diagnostic], source)
