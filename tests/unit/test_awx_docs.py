"""docs/awx: the survey spec follows AWX's survey schema and asks only for variables the playbooks use;
the job template and the execution environment point at files that exist."""
import json
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
AWX = ROOT / "docs" / "awx"
# AWX's survey question types (awx/main/models/mixins.py SurveyJobTemplateMixin / the API's spec validation).
TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def _survey():
    return json.loads((AWX / "survey-hybrid.json").read_text())


def _choices(item):
    choices = item.get("choices")
    if isinstance(choices, str):
        return [c for c in choices.split("\n") if c]
    return list(choices or [])


def _used_in(variable, dirs=("playbooks", "roles")):
    pattern = re.compile(r"(?<![\w.])%s(?!\w)" % re.escape(variable))
    hits = []
    for d in dirs:
        for path in sorted((ROOT / d).rglob("*.yml")):
            for line in path.read_text().splitlines():
                code = line.split("#", 1)[0]
                if pattern.search(code):
                    hits.append(str(path.relative_to(ROOT)))
                    break
    return hits


def test_survey_top_level():
    survey = _survey()
    assert isinstance(survey.get("name"), str) and survey["name"]
    assert isinstance(survey.get("description"), str)
    assert isinstance(survey.get("spec"), list) and survey["spec"]


@pytest.mark.parametrize("item", _survey()["spec"], ids=lambda i: i.get("variable", "?"))
def test_survey_question(item):
    for key in ("question_name", "variable", "type", "required"):
        assert key in item, "question lacks %r" % key
    assert item["type"] in TYPES
    assert isinstance(item["required"], bool)
    assert re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", item["variable"]), "not a valid variable name"
    default = item.get("default")
    if item["type"] in ("multiplechoice", "multiselect"):
        choices = _choices(item)
        assert choices, "a choice question needs choices"
        if default not in (None, ""):
            assert all(d in choices for d in str(default).split("\n")), "default %r is not one of %r" % (default, choices)
    if item["type"] in ("text", "textarea", "password"):
        lo, hi = item.get("min"), item.get("max")
        if lo is not None and hi is not None:
            assert isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi
            if default not in (None, ""):
                assert lo <= len(default) <= hi, "default %r outside min/max" % default
    if item["type"] == "integer" and default not in (None, ""):
        assert isinstance(default, int)
    assert item["type"] != "password" or item["variable"] != "kong_pg_password", "the database password belongs in a credential"


def test_survey_variables_are_unique_and_used_by_the_playbooks():
    variables = [i["variable"] for i in _survey()["spec"]]
    assert len(variables) == len(set(variables)), "duplicate survey variables"
    for required in ("kong_target_version", "kong_cp_strategy", "kong_upgrade_batch_size", "kong_upgrade_allow_unguaranteed"):
        assert required in variables
    unused = [v for v in variables if not _used_in(v)]
    assert not unused, "survey variables no playbook or role uses: %s" % unused


def test_cp_strategy_choices_are_accepted_by_the_hybrid_preflight():
    item = [i for i in _survey()["spec"] if i["variable"] == "kong_cp_strategy"][0]
    text = (ROOT / "playbooks" / "parts" / "hybrid_preflight.yml").read_text()
    # The check is on kong_cp_strategy itself or on a play variable set from it.
    names = [r"kong_cp_strategy \| default\('in_place'(?:, true)?\)"]
    names += [re.escape(v) for v in re.findall(r"^\s*(\w+): \"\{\{ kong_cp_strategy\b", text, re.M)]
    accepted = re.search(r"(?:%s) (?:in (\[[^\]]*\])|== '(\w+)')" % "|".join(names), text)
    assert accepted, "the hybrid preflight no longer checks kong_cp_strategy; update this test and the survey"
    allowed = yaml.safe_load(accepted.group(1)) if accepted.group(1) else [accepted.group(2)]
    assert set(_choices(item)) <= set(allowed), "survey offers strategies the playbook refuses: %s" % sorted(set(_choices(item)) - set(allowed))


def test_job_template_points_at_the_hybrid_playbook():
    jt = json.loads((AWX / "job-template-hybrid.json").read_text())
    assert (ROOT / jt["playbook"]).is_file()
    assert jt["survey_enabled"] is True and jt["job_type"] in ("run", "check")
    extra = yaml.safe_load(jt.get("extra_vars") or "") or {}
    for var in extra:
        assert _used_in(var), "extra var %s is used by no playbook" % var


def test_execution_environment_uses_the_collection_dependency_files():
    ee = yaml.safe_load((AWX / "execution-environment.yml").read_text())
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert ee["version"] == 3
    for kind in ("python", "system"):
        ours = (AWX / ee["dependencies"][kind]).resolve()
        theirs = (ROOT / "meta" / meta["dependencies"][kind]).resolve()
        if not theirs.exists():
            theirs = (ROOT / meta["dependencies"][kind]).resolve()
        assert ours == theirs and ours.is_file(), "%s dependencies: %s vs meta's %s" % (kind, ours, theirs)
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    artifact = "kongops-upgrade-%s.tar.gz" % version
    assert any(c["name"].endswith("/" + artifact) for c in ee["dependencies"]["galaxy"]["collections"]), "EE installs another version"
    assert any(f["src"].endswith("/" + artifact) for f in ee["additional_build_files"])


def test_execution_environment_core_matches_requires_ansible():
    """The EE's ansible-core floor is the collection's (meta/runtime.yml requires_ansible), not an older one."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    ee = yaml.safe_load((AWX / "execution-environment.yml").read_text())
    ee_spec = SpecifierSet(re.sub(r"^ansible-core", "", ee["dependencies"]["ansible_core"]["package_pip"]))
    required = SpecifierSet(yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"])
    floor = min(Version(s.version) for s in required if s.operator in (">=", ">"))
    too_old = [v for v in ("2.%d.0" % m for m in range(9, 30)) if v in ee_spec and v not in required]
    assert not too_old, "the EE allows ansible-core %s, below requires_ansible %s (floor %s)" % (too_old, required, floor)
