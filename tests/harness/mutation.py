"""Mutants of the reference solutions: loading them, checking them, making them live.

A *mutant* (``tests/chapters/hidden/mutants.py``) is one realistic mistake, written as a small edit of
the reference: an ``old`` snippet of ``solutions/<file>`` and its ``new`` replacement, inside a
solution region of one function. It is *killed* when at least one graded test of its own
question fails with it (``tests/harness/mutation_plugin.py`` runs them, ``tests/harness/test_mutants.py``
requires every one killed).

How a mutant is made live (:func:`activated`), and why: the mutated file is compiled whole
(so the code is exactly what that file would run, line numbers included), the code object of
the edited function is taken from it, and assigned to the live function's ``__code__`` for
the duration, then put back. The function *object* stays the same, so every reference to it
sees the mistake: a name imported with ``from .nn import log_softmax`` into another module, a
class attribute, a bound method of a model built before. Swapping the module attribute
instead would miss the importers, and re-executing the mutated module would rebuild its
classes (instances made before would keep the old methods, ``isinstance`` would change). The
one constraint of a code swap, the same closure variables, holds for an edit of a function's
body and is checked. A function nested in the edited one (``beam_search``'s ``score``) is part
of its code, so the module-level function or method around the snippet is what is swapped.

Nothing here imports the solutions until a mutant is activated, and nothing here is needed by
a student: the data lives in ``tests/chapters/hidden/``, which the handout leaves out.
"""

import ast
import functools
import importlib
import importlib.util
from contextlib import contextmanager
from pathlib import Path

from scratch.impl import CHAPTERS, PROJECT_ROOT

SOLUTIONS = PROJECT_ROOT / "solutions"
MUTANTS_FILE = PROJECT_ROOT / "tests" / "chapters" / "hidden" / "mutants.py"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


class MutantError(ValueError):
    """A mutant that cannot be applied: its snippet is gone or repeated, lies outside a solution
    region, or its edit does not compile or changes nothing."""


# -- the list ---------------------------------------------------------------------------------


