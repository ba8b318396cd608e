"""Secrets and ConfigMaps as files under the state dir, like a mounted Secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.platforms.local import configfiles, podenv


def test_each_file_is_a_key_and_its_bytes_the_value(tmp_path: Path) -> None:
    folder = tmp_path / "secrets" / "shop" / "db"
    folder.mkdir(parents=True)
    (folder / "password").write_bytes(b"hunter2")  # no newline added
    (folder / "with-newline").write_bytes(b"line\n")  # none taken away
    (folder / "latin1").write_bytes(b"caf\xe9")
    (folder / ".hidden.key").write_bytes(b"h")
    files = configfiles.ConfigFiles(tmp_path)
    data = files.data("Secret", "shop", "db")
    assert data == {
        ".hidden.key": "h",
        "latin1": "caf\udce9",  # the byte, as it is, in the process's environment
        "password": "hunter2",
        "with-newline": "line\n",
    }
    assert data["latin1"].encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_a_copied_secret_volume_reads_through_its_links(tmp_path: Path) -> None:
    """A Secret volume's `..data` link and timestamped folder are not keys; its key
    links are followed."""
    folder = tmp_path / "configmaps" / "default" / "web"
    stamped = folder / "..2024_01_01_00_00_00.1"
    stamped.mkdir(parents=True)
    (stamped / "LOG_LEVEL").write_text("debug")
    (folder / "..data").symlink_to(stamped.name)
    (folder / "LOG_LEVEL").symlink_to("..data/LOG_LEVEL")
    (folder / "not a key").write_text("skipped")
    (folder / "subdir").mkdir()
    assert configfiles.ConfigFiles(tmp_path).data("ConfigMap", "default", "web") == {
        "LOG_LEVEL": "debug"
    }


def test_a_missing_object_is_none_and_its_location_is_named(tmp_path: Path) -> None:
    files = configfiles.ConfigFiles(tmp_path)
    assert files.data("Secret", "default", "db") is None
    assert files.location("Secret", "default", "db") == (
        f"the directory {tmp_path}/secrets/default/db"
    )
    assert files.location("ConfigMap", "default", "web", "k") == (
        f"the file {tmp_path}/configmaps/default/web/k"
    )


def test_a_value_over_a_secrets_limit_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "secrets" / "default" / "big"
    folder.mkdir(parents=True)
    (folder / "blob").write_bytes(b"x" * (configfiles.MAX_VALUE_BYTES + 1))
    with pytest.raises(podenv.ConfigError, match="larger than 1048576 bytes"):
        configfiles.ConfigFiles(tmp_path).data("Secret", "default", "big")
