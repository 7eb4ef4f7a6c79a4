"""The judge's handles on objects that live in the student process (``scratch.grading.remote``).

A handle is the judge's own object: its reads, writes and calls are round trips through the
``Remote`` it belongs to, and what they return is decoded as strictly as any answer. It
never equals a value and has no truth value; :class:`RemoteArray`, :class:`RemoteDict` and
:class:`RemoteList` are live views of a student's ndarray, dict or list (reads fetch the
current values, writes go to the student's object); :class:`RemoteCallable` and
:class:`RemoteModule` name the submission's functions, classes and modules.
"""

import collections.abc

import numpy as np

class Handle:
    """An object that lives in the student process. Reads, writes and calls are round trips."""

    _remote = _ident = _type_name = _callable = None

    def __init__(self, remote, ident, type_name, callable_):
        object.__setattr__(self, "_remote", remote)
        object.__setattr__(self, "_ident", ident)
        object.__setattr__(self, "_type_name", type_name)
        object.__setattr__(self, "_callable", callable_)

    def __del__(self):
        remote = self._remote
        if remote is not None:
            remote.released.append(self._ident)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        remote = self._remote
        if (self._type_name, name) in remote.methods:
            return RemoteCallable(remote, self, [name])
        answer = remote.request("get", obj=self, path=[name])
        if type(answer) is dict and answer.get("callable") is True:
            remote.methods.add((self._type_name, name))
            return RemoteCallable(remote, self, [name])
        return answer

    def __setattr__(self, name, value):
        self._remote.request("set", obj=self, path=[name], value=value)

    def __call__(self, *args, **kwargs):
        if not self._callable:
            raise TypeError(f"the submission's {self._type_name} object is not callable")
        return self._remote.call(self, [], args, kwargs)

    def __getitem__(self, key):
        return self._remote.request("getitem", obj=self, key=key)

    def __setitem__(self, key, value):
        self._remote.request("setitem", obj=self, key=key, value=value)

    def __delitem__(self, key):
        self._remote.request("delitem", obj=self, key=key)

    def __len__(self):
        return expect(self._remote.request("len", obj=self), int, "len()")

    def __iter__(self):
        return iter(expect(self._remote.request("list", obj=self), list, "iter()"))

    def __contains__(self, key):
        return expect(self._remote.request("contains", obj=self, key=key), bool, "in")

    def __array__(self, dtype=None, copy=None):
        value = self._remote.request("fetch", obj=self)
        if type(value) is not np.ndarray:
            raise TypeError(f"the submission's {self._type_name} is not a plain array of numbers "
                            f"(the grader compares only plain ndarrays of bool, int or float)")
        return value if dtype is None else value.astype(dtype)

    def __repr__(self):
        return f"<submission's {self._type_name} (in the student process)>"

    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __bool__(self):
        # An object of the submission has no truth value the judge would trust: a test's
        # ``assert result`` must not pass because a handle exists.
        raise TypeError(f"the submission's {self._type_name} object has no truth value here "
                        "(the grader compares plain values only)")


def expect(value, kind, what):
    """``value`` if it is exactly of type ``kind`` (what the student process had to answer)."""
    if type(value) is not kind:
        raise TypeError(f"the submission answered {what} with a {type(value).__name__}, not a {kind.__name__}")
    return value


class RemoteArray(Handle):
    """A live handle on an ndarray of the student process (``model.params["tok_emb"]``)."""

    _shape = _dtype = None

    def __init__(self, remote, ident, type_name, callable_, shape, dtype):
        super().__init__(remote, ident, type_name, callable_)
        object.__setattr__(self, "_shape", tuple(shape))
        object.__setattr__(self, "_dtype", np.dtype(dtype))

    shape = property(lambda self: self._shape)
    dtype = property(lambda self: self._dtype)
    ndim = property(lambda self: len(self._shape))
    size = property(lambda self: int(np.prod(self._shape, dtype=np.int64)))
    T = property(lambda self: np.asarray(self).T)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(np.asarray(self), name)  # methods that read: .copy(), .sum(), .astype()...

    def __getitem__(self, key):
        return np.asarray(self)[key]

    def __setitem__(self, key, value):
        value = np.asarray(value) if isinstance(value, Handle) else value
        # Checked here, on a stand-in of the same shape and dtype, so the write need not wait
        # for an answer (a gradient check writes three times per entry).
        stand_in = np.lib.stride_tricks.as_strided(np.zeros(1, self._dtype), self._shape, (0,) * len(self._shape))
        stand_in[key] = value
        self._remote.quiet("setitem_quiet", obj=self, key=key, value=value)

    def __len__(self):
        return self._shape[0]

    def __iter__(self):
        return iter(np.asarray(self))

    def __contains__(self, item):
        return item in np.asarray(self)

    def __repr__(self):
        return f"RemoteArray({np.asarray(self)!r})"

    def __bool__(self):
        return bool(np.asarray(self))

    def __float__(self):
        return float(np.asarray(self))

    def __int__(self):
        return int(np.asarray(self))

    def __index__(self):
        return np.asarray(self).__index__()

    def __format__(self, spec):
        return format(np.asarray(self), spec)

    def __eq__(self, other):
        return np.asarray(self) == other

    def __ne__(self, other):
        return np.asarray(self) != other

    __hash__ = None


