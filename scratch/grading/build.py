"""Write ``exercises/`` from ``solutions/``: the one direction the two packages ever change in.

In ``solutions/``, the code a student writes is wrapped in markers (the nbgrader convention)::

    def q_values(mdp, V):
        \"\"\"Q(s, a) = R(s, a) + gamma * sum_s' p(s'|s, a) V(s').\"\"\"
        ### BEGIN SOLUTION
        ### HINT: one matrix product over s'
        return mdp.R + mdp.gamma * mdp.P @ V
        ### END SOLUTION

and ``exercises/`` gets, in place of each marked region and at its indentation::

        # TODO: one matrix product over s'
        raise NotImplementedError("q_values: not implemented yet")

Decisions:
- The ``### HINT:`` lines of a region (any number, each kept as one TODO line) are the only
  part of a region that reaches students; without a hint the TODO line says which function
  to write. The error names the enclosing function so a failing test points at the stub.
- Everything outside markers is copied byte for byte: docstrings, argument validation,
  classes and training glue stay identical in both packages.
- Markers must stand alone on their line; a BEGIN inside a region, an END without a BEGIN, or
  a file that ends inside a region is a :class:`MarkerError` naming the file and line, and so
  is a generated file that does not compile (a region indented less than its body). A marker
  is recognised on any line, inside a docstring too: write about markers without the
  ``###`` prefix.
- The handout never names the reference package: a generated line that says ``solutions``
  (a docstring pointing at ``solutions/rlhf.py``, an import of it) is a :class:`MarkerError`
  naming the file and line; write "see ``rlhf.py``" instead. Students have no such package.
- Only ``*.py`` files are written; ``exercises/`` gets no file that ``solutions/`` lacks, and
  a stale extra ``.py`` file in ``exercises/`` is removed by a build and reported by
  ``--check``.
"""

import re
from pathlib import Path

REFERENCE_NAME = re.compile(r"\bsolutions\b")

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HINT = "### HINT:"

DEF_LINE = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)\s*\(")
CLASS_LINE = re.compile(r"^(\s*)class\s+(\w+)\b")


class MarkerError(ValueError):
    """Unbalanced or nested solution markers, with the file and line where it went wrong."""


def enclosing_function(lines, index, indent):
    """Name of the innermost ``def`` above ``lines[index]`` indented less than ``indent``,
    qualified by its class for a method (``RNNLM.forward``), so the stub's error is unambiguous."""
    name = None
    for line in reversed(lines[:index]):
        pattern = CLASS_LINE if name else DEF_LINE
        match = pattern.match(line)
        if match and len(match.group(1)) < len(indent):
            if name:
                return f"{match.group(2)}.{name}"
            name, indent = match.group(2), match.group(1)
            if not indent:
                return name  # a module-level function
    return name


def stub_lines(region_hints, indent, function):
    """The TODO comment(s) and the ``raise`` that replace one marked region."""
    what = f"{function}: not implemented yet" if function else "not implemented yet"
    hints = region_hints or [f"implement {function} (see the docstring)" if function else "implement this"]
    return [f"{indent}# TODO: {hint}\n" for hint in hints] + [
        f'{indent}raise NotImplementedError("{what}")\n'
    ]


def strip_solutions(source, filename="<source>"):
    """Return ``source`` with every marked region replaced by its stub."""
    lines = source.splitlines(keepends=True)
    out = []
    region_start = None  # line number (1-based) of the open BEGIN, or None outside a region
    region_indent = ""
    region_hints = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if region_start is not None:
                raise MarkerError(
                    f"{filename}:{number}: {BEGIN} inside the region opened at line {region_start} "
                    f"(regions cannot nest; close it with {END} first)"
                )
            region_start = number
            region_indent = line[: len(line) - len(line.lstrip())]
            region_hints = []
        elif stripped.startswith(END):
            if region_start is None:
                raise MarkerError(f"{filename}:{number}: {END} without a matching {BEGIN}")
            function = enclosing_function(lines, region_start - 1, region_indent)
            out.extend(stub_lines(region_hints, region_indent, function))
            region_start = None
        elif region_start is not None:
            if stripped.startswith(HINT):
                region_hints.append(stripped[len(HINT):].strip())
        else:
            out.append(line)
    if region_start is not None:
        raise MarkerError(f"{filename}:{region_start}: {BEGIN} is never closed by {END}")
    return "".join(out)


def expected_exercises(solutions_dir):
    """``{relative path: generated text}`` for every ``.py`` file under ``solutions_dir``."""
    solutions_dir = Path(solutions_dir)
    files = {}
    for path in sorted(solutions_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        relative = path.relative_to(solutions_dir)
        text = strip_solutions(path.read_text(encoding="utf-8"), str(path))
        try:  # a region at the wrong indentation leaves a stub Python cannot even import
            compile(text, f"exercises/{relative}", "exec")
        except SyntaxError as err:
            raise MarkerError(f"{path}: the generated exercises/{relative} does not compile "
                              f"(line {err.lineno}: {err.msg}); check the markers' indentation") from None
        named = next((number for number, line in enumerate(text.splitlines(), 1) if REFERENCE_NAME.search(line)), None)
        if named is not None:
            raise MarkerError(f"{path}: the generated exercises/{relative}, line {named}, names `solutions`, a package "
                              f"students do not have; name the file or the function instead (\"see rlhf.py\")")
        files[relative] = text
    return files


def existing_exercises(exercises_dir):
    exercises_dir = Path(exercises_dir)
    if not exercises_dir.is_dir():
        return {}
    return {
        path.relative_to(exercises_dir): path.read_text(encoding="utf-8")
        for path in sorted(exercises_dir.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def differences(solutions_dir, exercises_dir):
    """Relative paths whose ``exercises/`` file differs from a fresh build (or is extra/missing)."""
    expected = expected_exercises(solutions_dir)
    actual = existing_exercises(exercises_dir)
    return sorted(
        path for path in set(expected) | set(actual) if expected.get(path) != actual.get(path)
    )


def build(solutions_dir, exercises_dir):
    """Write the generated files; return the relative paths that changed."""
    exercises_dir = Path(exercises_dir)
    expected = expected_exercises(solutions_dir)
    changed = differences(solutions_dir, exercises_dir)
    for relative in changed:
        target = exercises_dir / relative
        if relative in expected:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(expected[relative], encoding="utf-8")
        else:
            target.unlink()
    return changed
