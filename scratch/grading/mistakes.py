"""Named mistakes: a failing test's feedback says which realistic mistake gives what the student got.

``tests/chapters/hidden/mutants.py`` lists named mutants, each a small edit of the reference
for one graded question ("the discount gamma is left out of the backup"). Where the
instructor builds the autograder, every mutant's graded tests are run and what each graded
call returned is kept, as compact fingerprints, in ``tests/chapters/hidden/mistakes.json``,
written by ``python3 tests/harness/test_mutants.py --record`` (``--record --report`` also
prints how many mutants are named back). In a grading run the judge records, per test, what
the submission's functions return (``scratch.grading.remote``'s ``Remote.on_result`` calls
:meth:`Recording.call`); when a test fails, :func:`name_mistake` compares that with the file,
and the failure's short message (the table's, Gradescope's) ends with ``| this is what the
code returns when the discount gamma is left out of the backup``. In plain pytest, and
whenever the file is absent, nothing changes.

Where it runs, and what it trusts: only the judge reads the file (it lives in
``tests/chapters/hidden/``: in the Gradescope zip, never in the student handout, never in the
student process's tree). A submission's results are decoded plain data by then; here they are
only measured (``type(x) is ...`` checks, NumPy arithmetic on exact ndarrays); a handle on a
student object is never fetched or called: it is "not comparable".

**A call** is one return of a graded function to the judge: a module function
(``mdp.q_values``), a method on a student object (``GPT.forward``: the object's class name
and the method's), or a class's method (``GPT.from_config``), keyed by those names
(:func:`call_key`) and by how many calls of that key came before it in the same test (tests
are seeded: the same test calls the same function with the same input at the same position).
Only the test's own body counts (pytest's call phase), never its fixtures: a session fixture
runs in whichever test needs it first. A function whose contract updates arguments in place
(``remote.UPDATES_IN_PLACE``, the optimizer steps) is recorded with those arguments after the
call. The recording run (``tests/harness/mutation.py``, ``recording``) wraps the same names
in-process and sees what the judge sees through the channel: calls from outside the package
only, a forward's cache and a ``resident`` call's dicts and lists as handles.

**A fingerprint** (:func:`fingerprint`, JSON) of a returned value: ``None``, booleans, ints
and strings exactly (a string as a 48-bit hash); a float as its value (8 significant digits);
an int or bool array as shape, kind and a hash of its values (exact: integers); a float array
as its shape, where its NaN and infinities sit (a hash), and either its values (8 entries or
fewer) or its L2 norm and four projections on fixed pseudo-random weights (integer hashing:
the same numbers on every machine and NumPy version); a list, tuple or dict of at most 4
leaves as its items' fingerprints, a larger one summarised (a hash of its structure: types,
lengths, keys, shapes, exact parts; the norm and projections of all its floats). Anything
else (a handle on a student object, a lent object, a masked array, a complex number) is
``"?"``: not comparable. Per test and key, the first :data:`CALLS_KEPT` (8) calls are
fingerprinted, and every call is counted.

**Two fingerprints agree** (:func:`agree`) when they have the same structure, shapes, kinds,
exact parts and non-finite pattern, and their numbers are within :data:`RTOL` (1e-5): each
kept entry relative to its size, a large array's norm and projections relative to its norm
(``|a - b| <~ RTOL |a|`` in L2). Far above float64's rounding, float32's, and a different but
equivalent summation order or stopping rule; far below what a mistake changes. Never exact
float equality.

**The file** (``{"format", "digest", "tests_digest", "rtol", "command", "mutants": [[question,
name]...], "tests": {nodeid: {"ref": {key: [count, [fp...]]}, "mutants": [[index, {key:
[count, [fp...]]}]...]}}}``): per graded test, the reference's calls, and for each mutant that
fails it in its body (in mutants.py's order), its calls up to its failure, ``"="`` for a
result (or an item of one) equal to the reference's. A mutant whose results there are all the
reference's is left out (it fails for what is not compared: an argument changed in place, a
warning), and so is a test that would pretrain a GPT with the mutant's own code (5 s each).
``digest`` covers ``solutions/``, ``tests/chapters/`` (hidden tests and mutants.py
included), ``scratch/data`` and ``scratch/train``: ``tests/harness/test_mistakes.py`` fails when it is stale, naming
:data:`REGENERATE`. ``tests_digest`` covers ``tests/chapters/`` alone: the judge uses the
file only with the tests it was recorded with (the Gradescope zip has no solutions/).

**The matching rule** (:func:`matches`): a mutant is named for a failing test when, for every
key the file knows for that test, the submission made as many calls as the mutant did before
its failure (a call that raised has no result, so code that raises where the mutant returned
is no match, and code that got further than the mutant is none either), every comparable pair
of results agrees, and at least one agreeing result differs from the reference's (a failure
the numbers do not explain names nothing; the reference's own results never name one). Calls
of keys the file does not know for the test (a constructor, an object called) are ignored. At
most one name per failing test: the first matching mutant in mutants.py's order (two that
match return the same numbers on that test: the sentence is true of both).

Measured by ``python3 tests/harness/test_mutants.py --record --report`` (each mutant graded
in-process as a submission, recording on, looked up in the file as written), on 4 Dec 2026:
293 of 326 mutants named back; 8 named as an earlier mutant that returns the same numbers on
every test they fail; 19 not named (they fail for what is not compared: an argument changed
in place, a warning, the same arrays returned; or only past CALLS_KEPT calls); 6 fail only in
a fixture (the pretrained model's check). ``--through-grader 40`` (a random sample graded by
``python3 -m scratch grade --submission``): 39 of 40 named, the one missed solving a singular
system, whose garbage differs between processes (as do an unseeded generator's draws and a
diverging training run's). The file: 301 KB; the recording run: 37 s.
"""

