"""The wire between the judge and the student process: frames, and plain data only.

Grading runs submitted code in a process of its own (``scratch.grading.student``); the judge
(pytest, the tests, every assertion) talks to it over two pipes. Everything that crosses is
one frame: an 8-byte length, a JSON header, then the raw bytes of the arrays the header
names. Nothing is pickled, so decoding a frame never runs code of the sender's.

What a value may be on the wire (both directions):

- ``None``, ``bool``, ``int``, ``float`` (NaN and infinities included), ``str``;
- lists; tagged objects ``{"$": tag, ...}`` for the rest:
  a JSON object for a dict whose keys are all str (none of them ``"$"``);
  ``nd`` an exact ``np.ndarray`` of a bool, int, uint or float dtype in native byte order (the
  bytes follow the header); ``np`` a NumPy scalar of those dtypes; ``tuple``; ``dict`` (pairs,
  so keys may be tuples or ints; ``kind`` keeps a ``Counter`` or ``OrderedDict``);
  ``set``; ``dtype``, ``sctype`` and ``type`` a NumPy dtype, a NumPy scalar type such as
  ``np.float64``, or one of the builtins ``bool, int, float, str, complex`` (dtype
  arguments); ``ntuple`` a named tuple (field names and values: the receiver builds its own
  class); ``rng`` a ``np.random.Generator`` (PCG64, as ``default_rng`` makes) as its state; ``slice`` and
  ``ellipsis`` (array indices);
- references: ``obj`` an object that lives on the sender's side (the receiver holds a
  handle to it), ``back`` one that lives on the receiver's side (a handle sent home), and
  ``given`` an instance of a given class (code that is not submitted, so both sides have
  the same trusted copy), sent as its attributes and rebuilt by the receiver from its own
  class.

:class:`Decoder` is strict, because the judge decodes what the student process sent, and
that process runs code nobody vetted: every field is type-checked, sizes must match the
bytes that came, dtypes are whitelisted, nesting is bounded, and anything else raises
:class:`ProtocolError` (the judge then fails the test; it never guesses).
"""

import json
import math
import os
import select
import struct
import time
from collections import Counter, OrderedDict, namedtuple

import numpy as np

MAX_HEADER_BYTES = 64 << 20
MAX_FRAME_BYTES = 2 << 30  # more than any graded test moves at once; the judge refuses larger
MAX_DEPTH = 64
ARRAY_KINDS = "biuf"  # bool, signed and unsigned int, float
PLAIN_TYPES = {t.__name__: t for t in (bool, int, float, str, complex)}  # as dtype arguments
PREFIX = struct.Struct("<QQ")  # header bytes, then the bytes of all buffers after it
IOV_MAX = 512
READ_CHUNK = 1 << 16
# How long a reader polls before it sleeps (see FrameReader). 1 ms when the grader has the
# machine to itself, as on Gradescope: benchmarks/grading.py measured 1.52x the in-process
# time with it, 1.74-2.2x with 100 us. Where grading shares the cores with other work (the
# test suite's background runs), polling takes CPU from that work: the suite sets 100 us.
SPIN_SECONDS = float(os.environ.get("SCRATCH_SPIN_SECONDS", "1e-3"))


class ProtocolError(RuntimeError):
    """A frame broke the wire's rules: the other side is broken or was tampered with."""


class ProcessGone(EOFError):
    """The pipe closed: the other process exited (or was killed)."""


# -- frames ----------------------------------------------------------------------------------

def frame_parts(header, buffers=()):
    """The byte strings of one frame: ``header`` (JSON-able), then ``buffers`` (contiguous arrays)."""
    head = json.dumps(header, separators=(",", ":")).encode()
    views = [memoryview(b).cast("B") for b in buffers if b.nbytes]
    return [PREFIX.pack(len(head), sum(v.nbytes for v in views)), head, *views]


def write_parts(fd, parts):
    """Write ``parts`` (of one frame or several) to ``fd`` in as few system calls as the pipe
    takes: each call wakes the reader, which costs more than the copy."""
    parts = list(parts)
    while parts:
        written = os.writev(fd, parts[:IOV_MAX])
        while parts and written >= len(parts[0]):
            written -= len(parts[0])
            parts.pop(0)
        if parts and written:
            parts[0] = memoryview(parts[0])[written:]


