# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit and property tests of the upgrade-path planner and the release catalog."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from ansible_collections.kongops.upgrade.plugins.module_utils import release_catalog as rc
from ansible_collections.kongops.upgrade.plugins.module_utils.upgrade_path import UpgradePathError, plan_upgrade


def kinds(plan):
    return [hop["kind"] for hop in plan["hops"]]


def warning_text(plan):
    return "\n".join(plan["warnings"])


def fails(match, *args, **kwargs):
    with pytest.raises(UpgradePathError, match=match) as info:
        plan_upgrade(*args, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------- acceptance


@pytest.mark.parametrize("current,target", [("2.8.4", "3.4.3"), ("2.8.4.2", "3.4.3.12"), ("2.8.0", "3.4.0"), ("2.8.0.0", "3.4.0.0")])
def test_lts_to_lts_is_one_guaranteed_hop(current, target):
    plan = plan_upgrade(current, target)
    assert plan["path"] == [current, target]
    assert kinds(plan) == ["lts"]
    assert plan["guaranteed"] is True


@pytest.mark.parametrize("current,target,floor", [("1.5.1", "3.4.3", "2.1.0"), ("1.5.0.11", "3.4.3.12", "2.1.0.0"), ("1.0.0", "3.4.2", "2.1.0")])
def test_one_x_goes_through_2_1_or_later(current, target, floor):
    plan = plan_upgrade(current, target)
    twos = [Version(v) for v in plan["path"] if Version(v).release[0] == 2]
    assert twos and all(v >= Version(floor) for v in twos)
    assert plan["hops"][0]["kind"] == "required"
    assert plan["guaranteed"] is True
    # the 2.x landing is a real catalog release
    known = set(r["version"] for r in rc.builtin_releases())
    assert all(str(v) in known for v in twos)


@pytest.mark.parametrize("target", ["3.4.0", "3.4.0.0", "3.9.1"])
def test_cassandra_never_past_3_3(target):
    current = "2.8.4.2" if target.count(".") == 3 else "2.8.4"
    msg = fails("Cassandra", current, target, database="cassandra")
    assert "3.3" in msg and "PostgreSQL" in msg


# ---------------------------------------------------------------- guaranteed hops


@pytest.mark.parametrize("current,target", [("2.8.0", "2.8.5"), ("3.4.0.0", "3.4.3.12"), ("1.2.0", "1.2.3"), ("0.14.0", "0.14.1")])
def test_patch_hop(current, target):
    plan = plan_upgrade(current, target)
    assert plan["path"] == [current, target] and kinds(plan) == ["patch"] and plan["guaranteed"]


@pytest.mark.parametrize("current,target", [("3.2.0", "3.3.1"), ("3.5.0.0", "3.6.1.4"), ("2.7.0", "2.8.5"), ("1.4.3", "1.5.1")])
def test_adjacent_minor_hop(current, target):
    plan = plan_upgrade(current, target)
    assert kinds(plan) == ["minor"] and plan["guaranteed"]


@pytest.mark.parametrize("current,target,expected", [
    ("3.0.0", "3.3.1", ["3.0.0", "3.1.1", "3.2.2", "3.3.1"]),
    ("3.5.0.0", "3.8.1.0", ["3.5.0.0", "3.6.1.4", "3.7.1.3", "3.8.1.0"]),
    ("2.6.0", "3.4.2", ["2.6.0", "2.7.2", "2.8.5", "3.4.2"]),
])
def test_intermediate_hops_land_on_newest_patch(current, target, expected):
    plan = plan_upgrade(current, target)
    assert plan["path"] == expected
    assert plan["guaranteed"]


def test_enterprise_lts_3_4_to_3_10_is_one_hop():
    plan = plan_upgrade("3.4.3.12", "3.10.0.2")
    assert plan["path"] == ["3.4.3.12", "3.10.0.2"] and kinds(plan) == ["lts"]


def test_oss_has_no_3_10_lts_so_minors_are_used():
    plan = plan_upgrade("3.4.0", "3.9.3")
    assert kinds(plan) == ["minor"] * 5


def test_fewest_hops_prefers_the_lts_route():
    plan = plan_upgrade("2.8.1.0", "3.10.0.0")
    assert plan["path"] == ["2.8.1.0", "3.4.3.12", "3.10.0.0"]


@pytest.mark.parametrize("current,target", [("0.14.1", "3.4.2"), ("0.13.0", "2.8.5")])
def test_below_1_0_goes_through_1_5(current, target):
    plan = plan_upgrade(current, target)
    assert plan["path"][1].startswith("1.5.")
    assert plan["hops"][0]["kind"] == "required" and "1.5" in plan["hops"][0]["reason"]


def test_enterprise_below_1_0_goes_through_1_5():
    plan = plan_upgrade("0.36.0.0", "2.8.4.11")
    assert plan["path"][1] == "1.5.0.11"


@pytest.mark.parametrize("target", ["1.3.0", "1.0.4"])
def test_below_1_0_cannot_land_before_1_5(target):
    fails("1.5", "0.14.1", target, allow_unguaranteed=True)


def test_one_x_may_target_2_0_directly():
    plan = plan_upgrade("1.5.1", "2.0.5")
    assert kinds(plan) == ["required"]


def test_enterprise_1_3_to_2_1():
    plan = plan_upgrade("1.3.0.2", "2.1.4.6")
    assert plan["path"] == ["1.3.0.2", "2.1.4.6"] and kinds(plan) == ["required"]


# ---------------------------------------------------------------- unguaranteed


def test_skipping_minors_needs_allow_unguaranteed():
    guaranteed = plan_upgrade("3.0.0", "3.6.1")
    assert guaranteed["guaranteed"] and len(guaranteed["hops"]) == 6
    shortest = plan_upgrade("3.0.0", "3.6.1", allow_unguaranteed=True)
    assert shortest["path"] == ["3.0.0", "3.6.1"] and kinds(shortest) == ["minor_skip"]
    assert shortest["guaranteed"] is False
    assert "not guaranteed" in warning_text(shortest)


@pytest.mark.parametrize("current,target", [("2.8.4", "3.0.0"), ("2.8.4.2", "3.2.2.5")])
def test_non_lts_major_crossing_is_refused_without_allow(current, target):
    msg = fails("No guaranteed upgrade path", current, target)
    assert "allow_unguaranteed" in msg and target in msg
    plan = plan_upgrade(current, target, allow_unguaranteed=True)
    assert plan["path"] == [current, target] and kinds(plan) == ["major"] and plan["guaranteed"] is False


@pytest.mark.parametrize("current,target,floor", [("2.0.5", "3.4.2", "2.1"), ("1.2.0", "3.0.0", "2.1"), ("2.0.0", "3.0.0", "2.1")])
def test_3x_only_from_2_1_even_unguaranteed(current, target, floor):
    plan = plan_upgrade(current, target, allow_unguaranteed=True)
    for hop in plan["hops"]:
        if Version(hop["to"]).release[0] == 3 and Version(hop["from"]).release[0] == 2:
            assert Version(hop["from"]) >= Version(floor + ".0")
    assert len(plan["hops"]) == 2


def test_unguaranteed_prefers_guaranteed_hops_when_equally_short():
    plan = plan_upgrade("1.2.0", "3.4.2", allow_unguaranteed=True)
    assert plan["path"] == ["1.2.0", "2.8.5", "3.4.2"] and plan["guaranteed"] is True


def test_zero_x_to_2x_goes_via_1_5_even_unguaranteed():
    plan = plan_upgrade("0.14.1", "2.8.5", allow_unguaranteed=True)
    assert plan["path"] == ["0.14.1", "1.5.1", "2.8.5"]


# ---------------------------------------------------------------- refusals and input


@pytest.mark.parametrize("current,target", [("3.4.2", "2.8.5"), ("3.4.3.12", "3.4.3.1"), ("3.0.0", "2.8.4")])
def test_downgrade_refused(current, target):
    msg = fails("downgrade", current, target)
    assert current in msg and target in msg


@pytest.mark.parametrize("version", ["2.8.4", "3.4.3.12"])
def test_same_version_has_no_hops(version):
    plan = plan_upgrade(version, version)
    assert plan["path"] == [version] and plan["hops"] == [] and plan["guaranteed"] is True
    assert "nothing to upgrade" in plan["summary"]
    assert all(v == [] for v in plan["strategies"].values())


@pytest.mark.parametrize("bad,option", [("abc", "current_version"), ("3.4", "current_version"), ("3.4.0rc1", "current_version"),
                                        ("1.2.3.4.5", "current_version"), ("", "current_version"), (None, "current_version")])
def test_unparseable_versions(bad, option):
    msg = fails(option, bad, "3.4.2")
    assert repr(bad) in msg or str(bad) in msg


def test_target_unparseable_names_target():
    fails("target_version 'latest'", "3.4.2", "latest")


@pytest.mark.parametrize("text,expected", [("Kong Enterprise 3.4.3.5", "3.4.3.5"), ("3.8.0.0-enterprise-edition", "3.8.0.0"), ("Kong 3.4.2", "3.4.2")])
def test_version_strings_from_kong_are_accepted(text, expected):
    assert plan_upgrade(text, text)["path"] == [expected]


def test_mixed_editions_fail():
    msg = fails("editions cannot be mixed", "2.8.4", "3.4.3.12")
    assert "edition=enterprise" in msg


def test_edition_enterprise_pads_three_part_versions():
    plan = plan_upgrade("2.8.4", "3.4.3.12", edition="enterprise")
    assert plan["path"] == ["2.8.4.0", "3.4.3.12"] and plan["edition"] == "enterprise"
    assert "2.8.4.0" in warning_text(plan)


def test_edition_oss_rejects_four_parts():
    fails("edition=oss", "2.8.4.2", "3.4.3.12", edition="oss")


def test_edition_given_and_consistent():
    assert plan_upgrade("2.8.4", "3.4.2", edition="oss")["edition"] == "oss"
    assert plan_upgrade("2.8.4.2", "3.4.3.12")["edition"] == "enterprise"


@pytest.mark.parametrize("mode,database,match", [("db_less", "postgres", "database=off"), ("traditional", "off", "db_less"),
                                                 ("hybrid", "off", "control planes"), ("cluster", None, "deployment_mode"),
                                                 ("traditional", "mysql", "database")])
def test_mode_and_database_combinations(mode, database, match):
    fails(match, "2.8.4", "3.4.2", deployment_mode=mode, database=database)


def test_database_defaults_follow_mode():
    assert plan_upgrade("3.4.0", "3.4.2", deployment_mode="db_less")["database"] == "off"
    assert plan_upgrade("3.4.0", "3.4.2", deployment_mode="hybrid")["database"] == "postgres"
    assert plan_upgrade("3.4.0", "3.4.2")["database"] == "postgres"


def test_hybrid_needs_2_0():
    fails("hybrid mode exists from Kong 2.0", "1.5.1", "2.8.5", deployment_mode="hybrid")


def test_db_less_needs_1_1():
    fails("DB-less", "1.0.4", "1.5.1", deployment_mode="db_less")


# ---------------------------------------------------------------- Cassandra


@pytest.mark.parametrize("current,target", [("3.0.0", "3.3.1"), ("3.0.0.0", "3.3.1.1")])
def test_cassandra_up_to_3_3_with_deprecation_warning(current, target):
    plan = plan_upgrade(current, target, database="cassandra")
    assert plan["path"][-1] == target
    assert "Cassandra is deprecated" in warning_text(plan)


def test_cassandra_unguaranteed_still_stops_at_3_3():
    msg = fails("Cassandra", "2.8.4", "3.5.0", database="cassandra", allow_unguaranteed=True)
    assert "3.3" in msg


def test_cassandra_current_past_3_3_fails():
    fails("does not support Cassandra", "3.5.0", "3.6.1", database="cassandra")


# ---------------------------------------------------------------- hybrid


@pytest.mark.parametrize("current", ["3.1.1.1", "3.1.0.0"])
def test_enterprise_hybrid_3_1_wrpc_only_goes_through_3_1_1_2_or_later(current):
    plan = plan_upgrade(current, "3.4.3.12", deployment_mode="hybrid")
    bridge = Version(plan["path"][1])
    assert plan["path"][1].startswith("3.1.1.") and bridge >= Version("3.1.1.2")
    assert plan["hops"][0]["kind"] == "required" and "3.1.1.2" in plan["hops"][0]["reason"]
    assert plan["guaranteed"]
    assert "cannot connect" not in warning_text(plan)


def test_enterprise_3_1_bridge_only_in_hybrid():
    plan = plan_upgrade("3.1.1.1", "3.2.2.5")
    assert plan["path"] == ["3.1.1.1", "3.2.2.5"]


def test_enterprise_3_1_1_2_needs_no_bridge():
    plan = plan_upgrade("3.1.1.2", "3.2.2.5", deployment_mode="hybrid")
    assert plan["path"] == ["3.1.1.2", "3.2.2.5"] and kinds(plan) == ["minor"]


def test_oss_hybrid_3_1_to_3_2_warns_old_data_planes_cannot_talk():
    plan = plan_upgrade("3.1.1", "3.2.2", deployment_mode="hybrid")
    text = warning_text(plan)
    assert "cannot connect" in text and "3.1.1" in text and "wrpc" in text
    same = plan_upgrade("3.1.1", "3.2.2", deployment_mode="traditional")
    assert "cannot connect" not in warning_text(same)


@pytest.mark.parametrize("current,target", [("2.8.4", "3.4.2"), ("2.8.4.2", "3.4.3.12")])
def test_hybrid_major_upgrade_explains_old_data_planes(current, target):
    plan = plan_upgrade(current, target, deployment_mode="hybrid")
    text = warning_text(plan)
    assert "can never join" in text and "dual-cluster" in text and "cached configuration" in text
    assert plan["strategies"] == {"control_plane": ["dual_cluster", "in_place"], "data_plane": ["rolling"]}
    assert list(plan["strategies"]) == ["control_plane", "data_plane"]


def test_hybrid_minor_upgrade_has_no_major_warning():
    plan = plan_upgrade("3.3.0", "3.4.2", deployment_mode="hybrid")
    assert "can never join" not in warning_text(plan)


def test_hybrid_2_3_control_plane_rejects_older_minor_data_planes():
    plan = plan_upgrade("2.2.2", "2.3.3", deployment_mode="hybrid")
    assert "rejected" in warning_text(plan)
    assert "rejected" not in warning_text(plan_upgrade("2.4.1", "2.5.2", deployment_mode="hybrid"))


# ---------------------------------------------------------------- strategies and warnings


@pytest.mark.parametrize("current,target", [("2.8.2", "2.8.5"), ("2.8.2.0", "2.8.4.11"), ("3.4.0", "3.4.2")])
def test_blue_green_offered_for_patch_from_2_8_2(current, target):
    plan = plan_upgrade(current, target)
    assert plan["strategies"] == {"traditional": ["dual_cluster", "in_place", "blue_green"]}


@pytest.mark.parametrize("current,target", [("2.8.1", "2.8.5"), ("2.8.1.4", "2.8.4.11"), ("2.7.0", "2.7.2")])
def test_blue_green_refused_below_2_8_2(current, target):
    plan = plan_upgrade(current, target)
    assert "blue_green" not in plan["strategies"]["traditional"]
    assert "2.8.2" in warning_text(plan)


@pytest.mark.parametrize("current,target", [("3.4.0", "3.5.0"), ("2.8.4", "3.4.3"), ("3.4.3.0", "3.5.0.7")])
def test_blue_green_flagged_across_minors(current, target):
    plan = plan_upgrade(current, target)
    assert "blue_green" not in plan["strategies"]["traditional"]
    assert "only between patch releases" in warning_text(plan)


@pytest.mark.parametrize("mode", ["db_less", "hybrid"])
def test_blue_green_never_for_db_less_or_hybrid(mode):
    plan = plan_upgrade("3.4.0", "3.4.2", deployment_mode=mode)
    assert all("blue_green" not in v for v in plan["strategies"].values())


def test_db_less_strategy_is_rolling():
    assert plan_upgrade("3.4.0", "3.5.0", deployment_mode="db_less")["strategies"] == {"db_less": ["rolling"]}


@pytest.mark.parametrize("current,target,mode", [("2.8.4", "3.4.2", "traditional"), ("2.8.4.2", "3.4.3.12", "db_less"),
                                                 ("2.8.4", "3.0.0", "hybrid")])
def test_crossing_3_0_warns_about_regex_paths_and_declarative_files(current, target, mode):
    plan = plan_upgrade(current, target, deployment_mode=mode, allow_unguaranteed=True)
    text = warning_text(plan)
    assert "'~'" in text and "deck file convert" in text and "declarative" in text


@pytest.mark.parametrize("current,target", [("3.0.0", "3.4.2"), ("2.7.0", "2.8.5")])
def test_no_regex_warning_when_3_0_not_crossed(current, target):
    assert "'~'" not in warning_text(plan_upgrade(current, target))


def test_enterprise_only_breaking_change():
    assert "pg_ssl_version" in warning_text(plan_upgrade("3.2.2.0", "3.3.1.1"))
    assert "pg_ssl_version" not in warning_text(plan_upgrade("3.2.2", "3.3.1"))


def test_summary_names_path_and_guarantee():
    plan = plan_upgrade("1.5.1", "3.4.2")
    assert "1.5.1 -> 2.8.5 (required)" in plan["summary"] and "guaranteed" in plan["summary"]
    assert "control planes first" in plan_upgrade("2.6.0", "3.4.2", deployment_mode="hybrid")["summary"]
    bad = plan_upgrade("3.0.0", "3.6.1", allow_unguaranteed=True)
    assert "NOT guaranteed" in bad["summary"]


# ---------------------------------------------------------------- catalog and extension


def test_version_not_in_catalog_is_accepted_with_warning():
    plan = plan_upgrade("2.8.4", "3.4.3")
    assert "not in the built-in catalog" in warning_text(plan) and "3.4.2" in warning_text(plan)
    assert "not in the built-in catalog" not in warning_text(plan_upgrade("2.8.4", "3.4.2"))


def test_unknown_line_inherits_from_below_and_is_not_lts():
    plan = plan_upgrade("3.10.0.2", "3.11.0.0")
    assert kinds(plan) == ["minor"]
    plan = plan_upgrade("3.9.1.1", "3.11.0.0", allow_unguaranteed=True)
    assert kinds(plan) == ["minor_skip"]


def test_releases_extend_catalog_and_mark_lts():
    extra = [{"version": "3.14.0.0", "lts": True}]
    plan = plan_upgrade("3.10.0.2", "3.14.0.0", releases=extra)
    assert kinds(plan) == ["lts"] and "not in the built-in catalog" not in warning_text(plan)
    with pytest.raises(UpgradePathError):
        plan_upgrade("3.10.0.2", "3.14.0.0")


def test_releases_override_known_entry():
    extra = [{"version": "3.3.1", "databases": ["postgres", "off"]}]
    fails("Cassandra", "3.0.0", "3.3.1", database="cassandra", releases=extra)


def test_releases_new_intermediate_is_used():
    plan = plan_upgrade("3.4.0", "3.5.0", releases=[{"version": "3.4.9"}])
    assert plan["path"] == ["3.4.0", "3.5.0"]
    plan = plan_upgrade("3.3.0", "3.5.0", releases=[{"version": "3.4.9"}])
    assert plan["path"] == ["3.3.0", "3.4.9", "3.5.0"]


@pytest.mark.parametrize("entry,match", [
    ({"version": "3.11.0.0", "colour": "red"}, "unknown key"),
    ({"lts": True}, "needs a 'version'"),
    ({"version": "three"}, "not a valid version"),
    ({"version": "3.11"}, "3 parts"),
    ({"version": "3.11.0", "edition": "enterprise"}, "oss numbering"),
    ({"version": "3.11.0.0", "databases": ["mysql"]}, "mysql"),
    ({"version": "3.11.0.0", "hybrid_protocols": "legacy"}, "list of strings"),
    ({"version": "3.11.0.0", "lts": "yes"}, "true or false"),
    ("3.11.0.0", "dictionary"),
])
def test_invalid_release_entries(entry, match):
    fails(match, "3.10.0.2", "3.10.0.2", releases=[entry])


def test_catalog_is_data_with_expected_shape():
    releases = rc.builtin_releases()
    lts = sorted(set((r["edition"], rc.line_of(Version(r["version"]))) for r in releases if r["lts"]))
    assert lts == [("enterprise", (2, 8)), ("enterprise", (3, 4)), ("enterprise", (3, 10)), ("oss", (2, 8)), ("oss", (3, 4))]
    for rel in releases:
        assert len(Version(rel["version"]).release) == rc.EDITION_PARTS[rel["edition"]]
        cass = "cassandra" in rel["databases"]
        assert cass == (rc.line_of(Version(rel["version"])) <= (3, 3)), rel["version"]
    protocols = dict((r["version"], r["hybrid_protocols"]) for r in releases)
    assert protocols["3.1.1.1"] == ["wrpc"] and protocols["3.1.1.2"] == ["legacy", "wrpc"] and protocols["3.1.0"] == ["wrpc"]
    assert protocols["3.2.2"] == ["legacy"] and protocols["2.8.5"] == ["legacy"] and protocols["3.0.0.0"] == ["legacy", "wrpc"]
    versions = [(r["edition"], r["version"]) for r in releases]
    assert len(versions) == len(set(versions))


# ---------------------------------------------------------------- properties over the whole catalog

CATALOG = rc.builtin_releases()
BY_EDITION = dict((ed, sorted((r["version"] for r in CATALOG if r["edition"] == ed), key=Version)) for ed in rc.EDITIONS)
MODES = {"traditional": ["postgres", "cassandra"], "db_less": ["off"], "hybrid": ["postgres", "cassandra"]}


@st.composite
def requests(draw):
    edition = draw(st.sampled_from(rc.EDITIONS))
    versions = BY_EDITION[edition]
    i = draw(st.integers(0, len(versions) - 1))
    j = draw(st.integers(i, len(versions) - 1))
    mode = draw(st.sampled_from(sorted(MODES)))
    database = draw(st.sampled_from(MODES[mode]))
    allow = draw(st.booleans())
    return versions[i], versions[j], mode, database, allow


def check_plan(plan, current, target, allow, database):
    path = [Version(v) for v in plan["path"]]
    assert plan["path"][0] == current and plan["path"][-1] == target
    assert all(a < b for a, b in zip(path, path[1:])), plan["path"]
    assert len(plan["hops"]) == len(path) - 1
    known = set(r["version"] for r in CATALOG)
    for index, hop in enumerate(plan["hops"]):
        assert hop["from"] == plan["path"][index] and hop["to"] == plan["path"][index + 1]
        assert hop["guaranteed"] == (hop["kind"] in ("patch", "minor", "lts", "required"))
        assert hop["to"] in known
        a, b = Version(hop["from"]).release, Version(hop["to"]).release
        assert b[0] - a[0] <= 1
        if b[0] == 3 and a[0] == 2:
            assert a[1] >= 1
        if a[0] == 0 and b[0] == 1:
            assert b[1] == 5
    if not allow:
        assert all(hop["guaranteed"] for hop in plan["hops"])
    assert plan["guaranteed"] == all(hop["guaranteed"] for hop in plan["hops"])
    if database == "cassandra":
        assert all(v.release[:2] <= (3, 3) for v in path)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_property_paths_over_catalog(request):
    current, target, mode, database, allow = request
    try:
        plan = plan_upgrade(current, target, deployment_mode=mode, database=database, allow_unguaranteed=allow)
    except UpgradePathError as exc:
        # Refusals must be the documented ones, never a crash or an unexplained failure.
        assert any(word in str(exc) for word in ("Cassandra", "No guaranteed upgrade path", "No supported upgrade path", "DB-less",
                                                 "hybrid mode")), str(exc)
        if database == "postgres" and mode == "traditional" and allow:
            # with a database and unguaranteed hops allowed, only the pre-1.0 rule can refuse
            assert Version(current).release[0] == 0 and Version(target).release[:2] < (1, 5)
        return
    check_plan(plan, current, target, allow, database)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(rc.EDITIONS), st.data())
def test_property_guaranteed_path_exists_between_supported_2x_and_3x(edition, data):
    """From any 2.1+ release to any later LTS or same-major release, a guaranteed path exists (postgres)."""
    versions = [v for v in BY_EDITION[edition] if Version(v) >= Version("2.1")]
    current = data.draw(st.sampled_from(versions))
    later = [v for v in versions if Version(v) > Version(current)
             and (Version(v).release[0] == Version(current).release[0] or Version(v).release[:2] in ((3, 4), (3, 10)))]
    if not later:
        return
    target = data.draw(st.sampled_from(later))
    plan = plan_upgrade(current, target)
    check_plan(plan, current, target, False, "postgres")
    assert plan["guaranteed"]


def test_catalog_gap_counts_as_adjacent_minor():
    # Enterprise had no 1.4 line: 1.3 -> 1.5 is the adjacent minor upgrade.
    plan = plan_upgrade("1.3.0.2", "1.5.0.11")
    assert kinds(plan) == ["minor"]
