#!/usr/bin/env python3
"""Compiles every C++ code block of the documentation, so an example cannot rot.

Every ```cpp fenced block of the given Markdown files becomes a translation
unit, compiled with -fsyntax-only -Wall -Wextra against the real public
headers (the CTest test doc_examples runs it on README.md and docs/guide.md).
A block is compiled as it stands (a whole program, or declarations that need
nothing else) unless a one-line HTML comment just before its fence says what
it needs (it does not show when the Markdown is rendered):

    <!-- doc-test: context=guide -->
        Include tests/docs/contexts/guide.h first (context=guide,remote names
        several). The block sits in a namespace of its own inside namespace
        `doc`, where the context declares what the block takes from earlier
        blocks or leaves to the reader (message types, actors, a started
        `system`, ...); its #include lines are moved to the top.
    <!-- doc-test: context=guide wrap=function -->
        The block is statements: they become the body of a function (its
        unused locals are not warned about: they are there to be read).
    <!-- doc-test: context=guide body-from="akt::Result<akt::PID> jobs" -->
        Declarations, then statements: the lines before the first line that
        starts with the given text stay at namespace scope, the rest become
        the body of a function.
    <!-- doc-test: skip reason="why no context can make it compile" -->
        Not compiled; the reason is reported. The last resort.

Header files (*.h) are read the same way, with their examples written as
comments: a run of `//   code` lines (three spaces after the slashes) that
follows a blank `//` line is a block (a run that continues a sentence is
prose, as in Markdown). Its annotation is a comment line just before it,
`// doc-test: context=... wrap=...`; without one, a header block is compiled
with context=headers wrap=status. `wrap=status` is like wrap=function, but
the function returns akt::Status (an example may `return s;`); `wrap=class`
puts the block in a class derived from the context's `DocActor` (for
examples that are member functions of an actor: Receive, PreStart, ...).

Every block is accounted for: the run fails when a block does not compile,
when the compiler says anything at all (a warning is a failure), when a skip
has no reason, or when an annotation is malformed or not followed by a cpp
block. Diagnostics point at the Markdown file and line (#line directives);
the generated units stay in --out (stale ones are removed from it).

For speed, blocks with the same contexts and no #include of their own are
first compiled together, one unit per context set; only when that unit is not
clean is each of its blocks compiled alone, so every failure is reported for
the block that has it (--no-group compiles every block alone). A grouped block
cannot lean on another: it has no #include of its own and sits in its own
namespace.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field

CPP_INFO = {"cpp", "c++", "cc", "cxx"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")
ANNOTATION = re.compile(r"^\s*<!--\s*doc-test:(?P<body>.*?)-->\s*$")
ATTR = re.compile(r'\s*(?P<key>[A-Za-z][\w-]*)(?:=(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s"]+)))?')
KEYS = {"context", "wrap", "body-from", "skip", "reason"}
WRAPS = {"function", "status", "class"}
HEADER_CODE = re.compile(r"^\s*//   (?P<code>.*)$")
HEADER_BLANK = re.compile(r"^\s*//\s*$")
HEADER_ANNOTATION = re.compile(r"^\s*//\s*doc-test:(?P<body>.*)$")
HEADER_DEFAULT = {"context": "headers", "wrap": "status"}


class DocError(Exception):
    """A malformed annotation or document: reported with its file:line."""


@dataclass
class Block:
    path: str  # as given on the command line (relative to --root)
    line: int  # line of the opening fence (1-based)
    code: list[str]  # the lines between the fences, indentation removed
    attrs: dict[str, str] = field(default_factory=dict)
    annotation_line: int = 0

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def tag(self) -> str:
        return re.sub(r"\W", "_", f"{self.path}_{self.line}")


def parse_attrs(text: str, where: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = ATTR.match(text, pos)
        if not m or m.end() == pos:
            raise DocError(f"{where}: cannot read doc-test annotation at: {text[pos:]!r}")
        key = m.group("key")
        if key not in KEYS:
            raise DocError(f"{where}: unknown doc-test key {key!r} (known: {', '.join(sorted(KEYS))})")
        value = m.group("quoted") if m.group("quoted") is not None else m.group("bare")
        attrs[key] = "" if value is None else value
        pos = m.end()
    if "skip" in attrs and not attrs.get("reason", "").strip():
        raise DocError(f'{where}: a skip needs a reason: <!-- doc-test: skip reason="..." -->')
    if "reason" in attrs and "skip" not in attrs:
        raise DocError(f"{where}: reason= is for skip")
    if "wrap" in attrs and attrs["wrap"] not in WRAPS:
        raise DocError(f"{where}: wrap= takes {', '.join(sorted(WRAPS))}, not {attrs['wrap']!r}")
    if "skip" in attrs and len(attrs) > 2:
        raise DocError(f"{where}: a skipped block takes no other keys")
    return attrs


def extract_header(path: str, lines: list[str]) -> list[Block]:
    """The comment examples of a C++ header (see the module docstring)."""
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        a = HEADER_ANNOTATION.match(lines[i])
        starts = HEADER_CODE.match(lines[i]) and i > 0 and HEADER_BLANK.match(lines[i - 1])
        if not a and not starts:
            i += 1
            continue
        attrs, annotation_line = dict(HEADER_DEFAULT), 0
        if a:
            attrs = parse_attrs(a.group("body"), f"{path}:{i + 1}")
            annotation_line = i + 1
            i += 1
            if i >= len(lines) or not HEADER_CODE.match(lines[i]):
                raise DocError(f"{path}:{annotation_line}: doc-test annotation not followed by a `//   ` example")
        start = i
        code: list[str] = []
        while i < len(lines):
            m = HEADER_CODE.match(lines[i])
            if m:
                code.append(m.group("code"))
            elif HEADER_BLANK.match(lines[i]) and i + 1 < len(lines) and HEADER_CODE.match(lines[i + 1]):
                code.append("")
            else:
                break
            i += 1
        # Block.line is the line before the first code line (a fence's place).
        blocks.append(Block(path, start, code, attrs, annotation_line))
    return blocks


def extract(root: str, path: str) -> list[Block]:
    with open(os.path.join(root, path), encoding="utf-8") as f:
        lines = f.read().splitlines()
    if path.endswith(".h"):
        return extract_header(path, lines)
    blocks: list[Block] = []
    pending: tuple[int, dict[str, str]] | None = None  # an annotation waiting for its block
    i = 0
    while i < len(lines):
        text = lines[i]
        a = ANNOTATION.match(text)
        if not a and re.match(r"\s*<!--\s*doc-test", text):
            raise DocError(f"{path}:{i + 1}: a doc-test annotation is one line: <!-- doc-test: ... -->")
        if a:
            if pending:
                raise DocError(f"{path}:{pending[0]}: doc-test annotation not followed by a cpp block")
            pending = (i + 1, parse_attrs(a.group("body"), f"{path}:{i + 1}"))
            i += 1
            continue
        m = FENCE.match(text)
        if not m:
            if pending and text.strip():
                raise DocError(f"{path}:{pending[0]}: doc-test annotation not followed by a cpp block")
            i += 1
            continue
        # A fenced block: find its end (same fence character, at least as long).
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            close = lines[i].strip()
            if close.startswith(fence[0] * len(fence)) and set(close) == {fence[0]}:
                break
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        else:
            raise DocError(f"{path}:{start + 1}: code block is never closed")
        i += 1
        if info in CPP_INFO:
            block = Block(path, start + 1, body)
            if pending:
                block.attrs, block.annotation_line = pending[1], pending[0]
            blocks.append(block)
        elif pending:
            raise DocError(f"{path}:{pending[0]}: doc-test annotation before a {info or 'plain'} block")
        pending = None
    if pending:
        raise DocError(f"{path}:{pending[0]}: doc-test annotation not followed by a cpp block")
    return blocks


@dataclass
class Parts:
    """A block cut up for its translation unit."""
    contexts: tuple[str, ...] | None  # None: compiled as it stands
    includes: list[str]  # the block's own #include lines (with #line), moved up
    body: list[str]


def parts_of(block: Block, contexts_dir: str, root: str) -> Parts:
    md = os.path.join(root, block.path).replace("\\", "/")
    first = block.line + 1  # the first code line in the Markdown file
    contexts = tuple(c for c in block.attrs.get("context", "").split(",") if c)
    wrap = "wrap" in block.attrs or "body-from" in block.attrs
    if not contexts and not wrap:
        return Parts(None, [], [f'#line {first} "{md}"'] + block.code)
    for c in contexts:
        if not os.path.isfile(os.path.join(contexts_dir, c + ".h")):
            raise DocError(f"{block.where}: no context {c!r} ({os.path.join(contexts_dir, c + '.h')} does not exist)")
    # #include lines go first; everything else keeps its place (a blank line
    # stands in for a moved include, so line numbers stay right).
    code = list(block.code)
    includes: list[str] = []
    for n, text in enumerate(code):
        if text.lstrip().startswith("#include"):
            includes += [f'#line {first + n} "{md}"', text]
            code[n] = ""

    kind = block.attrs.get("wrap", "function")
    if kind == "class":
        body = [f"namespace doc {{ namespace block_{block.tag} {{",
                "struct Block : ::doc::DocActor {",
                f'#line {first} "{md}"'] + code + ["};", "}}  // namespace doc::block"]
        return Parts(contexts, includes, body)
    split = 0 if wrap else len(code)
    if "body-from" in block.attrs:
        anchor = block.attrs["body-from"]
        hits = [n for n, t in enumerate(code) if t.strip().startswith(anchor)]
        if not hits:
            raise DocError(f"{block.where}: body-from={anchor!r}: no line of the block starts with it")
        split = hits[0]

    body = [f"namespace doc {{ namespace block_{block.tag} {{"]
    if split > 0:
        body += [f'#line {first} "{md}"'] + code[:split]
    if wrap:
        # Locals a fragment declares for the reader to use are not "unused".
        body += ["#pragma GCC diagnostic push",
                 '#pragma GCC diagnostic ignored "-Wunused-variable"',
                 '#pragma GCC diagnostic ignored "-Wunused-but-set-variable"',
                 "[[maybe_unused]] akt::Status Body() {" if kind == "status" else
                 "[[maybe_unused]] void Body() {",
                 f'#line {first + split} "{md}"']
        body += code[split:]
        body += ["return akt::Status();" if kind == "status" else "", "}", "#pragma GCC diagnostic pop"]
    body.append("}}  // namespace doc::block")
    return Parts(contexts, includes, body)


def render(what: str, contexts: tuple[str, ...] | None, parts: list[Parts], contexts_dir: str) -> str:
    out = [f"// Generated by tests/docs/doc_examples.py from {what}. Do not edit."]
    out += [f'#include "{os.path.join(contexts_dir, c + ".h")}"' for c in contexts or ()]
    for p in parts:
        out += p.includes
    for p in parts:
        out += p.body
    return "\n".join(out) + "\n"


def write_if_changed(path: str, text: str) -> None:
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def compile_unit(cmd: list[str], unit_path: str) -> tuple[int, str, float]:
    """(exit code, compiler output, seconds)."""
    t0 = time.monotonic()
    r = subprocess.run(cmd + [unit_path], capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip(), time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="Markdown files, relative to --root")
    ap.add_argument("--root", default=".", help="source tree root")
    ap.add_argument("--out", required=True, help="directory for the generated translation units")
    ap.add_argument("--contexts", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "contexts"))
    ap.add_argument("--compiler", default=os.environ.get("CXX", "c++"))
    ap.add_argument("--std", default="c++20")
    ap.add_argument("--include-dirs", action="append", default=[],
                    help="include directories (system headers for the blocks), '|'-separated; repeatable")
    ap.add_argument("--implicit-dirs", default="",
                    help="the compiler's own include directories, '|'-separated: never passed")
    ap.add_argument("--flags", default="", help="extra compiler flags (shell syntax)")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--no-group", action="store_true",
                    help="one compiler run per block (by default, blocks with the same contexts and no "
                         "#include of their own are compiled together first, each in its namespace)")
    ap.add_argument("--list", action="store_true", help="list the blocks and how each is compiled")
    ap.add_argument("--require", action="append", default=[],
                    help="a file the blocks need (a generated header); missing: fail at once, saying so")
    args = ap.parse_args()
    for f in args.require:
        if not os.path.exists(f):
            print(f"doc_examples: {f} is missing: build the target akt_doc_examples first", file=sys.stderr)
            return 1

    root = os.path.abspath(args.root)
    contexts_dir = os.path.abspath(args.contexts)
    out_dir = os.path.abspath(args.out)
    try:
        blocks = [b for f in args.files for b in extract(root, f)]
        for f in args.files:
            if not f.endswith(".h") and not any(b.path == f for b in blocks):
                raise DocError(f"{f}: no cpp blocks found (is the file right?)")
        parts = {b.where: parts_of(b, contexts_dir, root) for b in blocks if "skip" not in b.attrs}
    except DocError as e:
        print(f"doc_examples: {e}", file=sys.stderr)
        return 1

    if args.list:
        for b in blocks:
            how = " ".join(f'{k}="{v}"' if v else k for k, v in b.attrs.items()) or "as is"
            print(f"{b.where}: {how}")
        return 0

    # One unit per block; and one per group of blocks that can share a unit.
    os.makedirs(out_dir, exist_ok=True)
    units: dict[str, str] = {}  # block -> its own unit
    wanted: set[str] = set()
    for b in blocks:
        if b.where in parts:
            units[b.where] = os.path.join(out_dir, b.tag + ".cc")
            write_if_changed(units[b.where], render(b.where, parts[b.where].contexts, [parts[b.where]], contexts_dir))
            wanted.add(units[b.where])
    groups: dict[tuple[str, ...], list[str]] = {}
    if not args.no_group:
        for w, p in parts.items():
            if p.contexts is not None and not p.includes:
                groups.setdefault(p.contexts, []).append(w)
        groups = {c: ws for c, ws in groups.items() if len(ws) > 1}
    group_units: dict[str, tuple[str, ...]] = {}
    for c, ws in groups.items():
        path = os.path.join(out_dir, "group_" + "_".join(c) + ".cc")
        write_if_changed(path, render(", ".join(ws), c, [parts[w] for w in ws], contexts_dir))
        group_units[path] = c
        wanted.add(path)
    for name in os.listdir(out_dir):  # units of blocks that are gone
        if name.endswith(".cc") and os.path.join(out_dir, name) not in wanted:
            os.remove(os.path.join(out_dir, name))

    include_dirs: list[str] = []
    implicit = {os.path.realpath(d) for d in args.implicit_dirs.split("|") if d}
    for group in args.include_dirs:
        for d in group.split("|"):
            if d and os.path.realpath(d) not in implicit and d not in include_dirs:
                include_dirs.append(d)
    cmd = [args.compiler, f"-std={args.std}", "-fsyntax-only", "-Wall", "-Wextra",
           "-fdiagnostics-color=never"]
    for d in include_dirs:
        cmd += ["-isystem", d]  # as a consumer of the installed package sees them
    cmd += shlex.split(args.flags)

    t0 = time.monotonic()
    grouped = {w for ws in groups.values() for w in ws}
    # block -> (exit code, output, seconds, how); clean is exit 0 and no output at all
    results: dict[str, tuple[int, str, float, str]] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        first = {pool.submit(compile_unit, cmd, u): ("group", u) for u in group_units}
        first.update({pool.submit(compile_unit, cmd, units[w]): ("block", w)
                      for w in units if w not in grouped})
        again = {}
        for fut in concurrent.futures.as_completed(first):
            kind, key = first[fut]
            rc, output, secs = fut.result()
            if kind == "block":
                results[key] = (rc, output, secs, "")
            elif rc == 0 and not output:
                for w in groups[group_units[key]]:
                    results[w] = (0, "", secs, f"with the other {','.join(group_units[key])} blocks")
            else:
                # Something in the group is wrong: each of its blocks alone says what.
                for w in groups[group_units[key]]:
                    again[pool.submit(compile_unit, cmd, units[w])] = w
        for fut in concurrent.futures.as_completed(again):
            results[again[fut]] = fut.result() + ("",)

    compiled, skipped, failed = 0, [], []
    for b in blocks:
        if "skip" in b.attrs:
            skipped.append(b)
            print(f"skip {b.where}: {b.attrs['reason']}")
            continue
        rc, output, secs, how = results[b.where]
        if rc == 0 and not output:
            compiled += 1
            print(f"ok   {b.where} ({how + ', ' if how else ''}{secs:.1f} s)")
        else:
            failed.append(b)
            what = "does not compile" if rc != 0 else "compiles with warnings"
            print(f"FAIL {b.where}: the block {what} ({units[b.where]})")
            print("     " + output.replace("\n", "\n     "))
    print(f"{len(blocks)} blocks: {compiled} compiled, {len(skipped)} skipped, {len(failed)} failed"
          f" ({time.monotonic() - t0:.1f} s)")
    if failed:
        print("failed: " + ", ".join(b.where for b in failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