class FrameReader:
    """Reads frames from ``fd``, taking what the pipe holds in one call where it can.

    It polls for up to :data:`SPIN_SECONDS` before it sleeps in ``select``: many answers
    come within microseconds, and a process put to sleep costs its waker a wake-up (measured
    on this project's 2-core VM with a Python ping-pong over two pipes: 50 us a round trip
    when both sides block, 11 us when they poll for 100 us first, 4 us for 1 ms; py-spy saw
    the student process spend a quarter of its time in the writev that woke the judge).
    """

    def __init__(self, fd, max_bytes=MAX_FRAME_BYTES):
        self.fd, self.max_bytes = fd, max_bytes
        self.buffer = bytearray()
        os.set_blocking(fd, False)

    def read_some(self, size):
        deadline = None
        while True:
            try:
                return os.read(self.fd, size)
            except BlockingIOError:
                now = time.perf_counter()
                if deadline is None:
                    deadline = now + SPIN_SECONDS
                elif now > deadline:
                    select.select([self.fd], [], [])

    def fill(self, size):
        while len(self.buffer) < size:
            chunk = self.read_some(max(READ_CHUNK, size - len(self.buffer)))
            if not chunk:
                raise ProcessGone("the other process closed the pipe")
            self.buffer += chunk

    def take(self, size):
        self.fill(size)
        data = self.buffer[:size]
        del self.buffer[:size]
        return data

    def read(self):
        """``(header, payload)`` of the next frame: header parsed, payload raw bytes."""
        head_size, payload_size = PREFIX.unpack(bytes(self.take(PREFIX.size)))
        if head_size > MAX_HEADER_BYTES or payload_size > self.max_bytes:
            raise ProtocolError(f"a frame of {head_size} + {payload_size} bytes is over the limit")
        try:
            header = json.loads(self.take(head_size))
        except (ValueError, RecursionError) as err:
            raise ProtocolError(f"a frame's header is not JSON: {err}") from None
        return header, self.take(payload_size)


