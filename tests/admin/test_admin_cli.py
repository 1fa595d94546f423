"""``create-admin``, ``delete-admin`` and ``list-admins``."""

from admin_support import login

from consentmgr.admin import accounts as admins


def test_create_admin_asks_twice_and_the_account_signs_in(runner, client, database):
    result = runner.invoke(args=["create-admin", "kari"], input="long enough pass\n" * 2)
    assert result.exit_code == 0, result.output
    assert "created admin kari" in result.output
    assert result.output.count("Password") == 1 and "Repeat password" in result.output
    row = database.execute("select password_hash from admins where username = 'kari'").fetchone()
    assert row and "long enough pass" not in row[0] and row[0].startswith(("scrypt:", "pbkdf2:"))
    assert login(client, "kari", "long enough pass").status_code == 302


def test_create_admin_refuses_a_mismatch_then_takes_a_match(runner, database):
    typed = "long enough pass\nsomething else!!\nlong enough pass\nlong enough pass\n"
    result = runner.invoke(args=["create-admin", "kari"], input=typed)
    assert result.exit_code == 0
    assert "do not match" in result.output
    assert admins.authenticate(database, "kari", "long enough pass")


def test_create_admin_from_stdin_and_a_short_password_is_refused_clearly(runner, database):
    short = runner.invoke(args=["create-admin", "ola", "--password-stdin"], input="short\n")
    assert short.exit_code == 1
    assert "password is too short: it has 5 characters and must have at least 12" in short.output
    assert not admins.exists(database, "ola")
    ok = runner.invoke(args=["create-admin", "ola", "--password-stdin"], input="twelve chars!\n")
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(args=["create-admin", "ola", "--password-stdin"], input="twelve chars!\n")
    assert again.exit_code == 1 and "already exists" in again.output


def test_minimum_length_follows_the_config(tmp_path):
    from helpers import make_config

    from consentmgr import create_app

    app = create_app(make_config(tmp_path / "c", ADMIN_MIN_PASSWORD_LENGTH=20))
    result = app.test_cli_runner().invoke(
        args=["create-admin", "kari", "--password-stdin"], input="only fifteen ch\n"
    )
    assert result.exit_code == 1 and "at least 20" in result.output


def test_bad_username_is_refused(runner):
    result = runner.invoke(args=["create-admin", "kari nordmann", "--password-stdin"], input="x\n")
    assert result.exit_code == 1 and "username must be" in result.output


def test_list_and_delete_admin_ends_its_sessions(runner, client, database):
    assert "no admins yet" in runner.invoke(args=["list-admins"]).output
    runner.invoke(args=["create-admin", "kari", "--password-stdin"], input="long enough pass\n")
    runner.invoke(args=["create-admin", "ola", "--password-stdin"], input="long enough pass\n")
    listed = runner.invoke(args=["list-admins"]).output.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["kari", "ola"]

    assert login(client, "kari", "long enough pass").status_code == 302
    assert client.get("/admin/").status_code == 200
    result = runner.invoke(args=["delete-admin", "kari"])
    assert result.exit_code == 0 and "deleted admin kari" in result.output
    assert client.get("/admin/").status_code == 302, "the deleted admin's session is over"
    missing = runner.invoke(args=["delete-admin", "kari"])
    assert missing.exit_code == 1 and "there is no admin 'kari'" in missing.output
