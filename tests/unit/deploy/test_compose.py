"""deploy/docker-compose.yml starts in order, drains on stop and has no default credentials.

Loads the compose file as YAML (no docker daemon): the service's port published, a stop grace of
SHUTDOWN_TIMEOUT_SEC + 15 s (the rule Deploying gives), every dependency on a service with a
healthcheck waiting for service_healthy, and Grafana without admin/admin.
"""

from __future__ import annotations

import re

import yaml

from tests.unit.deploy.promql import ROOT

COMPOSE = ROOT / "deploy" / "docker-compose.yml"
# The image's own HEALTHCHECK (Dockerfile) counts for the services built from it.
IMAGE_HEALTHCHECKED = {"at-exec-sim"}


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", str(duration))
    assert match, f"stop_grace_period {duration!r}: give it in seconds"
    return int(match.group(1))


def test_metrics_and_health_port_is_published():
    ports = [str(p) for p in _services()["at-exec-sim"]["ports"]]
    assert any(re.fullmatch(r"(\S+:)?8004(-\d+)?:8004", p) for p in ports), ports


def test_stop_grace_covers_the_drain_plus_margin():
    service = _services()["at-exec-sim"]
    shutdown = int(service["environment"]["SHUTDOWN_TIMEOUT_SEC"])
    assert _seconds(service["stop_grace_period"]) == shutdown + 15


def test_healthchecked_dependencies_are_waited_for():
    services = _services()
    healthchecked = IMAGE_HEALTHCHECKED | {name for name, s in services.items() if "healthcheck" in s}
    assert {"nats", "prometheus"} <= healthchecked
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on as a list waits for nothing"
        for dependency, condition in depends.items():
            if dependency in healthchecked:
                assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"


def test_healthchecks_are_exec_form():
    for name, service in _services().items():
        if "healthcheck" in service:
            assert service["healthcheck"]["test"][0] == "CMD", name


def test_grafana_has_no_default_admin():
    grafana = _services()["grafana"]["environment"]
    assert grafana.get("GF_SECURITY_ADMIN_PASSWORD") in (None, "")
    assert grafana["GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION"] == "true"
    assert grafana["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_the_load_generator_runs_only_when_asked_as_an_agent():
    services = _services()
    loadgen = services["loadgen"]
    # `docker compose up` starts no load: only `--profile loadgen` (or `run loadgen`) does.
    assert loadgen["profiles"] == ["loadgen"]
    assert all("profiles" not in s for name, s in services.items() if name not in ("loadgen", "feed"))
    # The image's loadgen stage (Dockerfile), from the same context as the service's image.
    assert loadgen["build"] == {"context": services["at-exec-sim"]["build"], "target": "loadgen"}
    assert loadgen["entrypoint"] == ["at-exec-sim", "loadgen"]
    assert loadgen["depends_on"] == {"at-exec-sim": {"condition": "service_healthy"}}


def test_the_load_generator_logs_in_as_an_agent_of_nats_conf():
    services = _services()
    env = services["loadgen"]["environment"]
    match = re.fullmatch(r"nats://([\w-]+):\$\{(\w+):-[^}]*\}@nats:4222", env["NATS_URL"])
    assert match, env["NATS_URL"]
    user, password_variable = match.groups()
    conf = (ROOT / "deploy" / "nats.conf").read_text()
    entry = re.search(r"\{user: " + re.escape(user) + r", password: \$(\w+), permissions: \{(.*?)\}\}", conf, re.S)
    assert entry, f"no user {user} in deploy/nats.conf"
    # An agent, not the simulator: it may not publish executions.
    assert user != "exec-sim" and "$AGENT_PUBLISH" in entry.group(2)
    # nats-server gets the same password variable the generator's URL uses.
    assert entry.group(1) == password_variable and password_variable in services["nats"]["environment"]
    # Its replies come only under its own inbox prefix: the generator must use that one.
    assert f'"{env["NATS_INBOX_PREFIX"]}.>"' in entry.group(2)


def test_the_load_generators_arguments_parse(tmp_path):
    """The command is what `at-exec-sim loadgen` accepts (the report paths moved to a directory that exists)."""
    import argparse

    from tools.loadgen.command import add_arguments

    loadgen = _services()["loadgen"]
    assert "/reports" in [volume.split(":")[1] for volume in loadgen["volumes"]]
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    args = parser.parse_args([arg.replace("/reports", str(tmp_path)) for arg in loadgen["command"]])
    assert args.duration > 0 and args.rate > 0 and args.report == tmp_path / "report"


def test_the_feed_runs_only_when_asked_as_the_feed_user_until_stopped(tmp_path):
    """`--profile feed`: the load generator's image publishing quotes alone, as deploy/nats.conf's
    `feed` user (whose password nats-server gets), with no --duration (until the container stops)."""
    import argparse

    from common.config import load_settings
    from tools.loadgen.command import add_arguments, feed_from, options_from

    services = _services()
    feed = services["feed"]
    assert feed["profiles"] == ["feed"]
    assert feed["build"] == services["loadgen"]["build"] and feed["entrypoint"] == ["at-exec-sim", "loadgen"]
    env = feed["environment"]
    match = re.fullmatch(r"nats://feed:\$\{(\w+):-[^}]*\}@nats:4222", env["NATS_URL"])
    assert match and match.group(1) == "FEED_NATS_PASSWORD" in services["nats"]["environment"]
    conf = (ROOT / "deploy" / "nats.conf").read_text()
    assert f'"{env["NATS_INBOX_PREFIX"]}.>"' in re.search(r"^FEED = \{(.*?)^\}", conf, re.S | re.M).group(1)
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    args = parser.parse_args(feed["command"])
    options = options_from(args, load_settings({}))
    feed_options = feed_from(args, options)
    assert options.total == 0 and feed_options is not None and feed_options.duration_s is None
    assert feed_options.rate_per_s > 0


def _resolved(environment: dict, **chosen: str) -> dict[str, str]:
    """A service's environment as compose gives it: ${VAR:-default} is `chosen` VAR, else the default."""
    def one(value: object) -> str:
        return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: chosen.get(m.group(1), m.group(2)), str(value))
    return {name: one(value) for name, value in environment.items()}


