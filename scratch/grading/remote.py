"""The judge's side of grading: a remote ``impl`` whose every call runs in the student process.

In ``scratch grade`` the tests receive a :class:`RemoteImpl` instead of the package itself.
It reads like the package (``impl.mdp.value_iteration(mdp)``, ``impl.transformer.GPT(...)``),
but the submitted modules are imported only in a student process
(``scratch.grading.student``), and each call is a round trip over two pipes that carry plain
data (``scratch.grading.wire``). The design and what it defends, in one place:

- **The judge never runs submitted code.** pytest, the tests, their expected values, every
  assertion, the training and RLHF loops and the result recorder run here. What comes back
  is decoded strictly: exact ndarrays of bool/int/float dtypes, scalars, str, None and
  containers of these; anything else (a masked array, an ndarray subclass, an object whose
  ``__eq__`` says "equal") stays in the student process as a :class:`Handle`, whose
  attributes, items and calls are round trips and which never equals a value. No method the
  submission defined is ever called here, and nothing is unpickled.
- **Arguments are copies.** What submitted code does to an argument stays in the student
  process, so zeroing a test's input in place changes nothing the test computes afterwards.
  The exceptions are named once, in :data:`UPDATES_IN_PLACE` (the optimizer steps, whose
  contract is to update ``params`` and ``state``): those arguments come back after the call
  and are copied into the judge's objects, checked for the same keys, shapes and dtypes.
  A ``np.random.Generator`` argument travels as its state and comes back advanced, so seeded
  tests draw exactly what an in-process run draws.
- **A forward's cache stays where it was made**: the last item that a ``*_forward``
  function or a model's ``forward`` returns, when it is a dict or a list, comes back as a
  live handle (:func:`keeps_its_cache`), and so do the gradients and optimizer state of the
  training loops (``scratch.train.loop.resident``): data only the student's own functions
  read does not cross the channel twice.
- **Handles keep identity and writes.** Reading an attribute that holds a dict, list or array
  (``model.params``) gives a live handle: reading it fetches the student's current values;
  writing into it (``model.params[name][...] = x``, a gradient check's perturbation) writes
  into the student's object; passing it to a call passes the student's own object. One
  student object is one handle, so ``a is b`` holds where it holds in the student process.
- **Judge objects are called back.** A judge-side callable or object given to submitted code
  (a fake model, a reward function, a counting wrapper) stays here; the student process gets
  a proxy whose calls and public-attribute reads come back through the channel. A module is
  never handed over, and no name starting with ``_`` is served. Instances of *given* classes
  (modules the student does not submit, such as ``mdp_model``, and the harness's data
  modules) travel by value and are rebuilt from the receiver's own copy of the class.
- **Failures stay readable.** An exception in submitted code is raised here as the builtin
  exception of the same name (``ValueError``, ``NotImplementedError``...; other types as
  :class:`StudentError`) with the submission's frames (file:line, function, source) attached
  as ``student_frames`` and in a note; warnings are re-issued here under the judge's filters.

A student process that dies or breaks the wire raises :class:`StudentProcessDied`; the
grading plugin then reports the running test as crashed and ends the judge process, and
the grader starts a fresh judge (and so a fresh student process) for the tests that remain.
"""

import os
import subprocess
import sys
import types
import warnings
import weakref
from pathlib import Path

import numpy as np

from . import wire
from .handles import Handle, RemoteArray, RemoteCallable, RemoteDict, RemoteList, RemoteModule  # noqa: F401
from .sandbox import StudentProcess

# The functions whose contract is to update some arguments in place, and where those
# arguments sit: (module, function) -> {argument name: position}. Only these arguments
# ever come back from a call (see the module docstring).
UPDATES_IN_PLACE = {
    ("optim", "sgd_step"): {"params": 0, "state": 2},
    ("optim", "adamw_step"): {"params": 0, "state": 2},
}

# Exceptions raised here under their own type when submitted code raises them.
RAISED_AS_THEMSELVES = {
    cls.__name__: cls for cls in (
        ValueError, TypeError, NotImplementedError, KeyError, IndexError, AttributeError, LookupError,
        FloatingPointError, ZeroDivisionError, OverflowError, ArithmeticError, RuntimeError,
        AssertionError, StopIteration, RecursionError, MemoryError, UnicodeError, np.linalg.LinAlgError,
    )
}
WARNING_TYPES = {cls.__name__: cls for cls in (UserWarning, RuntimeWarning, DeprecationWarning, FutureWarning,
                                               PendingDeprecationWarning, SyntaxWarning, ResourceWarning)}