import hashlib
import json
import math
from pathlib import Path

import numpy as np

FORMAT = 1
DATA_FILE = Path("tests") / "chapters" / "hidden" / "mistakes.json"  # relative to the project (the judge's root)
REGENERATE = "python3 tests/harness/test_mutants.py --record"
SENTENCE = "this is what the code returns when {name}"
RTOL = 1e-5
ATOL = 1e-10
CALLS_KEPT = 8  # calls fingerprinted per test and key (the first); every call is counted
STRUCTURED = 4  # a list, tuple or dict of more items, or more leaves in all, is summarised as one fingerprint
LEAVES_KEPT = 4096  # of a summarised container
SMALL = 8  # a float array of at most this many entries is kept whole
PROJECTIONS = 4
SAMPLED = 1 << 18  # a larger float array is projected on a stride of this many entries
OPAQUE = "?"
SAME = "="


# -- the key of a call ------------------------------------------------------------------------

def call_key(module, path, type_name=None):
    """``"mdp.q_values"``, ``"GPT.forward"`` (a method, on an object of that class, or through
    the class), or None for a call with no such name (a constructor, an object called)."""
    if type_name is not None:
        return f"{type_name}.{path[0]}" if len(path) == 1 and isinstance(path[0], str) else None
    if len(path) == 1 and module and isinstance(path[0], str):
        return f"{module}.{path[0]}"
    if len(path) == 2 and all(isinstance(p, str) for p in path):
        return f"{path[0]}.{path[1]}"
    return None


class InPlace(dict):
    """A call of a function that updates arguments in place: ``{"returned": result, name:
    argument after the call...}``, fingerprinted item by item (an argument that is a student
    object in a grading run is a handle there: not comparable, whatever the others are)."""