def _publish_rules(block: str) -> tuple[list[str], list[str]]:
    """The allow and deny lists of a permissions block of deploy/nats.conf (a `NAME = {...}` at column 0)."""
    conf = (ROOT / "deploy" / "nats.conf").read_text()
    body = re.search(r"^" + block + r" = \{\n(.*?)^\}", conf, re.S | re.M)
    assert body, f"no {block} block in deploy/nats.conf"
    publish = body.group(1).split("subscribe:")[0]
    lists = {kind: re.findall(r'"([^"]+)"', match.group(1)) if match else []
             for kind in ("allow", "deny") for match in [re.search(kind + r": \[(.*?)\]", publish, re.S)]}
    return lists["allow"], lists["deny"]


def _covered(subject: str, patterns: list[str]) -> bool:
    from supervisor.jetstream import _covers

    example = ".".join("x" if token in ("*", ">") else token for token in subject.split("."))
    return any(_covers(p, example) for p in patterns)


def test_nats_gets_every_password_its_configuration_names():
    conf = (ROOT / "deploy" / "nats.conf").read_text()
    variables = set(re.findall(r"password: \$(\w+)", conf))
    assert "FEED_NATS_PASSWORD" in variables
    assert variables <= set(_services()["nats"]["environment"])


def test_in_bus_mode_the_stream_stores_what_the_feed_may_publish_and_agents_may_publish_none_of_it():
    """MARKET_DATA=bus in the compose file's service: the stream it creates covers every subject the
    `feed` user may publish and the service's own ticks, which its user may publish; an agent may not."""
    from common.config import load_settings
    from supervisor.jetstream import market_subjects, stream_subjects, tick_prefix

    service = _services()["at-exec-sim"]["environment"]
    assert _resolved(service)["MARKET_DATA"] == "synthetic"  # the default stays the synthetic market
    settings = load_settings(_resolved(service, MARKET_DATA="bus", MARKET_SIGNAL_SUBJECT="signals.normalized"))
    stored = stream_subjects(settings)
    feed_allow, feed_deny = _publish_rules("FEED")
    assert feed_allow == ["market.quote.>", "signals.normalized"] and feed_deny == []
    assert all(_covered(subject, stored) for subject in feed_allow), stored
    # What the service reads is what the feed writes, plus its ticks.
    assert all(_covered(subject, [*feed_allow, tick_prefix(settings) + ".>"]) for subject in market_subjects(settings))
    sim_allow, _ = _publish_rules("EXEC_SIM")
    assert _covered(tick_prefix(settings) + ".instance", sim_allow) and _covered(tick_prefix(settings) + ".x", stored)
    assert not _covered("market.quote.EURUSD", sim_allow)  # the service never writes quotes
    agent_allow, agent_deny = _publish_rules("AGENT_PUBLISH")
    for subject in ("market.quote.EURUSD", "market.tick.x", "signals.normalized"):
        assert not _covered(subject, agent_allow) and _covered(subject, agent_deny), subject
