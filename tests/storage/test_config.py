"""The deployment configuration: defaults, file, environment, and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr211.config import DEFAULT_SEED, Config, ConfigError, load_config

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "ivr211.sample.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ivr211.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    config = load_config(None, environ={})
    assert config.source is None
    assert (config.agi.host, config.agi.port) == ("127.0.0.1", 4573)
    assert (config.agi.header_timeout_s, config.agi.command_timeout_s) == (5.0, 120.0)
    assert (config.agi.max_call_s, config.agi.max_header_bytes) == (1800.0, 16384)
    assert config.database.url == "sqlite:///var/store.db"
    assert (config.ami.port, config.ami.secret_env) == (5038, "IVR211_AMI_SECRET")
    assert config.line.settings_seed == DEFAULT_SEED and DEFAULT_SEED.is_file()
    assert config.line.settings_cache_s == 5.0
    assert config.logging.level == "INFO"


def test_file_values(tmp_path: Path) -> None:
    path = write(tmp_path, '[agi]\nport = 4600\n[database]\nurl = "postgresql://x@db/ivr"\n')
    config = load_config(path, environ={})
    assert config.source == path
    assert config.agi.port == 4600
    assert config.agi.host == "127.0.0.1"
    assert config.database.url == "postgresql://x@db/ivr"


def test_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[logging]\nlevel = "DEBUG"\n')
    config = load_config(None, environ={"IVR211_CONFIG": str(path)})
    assert config.source == path
    assert config.logging.level == "DEBUG"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[agi]\nport = 4600\n")
    environ = {
        "IVR211_AGI__PORT": "4700",
        "IVR211_DATABASE__URL": "sqlite:///other.db",
        "IVR211_AMI_SECRET": "not an override: no double underscore",
    }
    config = load_config(path, environ=environ)
    assert config.agi.port == 4700
    assert config.database.url == "sqlite:///other.db"


def test_sample_config_is_the_defaults_and_documents_every_key() -> None:
    config = load_config(SAMPLE, environ={})
    assert config.model_dump() == Config().model_dump()
    text = SAMPLE.read_text(encoding="utf-8")
    for section, model in Config.model_fields.items():
        assert f"[{section}]" in text
        assert model.annotation is not None
        for key in model.annotation.model_fields:
            assert f"{key} = " in text, f"{section}.{key} is not in the sample"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[agi]\nprot = 4573\n", "agi.prot: unknown key"),
        ("[agii]\nport = 4573\n", "agii: unknown key"),
        ('[agi]\nport = "many"\n', "agi.port: Input should be a valid integer"),
        ("[agi]\nport = 70000\n", "agi.port: Input should be less than or equal to 65535"),
        ('[logging]\nlevel = "LOUD"\n', "logging.level: Input should be"),
        ("agi = 3\n", "agi: Input should be a valid dictionary"),
        ('[pbx]\ntimezone = "Mars/Olympus"\n', "pbx.timezone: Value error, unknown time zone"),
        (
            '[retention]\ntimezone = "America/Toronto"\n',
            "retention: Value error, timezone is now [pbx] timezone",
        ),
    ],
)
def test_bad_file_names_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value).startswith(f"{path}: {expected}")


def test_bad_toml_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[agi]\nhost = "127.0.0.1"\nport = \n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value).startswith(f"{path}: invalid TOML: ")
    assert "line 3" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("IVR211_AGI__PORT", "abc", "IVR211_AGI__PORT: agi.port: Input should be a valid integer"),
        ("IVR211_AGI__PROT", "1", "IVR211_AGI__PROT: agi.prot: unknown key"),
        ("IVR211_NOPE__KEY", "1", "IVR211_NOPE__KEY: nope: unknown key"),
        ("IVR211_AGI__PORT__X", "1", "IVR211_AGI__PORT__X: expected the form"),
    ],
)
def test_bad_environment_override_names_the_variable(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    path = write(tmp_path, "[agi]\nport = 4600\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={name: value})
    assert str(info.value).startswith(expected)


def test_ami_secret_from_environment_or_file(tmp_path: Path) -> None:
    config = load_config(None, environ={})
    assert config.ami.secret({"IVR211_AMI_SECRET": "s3"}) == "s3"
    with pytest.raises(ConfigError, match="IVR211_AMI_SECRET is not set"):
        config.ami.secret({})
    secret = tmp_path / "ami-secret"
    secret.write_text("from-file\n", encoding="utf-8")
    path = write(tmp_path, f'[ami]\nsecret_file = "{secret}"\n')
    assert load_config(path, environ={}).ami.secret({}) == "from-file"


def test_database_password_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\npassword_env = "DB_PW"\n')
    config = load_config(path, environ={})
    assert config.database.password({"DB_PW": "pw"}) == "pw"
    with pytest.raises(ConfigError, match="DB_PW is not set"):
        config.database.password({})
    assert load_config(None, environ={}).database.password({}) is None
