#!/usr/bin/env python3
"""Checks the links of keel's user documentation (README.md, docs/*.md).

Every link must stay inside the repository: a relative path to a file that
exists (and, with #anchor, to a heading of that file, as GitHub names them).
A link with a scheme (http://, https://, ...) or one that climbs out of the
repository is an error: the docs must be readable from the checkout alone.
Also, no tracked file may cite the contract page that lives outside the
repository (INTERFACE.md, ../shared/): the docs replace it.

Usage: check_links.py REPO_ROOT. Exits 1 listing every problem.
"""
import pathlib
import re
import subprocess
import sys

# Files other branches add (owned by other people); until they are merged a link
# to one of them is reported as pending, not as an error. Remove an entry once
# its file is in the repository: from then on it is checked like any other.
PENDING: set[str] = set()

LINK = re.compile(r"(?<!\!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
HREF = re.compile(r"""(?:href|src)=["']([^"']+)["']""")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: pathlib.Path) -> set:
    found = set()
    counts = {}
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    for line in text.splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = github_slug(match.group(1))
        n = counts.get(slug, 0)
        counts[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    for match in re.finditer(r"<a\s+(?:name|id)=[\"']([^\"']+)[\"']", text):
        found.add(match.group(1))
    return found


def links(path: pathlib.Path):
    text = path.read_text(encoding="utf-8")
    # Code is quoted, not linked: `[x](y)` in a code span or block is not a link.
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    text = CODE_SPAN.sub("", text)
    for pattern in (LINK, IMAGE, HREF, REFERENCE):
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            yield line, match.group(1)


def check_file(root: pathlib.Path, path: pathlib.Path, problems: list, pending: list) -> int:
    count = 0
    for line, target in links(path):
        count += 1
        where = f"{path.relative_to(root)}:{line}: link '{target}'"
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
            problems.append(f"{where} leaves the repository (the docs must work from the checkout alone)")
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path.resolve()
        try:
            relative = resolved.relative_to(root)
        except ValueError:
            problems.append(f"{where} points outside the repository")
            continue
        if not resolved.exists():
            if relative.as_posix() in PENDING:
                pending.append(f"{where}: {relative.as_posix()} comes from another branch (pending merge)")
            else:
                problems.append(f"{where}: no file {relative.as_posix()}")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where}: no heading '#{anchor}' in {relative.as_posix()}")
    return count


def tracked_files(root: pathlib.Path):
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files"], check=True, capture_output=True, text=True).stdout
        return [root / name for name in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts and not p.parts[len(root.parts)].startswith("build")]


def main() -> int:
    root = pathlib.Path(sys.argv[1]).resolve()
    problems, pending = [], []
    documents = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    count = 0
    for document in documents:
        if document.exists():
            count += check_file(root, document, problems, pending)
        else:
            problems.append(f"{document.relative_to(root)} is missing")
    this_file = pathlib.Path(__file__).resolve()
    for path in tracked_files(root):
        if path.resolve() == this_file or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if "INTERFACE.md" in line or "../shared" in line:
                problems.append(f"{path.relative_to(root)}:{number}: cites the contract page outside the "
                                f"repository; point to the file in docs/ instead")
    for note in pending:
        print("pending:", note)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{count} links in {len(documents)} documents, {len(problems)} problems, {len(pending)} pending")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