# The harness modules whose classes travel by value (both sides have the same code).
PRINTED_KEPT = 4000  # characters of a test's printed output kept for its report
GIVEN_HARNESS = ("scratch.data.corpora", "scratch.data.world", "scratch.data.instructions")



class StudentError(Exception):
    """Submitted code raised an exception of a type the judge does not raise as itself."""


class StudentProcessDied(RuntimeError):
    """The student process exited, was killed, or broke the wire's rules."""


def exception_classes(source, module_name):
    """The exception classes a module defines, made here from its source without running it.

    A test writes ``pytest.raises(impl.mdp.ConvergenceError)``, and an error raised in the
    student process must be raised here as that class: the judge cannot import the submitted
    module, so it reads the trusted copy's class statements (``class X(RuntimeError):`` with a
    docstring, or one of its own earlier exception classes as the base) and makes empty
    classes of the same names and bases.
    """
    import ast

    made = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef) or len(node.bases) != 1 or not isinstance(node.bases[0], ast.Name):
            continue
        base = made.get(node.bases[0].id) or RAISED_AS_THEMSELVES.get(node.bases[0].id)
        if base is None and node.bases[0].id == "Exception":
            base = Exception
        if isinstance(base, type) and issubclass(base, Exception):
            made[node.name] = type(node.name, (base,), {"__module__": module_name, "__doc__": ast.get_docstring(node)})
    return made


# -- the connection ---------------------------------------------------------------------------

