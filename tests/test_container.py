"""The container files carry the essentials: console script, non-root, healthcheck, volumes."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import yaml

from deskbot.settings import SECRET_ENV

ROOT = Path(__file__).resolve().parents[1]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    out = []
    for line in logical:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


DIGEST = re.compile(r"^python:3\.11-slim@sha256:[0-9a-f]{64}$")


def test_dockerfile_is_multi_stage_on_python_311_slim_pinned_by_digest() -> None:
    froms = [args for word, args in dockerfile_instructions() if word == "FROM"]
    assert len(froms) >= 2
    images = {args.split()[0] for args in froms}
    assert len(images) == 1, "both stages must use the same base image"
    [image] = images
    assert DIGEST.match(image), f"{image} is not pinned by digest"
    # The runtime stage installs the wheels built in the first stage, not the sources.
    runs = [args for word, args in final_stage() if word == "RUN"]
    assert any("from=build" in args and "--no-index" in args for args in runs)


def test_entrypoint_is_the_console_script_and_the_default_command_runs_the_daemon() -> None:
    stage = dict(final_stage())
    entrypoint = json.loads(stage["ENTRYPOINT"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["deskbot"]
    assert scripts["deskbot"] == "deskbot.cli:main"
    assert json.loads(stage["CMD"]) == ["run"]


def test_runs_as_a_non_root_user() -> None:
    users = [args for word, args in final_stage() if word == "USER"]
    assert users, "no USER in the final stage"
    assert users[-1] not in ("root", "0", "0:0")


def test_healthcheck_asks_deskbot_health_for_liveness_only() -> None:
    [check] = [args for word, args in final_stage() if word == "HEALTHCHECK"]
    command = check.split("CMD", 1)[1].strip()
    argv = json.loads(command) if command.startswith("[") else shlex.split(command)
    # `deskbot health` asks /healthz (process + database); never --ready (sync freshness)
    assert argv == ["deskbot", "health"]


def test_dependencies_are_built_from_the_committed_constraints() -> None:
    runs = [args for word, args in dockerfile_instructions() if word == "RUN"]
    [wheel] = [args for args in runs if "pip wheel" in args]
    assert "--constraint constraints.txt" in wheel or "-c constraints.txt" in wheel
    assert "constraints.txt" not in (ROOT / ".dockerignore").read_text().split()


def _constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"{line!r} is not pinned with =="
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_constraints_pin_every_runtime_dependency_within_its_range() -> None:
    from packaging.requirements import Requirement

    pins = _constraints()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["postgres"]
    for line in wanted:
        req = Requirement(line)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (req, pins[name])
    for dev_only in ("pytest", "ruff", "mypy", "responses"):
        assert dev_only not in pins  # runtime only


def test_data_volume_and_config_location() -> None:
    stage = final_stage()
    volumes = [json.loads(args) for word, args in stage if word == "VOLUME"]
    assert ["/data"] in volumes
    env = " ".join(args for word, args in stage if word == "ENV")
    assert "DESKBOT_CONFIG=/config/deskbot.yaml" in env


def test_dockerignore_keeps_secrets_and_data_out_of_the_build_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for pattern in (".env", "data/", "*.sqlite", ".git", "config/deskbot.yaml"):
        assert pattern in ignored


def test_compose_runs_deskbot_with_volumes_secrets_and_optional_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    deskbot = compose["services"]["deskbot"]
    mounts = {volume.split(":")[1] for volume in deskbot["volumes"]}
    assert {"/data", "/config"} <= mounts
    env = deskbot["environment"]
    assert env["DESKBOT_CONFIG"] == "/config/deskbot.yaml"
    for variable in SECRET_ENV.values():
        assert variable in env, f"{variable} is not passed to the container"
        assert env[variable].startswith("${"), f"{variable} must come from the environment"
    postgres = compose["services"]["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert deskbot["depends_on"]["postgres"]["required"] is False
    assert "healthcheck" in postgres
    assert set(compose["volumes"]) >= {"deskbot-data", "postgres-data"}
