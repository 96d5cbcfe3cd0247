"""Every reader bounded (issue #25, item 2): byte caps, endless files, JSON depth, decompression bombs."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from cli_run import run_cli
from fedspan.data.errors import DataError
from fedspan.fileio import JSONDepthError, json_depth, load_npz, loads_json, read_capped

FAST = ["--max-train", "300", "--max-test", "200"]
RUN = ["run", "--strategy", "mst", "--rounds", "1", *FAST]
DEEP = 100_000


def _one_error_line(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


# --- the capped reader -------------------------------------------------------------------------------
def test_read_capped_refuses_devices_fifos_and_files_over_the_cap(tmp_path):
    with pytest.raises(OSError, match="a device"):
        read_capped("/dev/zero", 1 << 20)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO"):  # refused at once: no writer is waited for
        read_capped(fifo, 1 << 20)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 1001)
    with pytest.raises(OSError, match="1001 bytes, more than the 1000 byte limit"):
        read_capped(big, 1000)
    assert read_capped(big, 1001) == b"x" * 1001
    (tmp_path / "link").symlink_to("/dev/zero")
    with pytest.raises(OSError, match="a device"):
        read_capped(tmp_path / "link", 1 << 20)


@pytest.mark.parametrize("where", ["config", "plan", "faults"])
def test_dev_zero_as_an_input_file_is_one_error_line(tmp_path, capsys, where):
    link = tmp_path / f"endless.{'toml' if where == 'config' else 'json'}"
    link.symlink_to("/dev/zero")
    code, _, err = run_cli([*RUN, f"--{where}", str(link), "-o", str(tmp_path / "out")], capsys)
    assert code in (1, 2), err
    assert "Traceback" not in err and "refusing to read" in err and len(err.strip().splitlines()) == 1


def test_a_fifo_as_config_does_not_hang(tmp_path, capsys):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    code, _, err = run_cli([*RUN, "--config", str(fifo), "-o", str(tmp_path / "out")], capsys)
    assert code in (1, 2) and "FIFO" in err


def test_dev_zero_as_checkpoint_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "checkpoint.pt").symlink_to("/dev/zero")
    code, _, err = run_cli([*RUN, "-o", str(out)], capsys)
    _one_error_line(code, err, "checkpoint.pt", "refusing to read")


def test_checkpoint_over_its_cap_is_refused_before_reading(tmp_path, monkeypatch):
    import fedspan.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "CHECKPOINT_MAX_BYTES", 100)
    (tmp_path / "checkpoint.pt").write_bytes(b"FEDSPAN-CHECKPOINT 2 " + b"0" * 200)
    with pytest.raises(checkpoint.CheckpointError, match="more than the 100 byte limit"):
        checkpoint.load_checkpoint(tmp_path / "checkpoint.pt")


def test_tle_and_ground_station_readers_refuse_endless_files(tmp_path):
    from orbits import GroundStationError, TLEError, read_ground_stations, read_tle

    with pytest.raises(TLEError, match="refusing to read"):
        read_tle("/dev/zero")
    with pytest.raises(GroundStationError, match="refusing to read"):
        read_ground_stations("/dev/zero")


# --- JSON and TOML depth -----------------------------------------------------------------------------
def test_json_depth_ignores_brackets_in_strings_and_escapes():
    assert json_depth('["[[[[", "\\"[[[", {"k": ["]"]}]') == 3
    assert json_depth('["\\\\", [[1]]]') == 3  # an escaped backslash does not escape the closing quote
    assert json_depth("42") == 0
    assert loads_json("[" * 64 + "]" * 64) is not None
    with pytest.raises(JSONDepthError, match=r"nested more than 64 levels deep: line 2 column 65 \(char 72\)"):
        loads_json('["[[["]\n' + "[" * 65 + "]" * 65)


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deep_json_in_faults_and_plan_is_one_error_line(tmp_path, capsys, opener):
    closer = "]" if opener == "[" else "}"
    deep = opener * DEEP + closer * DEEP
    path = tmp_path / "deep.json"
    path.write_text(deep)
    for option in ("--faults", "--plan"):
        code, _, err = run_cli([*RUN, option, str(path), "-o", str(tmp_path / "out")], capsys)
        assert code in (1, 2), err
        assert "nested more than 64 levels deep" in err and "Traceback" not in err, err
    code, _, err = run_cli([*RUN, "--faults", deep, "-o", str(tmp_path / "out")], capsys)  # inline
    assert code in (1, 2) and "nested more than 64 levels deep" in err


def test_deep_faults_and_deep_toml_in_a_config_file(tmp_path, capsys):
    faults = tmp_path / "deep.json"
    faults.write_text("[" * DEEP + "]" * DEEP)
    config = tmp_path / "a.toml"
    config.write_text(f"faults = {json.dumps(str(faults))}\n")
    code, _, err = run_cli([*RUN, "--config", str(config), "-o", str(tmp_path / "out")], capsys)
    assert code in (1, 2) and "nested more than 64 levels deep" in err and "Traceback" not in err
    config.write_text("faults = " + "[" * DEEP + "]" * DEEP + "\n")
    code, _, err = run_cli([*RUN, "--config", str(config), "-o", str(tmp_path / "out")], capsys)
    assert code in (1, 2) and "nested too deeply" in err and "Traceback" not in err


def test_a_forged_checkpoint_meta_nested_deep_is_refused(tmp_path):
    import hashlib

    import torch

    from fedspan.checkpoint import CheckpointError, load_checkpoint

    buf = io.BytesIO()
    torch.save({"meta": "[" * DEEP + "]" * DEEP, "tensors": {}}, buf)
    body = buf.getvalue()
    (tmp_path / "checkpoint.pt").write_bytes(b"FEDSPAN-CHECKPOINT 2 %s\n" % hashlib.sha256(body).hexdigest().encode()
                                             + body)
    with pytest.raises(CheckpointError, match="nested more than 64 levels"):
        load_checkpoint(tmp_path / "checkpoint.pt")


# --- datasets ------------------------------------------------------------------------------------------
def _idx_gz(path: Path, count: int) -> Path:
    header = struct.pack(">BBBBIII", 0, 0, 8, 3, count, 28, 28)
    path.write_bytes(gzip.compress(header + bytes(784 * 10)))
    return path


def test_an_idx_bomb_promising_1_2_gb_is_refused_before_inflating(tmp_path):
    from fedspan.data.idx import read_idx

    path = _idx_gz(tmp_path / "train-images-idx3-ubyte.gz", 1_530_000)  # 1.2 GB promised in a tiny file
    with pytest.raises(DataError, match=r"header promises 1199520016 bytes, more than the \d+ byte limit"):
        read_idx(path)


def test_gzip_is_capped_by_the_callers_expectation_not_its_trailer(tmp_path, monkeypatch):
    import fedspan.data.statlog as statlog

    monkeypatch.setattr(statlog, "STATLOG_MAX_BYTES", 1 << 20)
    (tmp_path / "sat.trn.gz").write_bytes(gzip.compress(b"1 " * (1 << 20), compresslevel=1))  # honest 2 MiB
    with pytest.raises(DataError, match="trailer declares 2097152 bytes, more than the 1048576 byte limit"):
        statlog.load_statlog(tmp_path)


def _npz(arrays: dict[str, bytes], compress: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
        for name, data in arrays.items():
            zf.writestr(f"{name}.npy", data)
    return buf.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _claim_size(archive: bytes, size: int) -> bytes:
    """Patch every central-directory entry to claim ``size`` uncompressed bytes."""
    out = bytearray(archive)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        out[at + 24:at + 28] = struct.pack("<I", size)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def test_npz_members_declaring_more_than_the_cap_are_refused_before_inflating(tmp_path):
    path = tmp_path / "bomb.npz"
    path.write_bytes(_claim_size(_npz({"x": _npy(np.zeros(10, np.uint8))}), 2_200_000_000))
    with pytest.raises(OSError, match="more than the 1000000 byte limit"):
        load_npz(path, max_bytes=1_000_000)


def test_npz_with_a_lying_small_size_never_inflates_past_it(tmp_path):
    path = tmp_path / "liar.npz"
    honest = _npz({"x": _npy(np.zeros(1 << 20, np.uint8))})
    path.write_bytes(_claim_size(honest, 200))
    with pytest.raises(ValueError, match="not a readable .npz archive"):
        load_npz(path, max_bytes=10_000)


def test_npy_header_shapes_larger_than_the_data_are_refused(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    path = tmp_path / "shape.npz"
    path.write_bytes(_npz({"x": buf.getvalue() + bytes(64)}))
    with pytest.raises(ValueError, match=r"shape \(1000000000000,\) needs 8000000000000 bytes"):
        load_npz(path, max_bytes=10_000)
    path.write_bytes(_npz({"x": _npy(np.array(["a"]))}))
    with pytest.raises(ValueError, match="not a plain number type"):
        load_npz(path, max_bytes=10_000)


def test_npz_round_trips_every_plain_dtype_and_fortran_order(tmp_path):
    arrays = {"b": np.array([True, False]), "i": np.arange(6, dtype=">i4").reshape(2, 3),
              "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "e": np.zeros((0, 3), np.uint8)}
    np.savez_compressed(tmp_path / "a.npz", **arrays)
    got = load_npz(tmp_path / "a.npz", max_bytes=10_000)
    for name, array in arrays.items():
        assert got[name].dtype == array.dtype and np.array_equal(got[name], array)
        assert got[name].flags.writeable


def test_eurosat_npz_is_capped_and_labels_are_range_checked(tmp_path, monkeypatch):
    import fedspan.data.eurosat as eurosat

    x = np.zeros((20, 64, 64, 3), np.uint8)
    np.savez_compressed(tmp_path / "e.npz", x=x, y=np.r_[np.zeros(19, np.int64), 10**9])
    with pytest.raises(DataError, match="'y' holds label 1000000000; labels must lie in 0..999"):
        eurosat.load_eurosat(tmp_path / "e.npz")
    np.savez_compressed(tmp_path / "n.npz", x=x, y=np.r_[np.zeros(19, np.int64), -1])
    with pytest.raises(DataError, match="'y' holds label -1"):
        eurosat.load_eurosat(tmp_path / "n.npz")
    monkeypatch.setattr(eurosat, "EUROSAT_MAX_BYTES", 100_000)
    np.savez_compressed(tmp_path / "big.npz", x=x, y=np.zeros(20, np.int64))  # 245,760 bytes of pixels
    with pytest.raises(DataError, match="more than the 100000 byte limit"):
        eurosat.load_eurosat(tmp_path / "big.npz")
    (tmp_path / "trunc.npz").write_bytes((tmp_path / "e.npz").read_bytes()[:300])
    with pytest.raises(DataError, match="not a readable .npz archive") as info:
        eurosat.load_eurosat(tmp_path / "trunc.npz")
    assert "BadZipFile" not in str(info.value)


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [5000, 30000])
def test_huge_images_in_a_eurosat_folder_are_refused_by_their_header(tmp_path, side):
    from fedspan.data.eurosat import load_eurosat

    (tmp_path / "Forest").mkdir()
    (tmp_path / "Forest" / "a.png").write_bytes(_png_header(side, side))
    with pytest.raises(DataError, match="pixel limit") as info:
        load_eurosat(tmp_path)
    assert "DecompressionBomb" not in str(info.value)


def test_a_damaged_land_mask_is_one_error_not_a_zip_traceback(tmp_path):
    from fedspan.landmask import LandMaskError, _read

    good = Path(__file__).resolve().parents[1] / "fedspan" / "assets" / "land_mask.npz"
    for name, data in (("truncated.npz", good.read_bytes()[:100]), ("empty.npz", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(LandMaskError, match="damaged package file.*reinstall fedspan"):
            _read(tmp_path / name)


# --- peak memory on rejected inputs ---------------------------------------------------------------------
_UNDER_1_GB = r"""
import gzip, resource, struct, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from fedspan.config import read_config
from fedspan.data.errors import DataError
from fedspan.data.idx import read_idx
from fedspan.errors import FedSpanError
from fedspan.fileio import load_npz
from fedspan.horizon import read_plan
root = Path(sys.argv[1])
refused = 0
for call in (lambda: read_config(Path("/dev/zero"), "run"), lambda: read_plan(Path("/dev/zero")),
             lambda: read_idx(root / "bomb.gz"), lambda: read_plan(root / "deep.json")):
    try:
        call()
    except FedSpanError:
        refused += 1