class Remote:
    """One student process and the judge's tables of handles and of objects lent to it."""

    def __init__(self, student):
        self.student = student
        self.reader = wire.FrameReader(student.in_fd)
        self.outbox = []  # frames of quiet requests, sent with the next request
        self.package = student.package
        self.handles = weakref.WeakValueDictionary()
        self.released = []
        self.methods = set()  # (type name, attribute) known to be methods
        self.lent = {}  # judge id -> object lent to the student process
        self.lent_ids = {}  # id(object) -> judge id
        self.next_lent = 0
        self.given_modules = {f"{student.package}.{name}" for name in student.given} | set(GIVEN_HARNESS)
        self.round_trips = 0
        self.bytes_moved = 0
        self.exceptions = {}  # (module, class name) -> the judge's class for a submitted exception
        self.printed = []  # what the submission printed since the plugin last took it (strings)
        # Set by the grading plugin during a test's body: called (module, path, type name of the
        # object or None, in-place contract, args, kwargs, result) after each call of submitted
        # code returns (scratch.grading.mistakes, "A call"); what it gets is only compared.
        self.on_result = None

    # encoding what the judge sends
    def other(self, value):
        if isinstance(value, Handle):
            if value._remote is not self:
                raise TypeError("a handle of another student process cannot be sent")
            return {"$": "back", "id": value._ident}
        if isinstance(value, RemoteCallable):
            where = {"obj": value.obj, "module": value.module, "path": value.path}
            return {"$": "path", "where": self.encoder.encode(where)}
        if isinstance(value, RemoteModule):  # the student's own module (optim=impl.optim)
            return {"$": "path", "where": self.encoder.encode({"obj": None, "module": value._name, "path": []})}
        cls = type(value)
        if isinstance(value, (type(sys), type, types.FrameType, types.CodeType, types.TracebackType)):
            raise TypeError(f"a {cls.__name__} cannot be passed to submitted code")
        if cls.__module__ in self.given_modules and isinstance(getattr(value, "__dict__", None), dict):
            return {"$": "given", "module": cls.__module__, "cls": cls.__qualname__,
                    "state": self.encoder.encode(dict(vars(value)))}
        if isinstance(value, Lent):
            value = value.value
        key = id(value)
        if key not in self.lent_ids:
            self.next_lent += 1
            self.lent_ids[key] = self.next_lent
            self.lent[self.next_lent] = value
        return {"$": "obj", "id": self.lent_ids[key], "type": cls.__name__, "callable": callable(value)}

    # decoding what the student process sends
    def reference(self, form):
        tag = form.get("$")
        if tag == "obj":
            return self.handle(form)
        if tag == "back":
            ident = form.get("id")
            if type(ident) is not int or ident not in self.lent:
                raise wire.ProtocolError(f"the student process named an object the judge never lent: {ident!r}")
            return self.lent[ident]
        if tag == "given":
            return self.rebuild(form)
        raise wire.ProtocolError(f"a value tagged {str(tag)[:40]!r} is not allowed")

    def handle(self, form):
        ident, type_name, callable_ = form.get("id"), form.get("type"), form.get("callable")
        if type(ident) is not int or not isinstance(type_name, str) or type(callable_) is not bool:
            raise wire.ProtocolError("a handle needs an int id, a type name and a callable flag")
        existing = self.handles.get(ident)
        if existing is not None:
            return existing
        while ident in self.released:
            self.released.remove(ident)
        kind = form.get("kind")
        if kind == "array":
            shape = form.get("shape")
            if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
                raise wire.ProtocolError("an array handle needs a shape")
            made = RemoteArray(self, ident, type_name, callable_, shape, wire.Decoder.dtype(form.get("dtype")))
        elif kind == "dict":
            made = RemoteDict(self, ident, type_name, callable_)
        elif kind == "list":
            made = RemoteList(self, ident, type_name, callable_)
        else:
            made = Handle(self, ident, type_name, callable_)
        self.handles[ident] = made
        return made

    def rebuild(self, form):
        """An instance of a given class, made here from the judge's own copy of the class.

        Only a class defined in that very module (``cls.__module__``, found by walking
        classes, never through another module), with no ``__del__``; its state a dict of
        attribute names (identifiers, no dunders: ``__array_interface__`` on an instance
        would make NumPy read memory the sender chose) whose values are plain data or given
        instances, never handles.
        """
        module_name, qualname = form.get("module"), form.get("cls")
        if module_name not in self.given_modules or not isinstance(qualname, str):
            raise wire.ProtocolError(f"{str(module_name)[:60]}.{str(qualname)[:40]} is not a given class")
        cls = sys.modules.get(module_name) or __import__(module_name, fromlist=["_"])
        for part in qualname.split("."):
            cls = vars(cls).get(part) if not part.startswith("_") else None
            if not isinstance(cls, type):
                raise wire.ProtocolError(f"{module_name}.{qualname[:60]} is not a public class of that module")
        if cls.__module__ != module_name or cls.__qualname__ != qualname or hasattr(cls, "__del__") \
                or issubclass(cls, BaseException):
            raise wire.ProtocolError(f"{module_name}.{qualname[:60]} is not a class that can be rebuilt")
        outer, self.reference = self.reference, self.given_only
        try:
            state = self.decoder.decode(form.get("state"))
        finally:
            self.reference = outer
        if type(state) is not dict or not all(type(k) is str and k.isidentifier() and not k.startswith("__")
                                              for k in state):
            raise wire.ProtocolError("a given instance's state must be a dict of attribute names (no dunders)")
        instance = object.__new__(cls)
        vars(instance).update(state)
        return instance

    def given_only(self, form):
        """Inside a given instance's state: other given instances, nothing else."""
        if form.get("$") == "given":
            return self.rebuild(form)
        raise wire.ProtocolError("a given instance's state may hold plain data and given instances only")

    # one exchange
    def send(self, op, value):
        self.encoder = wire.Encoder(self.other)
        form = self.encoder.encode(value)
        buffers = self.encoder.buffers
        self.bytes_moved += sum(b.nbytes for b in buffers)
        parts, self.outbox = self.outbox + wire.frame_parts({"op": op, "v": form}, buffers), []
        try:
            wire.write_parts(self.student.out_fd, parts)
        except OSError as err:  # a closed pipe: the student process is gone
            raise StudentProcessDied(self.death_notice(err)) from None
        return self.encoder.generators

    def receive(self):
        try:
            header, payload = self.reader.read()
        except (wire.ProcessGone, OSError) as err:
            raise StudentProcessDied(self.death_notice(err)) from None
        if type(header) is not dict or not isinstance(header.get("op"), str):
            raise StudentProcessDied("the student process sent a frame without an op")
        self.bytes_moved += len(payload)
        self.decoder = wire.Decoder(payload, lambda form: self.reference(form))
        value = self.decoder.decode(header.get("v"))
        self.decoder.finish()
        self.decoder_generators = self.decoder.generators
        return header["op"], value

    def death_notice(self, err):
        process = self.student.process
        try:
            code = process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        how = f"exited with code {code}" if code is not None and code >= 0 else (
            f"was killed by signal {-code}" if code is not None else "stopped answering")
        last = self.student.printed().strip().splitlines()[-3:]
        said = f"; its last output: {' | '.join(last)[-500:]}" if last else ""
        return f"the student process {how} ({type(err).__name__}: {err}){said}"

    def quiet(self, op, **fields):
        """Queue a request the student process does not answer (its failure comes with the
        next answer): releases, and writes into arrays, checked here first. Queued frames go
        out with the next request, in the same system call."""
        self.encoder = wire.Encoder(self.other)
        form = self.encoder.encode(fields)
        self.bytes_moved += sum(b.nbytes for b in self.encoder.buffers)
        self.outbox += wire.frame_parts({"op": op, "v": form}, self.encoder.buffers)

    def flush_releases(self):
        if self.released:
            ids, self.released[:] = list(self.released), []
            self.quiet("release", ids=ids)

    def request(self, op, **fields):
        """Send one request and serve callbacks until its answer; return the decoded value."""
        return self.exchange(op, fields)[0]

    def exchange(self, op, fields):
        """``(answer, generators sent)`` of one request (the queued quiet frames go first)."""
        self.flush_releases()
        generators = self.send(op, fields)
        self.round_trips += 1
        return self.wait(), generators

    def wait(self):
        try:
            while True:
                op, value = self.receive()
                if op == "ok":
                    return self.answer(value)
                if op == "err":
                    raise self.error(value)
                if op == "cb_release":
                    self.forget(value)
                    continue
                self.serve_callback(op, value)
        except wire.ProtocolError as err:
            raise StudentProcessDied(f"the student process broke the wire's rules: {err}") from None

    def answer(self, value):
        if type(value) is not dict or "value" not in value:
            raise wire.ProtocolError("an answer must carry a value")
        self.reissue(value.get("warnings"))
        self.keep_printed(value.get("printed"))
        result = value["value"]
        return result

    def keep_printed(self, text):
        """Keep what the submission printed (plain text, at most PRINTED_KEPT characters a test)."""
        if type(text) is str and text:
            self.printed.append(text)
            while sum(map(len, self.printed)) > PRINTED_KEPT and len(self.printed) > 1:
                del self.printed[0]

    def take_printed(self):
        text, self.printed = "".join(self.printed)[-PRINTED_KEPT:], []
        return text

    def call(self, obj, path, args, kwargs, module=None, resident=False):
        contract = UPDATES_IN_PLACE.get((module, path[-1] if path else None), {}) if obj is None else {}
        update = [name if name in kwargs else position for name, position in contract.items()
                  if name in kwargs or position < len(args)]
        # A handle is the student's own object, updated where it lives: nothing to copy back.
        update = [u for u in update if not isinstance(kwargs[u] if isinstance(u, str) else args[u], Handle)]
        if not resident and path and keeps_its_cache(path[-1]):
            resident = "cache"
        answer, generators = self.exchange("call", {"obj": obj, "module": module, "path": path, "args": list(args),
                                                    "kwargs": dict(kwargs), "update": update, "resident": resident})
        if type(answer) is not dict or set(answer) != {"result", "updated", "rng"}:
            raise StudentProcessDied("the student process sent a malformed call answer")
        self.advance(generators, answer["rng"])
        for selector, new in zip(update, answer["updated"]):
            original = args[selector] if isinstance(selector, int) else kwargs[selector]
            copy_back(original, new, f"argument {selector!r} of {'.'.join(filter(None, [module, *path]))}")
        if self.on_result is not None:
            self.record(obj, path, module, contract, args, kwargs, answer["result"])
        return answer["result"]

    def record(self, obj, path, module, contract, args, kwargs, result):
        """Hand a call's result (and the arguments it updates in place) to ``on_result``; a
        fault of the recording never changes the test's outcome."""
        try:
            self.on_result(module, path, obj._type_name if isinstance(obj, Handle) else None,
                           contract, args, kwargs, result)
        except Exception:  # noqa: BLE001
            self.on_result = None

    @staticmethod
    def advance(generators, states):
        if type(states) is not list or len(states) != len(generators):
            raise StudentProcessDied("the student process did not return every random generator's state")
        for generator, state in zip(generators, states):
            fresh = wire.bit_generator_from_state(state)
            if type(fresh) is not type(generator.bit_generator):
                raise StudentProcessDied("the submission replaced a random generator's bit generator")
            generator.bit_generator.state = fresh.state

    def forget(self, request):
        """The student process holds no proxy of these lent objects any more."""
        ids = request.get("ids") if type(request) is dict else None
        if type(ids) is not list:
            raise wire.ProtocolError("a release must list ids")
        for ident in ids:
            if type(ident) is int and ident in self.lent:
                self.lent_ids.pop(id(self.lent.pop(ident)), None)

    def serve_callback(self, op, request):
        """A request of the student process about an object the judge lent it."""
        try:
            if type(request) is not dict:
                raise wire.ProtocolError("a callback request must be a dict")
            obj = request.get("obj")
            if isinstance(obj, Handle) or id(obj) not in self.lent_ids:
                raise wire.ProtocolError("a callback must name an object the judge lent")
            if op == "cb_call":
                args, kwargs = request.get("args"), request.get("kwargs")
                if type(args) is not list or type(kwargs) is not dict or not all(isinstance(k, str) for k in kwargs):
                    raise wire.ProtocolError("a callback call needs a list of arguments and a dict of names")
                generators = self.decoder_generators
                result = obj(*args, **kwargs)
                self.decoder_generators = generators  # nested requests decode frames of their own
                if getattr(obj, "__name__", None) in DECODER_STEPS and type(result) is tuple and result \
                        and type(result[-1]) in (tuple, list, dict):
                    result = (*result[:-1], Lent(result[-1]))
            elif op == "cb_get":
                result = getattr(obj, servable(obj, request.get("name")))
            elif op == "cb_getitem":
                result = obj[request.get("key")]
            elif op == "cb_len":
                result = len(obj)
            elif op == "cb_list":
                result = list(obj)
            else:
                raise wire.ProtocolError(f"no callback {op[:40]!r}")
        except wire.ProtocolError:
            raise
        except Exception as err:  # noqa: BLE001  (the judge's error goes back to submitted code)
            self.send("err", {"type": type(err).__name__, "message": str(err)[:2000]})
            return
        self.send("ok", {"value": result, "rng": [g.bit_generator.state for g in self.decoder_generators]})

    def reissue(self, caught):
        for item in caught or []:
            if type(item) is list and len(item) == 4 and isinstance(item[1], str):
                category = WARNING_TYPES.get(item[0], UserWarning)
                where = item[2] if isinstance(item[2], str) else "submission"
                line = item[3] if type(item[3]) is int else 0
                warnings.warn_explicit(item[1], category, where, line)

    def error(self, info):
        if type(info) is not dict:
            return StudentError("the submission raised an error the grader cannot read")
        self.reissue(info.get("warnings"))
        self.keep_printed(info.get("printed"))
        name = info.get("type") if isinstance(info.get("type"), str) else "Exception"
        message = info.get("message") if isinstance(info.get("message"), str) else ""
        args = info.get("args")
        cls = self.exceptions.get((info.get("module"), name)) or RAISED_AS_THEMSELVES.get(name)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):  # only exception classes are raised
            cls = None
        if cls is None:
            err = StudentError(f"{name}: {message}")
        elif type(args) is list and all(type(a) in (str, int, float, bool, type(None)) for a in args):
            err = cls(*args)
        else:
            err = cls(message)
        frames = [f for f in info.get("frames") or [] if type(f) is list and len(f) == 4]
        err.student_frames = [(str(f[0]), f[1] if type(f[1]) is int else 0, str(f[2]), str(f[3])) for f in frames]
        if err.student_frames and hasattr(err, "add_note"):
            file, line, function, text = err.student_frames[-1]
            err.add_note(f"in the submission: {file}:{line}, in {function}: {text}")
        return err

    def close(self):
        self.student.close()