def recorded_value(result, contract, args, kwargs):
    """What is recorded of a call: its result, or for a function that updates arguments in
    place (``contract``: {name: position}), an :class:`InPlace`."""
    if not contract:
        return result
    value = InPlace(returned=result)
    for name, position in contract.items():
        if name in kwargs:
            value[name] = kwargs[name]
        elif position < len(args):
            value[name] = args[position]
    return value


# -- fingerprints -----------------------------------------------------------------------------

def _digest(data):
    return hashlib.sha256(data).hexdigest()[:12]


def _weights(count):
    """PROJECTIONS rows of ``count`` weights in [-1, 1): splitmix64 of (row, position), integer
    arithmetic only, so every machine and NumPy version makes the same numbers."""
    with np.errstate(over="ignore"):
        i = np.arange(count, dtype=np.uint64)[None, :] + (np.arange(PROJECTIONS, dtype=np.uint64)[:, None]
                                                          << np.uint64(40))
        z = i * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (2.0 / (1 << 53)) - 1.0


_WEIGHTS = [np.zeros((PROJECTIONS, 0))]


def weights(count):
    """The first ``count`` (at most SAMPLED) columns of the weights (a weight depends on its row
    and position only): one table, grown as needed, 8 MB at most."""
    if count > _WEIGHTS[0].shape[1]:
        _WEIGHTS[0] = _weights(min(SAMPLED, max(count, 2 * _WEIGHTS[0].shape[1], 1024)))
    return _WEIGHTS[0][:, :count]


def _number(x):
    return float(f"{x:.8g}") if math.isfinite(x) else x


FLOAT_SCALARS = (float, np.float16, np.float32, np.float64, np.longdouble)
INT_SCALARS = (int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)


def fingerprint(value):
    """The JSON fingerprint of a plain value (the module docstring); ``"?"`` for anything else."""
    kind = type(value)
    if value is None:
        return "N"
    if kind in (bool, np.bool_):
        return ["b", int(bool(value))]
    if kind in INT_SCALARS:
        number = int(value)
        return ["i", number] if abs(number) < 1 << 63 else OPAQUE
    if kind in FLOAT_SCALARS:
        return ["f", _number(float(value))]
    if kind is str:
        return ["s", _digest(value.encode("utf-8", "replace"))]
    if kind is np.ndarray:
        return array_fingerprint(value)
    if kind is InPlace:  # made by the judge (recorded_value), never by a submission
        return ["D", [[k, fingerprint(v)] for k, v in sorted(value.items())], len(value)]
    if kind in (list, tuple, dict) and leaves(value) > STRUCTURED:
        return summary(value)
    if kind in (list, tuple):
        return ["L" if kind is list else "T", len(value), [fingerprint(item) for item in value]]
    if kind is dict:
        if not all(type(k) in (str, int) for k in value):
            return OPAQUE
        keys = sorted(value, key=lambda k: (type(k) is int, str(k)))
        return ["D", [[str(k), fingerprint(value[k])] for k in keys], len(value)]
    return OPAQUE


def leaves(value, depth=0):
    """How many non-container items ``value`` holds (counted up to STRUCTURED + 1)."""
    if type(value) not in (list, tuple, dict) or depth > 8:
        return 1
    count = 0
    for item in value.values() if type(value) is dict else value:
        count += leaves(item, depth + 1)
        if count > STRUCTURED:
            break
    return count


