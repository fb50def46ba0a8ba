"""The loader: each class of malformed spec fails with file, line, behavior id and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.spec import SpecError, load_all, load_case_file, load_spec_file

GOOD = """\
feature: headers
behaviors:
  - id: demo.one
    title: A demo behavior
    level: required
    catalogue: [client.headers.order]
    given:
      name: {strategy: header_name}
    scenario:
      kind: client
      client: {call: request, args: [{host: {$origin_host: true}}], ops: [{op: end}]}
      origin: {responses: [{status: 200}]}
    expect:
      - at: request.header_names
        contains: {$given: name}
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    return info.value


def test_good_spec_loads_with_location(tmp_path: Path) -> None:
    [b] = load_spec_file(write(tmp_path, GOOD))
    assert b.id == "demo.one" and b.feature == "headers" and b.line == 3
    assert b.location.endswith("spec.yaml:3")


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("title: A demo behavior", "title: [unclosed")))
    assert err.line is not None and err.line >= 4
    assert "invalid YAML" in err.message


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("    level: required\n", "    level: required\n    level: optional\n")))
    assert "duplicate key 'level'" in err.message and err.line == 6


def test_missing_required_field_names_behavior(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("    title: A demo behavior\n", "")))
    assert err.behavior == "demo.one" and "'title' is a required property" in err.message
    assert err.line == 3


def test_bad_enum_points_at_the_value(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("level: required", "level: mandatory")))
    assert err.line == 5 and "mandatory" in err.message


def test_unknown_strategy(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("header_name", "header_nmae")))
    assert "unknown strategy 'header_nmae'" in err.message and err.line == 8


def test_bad_strategy_parameter(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("{strategy: header_name}", "{strategy: header_name, colour: red}")))
    assert "not ['colour']" in err.message


def test_undefined_given_reference(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("contains: {$given: name}", "contains: {$given: nmae}")))
    assert "['nmae']" in err.message and err.line == 14


def test_unknown_operator(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("contains: {$given: name}", "contains: {$eval: name}")))
    assert "unknown operator" in err.message


def test_assertion_needs_exactly_one_check(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("contains: {$given: name}",
                                                "contains: {$given: name}\n        equals: 1")))
    assert "exactly one check" in err.message


def test_fetch_backed_only_for_documented_limitations(tmp_path: Path) -> None:
    text = GOOD + """    fetch_backed:
      limitation: header-case
      status: UNSUPPORTED
      because: fetch lowercases
      expect: [{at: request, present: true}]
"""
    err = error_of(write(tmp_path, text))
    assert "header-case" in err.message and err.line == 17


def test_bad_id_pattern(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("id: demo.one", "id: Demo One")))
    assert "does not match" in err.message


def test_scenario_kind_checked(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("kind: client", "kind: browser")))
    assert "browser" in err.message


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    write(specs, GOOD, "a.yaml")
    write(specs, GOOD, "b.yaml")
    with pytest.raises(SpecError) as info:
        load_all(specs)
    assert "duplicate behavior id" in info.value.message and info.value.path.endswith("b.yaml")


def test_case_for_unknown_behavior_and_wrong_inputs(tmp_path: Path) -> None:
    specs, cases = tmp_path / "specs", tmp_path / "cases"
    specs.mkdir()
    cases.mkdir()
    write(specs, GOOD, "a.yaml")
    write(cases, "cases:\n  - behavior: demo.two\n    name: x\n    given: {name: X-A}\n", "c.yaml")
    with pytest.raises(SpecError) as info:
        load_all(specs, cases)
    assert "unknown behavior" in info.value.message and info.value.line == 2
    write(cases, "cases:\n  - behavior: demo.one\n    name: x\n    given: {nmae: X-A}\n", "c.yaml")
    with pytest.raises(SpecError) as info:
        load_all(specs, cases)
    assert "missing ['name']" in info.value.message


def test_case_file_schema(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_case_file(write(tmp_path, "cases:\n  - behavior: demo.one\n    name: Bad Name\n    given: {}\n"))
    assert info.value.line == 3


def test_repository_specs_are_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    behaviors = load_all(root / "specs", root / "cases")
    assert len(behaviors) >= 2


def test_catalogue_ids_are_checked(tmp_path: Path) -> None:
    from harness.spec.catalogue import catalogue_ids, check_catalogue

    cat = write(tmp_path, "| ID | B |\n|---|---|\n| client.headers.order | x |\n| agent.maxSockets | y |\n"
                          "| methods.quirk (v20 quirk) | z |\n", "cat.md")
    assert catalogue_ids(cat) == {"client.headers.order", "agent.maxSockets", "methods.quirk"}
    [b] = load_spec_file(write(tmp_path, GOOD))
    check_catalogue([b], cat)
    [bad] = load_spec_file(write(tmp_path, GOOD.replace("[client.headers.order]", "[client.headers.nope]")))
    with pytest.raises(SpecError) as info:
        check_catalogue([bad], cat)
    assert info.value.line == 3 and "client.headers.nope" in info.value.message


LISTENS = """\
feature: server
behaviors:
  - id: demo.listen
    title: A server listens on a port of the spec's
    level: required
    catalogue: [server.create-listen]
    given:
      key: GIVEN
    scenario:
      kind: server
      REQUIRES
      servers: [{listen: LISTEN, handler: [{op: res.end}]}]
      requests: [{server: 0, method: GET, target: /, headers: [[Host, h]]}]
    expect:
      - at: servers.0.listen_error
        equals: null
"""


@pytest.mark.parametrize(("listen", "given", "requires", "ok"), [
    ("0", "{one_of: [1]}", "", True),
    ("28411", "{one_of: [1]}", "", True),
    ("=key", "{one_of: [20000, 29999]}", "", True),
    ("=key", "{strategy: integers, min_value: 20000, max_value: 29999}", "", True),
    ("=key", "{strategy: integers, min_value: 1024, max_value: 65000}", "requires: [bridge]", True),  # a key
    ("40404", "{one_of: [1]}", "", False),  # inside the ephemeral range
    ("=key", "{one_of: [28411, 8080]}", "", False),
    ("=key", "{strategy: integers, min_value: 20000, max_value: 40000}", "", False),
])
def test_a_fixed_listen_port_lies_in_the_specs_block(tmp_path: Path, listen: str, given: str, requires: str,
                                                        ok: bool) -> None:
    """Below the ephemeral range (also as .ci/run widens it), above the apps' ports."""
    path = write(tmp_path, LISTENS.replace("LISTEN", listen).replace("GIVEN", given).replace("REQUIRES", requires))
    if ok:
        assert load_spec_file(path)
    else:
        err = error_of(path)
        assert "20000-29999" in str(err) and err.line == 12  # the servers line
