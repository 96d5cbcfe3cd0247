"""The one home of Fed-Span's file input and output.

Writing: a file is written to a temporary name in the same folder, flushed to disk and renamed
over the old one, so a crash, Ctrl-C, SIGTERM or SIGKILL mid-write leaves either the old file or
the new one, never half of either.

Reading (files from elsewhere are untrusted): :func:`read_capped` (a byte cap checked before
reading, endless and special files refused), :func:`loads_json` (JSON nesting limited before
the recursive parser sees it) and :func:`load_npz` (``.npz`` arrays through the capped reader,
decompressed size capped by the caller's limit, not by what the archive claims). The caps of
each kind of file are the constants below; ``docs/failure-model.md`` lists them.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CHECKPOINT_MAX_BYTES", "CONFIG_MAX_BYTES", "FAULTS_MAX_BYTES", "JSONDepthError", "MAX_JSON_DEPTH",
           "PLAN_MAX_BYTES", "atomic_write_bytes", "atomic_write_text", "json_depth", "load_npz", "loads_json",
           "read_capped", "read_or_raise", "write_json"]

#: Byte caps of the files Fed-Span reads (TLE and ground-station caps live in ``orbits``).
CONFIG_MAX_BYTES = 16 << 20  # a config file: a few hundred bytes in practice
FAULTS_MAX_BYTES = 64 << 20  # a fault schedule: about 60 bytes per fault
PLAN_MAX_BYTES = 512 << 20  # plan.json: about 60 bytes per satellite and round (1,584 x 5,000 rounds)
CHECKPOINT_MAX_BYTES = 16 << 30  # checkpoint.pt: the models dominate; only its size is checked before reading


def read_capped(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them; ``OSError`` otherwise.

    Endless and special files (``/dev/zero``, FIFOs, sockets, devices) are refused before reading.
    The implementation is :func:`orbits.fileio.read_capped`, in the lowest layer so that the TLE
    and ground-station readers share it; it is imported here on first use only, because importing
    ``orbits`` costs about half a second that ``fedspan --help`` should not pay.

    >>> read_capped("/dev/zero", 1 << 20)
    Traceback (most recent call last):
    OSError: [Errno 22] a device, not a regular file: refusing to read what has no end
    """
    from orbits.fileio import read_capped as _read_capped

    return _read_capped(path, max_bytes)


#: Deepest nesting accepted in a JSON file; Fed-Span's own files nest at most 4 deep.
MAX_JSON_DEPTH = 64


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + rename); raises ``OSError`` on failure.

    The temporary file is removed again when anything fails.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str, fsync: bool = True) -> Path:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def write_json(path: str | Path, value: Any, indent: int | None = 1, fsync: bool = False) -> Path:
    """The one JSON writer: ``value`` through :func:`optimization.jsonsafe.json_safe` (NaN and +-inf become
    ``null``), strict JSON (``allow_nan=False``), written atomically (:func:`atomic_write_text`).

    >>> import tempfile, numpy as np
    >>> path = write_json(Path(tempfile.mkdtemp()) / "a.json", {"x": np.float64("nan"), "n": np.int64(3)}, indent=None)
    >>> path.read_text()
    '{"x": null, "n": 3}'
    """
    from optimization.jsonsafe import json_safe

    return atomic_write_text(path, json.dumps(json_safe(value), indent=indent, allow_nan=False), fsync=fsync)


def read_or_raise(path: str | Path, max_bytes: int, error: Callable[[str], Exception], what: str,
                  missing: str | None = None) -> bytes:
    """The bytes of ``path`` (:func:`read_capped`), or one ``error`` line naming the file: ``"<path>: <what> not
    found"`` (or ``missing``) and ``"<path>: cannot read <what> (<reason>)"``. The one read-and-wrap of the readers.

    >>> read_or_raise("/nonexistent/plan.json", 1024, ValueError, "plan file")
    Traceback (most recent call last):
    ValueError: /nonexistent/plan.json: plan file not found
    """
    try:
        return read_capped(path, max_bytes)
    except FileNotFoundError:
        raise error(f"{path}: {missing or what + ' not found'}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


class JSONDepthError(json.JSONDecodeError):
    """JSON nested deeper than the limit (a ``JSONDecodeError``, so callers' handlers catch it)."""


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCAN_CHUNK = 1 << 24
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _bracket_steps() -> Any:
    import numpy as np

    step = np.zeros(256, np.int8)
    step[list(b"[{")], step[list(b"]}")] = 1, -1
    return step


class _LazyStep:
    """The +1/-1 table of the bracket bytes, built on first use (numpy is not imported at start-up)."""

    table: Any = None

    def __getitem__(self, index: Any) -> Any:
        if _LazyStep.table is None:
            _LazyStep.table = _bracket_steps()
        return _LazyStep.table[index]


_BRACKET_STEP = _LazyStep()


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of arrays/objects in a JSON text (strings blanked first, so brackets in them do not count).

    Linear time in C: strings are blanked by one regular expression, everything but the four
    bracket characters is deleted with ``bytes.translate``, and numpy sums what is left (for a
    plan file that is a few bytes per satellite list, so scratch memory stays small).

    >>> json_depth('{"a": [1, [2, "]]]["]], "b": {}}')
    3
    """
    import numpy as np

    data = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else bytes(text)
    if data.count(b"[") + data.count(b"{") == 0:
        return 0
    brackets = _JSON_STRING.sub(b'""', data).translate(None, _NOT_BRACKETS)
    best, carry = 0, 0
    for start in range(0, len(brackets), _SCAN_CHUNK):  # chunked: an all-bracket file needs no 8x scratch
        step = _BRACKET_STEP[np.frombuffer(brackets, np.uint8, min(_SCAN_CHUNK, len(brackets) - start), start)]
        depth = np.cumsum(step, dtype=np.int64) + carry
        best, carry = max(best, int(depth.max())), int(depth[-1])
    return best


def loads_json(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` (:class:`JSONDepthError`) before parsing.

    Python's parser is recursive: 100,000 nested brackets raise ``RecursionError`` (or worse) in it.

    >>> loads_json("[[1]]")
    [[1]]
    >>> loads_json("[" * 100 + "]" * 100)
    Traceback (most recent call last):
    fedspan.fileio.JSONDepthError: nested more than 64 levels deep: line 1 column 65 (char 64)
    """
    depth = json_depth(text)
    doc = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    if depth > max_depth:
        raise JSONDepthError(f"nested more than {max_depth} levels deep", doc, _too_deep_at(doc, max_depth))
    try:
        return json.loads(text)
    except RecursionError:  # a max_depth above what the interpreter's stack allows
        raise JSONDepthError(f"nested too deeply for the parser ({depth} levels)", doc, 0) from None


def _too_deep_at(doc: str, max_depth: int) -> int:
    """The character offset of the first bracket past ``max_depth`` (for the error's line and column)."""
    depth, in_string, escaped = 0, False, False
    for i, char in enumerate(doc):  # error path only, and it stops at the first too-deep bracket
        if in_string:
            in_string, escaped = (not (char == '"' and not escaped)), (char == "\\" and not escaped)
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return i
        elif char in "]}":
            depth -= 1
    return 0


#: What a damaged zip makes ``zipfile`` raise (unknown methods, bad headers, short data).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, zlib.error, EOFError, struct.error,
               KeyError, RuntimeError, ValueError)