def summary(value):
    """A container of more than STRUCTURED items as one fingerprint: a hash of its structure
    (types, lengths, keys, shapes, exact parts, where non-finite entries are) and the norm and
    projections of all its float entries, concatenated."""
    structure, floats = [], []

    def walk(item, depth):
        kind = type(item)
        if len(structure) > LEAVES_KEPT:
            return
        if kind in (list, tuple, dict) and depth < 8:
            if kind is dict and not all(type(k) in (str, int) for k in item):
                structure.append(OPAQUE)
                return
            keys = sorted(item, key=lambda k: (type(k) is int, str(k))) if kind is dict else range(len(item))
            structure.append([kind.__name__, len(item)] + ([str(k) for k in keys] if kind is dict else []))
            for k in keys:
                walk(item[k], depth + 1)
        elif kind in FLOAT_SCALARS:
            structure.append("f")
            floats.append(np.array([float(item)]))
        elif kind is np.ndarray and item.dtype.kind == "f":
            flat = np.asarray(item, dtype=np.float64).ravel()
            finite = np.isfinite(flat)
            structure.append(["F", list(item.shape), "" if finite.all() else array_fingerprint(item)[2]])
            floats.append(np.where(finite, flat, 0.0))
        else:
            structure.append(fingerprint(item) if kind not in (list, tuple, dict) else OPAQUE)

    walk(value, 0)
    values = np.concatenate(floats) if floats else np.zeros(0)
    return ["C", _digest(json.dumps(structure).encode()), *projected(values)]


