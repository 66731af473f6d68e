"""Settings: defaults, and a start-up error that names each missing or contradictory setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings

BASE = {"GRAPH_TENANT_ID": "t1", "GRAPH_CLIENT_ID": "c1", "GRAPH_CLIENT_SECRET": "s1"}


def test_defaults():
    settings = load_settings(BASE, dotenv=None)
    assert settings.port == 3978
    assert settings.app_type == "SingleTenant"
    assert not settings.auth_enabled
    assert settings.graph.base_url == "https://graph.microsoft.com/v1.0"
    assert settings.graph.authority == "https://login.microsoftonline.com"
    assert settings.tenant_id == "t1"
    assert settings.database_url == "sqlite:///enrollment-doctor.db"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MicrosoftAppId": "a"}, "MicrosoftAppPassword"),
        ({"MicrosoftAppPassword": "p"}, "MicrosoftAppId"),
        ({"MicrosoftAppId": "a", "MicrosoftAppPassword": "p"}, "MicrosoftAppTenantId"),
        ({"MicrosoftAppType": "Weird"}, "MicrosoftAppType"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"GRAPH_CLIENT_SECRET": ""}, "GRAPH_CLIENT_SECRET"),
        ({"GRAPH_TENANT_ID": ""}, "GRAPH_TENANT_ID"),
        ({"GRAPH_BASE_URL": "http://graph.local"}, "GRAPH_BASE_URL"),
        ({"GRAPH_CREDENTIAL": "certificate", "GRAPH_CLIENT_SECRET": ""}, "GRAPH_CERTIFICATE_PATH"),
        ({"GRAPH_CERTIFICATE_PATH": "/nope.pem"}, "GRAPH_CLIENT_SECRET and GRAPH_CERTIFICATE_PATH"),
        ({"GRAPH_CA_BUNDLE": "/nope.pem"}, "GRAPH_CA_BUNDLE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        (
            {"MicrosoftAppId": "a", "MicrosoftAppPassword": "p", "MicrosoftAppTenantId": "t2"},
            "GRAPH_TENANT_ID differs",
        ),
    ],
)
def test_problems_name_the_setting(env, named):
    with pytest.raises(ConfigError) as error:
        load_settings({**BASE, **env}, dotenv=None)
    assert named in str(error.value)


def test_managed_identity_needs_no_secret():
    settings = load_settings({"GRAPH_TENANT_ID": "t1", "GRAPH_CREDENTIAL": "managed_identity"}, dotenv=None)
    assert settings.graph.credential == "managed_identity"


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\nexport PORT=4000\nGRAPH_TENANT_ID='from-file'\nGRAPH_CLIENT_ID=c\nGRAPH_CLIENT_SECRET=\"s\"\n"
    )
    settings = load_settings({"GRAPH_TENANT_ID": "from-env"}, dotenv=dotenv)
    assert settings.port == 4000
    assert settings.tenant_id == "from-env"
    dotenv.write_text("NOT A SETTING\n")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_settings({}, dotenv=dotenv)


AUTH = {"MicrosoftAppId": "a", "MicrosoftAppPassword": "p", "MicrosoftAppTenantId": "t1"}


def test_with_auth_off_the_bot_listens_on_loopback_only():
    from app import auth_warning

    settings = load_settings(BASE, dotenv=None)
    assert settings.host == "127.0.0.1"
    assert "INBOUND AUTHENTICATION IS OFF" in (auth_warning(settings) or "")
    with pytest.raises(ConfigError, match="HOST is '0.0.0.0' but MicrosoftAppId is empty"):
        load_settings({**BASE, "HOST": "0.0.0.0"}, dotenv=None)


def test_allow_unauthenticated_opens_every_interface_and_says_so():
    from app import auth_warning

    settings = load_settings({**BASE, "ALLOW_UNAUTHENTICATED": "true"}, dotenv=None)
    assert settings.host == "0.0.0.0"
    assert "anyone who can reach port 3978 can act as any user" in (auth_warning(settings) or "")
    with pytest.raises(ConfigError, match="ALLOW_UNAUTHENTICATED must be true or false"):
        load_settings({**BASE, "ALLOW_UNAUTHENTICATED": "maybe"}, dotenv=None)


def test_with_auth_on_the_bot_listens_everywhere_and_checks_tokens():
    from app import auth_warning

    settings = load_settings({**BASE, **AUTH}, dotenv=None)
    assert settings.host == "0.0.0.0" and settings.auth_enabled
    assert auth_warning(settings) is None
    assert settings.openid_metadata_url == "https://login.botframework.com/v1/.well-known/openidconfiguration"
    with pytest.raises(ConfigError, match="BOT_OPENID_METADATA_URL must be an https URL"):
        load_settings({**BASE, **AUTH, "BOT_OPENID_METADATA_URL": "http://keys.local"}, dotenv=None)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"APPLY_AS": "robot"}, "APPLY_AS must be app or approver"),
        ({"APPLY_AS": "approver", "OAUTH_CONNECTION_NAME": ""}, "OAUTH_CONNECTION_NAME is required"),
        ({"BOT_TOKEN_SERVICE_URL": "http://token.local"}, "BOT_TOKEN_SERVICE_URL must be an https URL"),
        ({"BOT_TOKEN_SERVICE_CA_BUNDLE": "/nope.pem"}, "BOT_TOKEN_SERVICE_CA_BUNDLE"),
    ],
)
def test_approver_mode_settings_are_checked(env, named):
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, **env}, dotenv=None)
    assert named in str(info.value)


def test_approver_mode_defaults():
    settings = load_settings(BASE, dotenv=None)
    assert settings.apply_as == "app"  # today's behaviour unless asked
    approver = load_settings({**BASE, "APPLY_AS": "Approver"}, dotenv=None)
    assert approver.apply_as == "approver" and approver.oauth_connection_name == "graph"
    assert approver.token_service_url == "https://token.botframework.com"


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        ("https://doctor.example.net/", "https://doctor.example.net"),
        ("https://doctor.example.net/bot", "https://doctor.example.net/bot"),
        ("http://127.0.0.1:3978", "http://127.0.0.1:3978"),  # a bot run on this machine
        ("", None),
    ],
)
def test_public_url_is_the_bots_https_base(public_url, expected):
    assert load_settings({**BASE, "PUBLIC_URL": public_url}, dotenv=None).public_url == expected


@pytest.mark.parametrize(
    "public_url", ["http://doctor.example.net", "doctor.example.net", "https://x.net/?a=1", "ftp://x"]
)
def test_a_public_url_that_is_not_an_https_base_is_refused(public_url):
    with pytest.raises(ConfigError, match="PUBLIC_URL must be the bot's https base URL"):
        load_settings({**BASE, "PUBLIC_URL": public_url}, dotenv=None)


def test_polling_across_replicas_settings():
    import os
    import socket

    settings = load_settings(BASE, dotenv=None)
    assert settings.replica_id == f"{socket.gethostname()}-{os.getpid()}"
    assert (settings.poll_lease_seconds, settings.poll_concurrency, settings.graph.requests_per_minute) == (60, 8, 0)
    settings = load_settings(
        {**BASE, "REPLICA_ID": "web-2", "POLL_LEASE_SECONDS": "30", "POLL_CONCURRENCY": "4",
         "GRAPH_REQUESTS_PER_MINUTE": "300"},
        dotenv=None,
    )  # fmt: skip
    assert (settings.replica_id, settings.poll_lease_seconds, settings.poll_concurrency) == ("web-2", 30, 4)
    assert settings.graph.requests_per_minute == 300
    for env in ({"POLL_LEASE_SECONDS": "0"}, {"POLL_CONCURRENCY": "none"}, {"GRAPH_REQUESTS_PER_MINUTE": "-1"}):
        with pytest.raises(ConfigError) as error:
            load_settings({**BASE, **env}, dotenv=None)
        assert next(iter(env)) in str(error.value)
