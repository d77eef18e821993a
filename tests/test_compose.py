"""docker-compose.yml and the Dockerfile agree with Settings and the workflow names, read
statically: a renamed setting, moved port or new search attribute fails here, not in deploy."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from duely.settings import DEMO_SECRETS, Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
SERVICES = yaml.safe_load(COMPOSE_TEXT)["services"]
APP_SERVICES = ("web", "worker", "migrate")
ENV = SERVICES["web"]["environment"]
DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}


def published(service: str) -> dict[int, int]:
    """Host port -> container port for a service's `ports`."""
    pairs = (str(p).split(":")[-2:] for p in SERVICES[service].get("ports", []))
    return {int(host): int(container) for host, container in pairs}


def test_all_services_exist():
    expected = {"postgresql", "temporal", "temporal-admin-tools", "temporal-ui"}
    assert expected | set(APP_SERVICES) <= set(SERVICES)


def test_every_duely_variable_is_a_setting():
    dockerfile = (ROOT / "Dockerfile").read_text()
    used = set(re.findall(r"\bDUELY_[A-Z0-9_]+", COMPOSE_TEXT + dockerfile))
    known = {f"DUELY_{field.upper()}" for field in Settings.model_fields}
    assert "DUELY_DATABASE_URL" in used and used <= known, used - known


def test_app_services_share_one_environment():
    for name in APP_SERVICES:
        assert SERVICES[name]["environment"] == ENV
        assert SERVICES[name]["build"]


def test_ports_match_settings():
    assert published("web").get(8000) == int(ENV["DUELY_WEB_PORT"])
    assert DEFAULTS["temporal_ui_port"] in published("temporal-ui")
    address = ENV["DUELY_TEMPORAL_ADDRESS"]
    host, port = address.split(":")
    assert host == "temporal" and int(port) == 7233
    assert int(port) in published("temporal").values()
    for tool in ("temporal-admin-tools", "temporal-ui"):
        assert SERVICES[tool]["environment"]["TEMPORAL_ADDRESS"] == address


def test_temporal_names_match_settings_defaults():
    assert ENV["DUELY_TEMPORAL_NAMESPACE"] == DEFAULTS["temporal_namespace"]
    assert ENV["DUELY_TEMPORAL_TASK_QUEUE"] == DEFAULTS["temporal_task_queue"]


def test_secret_key_is_required():
    assert ENV["DUELY_SECRET_KEY"].startswith("${DUELY_SECRET_KEY:?")


def test_no_demo_secret_can_reach_production():
    """Issue 12, finding 2: compose left the Twilio token and the Xero webhook key at their
    published demo values, so anyone could sign a STOP/START or a Xero webhook."""
    for name in DEMO_SECRETS:
        variable = f"DUELY_{name.upper()}"
        assert ENV[variable].startswith(f"${{{variable}:?"), f"{variable} is not required"


def test_database_url_points_at_the_postgresql_service():
    url = make_url(ENV["DUELY_DATABASE_URL"])
    pg_env = SERVICES["postgresql"]["environment"]
    assert (url.get_backend_name(), url.host, url.port) == ("postgresql", "postgresql", 5432)
    assert (url.username, url.database) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_DB"])
    assert "pg_isready" in str(SERVICES["postgresql"]["healthcheck"]["test"])


def test_startup_order():
    done = "service_completed_successfully"
    assert SERVICES["web"]["depends_on"]["migrate"]["condition"] == done
    assert SERVICES["worker"]["depends_on"]["migrate"]["condition"] == done
    assert SERVICES["worker"]["depends_on"]["temporal-admin-tools"]["condition"] == done


def test_admin_tools_create_every_search_attribute():
    from temporalio.common import SearchAttributeIndexedValueType as T

    from duely.core.temporal.names import SEARCH_ATTRIBUTES

    cli_type = {T.KEYWORD: "Keyword", T.DOUBLE: "Double", T.DATETIME: "Datetime"}
    tools = SERVICES["temporal-admin-tools"]
    script = " ".join(map(str, [tools.get("entrypoint", ""), tools.get("command", "")]))
    created = dict(re.findall(r"--name\s+(\w+)\s+--type\s+(\w+)", script))
    expected = {key.name: cli_type[key.indexed_value_type] for key in SEARCH_ATTRIBUTES}
    assert expected and created == expected
    assert "namespace create --namespace default" in script


def test_no_ip_addresses_in_compose():
    # Services find each other by name; the only address allowed is the wildcard bind.
    addresses = set(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", COMPOSE_TEXT))
    assert addresses <= {"0.0.0.0"}  # noqa: S104


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines()]
    steps = [ln.split(None, 1) for ln in lines if ln and not ln.startswith("#")]
    return [(op.upper(), arg) for op, arg in steps]


def test_dockerfile_builds_a_non_root_production_image():
    steps = dockerfile_instructions()
    froms = [arg for op, arg in steps if op == "FROM"]
    runs = " ".join(arg for op, arg in steps if op == "RUN")
    users = [arg for op, arg in steps if op == "USER"]
    assert froms[-1].startswith("python:3.11-slim") and any("node:20-slim" in f for f in froms)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert not re.search(r"\b(curl|wget)\b", runs)
    assert re.search(r"pip install \.(\s|&|$)", runs)
    assert any(op == "COPY" and "htmx.min.js" in arg for op, arg in steps)
    assert ("CMD", '["duely", "web"]') in steps and ("EXPOSE", "8000") in steps
