"""A small document model (sections, tables, figures, notes) rendered to Markdown and to one
self-contained HTML file (figures embedded as base64 PNG, styles inline, no scripts, no links
to anything outside the file)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field


@dataclass
class TableCell:
    text: str
    bold: bool = False
    mark: str = ""  # a footnote mark shown after the text, e.g. "†1"


@dataclass
class Table:
    columns: list[str]
    rows: list[list[TableCell]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)
    numeric: list[bool] | None = None  # right-align these columns
    css_class: str = ""


@dataclass
class Figure:
    filename: str  # path relative to the report directory, e.g. "figures/curve.png"
    png: bytes
    caption: str


@dataclass
class Paragraph:
    text: str
    note: bool = False  # rendered as a highlighted note (e.g. "only one K: no learning curve")


Block = Table | Figure | Paragraph


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2
    anchor: str = ""


@dataclass
class Document:
    title: str
    intro: list[Block] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        blocks = list(self.intro) + [b for s in self.sections for b in s.blocks]
        return [b for b in blocks if isinstance(b, Figure)]


# --------------------------------------------------------------------------- Markdown


def _md_escape(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _md_cell(cell: TableCell) -> str:
    text = _md_escape(cell.text)
    if cell.bold and text:
        text = f"**{text}**"
    if cell.mark:
        text = f"{text} {_md_escape(cell.mark)}"
    return text


def _md_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"> {block.text}" if block.note else block.text
    if isinstance(block, Figure):
        return f"![{_md_escape(block.caption)}]({block.filename})\n\n*{block.caption}*"
    lines = []
    if block.caption:
        lines += [f"**{block.caption}**", ""]
    numeric = block.numeric or [False] * len(block.columns)
    lines.append("| " + " | ".join(_md_escape(c) for c in block.columns) + " |")
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    for row in block.rows:
        lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    if block.notes:
        lines.append("")
        lines += [f"{n}  " for n in block.notes]
    return "\n".join(lines)


def to_markdown(doc: Document) -> str:
    parts = [f"# {doc.title}"]
    parts += [_md_block(b) for b in doc.intro]
    for section in doc.sections:
        parts.append("#" * section.level + " " + section.title)
        parts += [_md_block(b) for b in section.blocks]
    return "\n\n".join(parts).rstrip() + "\n"


# --------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       max-width: 1400px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
.table-wrap { overflow-x: auto; max-width: 100%; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; padding-bottom: .15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 .3em 0; font-size: 0.9em; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3em; }
th, td { border: 1px solid #ccc; padding: .25em .55em; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td:first-child { white-space: nowrap; }
tr:nth-child(even) td { background: #fafafa; }
.mark { color: #b00; margin-left: .15em; }
.tnotes { font-size: 0.85em; color: #444; margin: .2em 0 1.2em 0; }
.tnotes p { margin: .1em 0; }
p.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4em .7em; }
figure { margin: 1em 0 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #444; }
td.error { font-family: monospace; font-size: 0.85em; white-space: pre-wrap; }
"""


def _h(text: str) -> str:
    return html.escape(str(text), quote=True)


def _html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f'<p class="note">{_h(block.text)}</p>' if block.note else f"<p>{_h(block.text)}</p>"
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{_h(block.caption)}">'
            f"<figcaption>{_h(block.caption)}</figcaption></figure>"
        )
    numeric = block.numeric or [False] * len(block.columns)
    out = ['<div class="table-wrap">', f'<table class="{_h(block.css_class)}">' if block.css_class else "<table>"]
    if block.caption:
        out.append(f"<caption>{_h(block.caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{_h(c)}</th>" for c in block.columns) + "</tr></thead><tbody>")
    for row in block.rows:
        tds = []
        for cell, num in zip(row, numeric):
            text = _h(cell.text)
            if cell.bold and text:
                text = f"<strong>{text}</strong>"
            if cell.mark:
                text += f'<span class="mark">{_h(cell.mark)}</span>'
            cls = (
                ' class="num"'
                if num
                else (' class="error"' if block.css_class == "failures" and cell is row[-1] else "")
            )
            tds.append(f"<td{cls}>{text}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table></div>")
    if block.notes:
        out.append('<div class="tnotes">' + "".join(f"<p>{_h(n)}</p>" for n in block.notes) + "</div>")
    return "\n".join(out)


def to_html(doc: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(doc.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_h(doc.title)}</h1>",
    ]
    parts += [_html_block(b) for b in doc.intro]
    for section in doc.sections:
        anchor = f' id="{_h(section.anchor)}"' if section.anchor else ""
        parts.append(f"<h{section.level}{anchor}>{_h(section.title)}</h{section.level}>")
        parts += [_html_block(b) for b in section.blocks]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- LaTeX

#: characters LaTeX treats specially, and symbols the report uses that need math mode
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
          "±": r"$\pm$", "−": r"$-$", "†": r"$^\dagger$", "Δ": r"$\Delta$", "α": r"$\alpha$", "³": r"$^3$",
          "–": "--", "×": r"$\times$", "ρ": r"$\rho$", "≤": r"$\leq$", "≥": r"$\geq$", "·": r"$\cdot$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def _latex_cell(cell: TableCell) -> str:
    text = latex_escape(cell.text)
    text = rf"\textbf{{{text}}}" if cell.bold else text
    mark = latex_escape(cell.mark.replace("†", "")) if cell.mark else ""
    return text + (rf"$^{{\dagger {mark}}}$" if "†" in cell.mark else mark)


def to_latex(doc: Document, classes: tuple[str, ...] = ("findings", "main")) -> str:
    """The tables of the given kinds as booktabs ``table`` environments, ready for a paper
    (``\\usepackage{booktabs}``; UTF-8 input)."""
    parts = [f"% {latex_escape(doc.title)}: tables generated by xshot report (needs \\usepackage{{booktabs}})"]
    for section in doc.sections:
        for block in section.blocks:
            if not isinstance(block, Table) or block.css_class not in classes:
                continue
            numeric = block.numeric or [False] * len(block.columns)
            spec = "".join("r" if n else "l" for n in numeric)
            lines = [r"\begin{table}[t]", r"\centering", r"\small"]
            if block.caption:
                lines.append(rf"\caption{{{latex_escape(block.caption)}}}")
            lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
                      " & ".join(latex_escape(c) for c in block.columns) + r" \\", r"\midrule"]
            lines += [" & ".join(_latex_cell(c) for c in row) + r" \\" for row in block.rows]
            lines += [r"\bottomrule", r"\end{tabular}"]
            if block.notes:
                lines.append(r"\par\footnotesize " + " ".join(latex_escape(n) for n in block.notes))
            lines.append(r"\end{table}")
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