# A judge model's decoding protocol: ``start(prompt) -> (logits, state)`` and
# ``step(state, token) -> (logits, state)``. The state is opaque to the decoder, and it
# grows with the sequence: when it is a container it stays with the judge, lent (a
# 2,000-token sample sent its whole history at every step, 2 million values in all).
DECODER_STEPS = ("start", "step")


class Lent:
    """Marks a value the judge lends (keeps, and names by a number) instead of sending it."""

    def __init__(self, value):
        self.value = value


HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement, not by C


def servable(obj, name):
    """``name``, when submitted code may read that attribute of a judge object it was lent.

    Only a public name (no leading ``_``) that the object holds itself or that a class written
    in Python (a test's fake model, a harness class) defines or makes up in its own
    ``__getattr__`` (a wrapper that counts calls and passes the rest on): never an attribute of a
    built-in type, so a lent generator, function or iterator shows nothing of its frame,
    code or globals (``gi_frame.f_builtins`` would reach ``exec`` in the judge).
    """
    if not isinstance(name, str) or name.startswith("_"):
        raise AttributeError(f"the grader serves no attribute {str(name)[:40]!r}")
    if name in getattr(obj, "__dict__", {}):
        return name
    for cls in type(obj).__mro__:
        # a Python class's own attribute, or one its __getattr__ (test code) makes up
        if cls.__flags__ & HEAP_TYPE and (name in vars(cls) or "__getattr__" in vars(cls)):
            return name
    raise AttributeError(f"the grader serves no attribute {name!r} of its {type(obj).__name__}")