try:
    load_npz(root / "bomb.npz", 512 << 20)
except OSError:
    refused += 1
print(refused)
"""


def test_rejected_inputs_stay_under_1_gb_of_address_space(tmp_path):
    _idx_gz(tmp_path / "bomb.gz", 1_530_000)
    (tmp_path / "deep.json").write_text("[" * DEEP + "]" * DEEP)
    (tmp_path / "bomb.npz").write_bytes(_claim_size(_npz({"x": _npy(np.zeros(10, np.uint8))}), 2_200_000_000))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _UNDER_1_GB, str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "5"


def test_fleet_and_profile_files_go_through_the_capped_reader(tmp_path):
    """They had their own stat-then-read copy: a FIFO blocked open() forever, /dev/zero read up to the cap."""
    import threading

    from fedspan.hardware import HardwareError
    from fedspan.hardware.fleet import read_fleet_csv
    from fedspan.hardware.profile_file import _read_profile_file  # hardware_profile() itself wants a regular file

    zero_csv, zero_toml = tmp_path / "zero.csv", tmp_path / "zero.toml"
    zero_csv.symlink_to("/dev/zero")
    zero_toml.symlink_to("/dev/zero")
    with pytest.raises(HardwareError, match="zero.csv: cannot read fleet file .*a device, not a regular file"):
        read_fleet_csv(zero_csv, 66)
    with pytest.raises(HardwareError, match="zero.toml: cannot read profile file .*a device, not a regular file"):
        _read_profile_file(zero_toml)
    fifo = tmp_path / "fleet.csv"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_fleet_csv(fifo, 66)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the old code's open() so the thread ends
        with open(fifo, "wb"):
            pass
        reader.join(10)
        pytest.fail("a FIFO as fleet file blocked the reader")
    assert isinstance(outcome[0], HardwareError) and "a FIFO" in str(outcome[0])
