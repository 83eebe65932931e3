"""The environment is the one pinned in constraints.txt.

constraints.txt is the single tested set of versions (see its header). These tests read it
and compare the pins of the packages vidpipe leans on hardest with what is installed, so a
venv that drifted (a manual `pip install`, an install without `-c constraints.txt`) fails
here, by name, instead of somewhere deep inside Prefect. No network, no pip subprocess.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"

# Must be pinned, and installed at exactly the pinned version.
REQUIRED = ("prefect", "sqlalchemy", "pydantic", "fastapi", "httpx")
# Checked against the installed version when pinned.
CHECKED_IF_PINNED = ("pydantic-core", "starlette", "uvicorn")

REINSTALL = (
    "Re-install from the pins: `make install` (for .venv), or in any other venv "
    "`python -m pip install -c constraints.txt -e '.[dev]'`. To move to newer versions, "
    "run `make constraints` and then the test suite (see the header of constraints.txt)."
)

PIN = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;#]+)")


def normalize(name: str) -> str:
    """PEP 503 name: `SQLAlchemy`, `pydantic_core` -> `sqlalchemy`, `pydantic-core`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins() -> tuple[dict[str, str], list[str]]:
    """Pins of constraints.txt by normalized name, and the lines that are not plain pins."""
    pins: dict[str, str] = {}
    bad: list[str] = []
    for number, raw in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.fullmatch(line)
        if match is None:
            bad.append(f"line {number}: {raw!r}")
            continue
        name = normalize(match["name"])
        if name in pins:
            bad.append(f"line {number}: {raw!r} pins {name} a second time")
        pins[name] = match["version"]
    return pins, bad


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def test_constraints_file_holds_only_plain_pins():
    """Every entry is `name==version`: pip can consume it on any machine (no `pkg @ file://`
    paths of the machine it was frozen on, no editable lines, no options)."""
    pins, bad = read_pins()
    assert not bad, "constraints.txt has lines that are not `name==version` pins:\n" + "\n".join(
        bad
    )
    assert "vidpipe" not in pins, "constraints.txt must not pin vidpipe itself"
    assert len(pins) > 50, f"constraints.txt pins only {len(pins)} packages: not a full freeze"


def test_constraints_pin_the_core_packages():
    pins, _ = read_pins()
    missing = [name for name in REQUIRED if name not in pins]
    assert not missing, (
        f"constraints.txt does not pin {', '.join(missing)}; every installed package must be "
        "pinned with ==. Regenerate the file with `make constraints`."
    )


def test_installed_versions_match_the_pins():
    pins, _ = read_pins()
    wrong = []
    for name in (*REQUIRED, *CHECKED_IF_PINNED):
        if name not in pins:
            continue  # a missing pin of REQUIRED fails test_constraints_pin_the_core_packages
        have = installed(name)
        if have != pins[name]:
            wrong.append(
                f"  {name}: installed {have or 'nothing'}, constraints.txt pins {pins[name]}"
            )
    assert not wrong, (
        "The installed packages differ from constraints.txt:\n"
        + "\n".join(wrong)
        + "\n"
        + REINSTALL
    )


def test_sqlalchemy_stays_below_2_1():
    """SQLAlchemy 2.1 breaks the Prefect 3.8 server's scheduler ("Can't evaluate bulk DML
    statement" on every loop: scheduled runs are never created)."""
    pins, _ = read_pins()
    assert pins.get("sqlalchemy", "").startswith("2.0."), (
        f"constraints.txt pins sqlalchemy {pins.get('sqlalchemy')}; it must stay on 2.0.x"
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    caps = [
        d
        for d in project["dependencies"]
        if normalize(re.split(r"[<>=!~ ;\[]", d)[0]) == "sqlalchemy"
    ]
    assert any("<2.1" in d.replace(" ", "") for d in caps), (
        f"pyproject.toml must cap sqlalchemy below 2.1 (found {caps or 'no sqlalchemy entry'})"
    )
