"""The user documentation's links hold: README.md and every docs/*.md.

Every relative link (inline `[text](target)`, images, reference definitions, HTML
`href`/`src`) must name a file or folder that exists inside the repository, and every
`#anchor`, in the same file or in another Markdown file (`cli.md#exit-codes`), must match
a heading of that file as GitHub renders it: the heading's text, lowercased, with
punctuation other than `-` and `_` dropped and each space turned into `-`; a repeated
heading gets `-1`, `-2`... Explicit HTML anchors (`<a id="x">`, `name="x"`) count too.

Links inside code blocks and code spans are not links. External links (`http:`,
`https:`, `mailto:`, any other scheme) are not fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_CODE_SPAN = re.compile(r"(`+)((?:(?!\n[ \t]*\n).)+?)\1", re.DOTALL)  # within a paragraph
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_INLINE = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text], one level of nested brackets allowed
    r"\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"  # destination
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"  # optional title
)
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>\n]*>|\S+)", re.MULTILINE)
_HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']*)[\"']", re.I)
_HTML_ANCHOR = re.compile(r"<[a-z][^>]*?\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.I)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")
_SLUG_DROP = re.compile(r"[^\w\- ]", re.UNICODE)


@dataclass(frozen=True)
class Link:
    line: int
    target: str


def _in_fences(lines: list[str]) -> list[bool]:
    """For each line, whether it belongs to a fenced code block (its fences included)."""
    inside: list[bool] = []
    fence: str | None = None
    for line in lines:
        marker = _FENCE.match(line)
        if fence is None:
            if marker:
                fence = marker.group(1)
            inside.append(fence is not None)
            continue
        inside.append(True)
        closes = (
            marker is not None
            and marker.group(1)[0] == fence[0]
            and len(marker.group(1)) >= len(fence)
            and not line.strip().lstrip(fence[0])  # a closing fence has no info string
        )
        if closes:
            fence = None
    return inside


def _blank_code(text: str) -> str:
    """`text` with fenced code blocks, code spans and HTML comments replaced by spaces
    (newlines kept, so line numbers still count)."""
    lines = text.split("\n")
    code = _in_fences(lines)
    text = "\n".join("" if in_code else line for line, in_code in zip(lines, code, strict=True))

    def spaces(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    text = _COMMENT.sub(spaces, text)
    return _CODE_SPAN.sub(spaces, text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's Markdown text (before duplicate numbering)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags show nothing
    return _SLUG_DROP.sub("", text.strip().lower()).replace(" ", "-")


def headings(text: str) -> list[str]:
    """The Markdown text of every heading (ATX `#` and setext underlined), in order,
    outside code blocks."""
    found: list[str] = []
    lines = text.split("\n")
    code = _in_fences(lines)
    for i, line in enumerate(lines):
        if code[i]:
            continue
        atx = _ATX.match(line)
        if atx:
            found.append(atx.group(2) or "")
            continue
        previous = lines[i - 1] if i else ""
        if (
            _SETEXT.match(line)
            and previous.strip()
            and not code[i - 1]
            and not _ATX.match(previous)
            and not previous.lstrip().startswith(("|", "-", "*", "+", ">"))
        ):
            found.append(previous.strip())
    return found


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown file offers: its headings' slugs (duplicates numbered as
    GitHub numbers them) and explicit HTML `id`/`name` attributes."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for heading in headings(text):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    result.update(_HTML_ANCHOR.findall(_blank_code(text)))
    return result


def links(text: str) -> list[Link]:
    """Every link target in a Markdown text, with its line, outside code."""
    clean = _blank_code(text)
    found: list[tuple[int, str]] = []
    for pattern in (_INLINE, _REFERENCE, _HTML_LINK):
        for match in pattern.finditer(clean):
            target = match.group(1).strip()
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            found.append((match.start(1), target))
    return [Link(clean.count("\n", 0, start) + 1, target) for start, target in sorted(found)]


def _is_external(target: str) -> bool:
    return bool(_SCHEME.match(target))


def _resolve(document: Path, path: str, root: Path) -> Path:
    if path.startswith("/"):  # GitHub reads a leading '/' as the repository's root
        return root / path.lstrip("/")
    return document.parent / path


def _describe(document: Path, link: Link, why: str, root: Path) -> str:
    return f"{document.relative_to(root)}:{link.line}: {link.target}: {why}"


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    """Relative links of `document` whose file or folder does not exist under `root`."""
    problems = []
    for link in links(document.read_text(encoding="utf-8")):
        if _is_external(link.target):
            continue
        path = unquote(link.target.split("#", 1)[0].split("?", 1)[0])
        if not path:
            continue  # a same-file anchor: see broken_anchors
        target = _resolve(document, path, root).resolve()
        if not target.is_relative_to(root):
            problems.append(_describe(document, link, "outside the repository", root))
        elif not target.exists():
            problems.append(_describe(document, link, "no such file or folder", root))
    return problems


def broken_anchors(document: Path, root: Path = ROOT) -> list[str]:
    """`#anchor` links of `document` (same file, or another Markdown file that exists)
    that match no heading of their target."""
    problems = []
    cache: dict[Path, set[str]] = {}
    for link in links(document.read_text(encoding="utf-8")):
        if _is_external(link.target) or "#" not in link.target:
            continue
        raw_path, fragment = link.target.split("#", 1)
        path = unquote(raw_path.split("?", 1)[0])
        target = (_resolve(document, path, root) if path else document).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            continue  # reported by broken_links
        if target.suffix.lower() not in (".md", ".markdown"):
            continue  # anchors of other files (line numbers of code) are not headings
        if target not in cache:
            cache[target] = anchors(target.read_text(encoding="utf-8"))
        if unquote(fragment) not in cache[target]:
            why = f"no heading of {target.relative_to(root)} has this anchor"
            problems.append(_describe(document, link, why, root))
    return problems


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --------------------------------------------------------------------------- the documents


def test_the_documentation_is_there():
    names = [_name(d) for d in DOCUMENTS]
    assert "docs/pipeline-format.md" in names
    assert "docs/cli.md" in names


@pytest.mark.parametrize("document", DOCUMENTS, ids=_name)
def test_relative_links_name_files_of_the_repository(document: Path):
    problems = broken_links(document)
    assert not problems, "broken links:\n" + "\n".join(problems)


@pytest.mark.parametrize("document", DOCUMENTS, ids=_name)
def test_anchors_match_a_heading_of_their_target(document: Path):
    problems = broken_anchors(document)
    assert not problems, "anchors that match no heading:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- the checker


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Two commands", "two-commands"),
        ("Dependencies: one pinned set", "dependencies-one-pinned-set"),
        ("`vidpipe approve`, `reject` and `revise`", "vidpipe-approve-reject-and-revise"),
        ("validate --json", "validate---json"),
        ("What's new? (v2.0)", "whats-new-v20"),
        ("snake_case and UPPER", "snake_case-and-upper"),
        ("See [the CLI](cli.md) here", "see-the-cli-here"),
        ("Café au lait", "café-au-lait"),
    ],
)
def test_slugs_follow_githubs_rules(heading: str, anchor: str):
    assert slug(heading) == anchor


def test_repeated_headings_are_numbered_and_code_blocks_hold_no_headings():
    text = "# Usage\n\n## Usage\n\n```\n# not a heading\n```\n\nTitle\n=====\n\n## Usage\n"
    assert anchors(text) == {"usage", "usage-1", "usage-2", "title"}


def test_the_checker_finds_what_is_broken(tmp_path: Path):
    tmp_path = tmp_path.resolve()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## Part two\n")
    doc = tmp_path / "README.md"
    doc.write_text(
        "# Top\n\n"
        "[ok](docs/other.md#part-two) [ok](#top) [ok](docs/) [ok](https://example.com/x.md)\n"
        "[missing](docs/nope.md) [bad anchor](docs/other.md#part-three)\n"
        "[bad here](#bottom) [outside](../elsewhere.md)\n"
        "`[code](not-a-link.md)`\n"
        "```\n[code](also-not-a-link.md)\n```\n"
        "[ref]: docs/gone.md\n"
    )

    assert broken_links(doc, tmp_path) == [
        "README.md:4: docs/nope.md: no such file or folder",
        "README.md:5: ../elsewhere.md: outside the repository",
        "README.md:10: docs/gone.md: no such file or folder",
    ]
    assert broken_anchors(doc, tmp_path) == [
        "README.md:4: docs/other.md#part-three: no heading of docs/other.md has this anchor",
        "README.md:5: #bottom: no heading of README.md has this anchor",
    ]
