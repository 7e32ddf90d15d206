"""docs/reference must be what scripts/gen-reference generates from the current code."""
import filecmp
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "reference"
FIX = "run: .venv/bin/python scripts/gen-reference"


def _tree(base):
    return {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()}


def test_reference_is_fresh(tmp_path):
    fresh = tmp_path / "reference"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-reference"), "--dest", str(fresh)],
                   check=True, stdout=subprocess.DEVNULL, cwd=str(ROOT))
    new = _tree(fresh)
    assert new, "the generator wrote nothing"
    assert "index.md" in new and any(f.startswith("modules/") for f in new)
    old = _tree(COMMITTED) if COMMITTED.is_dir() else set()
    missing = sorted(new - old)
    extra = sorted(old - new)
    changed = sorted(f for f in new & old if not filecmp.cmp(str(fresh / f), str(COMMITTED / f), shallow=False))
    problems = (["missing: docs/reference/" + f for f in missing] + ["no longer generated: docs/reference/" + f for f in extra]
                + ["stale: docs/reference/" + f for f in changed])
    assert not problems, "docs/reference is stale (%s):\n  %s" % (FIX, "\n  ".join(problems))


def test_generator_covers_every_module_and_role():
    modules = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))
    listed = _tree(COMMITTED) if COMMITTED.is_dir() else set()
    for name in modules:
        assert "modules/%s.md" % name in listed, "no reference page for module %s (%s)" % (name, FIX)
    for spec in (ROOT / "roles").glob("*/meta/argument_specs.yml"):
        role = spec.parent.parent.name
        assert "roles/%s.md" % role in listed, "no reference page for role %s (%s)" % (role, FIX)
    assert os.path.isfile(str(COMMITTED / "index.md"))