def keeps_its_cache(name):
    """True for a forward pass (``x_forward``, ``forward``, ``forward_hidden``): by the layers'
    contract it returns ``(out, ..., cache)``, and the cache is read only by the student's own
    backward, so it stays in the student process as a live handle (the judge may still read
    it, through the handle) instead of crossing the channel twice."""
    return name.endswith("_forward") or name in ("forward", "forward_hidden")


def copy_back(original, new, what):
    """Write ``new`` (what the student process made of an argument) into the judge's ``original``."""
    if isinstance(original, Handle):
        return  # the student's own object was updated where it lives
    if isinstance(original, np.ndarray):
        if type(new) is not np.ndarray or new.shape != original.shape or new.dtype != original.dtype:
            raise TypeError(f"{what}: the submission changed an array's shape or dtype, where it must update it in place")
        original[...] = new
    elif isinstance(original, dict):
        if type(new) is not dict or set(new) != set(original):
            raise TypeError(f"{what}: the submission changed the keys of a dict it must update in place")
        for key in original:
            if isinstance(original[key], (np.ndarray, dict, Handle)):
                copy_back(original[key], new[key], f"{what}[{key!r}]")
            elif type(new[key]) is type(original[key]):
                original[key] = new[key]
            else:
                raise TypeError(f"{what}[{key!r}]: the submission changed a {type(original[key]).__name__} "
                                f"into a {type(new[key]).__name__}")
    elif original != new:
        raise TypeError(f"{what}: the submission changed an argument it cannot update in place")


