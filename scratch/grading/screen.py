"""The screen a submission passes before any of its code runs: early, friendly feedback.

Graded code runs in a student process of its own (``scratch.grading.remote``), which is the
boundary; this screen is not. It tells a student at once, naming the line, that graded code
uses what the lecture's exercises never need and the grader does not allow: torch, files,
the interpreter's internals. The lecture's exercises need NumPy, ``math`` and a few pure
standard modules. Every ``.py`` file of the graded package is parsed (never imported) and
refused, line by line, when it

- imports anything but :data:`ALLOWED_IMPORTS`, its own package's modules (relative) or the
  harness packages in :data:`ALLOWED_HARNESS` (``from scratch.data import corpora``);
- names a builtin that runs, imports or opens things or reads namespaces
  (:data:`FORBIDDEN_NAMES`);
- reads or writes a dunder attribute (other than :data:`ALLOWED_DUNDERS`), a private
  attribute of anything but ``self``/``cls``, or an attribute that reaches files, other
  modules or NumPy's testing tools (:data:`FORBIDDEN_ATTRIBUTES`);
- assigns to or deletes an attribute of an imported module (``np.testing.x = ...``).

This is a screen, not a proof: Python is too dynamic for a list of rules to close every
door (``tests/harness/test_grade_attacks.py`` keeps one way past it, ``string.Formatter``, in view).
Code that gets past it gains nothing the student process did not already allow.
"""

import ast
from pathlib import Path

ALLOWED_IMPORTS = {
    "numpy", "math", "cmath", "numbers", "itertools", "functools", "collections", "heapq",
    "bisect", "typing", "dataclasses", "warnings", "string", "operator", "statistics",
    "abc", "enum", "copy",
}
# SciPy, the project's other runtime dependency, by the subpackages a chapter may use: the
# scaling-law fit's least squares (optimize), log-sum-exp and friends (special), and the
# linear algebra a solver may prefer to NumPy's (linalg). Not all of it: scipy.io, for one,
# reads and writes files. The student README lists the same set (a test holds the two equal).
ALLOWED_SCIPY = {"linalg", "optimize", "special"}
# The harness packages (and their modules) a submission may use: the corpora, the training
# loops, gradient checks; never the grader's own package.
ALLOWED_HARNESS = {"data", "train", "gradcheck"}
FORBIDDEN_NAMES = {
    "exec", "eval", "compile", "__import__", "open", "globals", "locals", "vars", "getattr",
    "setattr", "delattr", "breakpoint", "input", "exit", "quit", "help", "memoryview",
    "__builtins__", "__loader__", "__spec__",
}
ALLOWED_DUNDERS = {"__init__", "__name__", "__qualname__", "__len__", "__doc__"}
FORBIDDEN_ATTRIBUTES = {
    # modules reachable as attributes of other modules
    "os", "sys", "gc", "ctypes", "builtins", "inspect", "importlib", "subprocess", "signal",
    "shutil", "pathlib", "io", "pickle", "threading", "multiprocessing", "socket", "mmap",
    "compat", "core", "lib", "testing", "ctypeslib", "f2py", "distutils", "npyio",
    # NumPy's file access
    "load", "save", "savez", "savez_compressed", "fromfile", "tofile", "loadtxt", "savetxt",
    "genfromtxt", "memmap", "DataSource", "fromregex",
    # frames and code objects
    "f_back", "f_globals", "f_locals", "gi_frame", "cr_frame", "tb_frame", "func_globals",
}


class Screen(ast.NodeVisitor):
    def __init__(self, filename):
        self.filename = filename
        self.problems = []
        self.modules = set()  # names bound to imported modules in this file

    def flag(self, node, what):
        self.problems.append(f"{self.filename}:{node.lineno}: {what}")

    def visit_Import(self, node):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] == "scratch" and len(parts) >= 2 and parts[1] in ALLOWED_HARNESS:
                continue
            if parts[0] == "scipy" and len(parts) == 2 and parts[1] in ALLOWED_SCIPY:
                continue
            if parts[0] not in ALLOWED_IMPORTS:
                self.flag(node, f"imports {alias.name} (graded code may import only {', '.join(sorted(ALLOWED_IMPORTS))})")
            elif FORBIDDEN_ATTRIBUTES.intersection(parts):
                self.flag(node, f"imports {alias.name}")

    def visit_ImportFrom(self, node):
        parts = (node.module or "").split(".")
        harness = parts == ["scratch"] and all(alias.name in ALLOWED_HARNESS for alias in node.names)
        if harness or parts[0] == "scratch" and len(parts) >= 2 and parts[1] in ALLOWED_HARNESS:
            return
        scipy = parts == ["scipy"] and all(alias.name in ALLOWED_SCIPY for alias in node.names)
        if scipy or parts[0] == "scipy" and len(parts) == 2 and parts[1] in ALLOWED_SCIPY:
            return
        if node.level == 0 and parts[0] not in ALLOWED_IMPORTS:
            self.flag(node, f"imports from {node.module} (only numpy, math, a few standard modules and this package)")
        elif FORBIDDEN_ATTRIBUTES.intersection(parts):
            self.flag(node, f"imports from {node.module}")
        if node.level > 1:
            self.flag(node, "imports from outside this package (from ..)")
        for alias in node.names:
            if alias.name == "*" or alias.name.startswith("_") or alias.name in FORBIDDEN_ATTRIBUTES:
                self.flag(node, f"imports {alias.name} from {node.module or '.'}")

    def visit_Name(self, node):
        if node.id in FORBIDDEN_NAMES:
            self.flag(node, f"uses {node.id}")

    def visit_Attribute(self, node):
        name = node.attr
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if name.startswith("__") and name.endswith("__"):
            if name not in ALLOWED_DUNDERS:
                self.flag(node, f"reads the attribute {name}")
        elif name.startswith("_") and owner not in ("self", "cls"):
            self.flag(node, f"reads the private attribute {name} of something other than self")
        elif name in FORBIDDEN_ATTRIBUTES:
            self.flag(node, f"reads the attribute {name}")
        if isinstance(node.ctx, (ast.Store, ast.Del)) and root_name(node) in self.modules:
            self.flag(node, f"changes an attribute of the module {root_name(node)}")
        self.generic_visit(node)


def root_name(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def screen_source(source, filename):
    """Problems found in one file's ``source``: ``["file:line: what", ...]``."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError:
        return []  # the tests report it, as SyntaxError with its line, and it runs nothing
    screen = Screen(filename)
    # Imports first, wherever they are, so an assignment above an import is still caught.
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            screen.modules.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
    screen.visit(tree)
    return screen.problems


def screen_package(package):
    """Problems in every ``.py`` file of the package folder ``package`` (empty: it passes)."""
    package = Path(package)
    problems = []
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        relative = f"{package.name}/{path.relative_to(package)}"
        problems += screen_source(path.read_text(encoding="utf-8", errors="replace"), relative)
    return problems
