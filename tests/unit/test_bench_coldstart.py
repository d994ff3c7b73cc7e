"""bench.coldstart's layout of /opt for the built artifacts' cold start (section 3b)."""

from __future__ import annotations

from pathlib import Path

from bench.coldstart import _merged_layers


def test_layers_are_laid_out_as_lambda_extracts_them_each_over_the_ones_before(tmp_path: Path) -> None:
    core = tmp_path / "build" / "CoreLayer" / "python" / "pkg"
    bytecode = tmp_path / "build" / "BytecodeLayer" / "python" / "pkg" / "__pycache__"
    core.mkdir(parents=True)
    bytecode.mkdir(parents=True)
    (core / "mod.py").write_text("source")
    (core / "shared.txt").write_text("core's")
    (bytecode / "mod.cpython-313.pyc").write_bytes(b"bytecode")
    (bytecode.parent / "shared.txt").write_text("bytecode's")

    opt = _merged_layers(tmp_path / "build", ["CoreLayer", "BytecodeLayer"], tmp_path / "opt")

    files = {str(p.relative_to(opt)): p.read_bytes() for p in opt.rglob("*") if p.is_file()}
    assert files == {
        "python/pkg/mod.py": b"source",
        "python/pkg/__pycache__/mod.cpython-313.pyc": b"bytecode",
        "python/pkg/shared.txt": b"bytecode's",  # the later layer wins, as in Lambda
    }