def _binary(name):
    def operator(self, other):
        return getattr(np.asarray(self), name)(np.asarray(other) if isinstance(other, Handle) else other)
    operator.__name__ = name
    return operator


def _inplace(name):
    def operator(self, other):
        operand = np.asarray(other) if isinstance(other, Handle) else other
        self._remote.request("iop", obj=self, name=name, operand=operand)
        return self
    operator.__name__ = name
    return operator


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor"):
    setattr(RemoteArray, f"__{_name}__", _binary(f"__{_name}__"))
    setattr(RemoteArray, f"__r{_name}__", _binary(f"__r{_name}__"))
    if _name != "matmul":
        setattr(RemoteArray, f"__i{_name}__", _inplace(f"__i{_name}__"))
for _name in ("lt", "le", "gt", "ge", "neg", "pos", "abs", "invert"):
    setattr(RemoteArray, f"__{_name}__", (lambda n: lambda self, *o: getattr(np.asarray(self), n)(*o))(f"__{_name}__"))


class RemoteDict(Handle, collections.abc.MutableMapping):
    """A live handle on a dict of the student process (``model.params``)."""

    def __iter__(self):
        return iter(self._remote.request("keys", obj=self))

    def keys(self):
        return expect(self._remote.request("keys", obj=self), list, "keys()")

    def items(self):
        items = expect(self._remote.request("items", obj=self), list, "items()")
        if not all(type(item) is tuple and len(item) == 2 for item in items):
            raise TypeError("the submission answered items() with something other than pairs")
        return items

    def __bool__(self):
        return len(self) > 0

    def values(self):
        return [value for _, value in self.items()]

    def copy(self):
        return dict(self.items())

    def __repr__(self):
        return f"RemoteDict(keys={self.keys()!r})"

    __eq__ = collections.abc.Mapping.__eq__
    __hash__ = None


class RemoteList(Handle, collections.abc.MutableSequence):
    """A live handle on a list of the student process."""

    def insert(self, index, value):
        self._remote.call(self, ["insert"], (index, value), {})

    def __bool__(self):
        return len(self) > 0

    def __repr__(self):
        return f"RemoteList({list(self)!r})"

    __eq__ = collections.abc.Sequence.__eq__ if hasattr(collections.abc.Sequence, "__eq__") else Handle.__eq__
    __hash__ = None


class RemoteCallable:
    """A function, class attribute or method of the student process, called in one round trip."""

    def __init__(self, remote, obj, path, module=None):
        self.remote, self.obj, self.path, self.module = remote, obj, path, module

    def __call__(self, *args, **kwargs):
        return self.remote.call(self.obj, self.path, args, kwargs, module=self.module)

    def resident(self, *args, **kwargs):
        """Call, and keep a dict or list result in the student process (a live handle): for
        state that only the student's own functions read and update, such as an optimizer's
        (``scratch.train.loop.resident``)."""
        return self.remote.call(self.obj, self.path, args, kwargs, module=self.module, resident=True)

    def __getattr__(self, name):  # a class's classmethod: impl.mdp.Gridworld.lecture
        if name.startswith("_"):
            raise AttributeError(name)
        answer = self.remote.request("get", obj=self.obj, module=self.module, path=[*self.path, name])
        if type(answer) is dict and answer.get("callable") is True:
            return RemoteCallable(self.remote, self.obj, [*self.path, name], self.module)
        return answer

    def __instancecheck__(self, value):  # isinstance(model, impl.transformer.GPT)
        return isinstance(value, Handle) and self.remote.request(
            "isinstance", obj=self.obj, module=self.module, path=self.path, value=value) is True

    def __repr__(self):
        return f"<submission's {'.'.join(filter(None, [self.module, *self.path]))}>"


class RemoteModule:
    """A submitted module: its functions and classes are :class:`RemoteCallable`; its
    exception classes are the judge's own (:func:`exception_classes`)."""

    def __init__(self, remote, name, exceptions):
        self._remote, self._name = remote, name
        self.__name__ = f"{remote.package}.{name}"
        self.__file__ = str(remote.student.root / remote.package / f"{name}.py")
        self._callables = dict(exceptions)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._callables:
            return self._callables[name]
        answer = self._remote.request("get", obj=None, module=self._name, path=[name])
        if type(answer) is dict and answer.get("callable") is True:
            self._callables[name] = RemoteCallable(self._remote, None, [name], module=self._name)
            return self._callables[name]
        if isinstance(answer, Handle) and answer._callable:  # a class
            self._callables[name] = RemoteCallable(self._remote, None, [name], module=self._name)
            return self._callables[name]
        return answer

    def __repr__(self):
        return f"<submitted module {self.__name__} (in the student process)>"
