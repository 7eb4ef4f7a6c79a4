"""The judge's remote ``impl`` and its wire (``scratch/grading/remote.py``, ``wire.py``).

What crosses between the judge and the student process, checked one rule at a time on a tiny
package of "student" functions started in a real student process (about a second in all):
plain data decoded strictly, handles for the rest, copies for arguments, the update contract,
generators that come back advanced, callbacks, errors and warnings as in-process.
"""

import shutil
import textwrap
import warnings
from collections import Counter, namedtuple

import numpy as np
import pytest

from scratch.grading import wire
from scratch.grading.remote import (Handle, RemoteArray, RemoteDict, RemoteImpl, StudentError,
                                    StudentProcessDied)
from scratch.impl import PROJECT_ROOT

pytestmark = pytest.mark.instructor

STUDENT = {
    "__init__.py": "",
    "mdp.py": '''
        import warnings
        import numpy as np
        from .mdp_model import Gridworld


        class ConvergenceError(RuntimeError):
            """raised where a loop never settles"""


        def zero_in_place(x):
            x[...] = 0.0
            return x.sum()


        def masked():
            return np.ma.masked_all(3)


        class Always(np.ndarray):
            def __eq__(self, other):
                return True


        def subclass():
            return np.zeros(3).view(Always)


        def fails(what):
            if what == "value":
                raise ValueError("n must be positive; got -1")
            if what == "key":
                raise KeyError("missing")
            raise ConvergenceError("no fixed point after 10 sweeps")


        def warns():
            warnings.warn("probability 0 for an unseen word", RuntimeWarning)
            return 1.0


        def draw(rng):
            return rng.random(2)


        def call_back(f, x):
            return f(x) + 1


        def ask(obj):
            return obj.step(3) * 2


        def twice_the_states(world):
            return world.n_states * 2


        def make_grid():
            return Gridworld.lecture(-2.0)


        def odd():
            raise type("Weird", (Exception,), {})("boom")


        def raises_a_given_name():
            # named like a given class: the judge must not build a Gridworld from these args
            raise type("Gridworld", (Exception,), {})("layout", 7)


        def peek(obj, name):
            try:
                getattr(obj, name)
            except AttributeError as err:
                return "refused: " + str(err)
            return "served"


        def forged(kind):
            """What a submission with full powers in its process can send: its own frames."""
            import gc
            from scratch.grading import student

            server = next(o for o in gc.get_objects() if isinstance(o, student.Server))
            memory = {"data": [id(None), False], "shape": [2], "typestr": "<i8", "version": 3}
            forms = {
                "dunder": {"$": "given", "module": "exercises.mdp_model", "cls": "MDP",
                           "state": {"__array_interface__": memory}},
                "foreign": {"$": "given", "module": "exercises.mdp_model", "cls": "np", "state": {}},
                "handle_inside": {"$": "given", "module": "exercises.mdp_model", "cls": "MDP",
                                  "state": {"P": {"$": "obj", "id": 1, "type": "x", "callable": False}}},
                "back": {"$": "back", "id": 99999},
                # NumPy does not range-check Philox's buffer_pos: the judge would read outside it
                "rng": {"$": "rng", "state": {"bit_generator": "Philox", "state": {"counter": [0] * 4, "key": [0, 0]},
                                              "buffer": [0] * 4, "buffer_pos": -(2 ** 31) + 1,
                                              "has_uint32": 0, "uinteger": 0}},
            }
            marker = type("Marker", (), {})()
            original = server.other
            server.other = lambda value: forms[kind] if value is marker else original(value)
            return marker


        def values():
            Pair = __import__("collections").namedtuple("Pair", ["left", "right"])
            return {"counts": __import__("collections").Counter("abca"), "pair": Pair(np.float32(1.5), (2, None)),
                    "zero_d": np.array(2.0), "strided": np.arange(10.0)[::3], "nan": float("nan"),
                    ("a", 1): [True, np.int64(7)], "dtype": np.dtype(np.float32)}


        class Model:
            def __init__(self):
                self.params = {"w": np.zeros(3), "b": np.ones(2)}
                self.width = 3

            def total(self):
                return float(sum(p.sum() for p in self.params.values()))
    ''',
    "optim.py": '''
        def sgd_step(params, grads, state, lr):
            for name in params:
                params[name] -= lr * grads[name]
            state["steps"] += 1
    ''',
}


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    root = tmp_path_factory.mktemp("student")
    for name, source in STUDENT.items():
        path = root / "exercises" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(textwrap.dedent(source))
    # the given module, as in a grading run: the same file on both sides
    for given in ("mdp_model.py", "_checks.py"):
        shutil.copyfile(PROJECT_ROOT / "exercises" / given, root / "exercises" / given)
    shutil.copytree(PROJECT_ROOT / "scratch", root / "scratch", ignore=shutil.ignore_patterns("__pycache__"))
    impl = RemoteImpl(root, "exercises", ["mdp", "optim"])
    yield impl
    impl.close()


