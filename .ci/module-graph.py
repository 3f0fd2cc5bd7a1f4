#!/usr/bin/env python3
"""The import graph between the top-level modules of src/, from every
`crate::…` path (`use crate::a::b`, `use crate::{a, b::c}`, `crate::a::f()`).

Prints one line per module (`module -> what it imports`) and exits 1, naming
the modules, if any of them import each other in a cycle: layers import
downward only (see src/lib.rs).

    .ci/module-graph.py [SRC]    # SRC defaults to src
"""
import os
import re
import sys
from collections import defaultdict

IDENT = re.compile(r"\s*([a-z_][a-z0-9_]*)")


def top_modules(src):
    """The modules lib.rs declares (`pub mod foo;`): the library's layers. The
    binary's own tree (main.rs's `mod cli;`) is not one of them."""
    with open(os.path.join(src, "lib.rs")) as fh:
        lib = strip_comments(fh.read())
    return set(re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", lib, re.M))


def files_of(src, mod):
    path = os.path.join(src, mod)
    if os.path.isfile(path + ".rs"):
        return [path + ".rs"]
    return [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def brace_items(text, start):
    """The top-level items of the `{…}` group opening just before `start`."""
    depth, item, i = 1, "", start
    while i < len(text) and depth:
        ch = text[i]
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 1 and ch == ",":
            yield item
            item = ""
        elif depth:
            item += ch
        i += 1
    yield item


def imported(text):
    """First path segments after every `crate::`."""
    found = set()
    for m in re.finditer(r"\bcrate::(\{)?", text):
        items = brace_items(text, m.end()) if m.group(1) else [text[m.end():m.end() + 64]]
        for item in items:
            seg = IDENT.match(item)
            if seg:
                found.add(seg.group(1))
    return found


def graph(src):
    mods = top_modules(src)
    edges = defaultdict(set)
    for mod in mods:
        for f in files_of(src, mod):
            with open(f) as fh:
                edges[mod] |= (imported(strip_comments(fh.read())) & mods) - {mod}
    return mods, edges


def cycles(mods, edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, out = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(mods):
        if v not in index:
            visit(v)
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    mods, edges = graph(src)
    for m in sorted(mods):
        print(f"{m} -> {' '.join(sorted(edges[m]))}")
    found = cycles(mods, edges)
    for c in found:
        print("cycle:", " <-> ".join(c), file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
