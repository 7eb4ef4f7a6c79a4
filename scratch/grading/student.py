"""The student process: the only place a submission's code is imported and run.

The judge (``scratch.grading.remote``) starts this process, as another user where it can,
with resource limits, two pipes, and a folder that holds nothing but a copy of the graded
package and the public harness (no tests, no solutions, no results). It then asks for one
thing at a time: read an attribute, call a function, read or write an item, release
objects. Each answer is plain data (``scratch.grading.wire``) or a handle: an object that
stays here, named by a number the judge can send back.

Nothing here is trusted once the submission is imported (it can change this very module in
memory); that is why the judge decodes every answer strictly and never calls code defined
here. The conveniences below serve the honest case:

- an exception comes back as its type's name, its arguments, its message and the frames that
  lie in the graded package's files (file:line, function, source line);
- warnings raised during a call are recorded and re-issued by the judge, under its filters;
- a ``np.random.Generator`` argument arrives as a fresh generator in the judge's state, and
  its state after the call goes back, so a seeded test sees what an in-process run sees;
- arguments named by the judge's update contract (the optimizers' in-place steps) are sent
  back after the call, so the judge can copy them into its own objects;
- an attribute read answers a dict, list or array with a handle rather than a copy, so a
  judge that writes into ``model.params[name]`` writes into the student's model.
"""

import builtins
import importlib
import io
import os
import sys
import traceback
import warnings
import weakref

from . import wire

PRINTED_KEPT = 4000

LIVE_KINDS = {dict: "dict", list: "list"}


class JudgeObject:
    """An object of the judge's, handed to submitted code: calls and reads go back to the judge."""

    def __init__(self, server, ident, callable_, type_name):
        self._server, self._ident, self._type_name = server, ident, type_name
        self._callable = callable_
        self._methods = {}  # the judge's methods do not change: one round trip each, once

    def __call__(self, *args, **kwargs):
        return self._server.ask("cb_call", obj=self, args=list(args), kwargs=kwargs)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._methods:
            return self._methods[name]
        value = self._server.ask("cb_get", obj=self, name=name)
        if isinstance(value, JudgeObject) and value._type_name == "method":
            self._methods[name] = value
        return value

    def __getitem__(self, key):
        return self._server.ask("cb_getitem", obj=self, key=key)

    def __len__(self):
        return self._server.ask("cb_len", obj=self)

    def __iter__(self):
        return iter(self._server.ask("cb_list", obj=self))

    def __repr__(self):
        return f"<the grader's {self._type_name}>"

    def __del__(self):
        self._server.released.append(self._ident)  # told to the judge with the next frame