def test_plain_values_come_back_as_values(remote):
    got = remote.mdp.values()
    assert type(got) is dict and type(got["counts"]) is Counter and got["counts"] == Counter("abca")
    assert got["pair"].left == 1.5 and type(got["pair"].left) is np.float32 and got["pair"].right == (2, None)
    assert type(got["zero_d"]) is np.ndarray and got["zero_d"].shape == ()
    np.testing.assert_array_equal(got["strided"], [0.0, 3.0, 6.0, 9.0])
    assert np.isnan(got["nan"]) and got[("a", 1)] == [True, 7] and type(got[("a", 1)][1]) is np.int64
    assert got["dtype"] == np.float32


def test_what_is_not_plain_data_stays_behind_as_a_handle(remote):
    for returned in (remote.mdp.masked(), remote.mdp.subclass()):
        assert isinstance(returned, Handle) and not isinstance(returned, np.ndarray)
        assert returned != np.zeros(3) and not (returned == np.zeros(3))
        with pytest.raises(TypeError, match="not a plain array"):
            np.asarray(returned)
        with pytest.raises(TypeError, match="no truth value"):
            bool(returned)


def test_arguments_are_copies(remote):
    x = np.arange(1.0, 4.0)
    assert remote.mdp.zero_in_place(x) == 0.0
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])  # the judge's array is untouched


def test_the_update_contract_copies_back_params_and_state(remote):
    params, state = {"w": np.array([1.0, 2.0])}, {"steps": 0}
    remote.optim.sgd_step(params, {"w": np.array([1.0, 1.0])}, state, 0.5)
    np.testing.assert_array_equal(params["w"], [0.5, 1.5])
    assert state == {"steps": 1}


def test_a_generator_comes_back_advanced_as_in_process(remote):
    here, there = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(remote.mdp.draw(there), here.random(2))
    assert there.random() == here.random()  # both advanced by the same two draws


def test_judge_callables_and_objects_are_called_back(remote):
    assert remote.mdp.call_back(lambda v: v * 10, 4) == 41

    class Stepper:
        calls = 0

        def step(self, n):
            Stepper.calls += 1
            return n + 1

    assert remote.mdp.ask(Stepper()) == 8 and Stepper.calls == 1


def test_given_classes_travel_by_value(remote):
    world = remote.mdp_model.Gridworld.lecture(-0.5)  # the judge's own copy of the given module
    assert remote.mdp.twice_the_states(world) == 22
    made = remote.mdp.make_grid()
    assert type(made) is remote.mdp_model.Gridworld and type(made.P) is np.ndarray and made.living_reward == -2.0


def test_errors_come_back_as_their_own_types_with_the_student_frame(remote):
    with pytest.raises(ValueError, match="n must be positive") as raised:
        remote.mdp.fails("value")
    assert raised.value.student_frames[-1][0] == "exercises/mdp.py"
    with pytest.raises(KeyError):
        remote.mdp.fails("key")
    with pytest.raises(remote.mdp.ConvergenceError, match="no fixed point"):
        remote.mdp.fails("loop")
    assert issubclass(remote.mdp.ConvergenceError, RuntimeError)
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        remote.mdp.nothing_here()
    with pytest.raises(StudentError, match="Weird: boom"):  # a type the judge does not raise as itself
        remote.mdp.odd()
    with pytest.raises(StudentError, match="Gridworld: "):  # never the given class, called with its args
        remote.mdp.raises_a_given_name()


def test_warnings_are_reissued_under_the_judges_filters(remote):
    with pytest.warns(RuntimeWarning, match="probability 0"):
        assert remote.mdp.warns() == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning):
            remote.mdp.warns()