_NPY_KINDS = "biuf"  # bool, signed, unsigned, float: no objects, strings or records


def load_npz(path: str | Path, max_bytes: int, max_file_bytes: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, read without trusting the archive's size claims or unpickling anything.

    The file itself is read through :func:`read_capped` (``max_file_bytes``, default ``max_bytes``);
    the arrays together may hold at most ``max_bytes`` bytes: a member whose declared size, or whose
    ``.npy`` header's shape, passes the cap is refused before anything is allocated, and the
    decompressor is never asked for more than the declared size, so a lying header cannot inflate
    past it. Only plain numeric arrays (bool, int, uint, float) are accepted. Raises ``OSError``
    (too large, unreadable) or ``ValueError`` (malformed), each a short reason without the file name.

    >>> import tempfile, os
    >>> import numpy as np
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     np.savez_compressed(os.path.join(tmp, "a.npz"), x=np.arange(3))
    ...     load_npz(os.path.join(tmp, "a.npz"), max_bytes=1000)["x"].tolist()
    [0, 1, 2]
    """
    raw = read_capped(path, max_bytes if max_file_bytes is None else max_file_bytes)
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except _ZIP_ERRORS:
        raise ValueError("not a readable .npz archive (damaged or truncated zip data)") from None
    arrays: dict[str, np.ndarray] = {}
    left = max_bytes
    with archive:
        for info in members:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.file_size > left:
                raise OSError(errno.EFBIG, f"its arrays hold more than the {max_bytes} byte limit "
                                           f"('{name}' alone declares {info.file_size} bytes)")
            try:
                with archive.open(info) as member:
                    arrays[name] = _read_npy(member, info.file_size, name)
            except _ZIP_ERRORS as exc:
                reason = str(exc) if isinstance(exc, _NpyError) else "damaged or truncated zip data"
                raise ValueError(f"not a readable .npz archive (array '{name}': {reason})") from None
            left -= info.file_size
    return arrays


class _NpyError(ValueError):
    """A malformed ``.npy`` member, in our own words."""


def _read_npy(member: Any, size: int, name: str) -> np.ndarray:
    """One ``.npy`` member of ``size`` declared bytes into a fresh writable array (never more than ``size``)."""
    import numpy as np

    fmt = np.lib.format
    head = member.read(min(size, 64 * 1024 + 16))  # magic + header; headers are small
    buf = io.BytesIO(head)
    try:
        version = fmt.read_magic(buf)
        reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = reader(buf, max_header_size=64 * 1024)
    except (ValueError, SyntaxError, TypeError, struct.error):
        raise _NpyError("not an .npy array") from None
    if dtype.hasobject or dtype.kind not in _NPY_KINDS or dtype.fields is not None:
        raise _NpyError(f"dtype {dtype} is not a plain number type")
    count = int(np.prod(shape, dtype=object))
    nbytes = count * dtype.itemsize
    offset = buf.tell()
    if offset + nbytes != size:
        raise _NpyError(f"shape {shape} needs {nbytes} bytes of data, the archive holds {size - offset}")
    flat = np.empty(count, dtype=dtype)
    view = memoryview(flat.view(np.uint8))
    have = len(head) - offset
    if have:
        view[:have] = head[offset:]
    while have < nbytes:
        chunk = member.read(min(_SCAN_CHUNK, nbytes - have))
        if not chunk:
            raise _NpyError("truncated data")
        view[have:have + len(chunk)] = chunk
        have += len(chunk)
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