class Server:
    def __init__(self, in_fd, out_fd, package, given, root):
        self.in_fd, self.out_fd = in_fd, out_fd
        self.reader = wire.FrameReader(in_fd)
        self.package = package
        self.given = set(given)  # modules of the package that are given code (not submitted)
        self.root = os.path.realpath(root)
        self.objects = {}  # handle id -> object kept alive for the judge
        self.ids = {}  # id(object) -> handle id, so one object keeps one handle
        self.next_id = 1
        self.judge_objects = weakref.WeakValueDictionary()  # judge id -> its one proxy here
        self.released = []  # judge ids whose proxies are gone
        self.deferred = None  # the failure of a quiet request, sent with the next answer
        self.modules = {}
        # Every warning is recorded and sent with its answer; the judge's filters decide.
        self.caught = []
        # What the submission prints goes back with the answer of the request that printed it
        # (the last PRINTED_KEPT characters), so a failing test can show it.
        # (stderr stays the process's own pipe: the judge reads it when the process dies).
        self.printed = io.StringIO()
        sys.stdout = self.printed
        warnings.simplefilter("always")
        warnings.showwarning = self.record_warning

    # -- encoding -------------------------------------------------------------------------

    def handle(self, value):
        key = id(value)
        if key not in self.ids:
            self.ids[key] = self.next_id
            self.objects[self.next_id] = value
            self.next_id += 1
        form = {"$": "obj", "id": self.ids[key], "type": type(value).__name__, "callable": callable(value)}
        if isinstance(value, dict):
            form["kind"] = "dict"
        elif isinstance(value, list):
            form["kind"] = "list"
        elif wire.plain_array(value):
            form.update(kind="array", shape=list(value.shape), dtype=value.dtype.str)
        return form

    def other(self, value):
        if isinstance(value, LiveValue):
            inner = value.value
            if type(inner) in LIVE_KINDS or (value.arrays and wire.plain_array(inner)):
                return self.handle(inner)
            return self.encoder.encode(inner)
        if isinstance(value, JudgeObject):
            return {"$": "back", "id": value._ident}
        if self.is_given(type(value)) and isinstance(getattr(value, "__dict__", None), dict):
            return {"$": "given", "module": type(value).__module__, "cls": type(value).__qualname__,
                    "state": self.encoder.encode(dict(vars(value)))}
        return self.handle(value)

    def is_given(self, cls):
        module = getattr(cls, "__module__", "") or ""
        prefix = f"{self.package}."
        return (module.startswith(prefix) and module[len(prefix):] in self.given) or module.startswith("scratch.")

    def send(self, op, value):
        self.encoder = wire.Encoder(self.other)
        form = self.encoder.encode(value)
        parts = wire.frame_parts({"op": op, "v": form}, self.encoder.buffers)
        if self.released:  # the judge may forget what it lent to proxies that are gone
            ids, self.released[:] = list(self.released), []
            parts = wire.frame_parts({"op": "cb_release", "v": {"ids": ids}}) + parts
        wire.write_parts(self.out_fd, parts)

    # -- decoding -------------------------------------------------------------------------

    def reference(self, form):
        tag = form.get("$")
        if tag == "back":
            return self.objects[form["id"]]
        if tag == "obj":
            ident = form["id"]
            proxy = self.judge_objects.get(ident)
            if proxy is None:
                while ident in self.released:  # lent again before the release went out
                    self.released.remove(ident)
                proxy = JudgeObject(self, ident, form.get("callable"), form.get("type"))
                self.judge_objects[ident] = proxy
            return proxy
        if tag == "path":  # a function or class of the package, named by where it is
            return self.target(self.decoder.decode(form["where"]))
        if tag == "given":
            module = importlib.import_module(form["module"])
            cls = module
            for part in form["cls"].split("."):
                cls = getattr(cls, part)
            instance = object.__new__(cls)
            vars(instance).update(self.decoder.decode(form["state"]))
            return instance
        raise wire.ProtocolError(f"unknown tag {tag!r}")

    def receive(self):
        header, payload = self.reader.read()
        self.decoder = wire.Decoder(payload, self.reference)
        value = self.decoder.decode(header.get("v"))
        generators = self.decoder.generators
        self.decoder.finish()
        return header["op"], value, generators

    # -- serving --------------------------------------------------------------------------

    def ask(self, op, **request):
        """Send a callback request to the judge and serve its requests until it answers."""
        self.send(op, request)
        sent = self.encoder.generators
        while True:
            op, value, generators = self.receive()
            if op == "ok":
                states = value.get("rng", []) if op == "ok" else []
                for generator, state in zip(sent, states):  # the judge drew from them: advance ours
                    generator.bit_generator.state = state
                return value["value"]
            if op == "err":
                raise judge_error(value)
            self.serve(op, value, generators)

    def run(self):
        while True:
            try:
                op, value, generators = self.receive()
            except wire.ProcessGone:
                return
            self.serve(op, value, generators)

    def serve(self, op, request, generators):
        """Run one request; answer it, except the quiet ones (``QUIET``), whose failure, if
        any, goes back with the next answer instead."""
        start = len(self.caught)
        try:
            answer, live = getattr(self, f"op_{op}")(request, generators)
        except BaseException as err:  # noqa: BLE001  (SystemExit too: reported, not obeyed)
            report = self.describe(err, self.caught[start:])
            del self.caught[start:]
            if op in QUIET:
                self.deferred = self.deferred or report
            else:
                self.send("err", dict(report, printed=self.take_printed()))
            return
        if op in QUIET:
            return
        caught, self.caught[start:] = self.caught[start:], []
        deferred, self.deferred = self.deferred, None
        if deferred is not None:
            self.send("err", dict(deferred, printed=self.take_printed()))
            return
        self.send("ok", {"value": LiveValue(answer, arrays=live == "items") if live else answer,
                         "warnings": [self.warning(w) for w in caught], "printed": self.take_printed()})

    def take_printed(self):
        """What was printed since the last answer (its last PRINTED_KEPT characters)."""
        text = self.printed.getvalue()
        self.printed.seek(0)
        self.printed.truncate()
        return text[-PRINTED_KEPT:]

    def record_warning(self, message, category, filename, lineno, file=None, line=None):
        self.caught.append(warnings.WarningMessage(message, category, filename, lineno, file, line))

    def target(self, request):
        obj = request["obj"] if request.get("module") is None else self.module(request["module"])
        for name in request.get("path", []):
            obj = getattr(obj, name)
        return obj

    def module(self, name):
        if name not in self.modules:
            self.modules[name] = importlib.import_module(f"{self.package}.{name}")
        return self.modules[name]

    def op_import(self, request, generators):
        module = self.module(request["module"])
        return {"file": getattr(module, "__file__", None)}, False

    def op_get(self, request, generators):
        value = self.target(request)
        if callable(value) and not isinstance(value, type):
            return {"callable": True, "type": type(value).__name__}, False
        return value, True

    def op_fetch(self, request, generators):
        return self.target(request), False

    def op_set(self, request, generators):
        *path, name = request["path"]
        setattr(self.target({**request, "path": path}), name, request["value"])
        return None, False

    def op_call(self, request, generators):
        function = self.target(request)
        args, kwargs = request.get("args", []), request.get("kwargs", {})
        result = function(*args, **kwargs)
        updated = [args[i] if isinstance(i, int) else kwargs[i] for i in request.get("update", [])]
        states = [g.bit_generator.state for g in generators]
        resident = request.get("resident")
        if resident == "cache":  # a forward's cache, its last item, stays here
            if type(result) is tuple and result and type(result[-1]) in LIVE_KINDS:
                result = (*result[:-1], LiveValue(result[-1]))
        elif resident:  # dicts and lists stay here, also inside a returned tuple
            result = tuple(map(LiveValue, result)) if type(result) is tuple else LiveValue(result)
        return {"result": result, "updated": updated, "rng": states}, False

    def op_getitem(self, request, generators):
        container = self.target(request)
        return container[request["key"]], "items" if isinstance(container, dict) else True

    def op_setitem(self, request, generators):
        self.target(request)[request["key"]] = request["value"]
        return None, False

    op_setitem_quiet = op_setitem

    def op_delitem(self, request, generators):
        del self.target(request)[request["key"]]
        return None, False

    def op_iop(self, request, generators):
        """``target[key] op= operand`` (or ``target op= operand`` without a key), in place."""
        target, key, name = self.target(request), request.get("key"), request["name"]
        if name not in INPLACE:
            raise ValueError(f"no in-place operator {name!r}")
        if "key" in request:
            target[key] = getattr(target[key], name)(request["operand"])
        else:
            getattr(target, name)(request["operand"])
        return None, False

    def op_len(self, request, generators):
        return len(self.target(request)), False

    def op_keys(self, request, generators):
        return list(self.target(request).keys()), False

    def op_items(self, request, generators):
        """A dict's items, each value a handle where it is a container (as an attribute read)."""
        items = list(self.target(request).items())
        return [(k, LiveValue(v, arrays=True)) for k, v in items], False

    def op_list(self, request, generators):
        return list(self.target(request)), False

    def op_isinstance(self, request, generators):
        return isinstance(request["value"], self.target(request)), False

    def op_contains(self, request, generators):
        return request["key"] in self.target(request), False

    def op_repr(self, request, generators):
        return repr(self.target(request))[:2000], False

    def op_release(self, request, generators):
        for ident in request["ids"]:
            value = self.objects.pop(ident, None)
            if value is not None:
                self.ids.pop(id(value), None)
        return None, False

    # -- errors and warnings ----------------------------------------------------------------

    def describe(self, err, caught=()):
        frames = []
        for frame in traceback.extract_tb(err.__traceback__):
            path = os.path.realpath(frame.filename)
            if path.startswith(self.root + os.sep) and "scratch" + os.sep + "grading" not in path:
                frames.append([os.path.relpath(path, self.root), frame.lineno, frame.name, frame.line or ""])
        try:
            args = self.safe_args(err.args)
        except Exception:  # noqa: BLE001
            args = None
        return {"type": type(err).__name__, "module": type(err).__module__, "message": safe_str(err), "args": args, "frames": frames[-8:],
                "warnings": [self.warning(w) for w in caught]}

    @staticmethod
    def safe_args(args):
        if all(type(a) in (str, int, float, bool, type(None)) for a in args):
            return list(args)
        return None

    def warning(self, caught):
        path = os.path.realpath(caught.filename)
        where = os.path.relpath(path, self.root) if path.startswith(self.root + os.sep) else os.path.basename(path)
        return [caught.category.__name__, safe_str(caught.message), where, caught.lineno]