def widen_pipe(fd):
    """Ask Linux for a 1 MiB pipe buffer (fewer wake-ups for large frames); elsewhere, nothing."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


# -- values ----------------------------------------------------------------------------------

def plain_array(value):
    """True for an exact ndarray of an allowed dtype (what may cross as a value)."""
    return type(value) is np.ndarray and value.dtype.kind in ARRAY_KINDS and value.dtype.names is None


def plain_scalar(value):
    return isinstance(value, np.generic) and type(value) is value.dtype.type and value.dtype.kind in ARRAY_KINDS


class Encoder:
    """Turns a value into its JSON form, collecting array buffers in ``self.buffers``.

    ``other(value)`` is called for what is not plain data and returns its tagged form (a
    reference, or a ``given`` instance): each side has its own rules for that.
    """

    def __init__(self, other):
        self.other = other
        self.buffers = []
        self.generators = []  # every Generator sent, in order: its state comes back advanced

    def encode(self, value, depth=0):
        if depth > MAX_DEPTH:
            raise ValueError(f"a value nested deeper than {MAX_DEPTH} levels cannot be sent")
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
        if kind is list:
            return [self.encode(item, depth + 1) for item in value]
        if kind is tuple:
            return {"$": "tuple", "v": [self.encode(item, depth + 1) for item in value]}
        if kind is dict and "$" not in value and all(type(k) is str for k in value):
            return {k: self.encode(v, depth + 1) for k, v in value.items()}  # JSON's own object
        if kind in (dict, Counter, OrderedDict):
            pairs = [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]
            return {"$": "dict", "v": pairs, "kind": None if kind is dict else kind.__name__}
        if kind in (set, frozenset):
            return {"$": "set", "v": [self.encode(item, depth + 1) for item in value], "frozen": kind is frozenset}
        if plain_array(value):
            array = value if value.flags.c_contiguous else value.copy(order="C")  # 0-d stays 0-d
            if not array.dtype.isnative:
                array = array.astype(array.dtype.newbyteorder("="))
            self.buffers.append(array)
            return {"$": "nd", "dtype": array.dtype.str, "shape": list(array.shape)}
        if plain_scalar(value):
            return {"$": "np", "dtype": value.dtype.str, "v": self.encode(value.item(), depth + 1)}
        if isinstance(value, tuple) and type(value).__bases__ == (tuple,) and hasattr(kind, "_fields"):
            return {"$": "ntuple", "name": kind.__name__, "fields": list(kind._fields),
                    "v": [self.encode(item, depth + 1) for item in value]}
        if kind is np.random.Generator:
            self.generators.append(value)
            return {"$": "rng", "state": self.encode(value.bit_generator.state, depth + 1)}
        if kind is slice:
            return {"$": "slice", "v": [self.encode(x, depth + 1) for x in (value.start, value.stop, value.step)]}
        if value is Ellipsis:
            return {"$": "ellipsis"}
        if kind is np.dtype or isinstance(value, np.dtype):
            return {"$": "dtype", "v": value.str} if value.kind in ARRAY_KINDS else self.other(value)
        if kind is type and value in PLAIN_TYPES.values():
            return {"$": "type", "v": value.__name__}
        if kind is type and issubclass(value, np.generic) and np.dtype(value).kind in ARRAY_KINDS:
            return {"$": "sctype", "v": np.dtype(value).str}
        return self.other(value)


def bit_generator_from_state(state):
    """A fresh PCG64 (NumPy's default, what ``np.random.default_rng`` makes) in ``state``,
    every field checked first. NumPy's own setter does not range-check every bit
    generator's index fields (a Philox ``buffer_pos`` or an MT19937 ``pos`` out of range made
    the judge read memory outside the generator), so only PCG64 crosses, and only a state
    whose numbers are in range."""
    fields = state.get("state") if isinstance(state, dict) else None
    if not (isinstance(state, dict) and state.get("bit_generator") == "PCG64" and isinstance(fields, dict)
            and set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
            and set(fields) == {"state", "inc"}
            and all(type(fields[k]) is int and 0 <= fields[k] < 2 ** 128 for k in ("state", "inc"))
            and state["has_uint32"] in (0, 1) and type(state["has_uint32"]) is int
            and type(state["uinteger"]) is int and 0 <= state["uinteger"] < 2 ** 32):
        raise ProtocolError(f"a random generator must be a PCG64 in a valid state; got {str(state)[:80]}")
    bit_generator = np.random.PCG64(0)  # seeded: no entropy is read
    bit_generator.state = state
    return bit_generator


class Decoder:
    """The strict inverse of :class:`Encoder` over one frame's ``payload``.

    ``reference(tagged)`` turns ``obj``/``back``/``given`` forms into objects (the side's own
    rules: a handle, its own object, a rebuilt instance) and raises ProtocolError for others.
    """

    def __init__(self, payload, reference):
        self.payload = memoryview(payload)
        self.offset = 0
        self.reference = reference
        self.tuples = {}  # (name, fields) -> the named-tuple class this side made for it
        self.generators = []

    def finish(self):
        if self.offset != len(self.payload):
            raise ProtocolError(f"a frame carries {len(self.payload) - self.offset} bytes that no array uses")

    def decode(self, form, depth=0):
        if depth > MAX_DEPTH:
            raise ProtocolError(f"a value nests deeper than {MAX_DEPTH} levels")
        kind = type(form)
        if form is None or kind in (bool, int, str):
            return form
        if kind is float:
            return form
        if kind is list:
            return [self.decode(item, depth + 1) for item in form]
        if kind is not dict:
            raise ProtocolError(f"a value of JSON type {kind.__name__} is not allowed")
        if "$" not in form:  # a dict with str keys, as JSON has them
            return {k: self.decode(v, depth + 1) for k, v in form.items()}
        tag = form["$"]
        decoder = getattr(self, f"decode_{tag}", None) if isinstance(tag, str) and tag.isidentifier() else None
        if decoder is None:
            return self.reference(form)
        return decoder(form, depth)

    def items(self, form, depth):
        values = form.get("v")
        if type(values) is not list:
            raise ProtocolError(f"a {form.get('$')} value has no list of items")
        return [self.decode(item, depth + 1) for item in values]

    def decode_float(self, form, depth):
        text = form.get("v")
        if text not in ("nan", "inf", "-inf"):
            raise ProtocolError(f"a float must be finite, nan or +-inf; got {text!r}")
        return float(text)

    def decode_tuple(self, form, depth):
        return tuple(self.items(form, depth))

    def decode_set(self, form, depth):
        try:
            return (frozenset if form.get("frozen") is True else set)(self.items(form, depth))
        except TypeError as err:
            raise ProtocolError(f"a set holds an unhashable item: {err}") from None

    def decode_dict(self, form, depth):
        kinds = {None: dict, "Counter": Counter, "OrderedDict": OrderedDict}
        if form.get("kind") not in kinds:
            raise ProtocolError(f"a dict of kind {form.get('kind')!r} is not allowed")
        result = kinds[form.get("kind")]()
        for pair in self.items(form, depth):
            if type(pair) is not list or len(pair) != 2:
                raise ProtocolError("a dict's items must be [key, value] pairs")
            try:
                result[pair[0]] = pair[1]
            except TypeError as err:
                raise ProtocolError(f"a dict key is unhashable: {err}") from None
        return result

    def decode_nd(self, form, depth):
        dtype = self.dtype(form.get("dtype"))
        shape = form.get("shape")
        if type(shape) is not list or not all(type(n) is int and 0 <= n < 2 ** 40 for n in shape) or len(shape) > 32:
            raise ProtocolError(f"an array's shape must be a list of non-negative ints; got {str(shape)[:80]}")
        nbytes = math.prod(shape) * dtype.itemsize
        if self.offset + nbytes > len(self.payload):
            raise ProtocolError("an array's bytes run past the end of the frame")
        chunk = self.payload[self.offset:self.offset + nbytes]
        self.offset += nbytes
        # A copy of our own: writable, aligned, and owning its memory.
        return np.frombuffer(chunk, dtype=dtype).reshape(shape).copy()

    def decode_np(self, form, depth):
        dtype = self.dtype(form.get("dtype"))
        value = self.decode(form.get("v"), depth + 1)
        if type(value) not in (bool, int, float):
            raise ProtocolError("a NumPy scalar must hold a bool, an int or a float")
        try:
            return dtype.type(value)
        except (OverflowError, ValueError) as err:
            raise ProtocolError(f"a NumPy scalar does not fit its dtype: {err}") from None

    def decode_ntuple(self, form, depth):
        name, fields = form.get("name"), form.get("fields")
        if not (isinstance(name, str) and name.isidentifier() and type(fields) is list
                and all(isinstance(f, str) and f.isidentifier() and not f.startswith("_") for f in fields)
                and len(set(fields)) == len(fields)):
            raise ProtocolError("a named tuple needs an identifier and distinct field names")
        values = self.items(form, depth)
        if len(values) != len(fields):
            raise ProtocolError("a named tuple's values do not match its fields")
        key = (name, tuple(fields))
        if key not in self.tuples:
            self.tuples[key] = namedtuple(name, fields)
        return self.tuples[key](*values)

    def decode_rng(self, form, depth):
        generator = np.random.Generator(bit_generator_from_state(self.decode(form.get("state"), depth + 1)))
        self.generators.append(generator)
        return generator

    def decode_slice(self, form, depth):
        parts = self.items(form, depth)
        if len(parts) != 3 or not all(p is None or type(p) is int for p in parts):
            raise ProtocolError("a slice needs three ints or None")
        return slice(*parts)

    def decode_ellipsis(self, form, depth):
        return Ellipsis

    def decode_dtype(self, form, depth):
        return self.dtype(form.get("v"))

    def decode_sctype(self, form, depth):
        return self.dtype(form.get("v")).type

    def decode_type(self, form, depth):
        if form.get("v") not in PLAIN_TYPES:
            raise ProtocolError(f"the type {str(form.get('v'))[:20]!r} is not allowed")
        return PLAIN_TYPES[form["v"]]

    @staticmethod
    def dtype(text):
        try:
            dtype = np.dtype(text) if isinstance(text, str) and len(text) <= 8 else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in ARRAY_KINDS or not dtype.isnative or dtype.names is not None:
            raise ProtocolError(f"arrays of dtype {str(text)[:20]!r} are not allowed (bool, int or float only)")
        return dtype