class RemoteImpl:
    """The tests' ``impl`` in a grading run: submitted modules are remote, given ones local."""

    def __init__(self, root, package, submitted, run_as=None, cpu_seconds=3600):
        self.name = package
        self.root = Path(root)
        self.submitted = set(submitted)  # module names (without .py) that hold submitted code
        given = sorted(p.stem for p in (self.root / package).glob("*.py")
                       if p.stem not in self.submitted and p.stem != "__init__")
        self.given = set(given)
        self.remote = Remote(StudentProcess(root, package, given, run_as, cpu_seconds))
        self.modules = {}

    def module(self, chapter):
        if chapter not in self.modules:
            if chapter in self.submitted:
                self.remote.request("import", module=chapter)  # fails here if it does not import
                source = self.trusted_source(chapter)
                exceptions = exception_classes(source, f"{self.name}.{chapter}")
                self.remote.exceptions.update({(f"{self.name}.{chapter}", k): v for k, v in exceptions.items()})
                self.modules[chapter] = RemoteModule(self.remote, chapter, {**exceptions, **self.given_names(source)})
            else:  # given code: the judge's own trusted copy
                self.modules[chapter] = __import__(f"{self.name}.{chapter}", fromlist=["_"])
        return self.modules[chapter]

    def given_names(self, source):
        """``{name: object}`` that the trusted module imports from given modules
        (``from .mdp_model import MDP, Gridworld``): ``impl.mdp.Gridworld`` is then the judge's
        own class, so a submission cannot redefine the world a test builds its expected values
        from."""
        import ast

        names = {}
        for node in ast.parse(source).body if source else []:
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module in self.given:
                module = self.module(node.module)
                for alias in node.names:
                    if alias.name != "*" and hasattr(module, alias.name):
                        names[alias.asname or alias.name] = getattr(module, alias.name)
        return names

    def trusted_source(self, chapter):
        """The source of the judge's own copy of a submitted module (the instructor's stub
        in a ``--submission`` run), found on the judge's path and read, never run."""
        import importlib.util

        spec = importlib.util.find_spec(f"{self.name}.{chapter}")
        if spec is None or not spec.origin or not os.path.isfile(spec.origin):
            return ""
        with open(spec.origin, encoding="utf-8") as source:
            return source.read()

    def __getattr__(self, chapter):
        if chapter.startswith("_"):
            raise AttributeError(chapter)
        if chapter not in self.submitted and not (self.root / self.name / f"{chapter}.py").is_file():
            raise AttributeError(f"{self.name} has no module {chapter!r}")
        return self.module(chapter)

    def close(self):
        self.remote.close()

    def __repr__(self):
        return f"RemoteImpl({self.name!r}, in the student process)"