class LiveValue:
    """Marks a value to be sent as a handle when it is a dict or a list, and when it is an
    array if ``arrays`` (the items of a dict the judge holds a handle to: ``params[name]``).
    An attribute that holds an array comes back as a copy, like a call's result."""

    def __init__(self, value, arrays=False):
        self.value, self.arrays = value, arrays


QUIET = {"release", "setitem_quiet"}  # requests the judge does not wait for

INPLACE = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__ifloordiv__", "__imod__",
           "__iand__", "__ior__", "__ixor__"}


def safe_str(value):
    try:
        return str(value)[:4000]
    except Exception:  # noqa: BLE001
        return f"<{type(value).__name__} that cannot be shown>"


def judge_error(info):
    """The judge's error in a callback, as a builtin exception of the same name where there is one."""
    name = info.get("type") if isinstance(info, dict) else None
    message = info.get("message", "") if isinstance(info, dict) else str(info)
    cls = getattr(builtins, name, None) if isinstance(name, str) else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls(message)
    return RuntimeError(f"{name}: {message}")


def main():
    """``python -I -c BOOT ROOT IN_FD OUT_FD PACKAGE GIVEN``: serve until the judge closes the pipe."""
    root, in_fd, out_fd, package, given = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    Server(in_fd, out_fd, package, [g for g in given.split(",") if g], root).run()
