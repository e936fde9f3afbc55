"""The public front: every name in __all__ exists and is documented."""

import inspect
import re
import subprocess
import sys

import seeded_keras


def test_all_is_complete_and_documented():
    public_modules = {"cli"}
    for name in seeded_keras.__all__:
        obj = getattr(seeded_keras, name)
        if name != "__version__":
            assert inspect.getdoc(obj), name
            assert "Examples" in inspect.getdoc(obj) or inspect.ismodule(obj), name
    exported = {n for n in dir(seeded_keras) if not n.startswith("_")}
    assert exported - public_modules <= set(seeded_keras.__all__)


def test_api_reference_lists_every_public_name():
    from pathlib import Path

    api = (Path(__file__).parents[1] / "docs" / "api.rst").read_text()
    documented = set(re.findall(r"^\.\. (?:auto\w+|py:data):: (\w+)", api, re.M))
    assert set(seeded_keras.__all__) <= documented, (
        set(seeded_keras.__all__) - documented
    )


def test_import_is_light():
    code = "import seeded_keras, sys; print('tensorflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