def load_mutants(path=MUTANTS_FILE):
    """The tuple ``MUTANTS`` of ``tests/chapters/hidden/mutants.py``, loaded by path (``tests/chapters/hidden`` is
    no package, and is absent from the student handout)."""
    spec = importlib.util.spec_from_file_location("scratch_hidden_mutants", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MUTANTS


def select_mutants(only=""):
    """The mutants of the comma-separated question keys or chapters in ``only`` (all if empty)."""
    wanted = set(filter(None, only.split(",")))
    return [m for m in load_mutants() if not wanted or m.question in wanted or chapter_of(m.question) in wanted]


def chapter_of(question):
    """``"mdp"`` for ``"mdp::TestQValues"`` and for ``"hidden/mdp::TestValueIterationDefinition"``
    (the grader's question keys, ``scratch.grading.plugin.question_of``)."""
    return question.split("::")[0].removeprefix("hidden/")


def question_file(question):
    """The test file (relative to the project) that holds ``question``'s tests."""
    prefix = question.split("::")[0]
    if prefix.startswith("hidden/"):
        return f"tests/chapters/hidden/test_{chapter_of(question)}_hidden.py"
    return f"tests/chapters/test_{prefix}.py"


def chapter_test_files():
    """Every chapter's graded test files, public and hidden (relative to the project)."""
    hidden = [f"tests/chapters/hidden/test_{c}_hidden.py" for c in CHAPTERS]
    return [f"tests/chapters/test_{c}.py" for c in CHAPTERS] + [f for f in hidden if (PROJECT_ROOT / f).is_file()]


# -- checking one mutant ----------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def solutions_file(name):
    """(source, syntax tree, compiled code) of ``solutions/<name>``, read once per process."""
    path = SOLUTIONS / name
    source = path.read_text(encoding="utf-8")
    return source, ast.parse(source), compile(source, str(path), "exec")


def where(mutant):
    return f"{mutant.question} / {mutant.name!r}: solutions/{mutant.file}"


def enclosing_function(tree, first, last):
    """Qualified name (``f`` or ``Class.f``) of the module-level function or method whose lines
    hold ``first..last`` (a function nested in it is part of its code: see the docstring)."""
    owners = [(tree, "")] + [(node, f"{node.name}.") for node in tree.body if isinstance(node, ast.ClassDef)]
    for owner, prefix in owners:
        for child in owner.body:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    child.lineno <= first <= last <= child.end_lineno:
                return prefix + child.name
    return None


def inside_solution_region(lines, first, last):
    """Whether lines ``first..last`` (1-based) sit between a BEGIN and its END SOLUTION marker."""
    markers = [(number, line.strip()) for number, line in enumerate(lines, 1) if line.strip() in (BEGIN, END)]
    before = [marker for number, marker in markers if number < first]
    after = [marker for number, marker in markers if number > last]
    inside = [marker for number, marker in markers if first <= number <= last]
    return bool(before) and before[-1] == BEGIN and bool(after) and after[0] == END and not inside


def find_snippet(mutant):
    """The qualified name of the function a mutant edits, after checking that its ``old``
    snippet occurs exactly once in its file, inside a solution region of that function
    (MutantError otherwise). It reads and parses only: checking every mutant takes 0.3 s."""
    source, tree, _ = solutions_file(mutant.file)
    if source.count(mutant.old) != 1:
        raise MutantError(f"{where(mutant)}: the old snippet occurs {source.count(mutant.old)} times, not once")
    first = source.count("\n", 0, source.index(mutant.old)) + 1
    last = first + mutant.old.rstrip("\n").count("\n")
    qualname = enclosing_function(tree, first, last)
    if qualname is None or not inside_solution_region(source.splitlines(), first, last):
        raise MutantError(f"{where(mutant)}: the old snippet (line {first}) is not inside a solution region "
                          f"of a function")
    return qualname


def function_code(module_code, qualname):
    """The code object of ``qualname`` among the constants of a compiled module (``Class.f``:
    the class body's code, then the function's; by name, as Python 3.10 has no co_qualname)."""
    code = module_code
    for name in qualname.split("."):
        code = next((c for c in code.co_consts if hasattr(c, "co_code") and c.co_name == name), None)
        if code is None:
            raise MutantError(f"no code for {qualname} in the compiled module")
    return code


def same_code(a, b):
    """Whether two code objects have the same instructions, names and constants (line numbers
    aside): an edit that only changes a comment or spacing is no mutant."""
    if a.co_code != b.co_code or a.co_names != b.co_names or len(a.co_consts) != len(b.co_consts):
        return False
    return all(same_code(x, y) if hasattr(x, "co_code") and hasattr(y, "co_code") else
               type(x) is type(y) and x == y for x, y in zip(a.co_consts, b.co_consts))


def locate(mutant):
    """``(qualname, mutated code)``: :func:`find_snippet`, then the mutated file compiled, and
    the code of the edited function in it, which must differ from the reference's."""
    qualname = find_snippet(mutant)
    source, _, reference = solutions_file(mutant.file)
    try:
        mutated = compile(source.replace(mutant.old, mutant.new), str(SOLUTIONS / mutant.file), "exec")
    except SyntaxError as error:
        raise MutantError(f"{where(mutant)}: the mutated file does not compile: {error}") from None
    new_code = function_code(mutated, qualname)
    if same_code(new_code, function_code(reference, qualname)):
        raise MutantError(f"{where(mutant)}: the edit does not change the code of {qualname}")
    return qualname, new_code


# -- making it live ---------------------------------------------------------------------------


def live_function(module_name, qualname):
    """The function object ``qualname`` of the imported module (unwrapping static and class
    methods, and properties' getters)."""
    owner = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    function = vars(owner)[name] if path else getattr(owner, name)
    function = getattr(function, "__func__", function)
    return getattr(function, "fget", function)


@contextmanager
def activated(mutant, package="solutions"):
    """Run the block with ``mutant``'s edit live in ``package`` (the module docstring says how)."""
    qualname, code = locate(mutant)
    function = live_function(f"{package}.{Path(mutant.file).stem}", qualname)
    if code.co_freevars != function.__code__.co_freevars:
        raise MutantError(f"{where(mutant)}: the edit changes the closure of {qualname}")
    original, function.__code__ = function.__code__, code
    try:
        yield
    finally:
        function.__code__ = original


# -- recording what the graded functions return (named mistakes) ------------------------------


@contextmanager
def recording(on_result, package="solutions"):
    """Run the block with ``on_result(key, value)`` called, as the judge's remote ``impl`` does in
    a grading run (``scratch.grading.mistakes``, "A call"), for every result a function of the
    package's graded modules returns to code outside the package (a test, the harness).

    How: each public function of those modules (module attributes, imported names included,
    under the module that holds the name, as the judge reaches them: ``impl.rlhf.log_softmax``)
    and each method of their classes is replaced, for the block, by a wrapper that calls the
    original object (so a live mutant's swapped code runs: activate the mutant first) and records
    when its caller's frame is outside the package. A call from inside the package (the
    student's own code calling itself) runs in the student process in a grading run, unseen by
    the judge, and is not recorded. Dunder methods (a constructor, ``__call__``) and properties
    are not calls the judge names, and are left alone."""
    import inspect
    import sys

    from scratch.grading import mistakes, submission
    from scratch.grading.remote import UPDATES_IN_PLACE, keeps_its_cache
    from scratch.train import loop

    names = submission.graded_modules(PROJECT_ROOT / package)
    own = {f"{package}.{name}" for name in names}
    prefix = f"{package}."
    stays = object()  # what the judge gets as a handle (fingerprinted "?")

    def resident(function):  # scratch.train.loop.resident, marking its calls
        def call_resident(*args, **kwargs):
            return function(*args, **kwargs)
        return call_resident

    def outside(frame):
        caller = frame.f_globals.get("__name__", "")
        return not (caller == package or caller.startswith(prefix))

    def as_the_judge_gets_it(result, name, frame):
        """Dicts and lists a call keeps in the student process in a grading run (a forward's
        cache; everything of a ``resident`` call: ``scratch.grading.student``, op_call) as handles."""
        if frame.f_code is resident_code:
            if type(result) is tuple:
                return tuple(stays if type(x) in (dict, list) else x for x in result)
            return stays if type(result) in (dict, list) else result
        if keeps_its_cache(name) and type(result) is tuple and result and type(result[-1]) in (dict, list):
            return (*result[:-1], stays)
        return result

    def module_function(function, module, name):
        key, contract = mistakes.call_key(module, [name]), UPDATES_IN_PLACE.get((module, name), {})

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            result = function(*args, **kwargs)
            caller = sys._getframe(1)
            if outside(caller):
                seen = as_the_judge_gets_it(result, name, caller)
                on_result(key, mistakes.recorded_value(seen, contract, args, kwargs))
            return result
        return wrapper

    def method(function, name, owner, kind):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            result = function(*args, **kwargs)
            caller = sys._getframe(1)
            if outside(caller):
                cls = owner if kind == "static" or not args else (args[0] if kind == "class" else type(args[0]))
                on_result(mistakes.call_key(None, [name], cls.__name__), as_the_judge_gets_it(result, name, caller))
            return result
        return wrapper

    resident_code = resident(None).__code__
    undo, classes, original = [], {}, loop.resident
    try:
        for module in list(sys.modules.values()):  # loop.resident, and the names imported from it
            if getattr(module, "__name__", "").startswith("scratch.train") and \
                    getattr(module, "resident", None) is original:
                undo.append((module, "resident", original))
                setattr(module, "resident", resident)
        for name in names:
            module = importlib.import_module(f"{package}.{name}")
            for attr, value in list(vars(module).items()):
                if attr.startswith("_"):
                    continue
                if inspect.isfunction(value) and value.__module__ in own:
                    undo.append((module, attr, value))
                    setattr(module, attr, module_function(value, name, attr))
                elif isinstance(value, type) and value.__module__ in own:
                    classes[id(value)] = value
        for cls in classes.values():
            for attr, value in list(vars(cls).items()):
                if attr.startswith("__"):
                    continue
                if isinstance(value, staticmethod):
                    new = staticmethod(method(value.__func__, attr, cls, "static"))
                elif isinstance(value, classmethod):
                    new = classmethod(method(value.__func__, attr, cls, "class"))
                elif inspect.isfunction(value):
                    new = method(value, attr, cls, "method")
                else:
                    continue
                undo.append((cls, attr, value))
                setattr(cls, attr, new)
        yield
    finally:
        for owner, attr, value in reversed(undo):
            setattr(owner, attr, value)