def test_attribute_handles_are_live_and_keep_identity(remote):
    model = remote.mdp.Model()
    params = model.params
    assert isinstance(params, RemoteDict) and sorted(params) == ["b", "w"]
    assert params["w"] is model.params["w"]  # one student object, one handle
    weights = params["w"]
    assert isinstance(weights, RemoteArray) and weights.shape == (3,) and weights.dtype == np.float64
    weights[...] = [1.0, 2.0, 3.0]  # a write into the student's model
    weights[0] += 10.0
    assert model.total() == 11.0 + 2.0 + 3.0 + 2.0
    assert type(model.width) is int and model.width == 3
    np.testing.assert_array_equal(np.asarray(params["w"]), [11.0, 2.0, 3.0])
    with pytest.raises(IndexError):
        weights[5] = 1.0  # checked in the judge before it is sent


def test_names_imported_from_given_code_are_the_judges_own(remote):
    # A submission that redefines Gridworld changes its own code, never the world a test
    # builds its expected values from.
    assert remote.mdp.Gridworld is remote.mdp_model.Gridworld and remote.mdp.MDP is remote.mdp_model.MDP


def test_lent_objects_show_only_what_python_classes_define(remote):
    class Stepper:
        def step(self, n):
            return n

    assert remote.mdp.peek(Stepper(), "step") == "served"
    assert remote.mdp.peek((i for i in range(3)), "gi_frame").startswith("refused")  # -> f_builtins -> exec
    assert remote.mdp.peek(lambda: 0, "func_globals").startswith("refused")
    assert remote.mdp.peek(Stepper(), "_private").startswith("refused")


@pytest.mark.parametrize("kind, match", [
    ("dunder", "no dunders"), ("foreign", "not a public class"), ("handle_inside", "plain data and given"),
    ("back", "never lent"), ("rng", "PCG64"),
])
def test_forged_frames_from_a_submission_are_refused(remote, kind, match):
    with pytest.raises(StudentProcessDied, match=match):
        remote.mdp.forged(kind)


@pytest.mark.parametrize("payload, form, match", [
    (b"", {"$": "nd", "dtype": "|O", "shape": [1]}, "not allowed"),
    (b"\0" * 8, {"$": "nd", "dtype": ">f8", "shape": [1]}, "not allowed"),
    (b"\0" * 8, {"$": "nd", "dtype": "<f8", "shape": [2]}, "past the end"),
    (b"\0" * 16, {"$": "nd", "dtype": "<f8", "shape": [1]}, "no array uses"),
    (b"", {"$": "nd", "dtype": "<f8", "shape": [-1]}, "non-negative"),
    (b"", {"$": "pickle", "v": "..."}, "not allowed"),
    (b"", {"$": "ntuple", "name": "P", "fields": ["__class__"], "v": [1]}, "field names"),
    (b"", {"$": "np", "dtype": "<i1", "v": 1000}, "does not fit"),
    (b"", {"$": "float", "v": "1e400"}, "finite, nan"),
    (b"", {"$": "dict", "kind": "defaultdict", "v": []}, "not allowed"),
    (b"", {"$": "dict", "v": [[[1], 2]]}, "unhashable"),
    (b"", {"$": "rng", "state": {"bit_generator": "os.system"}}, "PCG64"),
])
def test_the_decoder_is_strict(payload, form, match):
    def reference(tagged):
        raise wire.ProtocolError(f"a value tagged {tagged.get('$')!r} is not allowed")

    decoder = wire.Decoder(payload, reference)
    with pytest.raises(wire.ProtocolError, match=match):
        decoder.decode(form)
        decoder.finish()


def test_the_wire_round_trips_plain_values():
    Pair = namedtuple("Pair", ["a", "b"])
    value = [None, True, 3, -0.0, float("inf"), "x", (1, 2), {"k": np.arange(6).reshape(2, 3).T},
             {(1, "a"): frozenset({1})}, Pair(1, 2), np.float16(0.5), np.array(True), slice(1, None, 2), ...]
    encoder = wire.Encoder(lambda v: pytest.fail(f"{v!r} is plain"))
    form = encoder.encode(value)
    payload = b"".join(bytes(memoryview(b).cast("B")) for b in encoder.buffers)
    decoder = wire.Decoder(payload, lambda f: pytest.fail("no reference here"))
    back = decoder.decode(form)
    decoder.finish()
    assert back[:7] == value[:7] and str(back[3]) == "-0.0"
    np.testing.assert_array_equal(back[7]["k"], value[7]["k"])
    assert back[8] == value[8] and tuple(back[9]) == (1, 2) and back[9].a == 1
    assert type(back[10]) is np.float16 and back[11].shape == () and back[12] == slice(1, None, 2) and back[13] is ...