def projected(values):
    """[norm, [projections]] of a float vector (a stride of it when it is longer than SAMPLED)."""
    if values.size > SAMPLED:
        values = values[:: -(-values.size // SAMPLED)]
    norm = float(np.sqrt(np.dot(values, values)))
    return [_number(norm), [_number(float(p)) for p in weights(values.size) @ values]]


def array_fingerprint(array):
    shape = list(array.shape)
    kind = array.dtype.kind
    if kind in "biu":
        data = np.ascontiguousarray(array, dtype=np.int64 if kind != "u" else np.uint64).tobytes()
        return ["I", shape, "b" if kind == "b" else "i", _digest(data)]
    if kind != "f":
        return OPAQUE
    flat = np.asarray(array, dtype=np.float64).ravel()
    finite = np.isfinite(flat)
    special = "" if finite.all() else _digest(np.where(finite, 0, np.where(np.isnan(flat), 1, np.sign(flat) + 3))
                                             .astype(np.int8).tobytes())
    if flat.size <= SMALL:
        return ["F", shape, special, [_number(float(x)) for x in flat]]
    return ["P", shape, special, *projected(np.where(finite, flat, 0.0))]


def _close(a, b, rtol, scale=None):
    if isinstance(a, str) or isinstance(b, str) or not (math.isfinite(a) and math.isfinite(b)):
        return a == b or (a != a and b != b)  # NaN == NaN here: the same non-finite entry
    return abs(a - b) <= rtol * (max(abs(a), abs(b)) if scale is None else scale) + ATOL


def agree(a, b, rtol=RTOL):
    """True, False, or None when nothing in them can be compared (one of them is ``"?"``)."""
    if a == OPAQUE or b == OPAQUE:
        return None
    if not isinstance(a, list) or not isinstance(b, list) or not a or not b or a[0] != b[0]:
        if isinstance(a, list) and isinstance(b, list) and a and b and "C" in (a[0], b[0]) \
                and (holds_opaque(a) or holds_opaque(b)):
            return None  # a summary against a container holding a handle, which hides its leaves
        return a == b if isinstance(a, str) and isinstance(b, str) else False
    tag = a[0]
    if tag in ("b", "i", "s"):
        return a[1] == b[1]
    if tag == "f":
        return _close(a[1], b[1], rtol)
    if tag == "I":
        return a[1:] == b[1:]
    if tag in ("F", "P", "C"):
        if a[1:-2] != b[1:-2] or len(a[-1]) != len(b[-1]):
            return False
        if tag == "F":
            return a[2] == b[2] and all(_close(x, y, rtol) for x, y in zip(a[3], b[3]))
        scale = max(a[-2], b[-2])
        return _close(a[-2], b[-2], rtol) and all(_close(x, y, rtol, scale) for x, y in zip(a[-1], b[-1]))
    if tag in ("L", "T"):
        if a[1] != b[1] or len(a[2]) != len(b[2]):
            return False
        return combine(agree(x, y, rtol) for x, y in zip(a[2], b[2])) if a[2] else True
    if tag == "D":
        if a[2] != b[2] or [k for k, _ in a[1]] != [k for k, _ in b[1]]:
            return False
        return combine(agree(x, y, rtol) for (_, x), (_, y) in zip(a[1], b[1])) if a[1] else True
    return False


def holds_opaque(fp):
    if fp == OPAQUE:
        return True
    if isinstance(fp, list) and fp and fp[0] in ("L", "T"):
        return any(holds_opaque(x) for x in fp[2])
    if isinstance(fp, list) and fp and fp[0] == "D":
        return any(holds_opaque(x) for _, x in fp[1])
    return False


def combine(verdicts):
    """False if any is False, else True if any is True, else None."""
    seen = None
    for verdict in verdicts:
        if verdict is False:
            return False
        if verdict is True:
            seen = True
    return seen


# -- recording a test -------------------------------------------------------------------------

class Recording:
    """What the submission's functions returned during one test: ``{key: [count, [fp...]]}``
    (the first CALLS_KEPT calls of each key fingerprinted, every call counted). ``keys``: record
    only these (the judge knows which keys the file has for the test); None: every key (the
    recording run)."""

    def __init__(self, keys=None):
        self.keys = keys
        self.calls = {}

    def call(self, module, path, type_name, contract, args, kwargs, result):
        """The remote ``impl``'s hook (``Remote.on_result``): one call of submitted code returned."""
        self.add(call_key(module, path, type_name), recorded_value(result, contract, args, kwargs))

    def add(self, key, value):
        if key is None or (self.keys is not None and key not in self.keys):
            return
        entry = self.calls.setdefault(key, [0, []])
        entry[0] += 1
        if len(entry[1]) < CALLS_KEPT:
            try:
                entry[1].append(fingerprint(value))
            except Exception:  # noqa: BLE001  (a value the fingerprint cannot read is not comparable)
                entry[1].append(OPAQUE)


# -- the file ---------------------------------------------------------------------------------

def digest_files(root, tests_only=False):
    """sha256 of the files the recorded results depend on (the module docstring): every ``.py``
    under ``tests/chapters`` (hidden tests and mutants.py included), and unless
    ``tests_only``, under ``solutions`` and the harness the tests run on (``scratch/data``,
    ``scratch/train``: a changed corpus or training loop changes what a mutant returns)."""
    root = Path(root)
    folders = ["tests/chapters"] + ([] if tests_only else ["solutions", "scratch/data", "scratch/train"])
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def compact(record, reference=None):
    """A recording's calls for the file: with ``reference`` (the reference's calls of the same
    test), ``"="`` for each result, or part of a result, that agrees with the reference's."""
    out = {}
    for key, (count, fps) in sorted(record.items()):
        ref = reference.get(key, [0, []])[1] if reference else []
        out[key] = [count, [same_as(fp, ref[i] if i < len(ref) else None) for i, fp in enumerate(fps)]]
    return out


def same_as(fp, ref):
    """``fp`` with ``"="`` for what agrees with ``ref`` (the whole, or items of a container)."""
    if ref is None or fp == OPAQUE:
        return fp
    if agree(ref, fp) is True:
        return SAME
    if isinstance(fp, list) and isinstance(ref, list) and fp and ref and fp[0] == ref[0]:
        if fp[0] in ("L", "T") and fp[1] == ref[1] and len(fp[2]) == len(ref[2]):
            return [fp[0], fp[1], [same_as(x, y) for x, y in zip(fp[2], ref[2])]]
        if fp[0] == "D" and fp[2] == ref[2] and [k for k, _ in fp[1]] == [k for k, _ in ref[1]]:
            return ["D", [[k, same_as(x, y)] for (k, x), (_, y) in zip(fp[1], ref[1])], fp[2]]
    return fp


def expand(fp, ref):
    """The inverse of :func:`same_as` (None when ``"="`` has no reference to stand for)."""
    if fp == SAME:
        return ref
    if isinstance(fp, list) and fp and fp[0] in ("L", "T", "D"):
        refs = ref if isinstance(ref, list) and ref and ref[0] == fp[0] else None
        if fp[0] == "D":
            items = [[k, expand(x, refs[1][j][1] if refs and j < len(refs[1]) else None)]
                     for j, (k, x) in enumerate(fp[1])]
            return None if any(x is None for _, x in items) else ["D", items, fp[2]]
        items = [expand(x, refs[2][j] if refs and j < len(refs[2]) else None) for j, x in enumerate(fp[2])]
        return None if any(x is None for x in items) else [fp[0], fp[1], items]
    return fp


def informative(fp):
    """Whether ``fp`` holds something of its own (not only ``"="`` and ``"?"``)."""
    if fp in (SAME, OPAQUE):
        return False
    if isinstance(fp, list) and fp and fp[0] in ("L", "T"):
        return any(informative(x) for x in fp[2]) or not fp[2]
    if isinstance(fp, list) and fp and fp[0] == "D":
        return any(informative(x) for _, x in fp[1]) or not fp[1]
    return True


def write(path, data):
    path = Path(path)
    text = json.dumps(data, separators=(",", ":"), sort_keys=False)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(path)


def load(root):
    """The file's data for the judge, or None (no file, another format, unreadable, or recorded
    with other chapter tests than the judge's: then no mistake is named)."""
    path = Path(root) / DATA_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if type(data) is not dict or data.get("format") != FORMAT or type(data.get("tests")) is not dict:
            return None
        if data.get("tests_digest") != digest_files(root, tests_only=True):
            return None
    except Exception:  # noqa: BLE001  (unreadable: nothing is named)
        return None
    return data


def test_keys(data, nodeid):
    """The keys the file knows for a test (None: the file has no mutant for it, or no file)."""
    try:
        entry = data["tests"].get(nodeid) if data else None
        if not entry or not entry.get("mutants"):
            return None
        keys = set(entry["ref"])
        for _, calls in entry["mutants"]:
            keys.update(calls)
        return keys
    except Exception:  # noqa: BLE001
        return None


# -- the lookup -------------------------------------------------------------------------------

def matches(mutant, student, reference, keys):
    """The matching rule (the module docstring) for one mutant's calls of a test."""
    evidence = False
    for key in keys:
        count, fps = mutant.get(key, [0, []])
        s_count, s_fps = student.get(key, [0, []])
        if count != s_count:
            return False
        ref_count, ref = reference.get(key, [0, []])
        for i, (fp, s_fp) in enumerate(zip(fps, s_fps)):
            fp = expand(fp, ref[i] if i < len(ref) else None)
            if fp is None:
                return False
            verdict = agree(fp, s_fp)
            if verdict is False:
                return False
            # evidence: the submission differs from the reference here (or the reference made no such call)
            if verdict is True and (i >= ref_count or (i < len(ref) and agree(ref[i], s_fp) is False)):
                evidence = True
    return evidence


def lookup(data, nodeid, student):
    """Index (in the file's mutant list) of the mistake to name for a failing test, or None."""
    entry = data["tests"].get(nodeid)
    keys = test_keys(data, nodeid)
    if keys is None:
        return None
    for index, calls in entry["mutants"]:
        if matches(calls, student, entry["ref"], keys):
            return index
    return None


def name_mistake(data, nodeid, recording):
    """The sentence for a failing test ("this is what the code returns when ..."), or ""."""
    if data is None or recording is None:
        return ""
    try:
        index = lookup(data, nodeid, recording.calls)
        if index is None:
            return ""
        name = data["mutants"][index][1]
    except Exception:  # noqa: BLE001  (a malformed file names nothing; grading goes on)
        return ""
    return SENTENCE.format(name=name) if isinstance(name, str) else ""
